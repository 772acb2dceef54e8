"""The security-relevant subset of a pod spec, kept compact so 10,000 pods fit in memory.

Rules (Pod Security Standards, CIS 5.x) read these summaries, never the raw object, so the field
names stay Kubernetes' own (``securityContext``, ``hostPID``, ``capabilities.add``) and a reader can
check a rule against the API reference; the summary's keys and types are declared in
``posture/attributes/k8s.py``. Everything else in a pod spec (probes' bodies, command lines,
env literal values) is dropped here: env literal values go through the secret scanner and only the
redacted hit leaves this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from posture.attributes.k8s import (
    ContainerKind,
    ContainerSummary,
    EnvSource,
    EnvVar,
    PodSummary,
    Port,
    ProbeHost,
    VolumeMount,
    VolumeSummary,
)
from posture.facts.ownership import names_team
from posture.facts.references import parse_image
from posture.secrets import SecretScanner

#: (spec field, container kind) for every list of containers a pod can have.
CONTAINER_LISTS: tuple[tuple[str, ContainerKind], ...] = (
    ("initContainers", "init"),
    ("containers", "container"),
    ("ephemeralContainers", "ephemeral"),
)

_CONTAINER_SC_FIELDS = (
    "privileged",
    "allowPrivilegeEscalation",
    "capabilities",
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "readOnlyRootFilesystem",
    "procMount",
    "seccompProfile",
    "appArmorProfile",
    "seLinuxOptions",
    "windowsOptions",
)
_POD_SC_FIELDS = (
    "runAsNonRoot",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "supplementalGroups",
    "seccompProfile",
    "appArmorProfile",
    "seLinuxOptions",
    "windowsOptions",
)
_SECURITY_ANNOTATION_PREFIXES = (
    "container.apparmor.security.beta.kubernetes.io/",
    "seccomp.security.alpha.kubernetes.io/",
    "container.seccomp.security.alpha.kubernetes.io/",
)
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_HOOKS = ("postStart", "preStop")


def as_map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping, else empty: hand-written manifests put anything anywhere."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_map(value).items()}


def kept_annotations(annotations: Mapping[str, Any], team_label: str) -> dict[str, str]:
    """Only the AppArmor, seccomp and team annotations; others can be large and nothing reads them."""
    return {
        str(k): str(v)
        for k, v in annotations.items()
        if str(k).startswith(_SECURITY_ANNOTATION_PREFIXES) or names_team(str(k), team_label)
    }


def _security_context(value: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    context = as_map(value)
    kept = {name: context[name] for name in fields if name in context and context[name] is not None}
    if "sysctls" in context:
        kept["sysctls"] = [str(as_map(s).get("name", "")) for s in as_list(context["sysctls"])]
    return kept


def _probe_hosts(container: Mapping[str, Any]) -> list[ProbeHost]:
    """``host`` fields of probes and lifecycle hooks (PSS baseline "Host Probes / Lifecycle Hooks")."""
    hosts: list[ProbeHost] = []
    handlers = [(name, as_map(container.get(name))) for name in _PROBES]
    lifecycle = as_map(container.get("lifecycle"))
    handlers += [(f"lifecycle.{name}", as_map(lifecycle.get(name))) for name in _HOOKS]
    for where, handler in handlers:
        for action in ("httpGet", "tcpSocket"):
            host = as_map(handler.get(action)).get("host")
            if host not in (None, ""):
                hosts.append({"field": f"{where}.{action}.host", "host": str(host)})
    return hosts


def _env(
    container: Mapping[str, Any], secrets: SecretScanner | None, found: list[dict[str, Any]]
) -> tuple[list[EnvVar], list[EnvSource]]:
    name = str(container.get("name", ""))
    env: list[EnvVar] = []
    for item in as_list(container.get("env")):
        var = as_map(item)
        key = str(var.get("name", ""))
        entry: EnvVar = {"name": key}
        source = as_map(var.get("valueFrom"))
        if source:
            kind = next(iter(source))
            entry["from"] = str(kind)
            if kind == "secretKeyRef":
                entry["secret"] = str(as_map(source[kind]).get("name", ""))
        elif secrets is not None and isinstance(var.get("value"), str):
            hit = secrets.scan_pair("env", key, var["value"])
            if hit is not None:
                found.append({**hit.as_evidence(), "container": name})
        env.append(entry)
    env_from: list[EnvSource] = []
    for item in as_list(container.get("envFrom")):
        source = as_map(item)
        for kind in ("secretRef", "configMapRef"):
            if kind in source:
                env_from.append({"from": kind, "name": str(as_map(source[kind]).get("name", ""))})
    return env, env_from


def _container(
    raw: Any, kind: ContainerKind, secrets: SecretScanner | None, found: list[dict[str, Any]]
) -> ContainerSummary:
    container = as_map(raw)
    resources = as_map(container.get("resources"))
    env, env_from = _env(container, secrets, found)
    summary: ContainerSummary = {
        "name": str(container.get("name", "")),
        "kind": kind,
        "image": str(container.get("image", "")),
        "securityContext": _security_context(container.get("securityContext"), _CONTAINER_SC_FIELDS),
        "ports": [
            cast(Port, {k: p[k] for k in ("containerPort", "hostPort", "protocol", "name") if k in p})
            for p in map(as_map, as_list(container.get("ports")))
        ],
        "resources": {
            "limits": _str_map(resources.get("limits")),
            "requests": _str_map(resources.get("requests")),
        },
        "env": env,
        "envFrom": env_from,
        "volumeMounts": [
            cast(VolumeMount, {k: m[k] for k in ("name", "mountPath", "readOnly") if k in m})
            for m in map(as_map, as_list(container.get("volumeMounts")))
        ],
        "probes": [p for p in _PROBES if container.get(p)],
    }
    reference = parse_image(summary["image"])
    if reference is not None:
        # Parsed once here so rules judge tags and digests without re-parsing references.
        summary["imageRef"] = {"tag": reference.tag, "digest": reference.digest, "tag_key": reference.tag_key}
    if "imagePullPolicy" in container:
        summary["imagePullPolicy"] = str(container["imagePullPolicy"])
    hosts = _probe_hosts(container)
    if hosts:
        summary["probeHosts"] = hosts
    return summary


def _volume(raw: Any) -> VolumeSummary:
    volume = as_map(raw)
    types = [str(k) for k in volume if k != "name"]
    summary: VolumeSummary = {"name": str(volume.get("name", "")), "type": types[0] if len(types) == 1 else None}
    if len(types) > 1:
        summary["types"] = types
    host_path = volume.get("hostPath")
    if host_path is not None:
        summary["path"] = str(as_map(host_path).get("path", ""))
    return summary


def summarize_pod(
    metadata: Mapping[str, Any], spec: Mapping[str, Any], secrets: SecretScanner | None, team_label: str
) -> tuple[PodSummary, list[dict[str, Any]]]:
    """``(pod summary, secret hits)`` for a pod's (or pod template's) metadata and spec."""
    found: list[dict[str, Any]] = []
    pod: PodSummary = {
        "labels": _str_map(metadata.get("labels")),
        "annotations": kept_annotations(as_map(metadata.get("annotations")), team_label),
        "securityContext": _security_context(spec.get("securityContext"), _POD_SC_FIELDS),
        "containers": [
            _container(c, kind, secrets, found) for field, kind in CONTAINER_LISTS for c in as_list(spec.get(field))
        ],
        "volumes": [_volume(v) for v in as_list(spec.get("volumes"))],
        "serviceAccountName": str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"),
    }
    for field in ("hostNetwork", "hostPID", "hostIPC", "hostUsers", "automountServiceAccountToken"):
        if spec.get(field) is not None:
            pod[field] = spec[field]
    os_name = as_map(spec.get("os")).get("name")
    if os_name:
        pod["os"] = str(os_name)
    return pod, found
