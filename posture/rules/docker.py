"""Docker engine and container checks: CIS Docker Benchmark 1.6.0 sections 2 and 5.

Numbering and logic follow docker-bench-security (tests/5_container_runtime.sh, the CIS reference
implementation); ``docs/docker-checks.md`` has the full mapping and every deliberate difference.
The main ones: every container is checked, not only running ones (a created privileged container is
one ``docker start`` away), but a finding on a container that is not running is one severity
lower and its evidence says ``running: false``; 5.2/5.3 apply only where the engine reports
AppArmor/SELinux ("if applicable"); 5.15 accepts ``no`` and ``on-failure`` up to 5; 5.31 is
information unless the engine remaps user namespaces.

5.7 reads the processes ``/containers/{id}/top`` lists, 5.23/5.24 the exec sessions the engine
still lists (running or never started: best effort, the engine forgets ended ones); both only on
running containers. Not decidable from the API, so not implemented: 5.9 (needed ports: manual
judgement), 5.19 (ulimits "only if needed": manual), 5.28 (whether the image is the latest version:
manual; the mutable ``latest`` reference check covers its common failure). Section 2 settings ``/info`` does not show
(2.4 iptables, 2.8 default ulimit, 2.10 cgroup parent, 2.11 base device size, 2.14 daemon-wide
no-new-privileges, 2.16 userland proxy) need the daemon's command line or ``daemon.json``.
Podman answers the same API but has no daemon in dockerd's sense: 2.1 (rootful daemon), 2.12
(authorization plugin), 2.15 (live restore) and 2.18 (experimental build) do not apply to it.

Engine and container attributes read here are produced by ``collectors/docker/normalize.py``; their keys
and types are declared once, in ``posture/attributes/docker.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from posture.attributes.docker import (
    ContainerAttributes,
    EngineAttributes,
    Mount,
    container_attributes,
    engine_attributes,
)
from posture.facts.capabilities import dangerous as dangerous_capabilities
from posture.facts.references import mutable_tag
from posture.facts.sockets import mounted_sockets
from posture.records import AssetKind, AssetRecord
from posture.rules.base import Hit, Reference, Rule, Snapshot
from posture.taxonomy import CIS_DOCKER, KUBESCAPE, TRIVY, Phase, Severity

#: Capabilities Docker grants by default: adding them back is not an extra privilege (docker-bench's list).
DEFAULT_CAPS = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
#: docker-bench's sensitive host directories (5.6); subdirectories count too, except under ``/``.
SENSITIVE_DIRS = frozenset({"/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr"})
_WILDCARD_IPS = frozenset({"", "0.0.0.0", "::"})
_DEMOTE = {
    Severity.CRITICAL: Severity.HIGH,
    Severity.HIGH: Severity.MEDIUM,
    Severity.MEDIUM: Severity.LOW,
    Severity.LOW: Severity.INFO,
    Severity.INFO: Severity.INFO,
}


@dataclass(frozen=True)
class Fail:
    """One failed check before it is bound to its asset's running state."""

    discriminator: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    severity: Severity | None = None
    title: str | None = None


ContainerCheck = Callable[[ContainerAttributes, EngineAttributes | None], Iterable[Fail]]
EngineCheck = Callable[[EngineAttributes], Iterable[Fail]]


def _engine_of(asset: AssetRecord, snapshot: Snapshot) -> EngineAttributes | None:
    engine = snapshot.get(asset.parent) if asset.parent is not None else None
    return engine_attributes(engine.attributes) if engine is not None else None


def _refs(cis: str, *peers: Reference) -> tuple[Reference, ...]:
    return (Reference(CIS_DOCKER, cis), *peers)


def container_rule(
    rule_id: str,
    cis: str,
    title: str,
    severity: Severity,
    nist: str,
    remediation: str,
    check: ContainerCheck,
    *peers: Reference,
) -> Rule:
    """A section 5 rule: evidence carries ``running``/``state``; not running = one severity lower."""

    def evaluate(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
        attrs = container_attributes(asset.attributes)
        running = attrs["running"]
        for fail in check(attrs, _engine_of(asset, snapshot)):
            base = fail.severity or severity
            evidence = {**fail.evidence, "running": running, "state": attrs["state"]}
            yield Hit(fail.discriminator, evidence, fail.title, base if running else _DEMOTE[base])

    return Rule(
        rule_id,
        title,
        severity,
        Phase.RUN,
        nist,
        remediation,
        _refs(cis, *peers) if cis else peers,
        frozenset({AssetKind.CONTAINER}),
        evaluate,
    )


def engine_rule(
    rule_id: str,
    cis: str,
    title: str,
    severity: Severity,
    nist: str,
    remediation: str,
    check: EngineCheck,
    *,
    docker_only: bool = False,
) -> Rule:
    """A section 2 (daemon) rule. ``docker_only``: the setting exists only in dockerd, so the check
    does not apply to Podman, whose compatible API answers the same ``/info`` without meaning it."""

    def evaluate(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
        attrs = engine_attributes(asset.attributes)
        if docker_only and attrs["product"] == "podman":
            return
        for fail in check(attrs):
            yield Hit(fail.discriminator, fail.evidence, fail.title, fail.severity)

    return Rule(
        rule_id,
        title,
        severity,
        Phase.RUN,
        nist,
        remediation,
        _refs(cis),
        frozenset({AssetKind.DOCKER_ENGINE}),
        evaluate,
    )


def _when(condition: bool, **evidence: Any) -> list[Fail]:
    return [Fail(evidence=evidence)] if condition else []


# --- section 5: container runtime ---------------------------------------------------------------


def _confinement(host_has: bool | None, disabled: bool, unset: bool, evidence: Mapping[str, Any]) -> list[Fail]:
    """5.2 and 5.3 alike ("if applicable"): nothing where the engine lacks that LSM; explicitly disabled
    (``apparmor=unconfined``, ``label=disable``) at the rule's severity; merely unset, on an engine
    that has the LSM, low. An unknown engine (a corpus inspect) is judged on explicit disabling only."""
    if host_has is False:
        return []
    if disabled:
        return [Fail(evidence=evidence)]
    return [Fail(evidence=evidence, severity=Severity.LOW)] if unset and host_has else []


def _lsm(engine: EngineAttributes | None, name: Literal["apparmor", "selinux"]) -> bool | None:
    return None if engine is None else engine[name]


def _apparmor(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    profile = a["apparmor_profile"]
    return _confinement(_lsm(engine, "apparmor"), profile == "unconfined", not profile, {"apparmor_profile": profile})


def _selinux(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    # Docker adds label=disable to privileged and host-PID containers even without SELinux: hence the gate.
    options = list(a["selinux_options"])
    return _confinement(_lsm(engine, "selinux"), "disable" in options, not options, {"selinux_options": options})


def _capabilities(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    added = sorted(set(a["cap_add"]) - DEFAULT_CAPS)
    if not added:
        return []
    dangerous = dangerous_capabilities(added)
    severity = Severity.CRITICAL if "ALL" in added else Severity.HIGH if dangerous else None
    return [Fail(evidence={"cap_add": added, "dangerous": dangerous}, severity=severity)]


def _privileged(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    return _when(a["privileged"], privileged=True)


def _binds(a: ContainerAttributes) -> list[Mount]:
    return [m for m in a["mounts"] if m["type"] in ("bind", "")]


def _sensitive(source: str) -> bool:
    """A sensitive directory or anything below it; ``/`` counts only itself, or every path would."""
    return source in SENSITIVE_DIRS or any(source.startswith(d + "/") for d in SENSITIVE_DIRS - {"/"})


def _sensitive_mounts(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    fails = []
    for mount in _binds(a):
        source = mount["source"].rstrip("/") or "/"
        if _sensitive(source):
            evidence = {"source": source, "destination": mount["destination"], "rw": mount["rw"]}
            fails.append(Fail(source, evidence, None if mount["rw"] else Severity.MEDIUM))
    return fails


def _numeric_port(text: Any) -> int | None:
    try:
        return int(str(text))
    except ValueError:
        return None


def _sshd(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    return _when(bool(a["sshd"]), sshd=list(a["sshd"] or []))


def _execs(flag: Literal["privileged", "root"]) -> ContainerCheck:
    """5.23/5.24: exec sessions the engine still lists that set ``flag`` (privileged / root)."""

    def check(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
        return [Fail(e["id"], dict(e)) for e in a["execs"] if e[flag]]

    return check


def _privileged_ports(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    fails = []
    for port in a["ports"]:
        number = _numeric_port(port["host_port"])
        if number is not None and 0 < number < 1024:
            ident = f"{port['host_ip'] or '0.0.0.0'}:{number}->{port['container_port']}"
            fails.append(Fail(ident, {"binding": ident}))
    return fails


def _host_network(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    return _when(a["network_mode"] == "host", network_mode="host")


def _memory(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    return _when(not a["memory"], memory=0)


def _cpu(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    unset = not a["cpu_shares"] and not a["nano_cpus"] and not a["cpu_quota"]
    return _when(unset, cpu_shares=0, nano_cpus=0, cpu_quota=0)


def _rootfs(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    return _when(not a["readonly_rootfs"], readonly_rootfs=False)


def _wildcard_binds(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    fails = []
    for port in a["ports"]:
        if port["host_ip"] in _WILDCARD_IPS:
            ident = f"{port['host_ip'] or '0.0.0.0'}:{port['host_port'] or '*'}->{port['container_port']}"
            fails.append(Fail(ident, {"binding": ident}))
    if a["publish_all_ports"]:
        fails.append(Fail("publish-all", {"publish_all_ports": True}))
    return fails


def _restart(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    policy = a["restart_policy"]
    name, retries = policy["name"], policy["max_retry"]
    unbounded = name in ("always", "unless-stopped") or (name == "on-failure" and not 0 < retries <= 5)
    return _when(unbounded, restart_policy=name, max_retry=retries)


def _namespace(attr: Literal["pid_mode", "ipc_mode", "uts_mode"]) -> ContainerCheck:
    def check(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
        return _when(a[attr].lower() == "host", **{attr: "host"})

    return check


def _devices(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    return [Fail(d["host"], dict(d)) for d in a["devices"]]


def _propagation(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    return [
        Fail(m["destination"], {"source": m["source"], "propagation": m["propagation"]})
        for m in a["mounts"]
        if m["propagation"] in ("shared", "rshared")
    ]


def _seccomp(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    return _when(a["seccomp"] == "unconfined", seccomp="unconfined")


def _cgroup(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    return _when(bool(a["cgroup_parent"]), cgroup_parent=a["cgroup_parent"])


def _no_new_privileges(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    return _when(not a["no_new_privileges"], security_opt=list(a["security_opt"]))


def _health(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    check = a["healthcheck"]
    configured = bool(check and check["test"] and check["test"][0] != "NONE")
    return _when(not configured and not a["health"], healthcheck=None)


def _pids(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    limit = a["pids_limit"]
    return _when(limit is None or limit <= 0, pids_limit=limit)


def _default_bridge(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    if engine is not None and engine["networks_known"]:
        bridge = engine["default_bridge"]
        if not bridge:
            return []
        name = bridge["name"]
    else:
        name = "bridge"
    return _when(name in a["networks"], network=name)


def _userns(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    """Only an engine with userns-remap gives containers a user namespace of their own to leave: elsewhere
    ``--userns host`` is the default, and the finding is information (2.9 reports the missing remap)."""
    if "host" not in a["userns_mode"].lower():
        return []
    remapped = bool(engine and engine["userns"])
    evidence = {"userns_mode": a["userns_mode"], "engine_userns_remap": remapped}
    return [Fail(evidence=evidence, severity=None if remapped else Severity.INFO)]


def _runtime_socket(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    fails = []
    for mount in a["mounts"]:
        source, destination = mount["source"], mount["destination"]
        if mounted_sockets(source, destination):
            fails.append(Fail(source, {"source": source, "destination": destination, "rw": mount["rw"]}))
    return fails


def _env_secrets(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    return [
        Fail(
            f"{s.get('location')}:{s.get('key') or str(s.get('hash', ''))[12:28]}",
            dict(s),
            Severity.MEDIUM if s.get("detector") == "entropy" else None,  # random-looking, nobody named it
        )
        for s in a["secrets"]
    ]


def _mutable_reference(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Fail]:
    ref = a["image"]
    tag = mutable_tag(ref)
    return [Fail(evidence={"image": ref, "tag": tag})] if tag is not None else []


def _K(control: str) -> Reference:
    return Reference(KUBESCAPE, control)


def _T(check: str) -> Reference:
    return Reference(TRIVY, check)


CONTAINER_RULES: list[Rule] = [
    container_rule(
        "DKR-APPARMOR",
        "5.2",
        "Container runs without an AppArmor profile",
        Severity.MEDIUM,
        "3.4.3",
        "Run with the default or a custom AppArmor profile (--security-opt apparmor=PROFILE), never unconfined.",
        _apparmor,
    ),
    container_rule(
        "DKR-SELINUX",
        "5.3",
        "Container runs without SELinux labels",
        Severity.MEDIUM,
        "3.4.3",
        "Keep SELinux labeling on (never --security-opt label=disable) and set labels where the policy needs them.",
        _selinux,
    ),
    container_rule(
        "DKR-CAP-ADD",
        "5.4",
        "Container adds Linux capabilities",
        Severity.MEDIUM,
        "3.4.3",
        "Drop the added capabilities (--cap-drop ALL, then --cap-add only what the process needs).",
        _capabilities,
        _T("KSV022"),
        _K("C-0046"),
    ),
    container_rule(
        "DKR-PRIVILEGED",
        "5.5",
        "Privileged container",
        Severity.CRITICAL,
        "3.4.3",
        "Do not run with --privileged; grant the specific capability or device the workload needs.",
        _privileged,
        _T("KSV017"),
        _K("C-0057"),
    ),
    container_rule(
        "DKR-SENSITIVE-MOUNT",
        "5.6",
        "Sensitive host directory mounted into the container",
        Severity.HIGH,
        "3.5.5",
        "Do not bind-mount host system directories (/, /boot, /dev, /etc, /lib, /proc, /sys, /usr); use volumes.",
        _sensitive_mounts,
        _T("KSV023"),
        _K("C-0048"),
    ),
    container_rule(
        "DKR-SSHD",
        "5.7",
        "sshd runs inside the container",
        Severity.MEDIUM,
        "3.4.4",
        "Remove sshd from the image; use docker exec (or kubectl exec) for the rare interactive access.",
        _sshd,
    ),
    container_rule(
        "DKR-PRIVILEGED-PORT",
        "5.8",
        "Privileged host port (<1024) mapped",
        Severity.LOW,
        "3.4.2",
        "Publish on a host port of 1024 or above and put a proxy or load balancer in front.",
        _privileged_ports,
        _T("KSV024"),
        _K("C-0044"),
    ),
    container_rule(
        "DKR-HOST-NETWORK",
        "5.10",
        "Container shares the host's network namespace",
        Severity.HIGH,
        "3.4.2",
        "Do not use --network host; publish the ports the service needs on a bridge or user network.",
        _host_network,
        _T("KSV009"),
        _K("C-0041"),
    ),
    container_rule(
        "DKR-NO-MEMORY-LIMIT",
        "5.11",
        "No memory limit",
        Severity.MEDIUM,
        "3.4.3",
        "Set a memory limit (--memory) so one container cannot exhaust the host.",
        _memory,
        _T("KSV018"),
        _K("C-0004"),
    ),
    container_rule(
        "DKR-NO-CPU-LIMIT",
        "5.12",
        "No CPU shares or CPU limit",
        Severity.LOW,
        "3.4.3",
        "Set --cpu-shares or --cpus so CPU contention is resolved by priority.",
        _cpu,
        _T("KSV011"),
        _K("C-0050"),
    ),
    container_rule(
        "DKR-WRITABLE-ROOTFS",
        "5.13",
        "Root filesystem is writable",
        Severity.LOW,
        "3.4.3",
        "Run with --read-only and mount writable volumes or tmpfs only where the application writes.",
        _rootfs,
        _T("KSV014"),
        _K("C-0017"),
    ),
    container_rule(
        "DKR-WILDCARD-BIND",
        "5.14",
        "Port published on all host interfaces",
        Severity.MEDIUM,
        "3.4.2",
        "Bind published ports to a specific host address (-p 127.0.0.1:8080:80).",
        _wildcard_binds,
    ),
    container_rule(
        "DKR-RESTART-POLICY",
        "5.15",
        "Unbounded restart policy",
        Severity.LOW,
        "3.4.3",
        "Use --restart on-failure:5 (or no) instead of always / unless-stopped / unlimited on-failure.",
        _restart,
    ),
    container_rule(
        "DKR-HOST-PID",
        "5.16",
        "Container shares the host's PID namespace",
        Severity.HIGH,
        "3.4.3",
        "Do not use --pid host.",
        _namespace("pid_mode"),
        _T("KSV010"),
        _K("C-0038"),
    ),
    container_rule(
        "DKR-HOST-IPC",
        "5.17",
        "Container shares the host's IPC namespace",
        Severity.HIGH,
        "3.4.3",
        "Do not use --ipc host.",
        _namespace("ipc_mode"),
        _T("KSV008"),
        _K("C-0038"),
    ),
    container_rule(
        "DKR-HOST-DEVICE",
        "5.18",
        "Host device exposed to the container",
        Severity.MEDIUM,
        "3.4.3",
        "Remove --device unless the workload needs it, and then grant only r/w without m (mknod).",
        _devices,
    ),
    container_rule(
        "DKR-SHARED-PROPAGATION",
        "5.20",
        "Mount propagation set to shared",
        Severity.MEDIUM,
        "3.5.5",
        "Use private (the default) or slave propagation; shared lets mounts leak between host and container.",
        _propagation,
    ),
    container_rule(
        "DKR-HOST-UTS",
        "5.21",
        "Container shares the host's UTS namespace",
        Severity.MEDIUM,
        "3.4.3",
        "Do not use --uts host.",
        _namespace("uts_mode"),
    ),
    container_rule(
        "DKR-SECCOMP-DISABLED",
        "5.22",
        "Seccomp disabled (unconfined)",
        Severity.HIGH,
        "3.4.3",
        "Remove --security-opt seccomp=unconfined; use the default or a custom profile.",
        _seccomp,
        _T("KSV104"),
    ),
    container_rule(
        "DKR-EXEC-PRIVILEGED",
        "5.23",
        "docker exec session with --privileged",
        Severity.HIGH,
        "3.4.3",
        "Do not use docker exec --privileged: it gives that process every capability and no confinement.",
        _execs("privileged"),
    ),
    container_rule(
        "DKR-EXEC-ROOT",
        "5.24",
        "docker exec session with --user root",
        Severity.MEDIUM,
        "3.4.3",
        "Do not exec into containers as root; exec as the container's own user.",
        _execs("root"),
    ),
    container_rule(
        "DKR-CGROUP-PARENT",
        "5.25",
        "Container uses a non-default cgroup parent",
        Severity.INFO,
        "3.4.3",
        "Confirm the --cgroup-parent is intended; the default is fine.",
        _cgroup,
    ),
    container_rule(
        "DKR-NO-NEW-PRIVILEGES",
        "5.26",
        "Container may acquire new privileges (setuid)",
        Severity.MEDIUM,
        "3.4.3",
        "Run with --security-opt no-new-privileges (or set it daemon-wide).",
        _no_new_privileges,
        _T("KSV001"),
        _K("C-0016"),
    ),
    container_rule(
        "DKR-NO-HEALTHCHECK",
        "5.27",
        "No health check at runtime",
        Severity.LOW,
        "3.4.3",
        "Define HEALTHCHECK in the image or --health-cmd at run time.",
        _health,
        _K("C-0056"),
    ),
    container_rule(
        "DKR-NO-PIDS-LIMIT",
        "5.29",
        "No PIDs limit",
        Severity.LOW,
        "3.4.3",
        "Set --pids-limit so a fork bomb cannot exhaust the host's process table.",
        _pids,
    ),
    container_rule(
        "DKR-DEFAULT-BRIDGE",
        "5.30",
        "Container on the default bridge (docker0)",
        Severity.LOW,
        "3.3.3",
        "Attach containers to user-defined networks so traffic between unrelated containers is separated.",
        _default_bridge,
    ),
    container_rule(
        "DKR-HOST-USERNS",
        "5.31",
        "Container shares the host's user namespace",
        Severity.HIGH,
        "3.4.3",
        "Do not use --userns host on an engine with user namespace remapping.",
        _userns,
    ),
    container_rule(
        "DKR-RUNTIME-SOCKET",
        "5.32",
        "Container runtime socket mounted into the container",
        Severity.CRITICAL,
        "3.4.3",
        "Never mount docker.sock (or its directory); give tools that need the API a narrowly scoped proxy.",
        _runtime_socket,
        _T("KSV006"),
        _K("C-0074"),
    ),
    container_rule(
        "DKR-ENV-SECRET",
        "",
        "Secret passed in the container's environment",
        Severity.HIGH,
        "3.4.3",
        "Pass secrets as files (Docker secrets, a mounted tmpfs) instead of environment variables; rotate this one.",
        _env_secrets,
        _K("C-0012"),
    ),
    container_rule(
        "DKR-MUTABLE-IMAGE-REF",
        "",
        "Container image referenced by 'latest' or no tag",
        Severity.LOW,
        "3.1.5",
        "Reference images by an immutable version tag or, better, by digest (image@sha256:...).",
        _mutable_reference,
        _T("KSV013"),
    ),
]


# --- daemon (section 2) and 5.1 --------------------------------------------------------------------


def _swarm(e: EngineAttributes) -> list[Fail]:
    """Like docker-bench, every state but ``inactive``: a node in ``error`` still has swarm configured."""
    return _when(e["swarm"] in ("active", "pending", "locked", "error"), swarm=e["swarm"])


def _rootful(e: EngineAttributes) -> list[Fail]:
    return _when(not e["rootless"], rootless=False)


def _icc(e: EngineAttributes) -> list[Fail]:
    bridge = e["default_bridge"]
    return _when(bridge["icc"], network=bridge["name"], icc=True) if bridge else []


def _debug(e: EngineAttributes) -> list[Fail]:
    return _when(e["debug"], debug=True)


def _insecure_registries(e: EngineAttributes) -> list[Fail]:
    return [Fail(r, {"registry": r}) for r in e["insecure_registries"]]


def _aufs(e: EngineAttributes) -> list[Fail]:
    return _when(e["storage_driver"] == "aufs", storage_driver="aufs")


def _api_transport(e: EngineAttributes) -> list[Fail]:
    transport = e["transport"]
    if transport["scheme"] != "tcp":
        return []
    if not transport["tls"]:
        return [Fail(evidence=dict(transport), title="Docker API reachable over TCP without TLS")]
    if not transport["client_cert"]:
        return [
            Fail(
                evidence=dict(transport),
                severity=Severity.HIGH,
                title="Docker API over TLS accepts clients without a certificate",
            )
        ]
    return []


def _userns_remap(e: EngineAttributes) -> list[Fail]:
    return _when(not e["userns"] and not e["rootless"], userns=False, rootless=False)


def _authz(e: EngineAttributes) -> list[Fail]:
    return _when(not e["authorization_plugins"], authorization_plugins=[])


def _logging(e: EngineAttributes) -> list[Fail]:
    return _when(e["logging_driver"] in ("json-file", "local", "none"), logging_driver=e["logging_driver"])


def _live_restore(e: EngineAttributes) -> list[Fail]:
    return _when(not e["live_restore"] and e["swarm"] != "active", live_restore=False)


def _daemon_seccomp(e: EngineAttributes) -> list[Fail]:
    profile = e["seccomp_profile"]
    return _when(profile in (None, "unconfined"), seccomp_profile=profile)


def _experimental(e: EngineAttributes) -> list[Fail]:
    return _when(e["experimental"], experimental=True)


ENGINE_RULES: list[Rule] = [
    engine_rule(
        "DKR-SWARM-ENABLED",
        "5.1",
        "Swarm mode enabled",
        Severity.LOW,
        "3.5.1",
        "Leave swarm mode (docker swarm leave) on engines that do not need it: it opens management ports.",
        _swarm,
    ),
    engine_rule(
        "DKR-ROOTFUL-DAEMON",
        "2.1",
        "Docker daemon runs as root",
        Severity.INFO,
        "3.4.3",
        "Consider rootless mode where its limitations are acceptable.",
        _rootful,
        docker_only=True,
    ),
    engine_rule(
        "DKR-ICC-ENABLED",
        "2.2",
        "Containers on the default bridge can reach each other",
        Severity.MEDIUM,
        "3.3.3",
        'Set "icc": false in daemon.json and link containers through user-defined networks.',
        _icc,
    ),
    engine_rule(
        "DKR-DEBUG-LOGGING",
        "2.3",
        "Daemon log level is debug",
        Severity.LOW,
        "3.4.3",
        'Set "log-level": "info".',
        _debug,
    ),
    engine_rule(
        "DKR-INSECURE-REGISTRY",
        "2.5",
        "Insecure registry configured",
        Severity.HIGH,
        "3.2.1",
        "Remove the registry from insecure-registries and give it a certificate the engine trusts.",
        _insecure_registries,
    ),
    engine_rule("DKR-AUFS", "2.6", "aufs storage driver in use", Severity.MEDIUM, "3.4.1", "Move to overlay2.", _aufs),
    engine_rule(
        "DKR-API-NO-TLS",
        "2.7",
        "Docker API reachable over TCP without TLS",
        Severity.CRITICAL,
        "3.3.2",
        "Serve the TCP socket only with --tlsverify (TLS with client certificates), or use ssh:// instead.",
        _api_transport,
    ),
    engine_rule(
        "DKR-NO-USERNS",
        "2.9",
        "User namespace remapping not enabled",
        Severity.MEDIUM,
        "3.4.3",
        "Enable userns-remap (or rootless mode) so root in a container is not root on the host.",
        _userns_remap,
    ),
    engine_rule(
        "DKR-NO-AUTHZ-PLUGIN",
        "2.12",
        "No authorization plugin",
        Severity.LOW,
        "3.3.1",
        "Use an authorization plugin to restrict which API calls each client may make.",
        _authz,
        docker_only=True,
    ),
    engine_rule(
        "DKR-LOCAL-LOGGING",
        "2.13",
        "Container logs are kept only on the host",
        Severity.LOW,
        "3.4.3",
        "Configure a remote logging driver (syslog, fluentd, gelf, …) or ship the local logs centrally.",
        _logging,
    ),
    engine_rule(
        "DKR-NO-LIVE-RESTORE",
        "2.15",
        "Live restore not enabled",
        Severity.LOW,
        "3.4.3",
        'Set "live-restore": true so containers survive daemon restarts and upgrades.',
        _live_restore,
        docker_only=True,
    ),
    engine_rule(
        "DKR-DAEMON-SECCOMP",
        "2.17",
        "No daemon-wide seccomp profile",
        Severity.HIGH,
        "3.4.3",
        "Keep the default seccomp profile (or a custom one) enabled daemon-wide.",
        _daemon_seccomp,
    ),
    engine_rule(
        "DKR-EXPERIMENTAL",
        "2.18",
        "Experimental features enabled",
        Severity.LOW,
        "3.4.1",
        "Do not run production engines with --experimental.",
        _experimental,
        docker_only=True,
    ),
]

RULES: list[Rule] = [*CONTAINER_RULES, *ENGINE_RULES]
