"""Raw Engine API dicts (``/info``, ``/version``, image and container inspect) → Posture records.

Pure functions, so the real ``docker inspect`` responses in the corpus test them without a daemon.
Attributes keep what the checks and an operator need and nothing that moves without the
configuration moving (no PIDs, IP addresses, start times or restart counts): an unchanged engine
must produce identical records, so a second collection writes nothing new.

Keys: engine = :func:`engine_key` (the engine's ``ID`` with its host name and root directory);
container = ``<engine key>/<container id>``; image = the image ID (config digest), with the repo
digests' manifest digests as aliases so registry, scanner and Kubernetes data about the same image
meet it.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypedDict

from collectors.docker.imageconfig import (
    healthcheck,
    image_config,
    redacted_labels,
    scan_env,
    split_env,
    unique_evidence,
)
from collectors.docker.runtime import NOT_OBSERVED, Observed
from posture.attributes.docker import (
    ContainerAttributes,
    DefaultBridge,
    Device,
    EngineAttributes,
    Mount,
    PortBinding,
    Transport,
)
from posture.facts.capabilities import capability_name
from posture.records import ENGINE_SOURCE, AssetKind, AssetRecord, AssetRef, RelationRecord, ScopeKind, ScopeRef
from posture.secrets import SecretHit, SecretScanner
from posture.taxonomy import Phase

_LOOPBACK_CIDRS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def engine_product(version: Mapping[str, Any]) -> str:
    """``podman`` when ``/version`` lists a Podman component, else ``docker``: Podman answers the same API."""
    components = [str(_map(c).get("Name") or "") for c in _list(version.get("Components"))]
    return "podman" if any("podman" in c.lower() for c in components) else "docker"


def engine_key(info: Mapping[str, Any], version: Mapping[str, Any]) -> str:
    """The engine's identity, from the engine itself and stable across runs.

    dockerd 20.10 derives ``ID`` from ``/etc/docker/key.json``, which every daemon on a host shares
    and VMs cloned from one image share too, so the ID alone merges engines: the host name
    (``Name``) and the root directory (``DockerRootDir``) are hashed in, which separates a second
    daemon on the host (its own data root) and a cloned VM (its own host name). Podman 4 answers a
    fresh random ``ID`` on every call, so it is keyed by host name and root directory (its graph
    root) alone. The result holds no ``/``, so container keys ``<engine key>/<container id>`` still
    split on their last one: ``<ID>@<16 hex>`` or ``podman@<16 hex>``.
    """
    product = engine_product(version)
    ident = "podman" if product == "podman" else str(info.get("ID") or "").strip() or product
    place = "\0".join((product, str(info.get("Name") or ""), str(info.get("DockerRootDir") or "")))
    return f"{ident.replace('/', '_')}@{hashlib.sha256(place.encode()).hexdigest()[:16]}"


def legacy_engine_key(info: Mapping[str, Any]) -> str:
    """The key releases before source identity gave the engine (its bare ``ID``), which an upgraded store holds."""
    ident = str(info.get("ID") or "").strip()
    return ident or f"name:{info.get('Name') or 'unknown'}"


def engine_scope(key: str, label: str, legacy_key: str | None = None) -> ScopeRef:
    """``docker:engine:<engine key>``: the scope follows the engine, not the URL it is reached at;
    ``label`` is how people reach it (a URL, a context, a file)."""
    legacy = (f"engine:{legacy_key}",) if legacy_key else ()
    return ScopeRef(ScopeKind.DOCKER, f"engine:{key}", label=label, legacy=legacy)


# --- engine -------------------------------------------------------------------------------------


def security_options(info: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``["name=seccomp,profile=default", "name=rootless"]`` (or old-style ``["seccomp"]``) → by name."""
    out: dict[str, dict[str, str]] = {}
    for entry in _list(info.get("SecurityOptions")):
        if not isinstance(entry, str):
            continue
        fields = dict(part.partition("=")[::2] for part in entry.split(","))
        name = fields.pop("name", "") if "name" in fields else entry
        out[name] = fields
    return out


def insecure_registries(info: Mapping[str, Any]) -> list[str]:
    """Registries the engine pulls from without TLS verification, loopback excepted (always allowed)."""
    config = _map(info.get("RegistryConfig"))
    found: set[str] = set()
    for cidr in _list(config.get("InsecureRegistryCIDRs")):
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            found.add(str(cidr))
            continue
        if not any(network.version == lo.version and network.subnet_of(lo) for lo in _LOOPBACK_CIDRS):  # type: ignore[arg-type]
            found.add(str(cidr))
    for name, index in _map(config.get("IndexConfigs")).items():
        if isinstance(index, Mapping) and index.get("Secure") is False and not _loopback_host(str(name)):
            found.add(str(name))
    return sorted(found)


def _loopback_host(name: str) -> bool:
    host = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def default_bridge(networks: Iterable[Mapping[str, Any]]) -> DefaultBridge | None:
    """The default bridge network (``docker0``) and whether it lets containers talk to each other."""
    for net in networks:
        options = _map(net.get("Options"))
        if options.get("com.docker.network.bridge.default_bridge") == "true" or (
            net.get("Name") == "bridge" and net.get("Driver") == "bridge"
        ):
            return {
                "name": str(net.get("Name") or "bridge"),
                "icc": options.get("com.docker.network.bridge.enable_icc", "true") != "false",
            }
    return None


def engine_record(
    info: Mapping[str, Any],
    version: Mapping[str, Any],
    networks: Iterable[Mapping[str, Any]] | None,
    transport: Transport,
) -> AssetRecord:
    """The engine and the daemon settings the API shows; ``networks`` None = not listable (unknown icc)."""
    opts = security_options(info)
    swarm = _map(info.get("Swarm"))
    plugins = _map(info.get("Plugins"))
    key = engine_key(info, version)
    attributes: EngineAttributes = {
        "id": str(info.get("ID") or ""),
        "name": str(info.get("Name") or ""),
        "product": engine_product(version),
        "root_dir": str(info.get("DockerRootDir") or ""),
        # What the engine's scope is named after: the store may keep the row under a legacy key.
        "engine_key": key,
        "server_version": str(version.get("Version") or info.get("ServerVersion") or ""),
        "api_version": str(version.get("ApiVersion") or ""),
        "min_api_version": str(version.get("MinAPIVersion") or ""),
        "os": str(info.get("OperatingSystem") or ""),
        "os_type": str(info.get("OSType") or ""),
        "kernel_version": str(info.get("KernelVersion") or ""),
        "architecture": str(info.get("Architecture") or ""),
        "storage_driver": str(info.get("Driver") or ""),
        "logging_driver": str(info.get("LoggingDriver") or ""),
        "cgroup_driver": str(info.get("CgroupDriver") or ""),
        "cgroup_version": str(info.get("CgroupVersion") or ""),
        "security_options": sorted(opts),
        "rootless": "rootless" in opts,
        "userns": "userns" in opts,
        "apparmor": "apparmor" in opts,
        "selinux": "selinux" in opts,
        "seccomp_profile": opts["seccomp"].get("profile", "default") if "seccomp" in opts else None,
        "live_restore": bool(info.get("LiveRestoreEnabled")),
        "experimental": bool(info.get("ExperimentalBuild") or version.get("Experimental")),
        "debug": bool(info.get("Debug")),
        "swarm": str(swarm.get("LocalNodeState") or "inactive"),
        "authorization_plugins": sorted(str(p) for p in _list(plugins.get("Authorization"))),
        "insecure_registries": insecure_registries(info),
        "networks_known": networks is not None,
        "default_bridge": default_bridge(networks or []),
        "transport": transport.copy(),
    }
    return AssetRecord(
        AssetKind.DOCKER_ENGINE,
        key,
        attributes["name"] or key,
        Phase.RUN,
        attributes,
        legacy_keys=(legacy_engine_key(info),),
    )


# --- images -------------------------------------------------------------------------------------


def _iso(timestamp: Any) -> str:
    if isinstance(timestamp, int | float) and timestamp > 0:
        return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
    return str(timestamp or "")


def docker_history(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``/images/{id}/history`` (newest first) → OCI-style history, oldest first.

    The API does not say which steps were empty layers; a step that added 0 bytes is treated as one.
    """
    steps = [
        {"created_by": e.get("CreatedBy") or "", "empty_layer": not e.get("Size"), "created": _iso(e.get("Created"))}
        for e in entries
        if isinstance(e, Mapping)
    ]
    return steps[::-1]


def repo_tags(inspect: Mapping[str, Any]) -> list[str]:
    return sorted(t for t in _list(inspect.get("RepoTags")) if isinstance(t, str) and t != "<none>:<none>")


def repo_digests(inspect: Mapping[str, Any]) -> list[str]:
    return sorted(d for d in _list(inspect.get("RepoDigests")) if isinstance(d, str) and "@" in d and "<none>" not in d)


def image_record(
    inspect: Mapping[str, Any],
    history: Iterable[Mapping[str, Any]],
    secrets: SecretScanner | None,
    extra_secrets: Iterable[SecretHit] = (),
) -> AssetRecord:
    """An image from ``/images/{id}/json`` plus its history; ``extra_secrets`` from a layer scan."""
    image_id = str(inspect.get("Id") or "")
    config, hits = image_config(
        _map(inspect.get("Config")),
        created=str(inspect.get("Created") or ""),
        os=str(inspect.get("Os") or ""),
        architecture=str(inspect.get("Architecture") or ""),
        history=docker_history(history),
        secrets=secrets,
    )
    tags, digests = repo_tags(inspect), repo_digests(inspect)
    aliases = tuple(sorted({d.split("@", 1)[1] for d in digests} - {image_id}))
    attributes = {
        "source": ENGINE_SOURCE,
        "id": image_id,
        "repo_tags": tags,
        "repo_digests": digests,
        "size": int(inspect.get("Size") or 0),
        "layers": [str(layer) for layer in _list(_map(inspect.get("RootFS")).get("Layers"))],
        "config": config,
        "secrets": unique_evidence([*hits, *extra_secrets]),
    }
    name = tags[0] if tags else (digests[0] if digests else image_id[:19])
    return AssetRecord(AssetKind.IMAGE, image_id, name, Phase.BUILD, attributes, aliases=aliases)


# --- containers ---------------------------------------------------------------------------------


def _caps(values: Any) -> list[str]:
    caps = {capability_name(v) for v in _list(values) if v}
    return sorted(caps)


class _SecurityOpt(TypedDict):
    seccomp: str
    apparmor_opt: str
    selinux_options: list[str]
    no_new_privileges: bool
    raw: list[str]


def _security_opt(values: Any) -> _SecurityOpt:
    """``HostConfig.SecurityOpt`` → seccomp / apparmor / selinux / no-new-privileges, plus a safe raw list.

    An inline seccomp profile (the CLI sends the file's JSON) is summarized as ``seccomp=<custom>``.
    """
    seccomp, apparmor, nnp = "default", "", False
    selinux: list[str] = []
    raw: list[str] = []
    for entry in _list(values):
        text = str(entry)
        key, sep, value = text.partition("=") if "=" in text else text.partition(":")
        key = key.strip().lower()
        if key == "seccomp":
            seccomp = "unconfined" if value.strip() == "unconfined" else "custom"
            raw.append(f"seccomp={seccomp if seccomp == 'unconfined' else '<custom>'}")
            continue
        if key == "apparmor":
            apparmor = value
        elif key == "label":
            selinux.append(value)
        elif key == "no-new-privileges":
            nnp = (value.strip().lower() in ("", "true", "1")) if sep else True
        raw.append(text)
    return {
        "seccomp": seccomp,
        "apparmor_opt": apparmor,
        "selinux_options": selinux,
        "no_new_privileges": nnp,
        "raw": raw,
    }


def _mounts(values: Any) -> list[Mount]:
    mounts: list[Mount] = [
        {
            "type": str(m.get("Type") or ""),
            "source": str(m.get("Source") or ""),
            "destination": str(m.get("Destination") or ""),
            "mode": str(m.get("Mode") or ""),
            "rw": bool(m.get("RW")),
            "propagation": str(m.get("Propagation") or ""),
        }
        for m in _list(values)
        if isinstance(m, Mapping)
    ]
    return sorted(mounts, key=lambda m: (m["destination"], m["source"]))


def _ports(bindings: Any) -> list[PortBinding]:
    ports: list[PortBinding] = []
    for container_port, hosts in _map(bindings).items():
        for host in _list(hosts) or [{}]:
            host = _map(host)
            ports.append(
                {
                    "container_port": str(container_port),
                    "host_ip": str(host.get("HostIp") or ""),
                    "host_port": str(host.get("HostPort") or ""),
                }
            )
    return sorted(ports, key=lambda p: (p["container_port"], p["host_ip"], p["host_port"]))


def _devices(values: Any) -> list[Device]:
    return [
        {
            "host": str(d.get("PathOnHost") or ""),
            "container": str(d.get("PathInContainer") or ""),
            "permissions": str(d.get("CgroupPermissions") or ""),
        }
        for d in _list(values)
        if isinstance(d, Mapping)
    ]


def container_record(
    inspect: Mapping[str, Any],
    engine: AssetRecord,
    secrets: SecretScanner | None,
    image_config: Mapping[str, Any] | None = None,
    observed: Observed = NOT_OBSERVED,
) -> tuple[AssetRecord, RelationRecord | None]:
    """A container of ``engine`` from ``/containers/{id}/json`` and its ``runs`` edge to the image.

    Its legacy keys follow the engine's (``<legacy engine key>/<container id>``), so an upgraded store
    keeps the container's findings under the engine's new key.

    ``observed`` is what :func:`collectors.docker.runtime.observe` saw of a running container
    (``sshd``, ``execs``); a snapshot or a stopped container has not been observed.

    ``image_config`` is the image's raw ``Config``: env, labels and healthcheck the container
    inherited unchanged are the image's (CIS 4.10, reported once on the image), so only what the
    container adds or overrides is scanned for secrets here.
    """
    container_id = str(inspect.get("Id") or "")
    config, host, state = _map(inspect.get("Config")), _map(inspect.get("HostConfig")), _map(inspect.get("State"))
    inherited = _map(image_config)
    inherited_env = {e for e in _list(inherited.get("Env")) if isinstance(e, str)}
    inherited_labels = _map(inherited.get("Labels"))
    env_lines = [e for e in _list(config.get("Env")) if isinstance(e, str)]
    hits: list[SecretHit] = scan_env(split_env(e for e in env_lines if e not in inherited_env), secrets)
    labels = redacted_labels(config.get("Labels"), secrets, hits, inherited=inherited_labels)
    inherited_check_hits: list[SecretHit] = []  # redacted here too, but reported on the image
    own_check = config.get("Healthcheck") != inherited.get("Healthcheck")
    check = healthcheck(config.get("Healthcheck"), secrets, hits if own_check else inherited_check_hits)
    security = _security_opt(host.get("SecurityOpt"))
    restart = _map(host.get("RestartPolicy"))
    health = _map(state.get("Health"))
    networks = _map(_map(inspect.get("NetworkSettings")).get("Networks"))
    name = str(inspect.get("Name") or container_id[:12]).lstrip("/")
    pids_limit = host.get("PidsLimit")
    attributes: ContainerAttributes = {
        "id": container_id,
        "name": name,
        "engine_id": engine.key,
        "state": str(state.get("Status") or ""),
        "running": bool(state.get("Running")),
        "image": str(config.get("Image") or ""),
        "image_id": str(inspect.get("Image") or ""),
        "created": str(inspect.get("Created") or ""),
        "user": str(config.get("User") or ""),
        "privileged": bool(host.get("Privileged")),
        "cap_add": _caps(host.get("CapAdd")),
        "cap_drop": _caps(host.get("CapDrop")),
        "network_mode": str(host.get("NetworkMode") or ""),
        "networks": sorted(str(n) for n in networks),
        "pid_mode": str(host.get("PidMode") or ""),
        "ipc_mode": str(host.get("IpcMode") or ""),
        "uts_mode": str(host.get("UTSMode") or ""),
        "userns_mode": str(host.get("UsernsMode") or ""),
        "cgroup_parent": str(host.get("CgroupParent") or ""),
        "mounts": _mounts(inspect.get("Mounts")),
        "devices": _devices(host.get("Devices")),
        "ports": _ports(host.get("PortBindings")),
        "publish_all_ports": bool(host.get("PublishAllPorts")),
        "restart_policy": {
            "name": str(restart.get("Name") or "no"),
            "max_retry": int(restart.get("MaximumRetryCount") or 0),
        },
        "memory": int(host.get("Memory") or 0),
        "nano_cpus": int(host.get("NanoCpus") or 0),
        "cpu_shares": int(host.get("CpuShares") or 0),
        "cpu_quota": int(host.get("CpuQuota") or 0),
        "pids_limit": int(pids_limit) if isinstance(pids_limit, int) else None,
        "readonly_rootfs": bool(host.get("ReadonlyRootfs")),
        "security_opt": security["raw"],
        "seccomp": security["seccomp"],
        "apparmor_profile": str(inspect.get("AppArmorProfile") or security["apparmor_opt"] or ""),
        "selinux_options": security["selinux_options"],
        "no_new_privileges": security["no_new_privileges"],
        "healthcheck": check,
        "health": str(health.get("Status")) if health.get("Status") else None,
        "env_keys": [key for key, _ in split_env(env_lines)],
        "secrets": unique_evidence(hits),
        "labels": labels,
        "log_driver": str(_map(host.get("LogConfig")).get("Type") or ""),
        "runtime": str(host.get("Runtime") or ""),
        "sshd": observed["sshd"],
        "execs": list(observed["execs"]),
    }
    record = AssetRecord(
        AssetKind.CONTAINER,
        f"{engine.key}/{container_id}",
        name,
        Phase.RUN,
        attributes,
        parent=engine.ref,
        legacy_keys=tuple(f"{key}/{container_id}" for key in engine.legacy_keys),
    )
    image_id = attributes["image_id"]
    relation = RelationRecord(record.ref, "runs", AssetRef(AssetKind.IMAGE, image_id)) if image_id else None
    return record, relation
