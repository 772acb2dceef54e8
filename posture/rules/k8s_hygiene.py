"""Kubernetes checks beyond PSS and CIS section 5: images, resources, runtime sockets, admission labels,
exposure, and node components with known container-escape vulnerabilities (kept as data below).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from posture.attributes.k8s import ContainerSummary
from posture.facts.sockets import reachable_sockets
from posture.records import AssetKind, AssetRecord
from posture.rules.base import Evaluate, Hit, Rule, Snapshot, cis_k8s, kubescape, trivy
from posture.rules.k8s_common import POD_KINDS, pod_of
from posture.taxonomy import Phase, Severity

_SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})

def on_containers(check: Callable[[ContainerSummary], Mapping[str, Any] | None], kinds: Iterable[str]) -> Evaluate:
    """A check of each container of the ``kinds`` (init, container, ephemeral) in the asset's pod summary:
    the evidence it returns, if any, becomes a hit named after the container."""
    wanted = frozenset(kinds)

    def evaluate(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
        pod = pod_of(asset)
        if pod is None:
            return
        for c in pod["containers"]:
            if c["kind"] in wanted:
                evidence = check(c)
                if evidence is not None:
                    yield Hit(c["name"], evidence)

    return evaluate


_ALL = ("init", "container", "ephemeral")
_RUNNING = ("init", "container")  # ephemeral containers cannot declare resources


def latest_tag(container: ContainerSummary) -> Mapping[str, Any] | None:
    reference = container.get("imageRef")
    if reference is not None and reference["digest"] is None and reference["tag"] in (None, "latest"):
        return {"image": container["image"], "tag": reference["tag"]}
    return None


def not_pinned(container: ContainerSummary) -> Mapping[str, Any] | None:
    reference = container.get("imageRef")
    if reference is not None and reference["digest"] is None:
        return {"image": container["image"]}
    return None


def _missing(
    container: ContainerSummary, section: Literal["limits", "requests"], resource: str
) -> Mapping[str, Any] | None:
    values = container["resources"][section]
    return None if resource in values else {"missing": f"resources.{section}.{resource}"}


def missing_requests(container: ContainerSummary) -> Mapping[str, Any] | None:
    requests = container["resources"]["requests"]
    missing = [r for r in ("cpu", "memory") if r not in requests]
    return {"missing": [f"resources.requests.{r}" for r in missing]} if missing else None


def writable_rootfs(container: ContainerSummary) -> Mapping[str, Any] | None:
    value = container["securityContext"].get("readOnlyRootFilesystem")
    return None if value is True else {"readOnlyRootFilesystem": value}


def runtime_socket(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    pod = pod_of(asset)
    if pod is None:
        return
    for volume in pod["volumes"]:
        path = volume.get("path")
        sockets = reachable_sockets(str(path)) if path else []
        if sockets:
            yield Hit(volume["name"], {"path": path, "sockets": sockets})


def exposed(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    if pod_of(asset) is not None and asset.attributes.get("exposed"):
        yield Hit("", {"exposure": list(asset.attributes.get("exposure", ()))})


def pod_security_labels(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    levels = asset.attributes.get("pod_security") or {}
    enforce = levels.get("enforce")
    system = asset.attributes.get("name") in _SYSTEM_NAMESPACES
    if enforce in (None, "privileged"):
        yield Hit(
            "",
            {"enforce": enforce, "labels": dict(levels)},
            title="Namespace enforces the privileged Pod Security level" if enforce else None,
            severity=Severity.LOW if system else None,
        )


# -- Node components with known container-escape vulnerabilities -------------------------------
@dataclass(frozen=True)
class EscapeCVE:
    """Versions of ``component`` in ``[introduced, fixed)`` of any range are affected."""

    cve: str
    component: str  # "kubelet", "containerd", "cri-o", "runc"
    ranges: tuple[tuple[str, str], ...]
    severity: Severity
    summary: str
    kubescape: str | None = None  # Kubescape's per-CVE control, where it has one


ESCAPE_CVES: tuple[EscapeCVE, ...] = (
    EscapeCVE(
        "CVE-2022-0811",
        "cri-o",
        (("1.19.0", "1.19.6"), ("1.20.0", "1.20.7"), ("1.21.0", "1.21.6"), ("1.22.0", "1.22.3"), ("1.23.0", "1.23.2")),
        Severity.CRITICAL,
        "cr8escape: kernel.core_pattern via pod sysctls gives root on the node",
    ),
    EscapeCVE(
        "CVE-2024-21626",
        "runc",
        (("1.0.0-rc93", "1.1.12"),),
        Severity.HIGH,
        "Leaky file descriptor lets a container reach the host filesystem",
    ),
    EscapeCVE(
        "CVE-2022-23648",
        "containerd",
        (("0", "1.4.13"), ("1.5.0", "1.5.10"), ("1.6.0", "1.6.1")),
        Severity.HIGH,
        "Image volume paths let a container read arbitrary host files",
        kubescape="C-0087",
    ),
    EscapeCVE(
        "CVE-2020-15257",
        "containerd",
        (("0", "1.3.9"), ("1.4.0", "1.4.3")),
        Severity.MEDIUM,
        "containerd-shim API reachable from host-network containers",
    ),
    EscapeCVE(
        "CVE-2021-25741",
        "kubelet",
        (("0", "1.19.15"), ("1.20.0", "1.20.11"), ("1.21.0", "1.21.5"), ("1.22.0", "1.22.2")),
        Severity.HIGH,
        "subPath symlink exchange gives access to host files outside the volume",
        kubescape="C-0058",
    ),
)
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:-rc\.?(\d+))?")


def parse_version(text: str) -> tuple[int, int, int, int, int] | None:
    """``1.0.0-rc93`` → ``(1, 0, 0, 0, 93)``, ``1.1.12`` → ``(1, 1, 12, 1, 0)``: releases sort after their rcs.

    Distribution suffixes (``-eks-…``, ``-1ubuntu1``, ``+k3s1``) are ignored; only ``-rcN`` orders.
    """
    if text == "0":
        return (0, 0, 0, 0, 0)
    match = _VERSION.match(text.strip())
    if match is None:
        return None
    major, minor, patch, rc = match.groups()
    return (int(major), int(minor), int(patch or 0), 0 if rc else 1, int(rc or 0))


def node_components(attributes: Mapping[str, Any]) -> dict[str, str]:
    """Component name → version from a node's attributes (``containerd://1.6.8`` → containerd 1.6.8)."""
    found: dict[str, str] = {}
    if attributes.get("kubelet_version"):
        found["kubelet"] = str(attributes["kubelet_version"])
    scheme, sep, version = str(attributes.get("container_runtime_version") or "").partition("://")
    if sep:
        found[scheme] = version
    if attributes.get("runc_version"):
        found["runc"] = str(attributes["runc_version"])
    return found


def escape_cves(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    components = node_components(asset.attributes)
    for entry in ESCAPE_CVES:
        installed = components.get(entry.component)
        version = parse_version(installed) if installed else None
        if version is None:
            continue
        for low, high in entry.ranges:
            lower, upper = parse_version(low), parse_version(high)
            if lower is not None and upper is not None and lower <= version < upper:
                evidence = {
                    "component": entry.component,
                    "version": installed,
                    "fixed_in": high,
                    "summary": entry.summary,
                }
                if entry.kubescape:
                    evidence["kubescape"] = entry.kubescape
                yield Hit(
                    entry.cve,
                    evidence,
                    title=f"{entry.component} {installed} is vulnerable to {entry.cve} (container escape)",
                    severity=entry.severity,
                )
                break


RULES: list[Rule] = [
    Rule(
        id="K8S-IMAGE-LATEST",
        title="Image uses the latest tag or no tag",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.1.5",
        remediation="Reference images by a fixed version tag, better by digest.",
        references=(trivy("KSV013"),),
        kinds=POD_KINDS,
        evaluate=on_containers(latest_tag, _ALL),
    ),
    Rule(
        id="K8S-IMAGE-DIGEST",
        title="Image not pinned by digest",
        severity=Severity.INFO,
        phase=Phase.RUN,
        nist="3.1.5",
        remediation="Reference images as repository@sha256:… so what runs cannot change under the same name.",
        kinds=POD_KINDS,
        evaluate=on_containers(not_pinned, _ALL),
    ),
    Rule(
        id="K8S-LIMITS-CPU",
        title="Container has no CPU limit",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Set resources.limits.cpu.",
        references=(trivy("KSV011"), kubescape("C-0009")),
        kinds=POD_KINDS,
        evaluate=on_containers(lambda c: _missing(c, "limits", "cpu"), _RUNNING),
    ),
    Rule(
        id="K8S-LIMITS-MEMORY",
        title="Container has no memory limit",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Set resources.limits.memory.",
        references=(trivy("KSV018"), kubescape("C-0009")),
        kinds=POD_KINDS,
        evaluate=on_containers(lambda c: _missing(c, "limits", "memory"), _RUNNING),
    ),
    Rule(
        id="K8S-REQUESTS",
        title="Container has no CPU or memory request",
        severity=Severity.INFO,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Set resources.requests.cpu and resources.requests.memory.",
        references=(trivy("KSV015"), trivy("KSV016")),
        kinds=POD_KINDS,
        evaluate=on_containers(missing_requests, _RUNNING),
    ),
    Rule(
        id="K8S-READONLY-ROOTFS",
        title="Container root filesystem is writable",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Set securityContext.readOnlyRootFilesystem: true; mount emptyDir for scratch.",
        references=(trivy("KSV014"), kubescape("C-0017")),
        kinds=POD_KINDS,
        evaluate=on_containers(writable_rootfs, _ALL),
    ),
    Rule(
        id="K8S-RUNTIME-SOCKET",
        title="Container runtime socket mounted",
        severity=Severity.CRITICAL,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Do not mount docker.sock, containerd.sock or crio.sock into workloads: it is root on the node.",
        references=(trivy("KSV006"), kubescape("C-0074")),
        kinds=POD_KINDS,
        evaluate=runtime_socket,
    ),
    Rule(
        id="K8S-EXPOSED",
        title="Workload reachable from outside the cluster",
        severity=Severity.INFO,
        phase=Phase.RUN,
        nist="3.4.2",
        remediation="Confirm the exposure is intended; restrict it with loadBalancerSourceRanges, ingress auth or a "
        "NetworkPolicy.",
        kinds=POD_KINDS,
        evaluate=exposed,
    ),
    Rule(
        id="K8S-NS-POD-SECURITY",
        title="Namespace does not enforce a Pod Security level",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.3.4",
        remediation="Label the namespace pod-security.kubernetes.io/enforce=restricted (or baseline).",
        references=(cis_k8s("5.2.1"), kubescape("C-0192")),
        kinds=frozenset({AssetKind.NAMESPACE}),
        evaluate=pod_security_labels,
    ),
    Rule(
        id="K8S-NODE-ESCAPE-CVE",
        title="Node runs a component with a known container-escape vulnerability",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.1",
        remediation="Upgrade the kubelet and container runtime to a fixed release.",
        references=tuple(kubescape(e.kubescape) for e in ESCAPE_CVES if e.kubescape),
        kinds=frozenset({AssetKind.NODE}),
        evaluate=escape_cves,
    ),
]
