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
from dataclasses import replace
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
from posture.rules.base import Evaluate, Hit, Rule, Snapshot, cis_docker, kubescape, trivy
from posture.taxonomy import Phase, Severity

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
_CONTAINER = frozenset({AssetKind.CONTAINER})
_ENGINE = frozenset({AssetKind.DOCKER_ENGINE})



ContainerCheck = Callable[[ContainerAttributes, EngineAttributes | None], Iterable[Hit]]
EngineCheck = Callable[[EngineAttributes], Iterable[Hit]]


def _engine_of(asset: AssetRecord, snapshot: Snapshot) -> EngineAttributes | None:
    engine = snapshot.get(asset.parent) if asset.parent is not None else None
    return engine_attributes(engine.attributes) if engine is not None else None


def on_container(check: ContainerCheck) -> Evaluate:
    """A section 5 check of a container and its engine: evidence carries ``running``/``state``, and a
    container that is not running is dormant (its finding one severity lower)."""

    def evaluate(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
        attrs = container_attributes(asset.attributes)
        running = attrs["running"]
        for hit in check(attrs, _engine_of(asset, snapshot)):
            evidence = {**hit.evidence, "running": running, "state": attrs["state"]}
            yield replace(hit, evidence=evidence, dormant=not running)

    return evaluate


def on_engine(check: EngineCheck, *, docker_only: bool = False) -> Evaluate:
    """A section 2 (daemon) check. ``docker_only``: the setting exists only in dockerd, so the check
    does not apply to Podman, whose compatible API answers the same ``/info`` without meaning it."""

    def evaluate(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
        attrs = engine_attributes(asset.attributes)
        if docker_only and attrs["product"] == "podman":
            return
        yield from check(attrs)

    return evaluate


def _when(condition: bool, **evidence: Any) -> list[Hit]:
    return [Hit(evidence=evidence)] if condition else []


# --- section 5: container runtime ---------------------------------------------------------------


def _confinement(host_has: bool | None, disabled: bool, unset: bool, evidence: Mapping[str, Any]) -> list[Hit]:
    """5.2 and 5.3 alike ("if applicable"): nothing where the engine lacks that LSM; explicitly disabled
    (``apparmor=unconfined``, ``label=disable``) at the rule's severity; merely unset, on an engine
    that has the LSM, low. An unknown engine (a corpus inspect) is judged on explicit disabling only."""
    if host_has is False:
        return []
    if disabled:
        return [Hit(evidence=evidence)]
    return [Hit(evidence=evidence, severity=Severity.LOW)] if unset and host_has else []


def _lsm(engine: EngineAttributes | None, name: Literal["apparmor", "selinux"]) -> bool | None:
    return None if engine is None else engine[name]


def _apparmor(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    profile = a["apparmor_profile"]
    return _confinement(_lsm(engine, "apparmor"), profile == "unconfined", not profile, {"apparmor_profile": profile})


def _selinux(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    # Docker adds label=disable to privileged and host-PID containers even without SELinux: hence the gate.
    options = list(a["selinux_options"])
    return _confinement(_lsm(engine, "selinux"), "disable" in options, not options, {"selinux_options": options})


def _capabilities(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    added = sorted(set(a["cap_add"]) - DEFAULT_CAPS)
    if not added:
        return []
    dangerous = dangerous_capabilities(added)
    severity = Severity.CRITICAL if "ALL" in added else Severity.HIGH if dangerous else None
    return [Hit(evidence={"cap_add": added, "dangerous": dangerous}, severity=severity)]


def _privileged(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    return _when(a["privileged"], privileged=True)


def _binds(a: ContainerAttributes) -> list[Mount]:
    return [m for m in a["mounts"] if m["type"] in ("bind", "")]


def _sensitive(source: str) -> bool:
    """A sensitive directory or anything below it; ``/`` counts only itself, or every path would."""
    return source in SENSITIVE_DIRS or any(source.startswith(d + "/") for d in SENSITIVE_DIRS - {"/"})


def _sensitive_mounts(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    fails = []
    for mount in _binds(a):
        source = mount["source"].rstrip("/") or "/"
        if _sensitive(source):
            evidence = {"source": source, "destination": mount["destination"], "rw": mount["rw"]}
            fails.append(Hit(source, evidence, severity=None if mount["rw"] else Severity.MEDIUM))
    return fails


def _numeric_port(text: Any) -> int | None:
    try:
        return int(str(text))
    except ValueError:
        return None


def _sshd(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    return _when(bool(a["sshd"]), sshd=list(a["sshd"] or []))


def _execs(flag: Literal["privileged", "root"]) -> ContainerCheck:
    """5.23/5.24: exec sessions the engine still lists that set ``flag`` (privileged / root)."""

    def check(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
        return [Hit(e["id"], dict(e)) for e in a["execs"] if e[flag]]

    return check


def _privileged_ports(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    fails = []
    for port in a["ports"]:
        number = _numeric_port(port["host_port"])
        if number is not None and 0 < number < 1024:
            ident = f"{port['host_ip'] or '0.0.0.0'}:{number}->{port['container_port']}"
            fails.append(Hit(ident, {"binding": ident}))
    return fails


def _host_network(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    return _when(a["network_mode"] == "host", network_mode="host")


def _memory(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    return _when(not a["memory"], memory=0)


def _cpu(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    unset = not a["cpu_shares"] and not a["nano_cpus"] and not a["cpu_quota"]
    return _when(unset, cpu_shares=0, nano_cpus=0, cpu_quota=0)


def _rootfs(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    return _when(not a["readonly_rootfs"], readonly_rootfs=False)


def _wildcard_binds(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    fails = []
    for port in a["ports"]:
        if port["host_ip"] in _WILDCARD_IPS:
            ident = f"{port['host_ip'] or '0.0.0.0'}:{port['host_port'] or '*'}->{port['container_port']}"
            fails.append(Hit(ident, {"binding": ident}))
    if a["publish_all_ports"]:
        fails.append(Hit("publish-all", {"publish_all_ports": True}))
    return fails


def _restart(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    policy = a["restart_policy"]
    name, retries = policy["name"], policy["max_retry"]
    unbounded = name in ("always", "unless-stopped") or (name == "on-failure" and not 0 < retries <= 5)
    return _when(unbounded, restart_policy=name, max_retry=retries)


def _namespace(attr: Literal["pid_mode", "ipc_mode", "uts_mode"]) -> ContainerCheck:
    def check(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
        return _when(a[attr].lower() == "host", **{attr: "host"})

    return check


def _devices(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    return [Hit(d["host"], dict(d)) for d in a["devices"]]


def _propagation(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    return [
        Hit(m["destination"], {"source": m["source"], "propagation": m["propagation"]})
        for m in a["mounts"]
        if m["propagation"] in ("shared", "rshared")
    ]


def _seccomp(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    return _when(a["seccomp"] == "unconfined", seccomp="unconfined")


def _cgroup(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    return _when(bool(a["cgroup_parent"]), cgroup_parent=a["cgroup_parent"])


def _no_new_privileges(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    return _when(not a["no_new_privileges"], security_opt=list(a["security_opt"]))


def _health(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    check = a["healthcheck"]
    configured = bool(check and check["test"] and check["test"][0] != "NONE")
    return _when(not configured and not a["health"], healthcheck=None)


def _pids(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    limit = a["pids_limit"]
    return _when(limit is None or limit <= 0, pids_limit=limit)


def _default_bridge(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    if engine is not None and engine["networks_known"]:
        bridge = engine["default_bridge"]
        if not bridge:
            return []
        name = bridge["name"]
    else:
        name = "bridge"
    return _when(name in a["networks"], network=name)


def _userns(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    """Only an engine with userns-remap gives containers a user namespace of their own to leave: elsewhere
    ``--userns host`` is the default, and the finding is information (2.9 reports the missing remap)."""
    if "host" not in a["userns_mode"].lower():
        return []
    remapped = bool(engine and engine["userns"])
    evidence = {"userns_mode": a["userns_mode"], "engine_userns_remap": remapped}
    return [Hit(evidence=evidence, severity=None if remapped else Severity.INFO)]


def _runtime_socket(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    fails = []
    for mount in a["mounts"]:
        source, destination = mount["source"], mount["destination"]
        if mounted_sockets(source, destination):
            fails.append(Hit(source, {"source": source, "destination": destination, "rw": mount["rw"]}))
    return fails


def _env_secrets(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    return [
        Hit(
            f"{s.get('location')}:{s.get('key') or str(s.get('hash', ''))[12:28]}",
            dict(s),
            severity=Severity.MEDIUM if s.get("detector") == "entropy" else None,  # random-looking, nobody named it
        )
        for s in a["secrets"]
    ]


def _mutable_reference(a: ContainerAttributes, engine: EngineAttributes | None) -> list[Hit]:
    ref = a["image"]
    tag = mutable_tag(ref)
    return [Hit(evidence={"image": ref, "tag": tag})] if tag is not None else []




CONTAINER_RULES: list[Rule] = [
    Rule(
        id="DKR-APPARMOR",
        title="Container runs without an AppArmor profile",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Run with the default or a custom AppArmor profile (--security-opt apparmor=PROFILE), never "
        "unconfined.",
        references=(cis_docker("5.2"),),
        kinds=_CONTAINER,
        evaluate=on_container(_apparmor),
    ),
    Rule(
        id="DKR-SELINUX",
        title="Container runs without SELinux labels",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Keep SELinux labeling on (never --security-opt label=disable) and set labels where the policy "
        "needs them.",
        references=(cis_docker("5.3"),),
        kinds=_CONTAINER,
        evaluate=on_container(_selinux),
    ),
    Rule(
        id="DKR-CAP-ADD",
        title="Container adds Linux capabilities",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Drop the added capabilities (--cap-drop ALL, then --cap-add only what the process needs).",
        references=(cis_docker("5.4"), trivy("KSV022"), kubescape("C-0046")),
        kinds=_CONTAINER,
        evaluate=on_container(_capabilities),
    ),
    Rule(
        id="DKR-PRIVILEGED",
        title="Privileged container",
        severity=Severity.CRITICAL,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Do not run with --privileged; grant the specific capability or device the workload needs.",
        references=(cis_docker("5.5"), trivy("KSV017"), kubescape("C-0057")),
        kinds=_CONTAINER,
        evaluate=on_container(_privileged),
    ),
    Rule(
        id="DKR-SENSITIVE-MOUNT",
        title="Sensitive host directory mounted into the container",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.5.5",
        remediation="Do not bind-mount host system directories (/, /boot, /dev, /etc, /lib, /proc, /sys, /usr); use "
        "volumes.",
        references=(cis_docker("5.6"), trivy("KSV023"), kubescape("C-0048")),
        kinds=_CONTAINER,
        evaluate=on_container(_sensitive_mounts),
    ),
    Rule(
        id="DKR-SSHD",
        title="sshd runs inside the container",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.4",
        remediation="Remove sshd from the image; use docker exec (or kubectl exec) for the rare interactive access.",
        references=(cis_docker("5.7"),),
        kinds=_CONTAINER,
        evaluate=on_container(_sshd),
    ),
    Rule(
        id="DKR-PRIVILEGED-PORT",
        title="Privileged host port (<1024) mapped",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.2",
        remediation="Publish on a host port of 1024 or above and put a proxy or load balancer in front.",
        references=(cis_docker("5.8"), trivy("KSV024"), kubescape("C-0044")),
        kinds=_CONTAINER,
        evaluate=on_container(_privileged_ports),
    ),
    Rule(
        id="DKR-HOST-NETWORK",
        title="Container shares the host's network namespace",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.2",
        remediation="Do not use --network host; publish the ports the service needs on a bridge or user network.",
        references=(cis_docker("5.10"), trivy("KSV009"), kubescape("C-0041")),
        kinds=_CONTAINER,
        evaluate=on_container(_host_network),
    ),
    Rule(
        id="DKR-NO-MEMORY-LIMIT",
        title="No memory limit",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Set a memory limit (--memory) so one container cannot exhaust the host.",
        references=(cis_docker("5.11"), trivy("KSV018"), kubescape("C-0004")),
        kinds=_CONTAINER,
        evaluate=on_container(_memory),
    ),
    Rule(
        id="DKR-NO-CPU-LIMIT",
        title="No CPU shares or CPU limit",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Set --cpu-shares or --cpus so CPU contention is resolved by priority.",
        references=(cis_docker("5.12"), trivy("KSV011"), kubescape("C-0050")),
        kinds=_CONTAINER,
        evaluate=on_container(_cpu),
    ),
    Rule(
        id="DKR-WRITABLE-ROOTFS",
        title="Root filesystem is writable",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Run with --read-only and mount writable volumes or tmpfs only where the application writes.",
        references=(cis_docker("5.13"), trivy("KSV014"), kubescape("C-0017")),
        kinds=_CONTAINER,
        evaluate=on_container(_rootfs),
    ),
    Rule(
        id="DKR-WILDCARD-BIND",
        title="Port published on all host interfaces",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.2",
        remediation="Bind published ports to a specific host address (-p 127.0.0.1:8080:80).",
        references=(cis_docker("5.14"),),
        kinds=_CONTAINER,
        evaluate=on_container(_wildcard_binds),
    ),
    Rule(
        id="DKR-RESTART-POLICY",
        title="Unbounded restart policy",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Use --restart on-failure:5 (or no) instead of always / unless-stopped / unlimited on-failure.",
        references=(cis_docker("5.15"),),
        kinds=_CONTAINER,
        evaluate=on_container(_restart),
    ),
    Rule(
        id="DKR-HOST-PID",
        title="Container shares the host's PID namespace",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Do not use --pid host.",
        references=(cis_docker("5.16"), trivy("KSV010"), kubescape("C-0038")),
        kinds=_CONTAINER,
        evaluate=on_container(_namespace("pid_mode")),
    ),
    Rule(
        id="DKR-HOST-IPC",
        title="Container shares the host's IPC namespace",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Do not use --ipc host.",
        references=(cis_docker("5.17"), trivy("KSV008"), kubescape("C-0038")),
        kinds=_CONTAINER,
        evaluate=on_container(_namespace("ipc_mode")),
    ),
    Rule(
        id="DKR-HOST-DEVICE",
        title="Host device exposed to the container",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Remove --device unless the workload needs it, and then grant only r/w without m (mknod).",
        references=(cis_docker("5.18"),),
        kinds=_CONTAINER,
        evaluate=on_container(_devices),
    ),
    Rule(
        id="DKR-SHARED-PROPAGATION",
        title="Mount propagation set to shared",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.5.5",
        remediation="Use private (the default) or slave propagation; shared lets mounts leak between host and "
        "container.",
        references=(cis_docker("5.20"),),
        kinds=_CONTAINER,
        evaluate=on_container(_propagation),
    ),
    Rule(
        id="DKR-HOST-UTS",
        title="Container shares the host's UTS namespace",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Do not use --uts host.",
        references=(cis_docker("5.21"),),
        kinds=_CONTAINER,
        evaluate=on_container(_namespace("uts_mode")),
    ),
    Rule(
        id="DKR-SECCOMP-DISABLED",
        title="Seccomp disabled (unconfined)",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Remove --security-opt seccomp=unconfined; use the default or a custom profile.",
        references=(cis_docker("5.22"), trivy("KSV104")),
        kinds=_CONTAINER,
        evaluate=on_container(_seccomp),
    ),
    Rule(
        id="DKR-EXEC-PRIVILEGED",
        title="docker exec session with --privileged",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Do not use docker exec --privileged: it gives that process every capability and no confinement.",
        references=(cis_docker("5.23"),),
        kinds=_CONTAINER,
        evaluate=on_container(_execs("privileged")),
    ),
    Rule(
        id="DKR-EXEC-ROOT",
        title="docker exec session with --user root",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Do not exec into containers as root; exec as the container's own user.",
        references=(cis_docker("5.24"),),
        kinds=_CONTAINER,
        evaluate=on_container(_execs("root")),
    ),
    Rule(
        id="DKR-CGROUP-PARENT",
        title="Container uses a non-default cgroup parent",
        severity=Severity.INFO,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Confirm the --cgroup-parent is intended; the default is fine.",
        references=(cis_docker("5.25"),),
        kinds=_CONTAINER,
        evaluate=on_container(_cgroup),
    ),
    Rule(
        id="DKR-NO-NEW-PRIVILEGES",
        title="Container may acquire new privileges (setuid)",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Run with --security-opt no-new-privileges (or set it daemon-wide).",
        references=(cis_docker("5.26"), trivy("KSV001"), kubescape("C-0016")),
        kinds=_CONTAINER,
        evaluate=on_container(_no_new_privileges),
    ),
    Rule(
        id="DKR-NO-HEALTHCHECK",
        title="No health check at runtime",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Define HEALTHCHECK in the image or --health-cmd at run time.",
        references=(cis_docker("5.27"), kubescape("C-0056")),
        kinds=_CONTAINER,
        evaluate=on_container(_health),
    ),
    Rule(
        id="DKR-NO-PIDS-LIMIT",
        title="No PIDs limit",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Set --pids-limit so a fork bomb cannot exhaust the host's process table.",
        references=(cis_docker("5.29"),),
        kinds=_CONTAINER,
        evaluate=on_container(_pids),
    ),
    Rule(
        id="DKR-DEFAULT-BRIDGE",
        title="Container on the default bridge (docker0)",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.3.3",
        remediation="Attach containers to user-defined networks so traffic between unrelated containers is separated.",
        references=(cis_docker("5.30"),),
        kinds=_CONTAINER,
        evaluate=on_container(_default_bridge),
    ),
    Rule(
        id="DKR-HOST-USERNS",
        title="Container shares the host's user namespace",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Do not use --userns host on an engine with user namespace remapping.",
        references=(cis_docker("5.31"),),
        kinds=_CONTAINER,
        evaluate=on_container(_userns),
    ),
    Rule(
        id="DKR-RUNTIME-SOCKET",
        title="Container runtime socket mounted into the container",
        severity=Severity.CRITICAL,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Never mount docker.sock (or its directory); give tools that need the API a narrowly scoped proxy.",
        references=(cis_docker("5.32"), trivy("KSV006"), kubescape("C-0074")),
        kinds=_CONTAINER,
        evaluate=on_container(_runtime_socket),
    ),
    Rule(
        id="DKR-ENV-SECRET",
        title="Secret passed in the container's environment",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Pass secrets as files (Docker secrets, a mounted tmpfs) instead of environment variables; rotate "
        "this one.",
        references=(kubescape("C-0012"),),
        kinds=_CONTAINER,
        evaluate=on_container(_env_secrets),
    ),
    Rule(
        id="DKR-MUTABLE-IMAGE-REF",
        title="Container image referenced by 'latest' or no tag",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.1.5",
        remediation="Reference images by an immutable version tag or, better, by digest (image@sha256:...).",
        references=(trivy("KSV013"),),
        kinds=_CONTAINER,
        evaluate=on_container(_mutable_reference),
    ),
]


# --- daemon (section 2) and 5.1 --------------------------------------------------------------------


def _swarm(e: EngineAttributes) -> list[Hit]:
    """Like docker-bench, every state but ``inactive``: a node in ``error`` still has swarm configured."""
    return _when(e["swarm"] in ("active", "pending", "locked", "error"), swarm=e["swarm"])


def _rootful(e: EngineAttributes) -> list[Hit]:
    return _when(not e["rootless"], rootless=False)


def _icc(e: EngineAttributes) -> list[Hit]:
    bridge = e["default_bridge"]
    return _when(bridge["icc"], network=bridge["name"], icc=True) if bridge else []


def _debug(e: EngineAttributes) -> list[Hit]:
    return _when(e["debug"], debug=True)


def _insecure_registries(e: EngineAttributes) -> list[Hit]:
    return [Hit(r, {"registry": r}) for r in e["insecure_registries"]]


def _aufs(e: EngineAttributes) -> list[Hit]:
    return _when(e["storage_driver"] == "aufs", storage_driver="aufs")


def _api_transport(e: EngineAttributes) -> list[Hit]:
    transport = e["transport"]
    if transport["scheme"] != "tcp":
        return []
    if not transport["tls"]:
        return [Hit(evidence=dict(transport))]  # the rule's own title
    if not transport["client_cert"]:
        return [
            Hit(
                evidence=dict(transport),
                severity=Severity.HIGH,
                title="Docker API over TLS accepts clients without a certificate",
            )
        ]
    return []


def _userns_remap(e: EngineAttributes) -> list[Hit]:
    return _when(not e["userns"] and not e["rootless"], userns=False, rootless=False)


def _authz(e: EngineAttributes) -> list[Hit]:
    return _when(not e["authorization_plugins"], authorization_plugins=[])


def _logging(e: EngineAttributes) -> list[Hit]:
    return _when(e["logging_driver"] in ("json-file", "local", "none"), logging_driver=e["logging_driver"])


def _live_restore(e: EngineAttributes) -> list[Hit]:
    return _when(not e["live_restore"] and e["swarm"] != "active", live_restore=False)


def _daemon_seccomp(e: EngineAttributes) -> list[Hit]:
    profile = e["seccomp_profile"]
    return _when(profile in (None, "unconfined"), seccomp_profile=profile)


def _experimental(e: EngineAttributes) -> list[Hit]:
    return _when(e["experimental"], experimental=True)


ENGINE_RULES: list[Rule] = [
    Rule(
        id="DKR-SWARM-ENABLED",
        title="Swarm mode enabled",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.5.1",
        remediation="Leave swarm mode (docker swarm leave) on engines that do not need it: it opens management ports.",
        references=(cis_docker("5.1"),),
        kinds=_ENGINE,
        evaluate=on_engine(_swarm),
    ),
    Rule(
        id="DKR-ROOTFUL-DAEMON",
        title="Docker daemon runs as root",
        severity=Severity.INFO,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Consider rootless mode where its limitations are acceptable.",
        references=(cis_docker("2.1"),),
        kinds=_ENGINE,
        evaluate=on_engine(_rootful, docker_only=True),
    ),
    Rule(
        id="DKR-ICC-ENABLED",
        title="Containers on the default bridge can reach each other",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.3.3",
        remediation='Set "icc": false in daemon.json and link containers through user-defined networks.',
        references=(cis_docker("2.2"),),
        kinds=_ENGINE,
        evaluate=on_engine(_icc),
    ),
    Rule(
        id="DKR-DEBUG-LOGGING",
        title="Daemon log level is debug",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation='Set "log-level": "info".',
        references=(cis_docker("2.3"),),
        kinds=_ENGINE,
        evaluate=on_engine(_debug),
    ),
    Rule(
        id="DKR-INSECURE-REGISTRY",
        title="Insecure registry configured",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.2.1",
        remediation="Remove the registry from insecure-registries and give it a certificate the engine trusts.",
        references=(cis_docker("2.5"),),
        kinds=_ENGINE,
        evaluate=on_engine(_insecure_registries),
    ),
    Rule(
        id="DKR-AUFS",
        title="aufs storage driver in use",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.1",
        remediation="Move to overlay2.",
        references=(cis_docker("2.6"),),
        kinds=_ENGINE,
        evaluate=on_engine(_aufs),
    ),
    Rule(
        id="DKR-API-NO-TLS",
        title="Docker API reachable over TCP without TLS",
        severity=Severity.CRITICAL,
        phase=Phase.RUN,
        nist="3.3.2",
        remediation="Serve the TCP socket only with --tlsverify (TLS with client certificates), or use ssh:// instead.",
        references=(cis_docker("2.7"),),
        kinds=_ENGINE,
        evaluate=on_engine(_api_transport),
    ),
    Rule(
        id="DKR-NO-USERNS",
        title="User namespace remapping not enabled",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Enable userns-remap (or rootless mode) so root in a container is not root on the host.",
        references=(cis_docker("2.9"),),
        kinds=_ENGINE,
        evaluate=on_engine(_userns_remap),
    ),
    Rule(
        id="DKR-NO-AUTHZ-PLUGIN",
        title="No authorization plugin",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.3.1",
        remediation="Use an authorization plugin to restrict which API calls each client may make.",
        references=(cis_docker("2.12"),),
        kinds=_ENGINE,
        evaluate=on_engine(_authz, docker_only=True),
    ),
    Rule(
        id="DKR-LOCAL-LOGGING",
        title="Container logs are kept only on the host",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Configure a remote logging driver (syslog, fluentd, gelf, …) or ship the local logs centrally.",
        references=(cis_docker("2.13"),),
        kinds=_ENGINE,
        evaluate=on_engine(_logging),
    ),
    Rule(
        id="DKR-NO-LIVE-RESTORE",
        title="Live restore not enabled",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation='Set "live-restore": true so containers survive daemon restarts and upgrades.',
        references=(cis_docker("2.15"),),
        kinds=_ENGINE,
        evaluate=on_engine(_live_restore, docker_only=True),
    ),
    Rule(
        id="DKR-DAEMON-SECCOMP",
        title="No daemon-wide seccomp profile",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Keep the default seccomp profile (or a custom one) enabled daemon-wide.",
        references=(cis_docker("2.17"),),
        kinds=_ENGINE,
        evaluate=on_engine(_daemon_seccomp),
    ),
    Rule(
        id="DKR-EXPERIMENTAL",
        title="Experimental features enabled",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.1",
        remediation="Do not run production engines with --experimental.",
        references=(cis_docker("2.18"),),
        kinds=_ENGINE,
        evaluate=on_engine(_experimental, docker_only=True),
    ),
]

RULES: list[Rule] = [*CONTAINER_RULES, *ENGINE_RULES]
