"""Every table in posture/rules/docker.py pinned to its source, and every entry used once.

Sources (values written here by hand, nothing copied into the repository):
- docker-bench-security, the CIS Docker Benchmark 1.6.0 reference implementation:
  repository docker/docker-bench-security, commit ff26d67f25be60fc2d82a01710ee14570b2cb9db
  (tests/5_container_runtime.sh last changed in 820abe98c3966449cab8d48adb0de569f650b7e6),
  files tests/5_container_runtime.sh and tests/2_docker_daemon_configuration.sh.
- Kubescape control C-0074 (the runtime-socket peer of CIS 5.32): repository kubescape/regolibrary,
  rules/containers-mounting-docker-socket/raw.rego, commit 0e81d40e2bf3b560cfba2688c94f4f1035a744b1.
- Posture's own extensions, documented in docs/docker-checks.md ("Deliberate differences").
A pin test fails when an entry is added or removed; the behaviour tests fail when an entry stops
deciding a verdict, so a table and the code that reads it cannot drift apart silently.
"""

from __future__ import annotations

from typing import Any

import pytest

from posture.facts.capabilities import DANGEROUS_CAPABILITIES
from posture.facts.sockets import RUNTIME_SOCKETS, SOCKET_STEMS
from posture.rules import docker as docker_rules
from posture.taxonomy import CIS_DOCKER, Severity
from tests.docker.rule_records import LSM_ENGINE, container, container_hits, engine, engine_hits, verdicts

# --- 5.4 capabilities -----------------------------------------------------------------------------

#: check_5_4 strips exactly these (with or without CAP_) before deciding "Capabilities added".
DOCKER_BENCH_DEFAULT_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
def test_default_capabilities_are_docker_benchs() -> None:
    assert docker_rules.DEFAULT_CAPS == DOCKER_BENCH_DEFAULT_CAPS


@pytest.mark.parametrize("cap", sorted(DOCKER_BENCH_DEFAULT_CAPS))
def test_adding_back_a_default_capability_is_no_finding(cap: str) -> None:
    assert "DKR-CAP-ADD" not in container_hits({"HostConfig.CapAdd": [cap]})
    assert "DKR-CAP-ADD" not in container_hits({"HostConfig.CapAdd": [f"CAP_{cap}"]})


#: Posture's own ranking inside 5.4 (docker-bench's check_5_4 and CIS 1.6.0 5.4 warn on any extra capability
#: alike): the dangerous ones raise the finding to high, ALL to critical; the list is pinned in tests/facts.
@pytest.mark.parametrize("cap", sorted(DANGEROUS_CAPABILITIES - {"ALL"}))
def test_a_dangerous_capability_is_high(cap: str) -> None:
    host = engine(LSM_ENGINE)
    [verdict] = verdicts(container({"HostConfig.CapAdd": ["CHOWN", f"CAP_{cap}"]}, host), host, "DKR-CAP-ADD")
    assert verdict.severity == Severity.HIGH
    assert verdict.hit.evidence["cap_add"] == [cap] and verdict.hit.evidence["dangerous"] == [cap]


def test_all_capabilities_are_critical_and_a_harmless_extra_one_medium() -> None:
    assert container_hits({"HostConfig.CapAdd": ["ALL"]})["DKR-CAP-ADD"] == Severity.CRITICAL
    host = engine(LSM_ENGINE)
    [verdict] = verdicts(container({"HostConfig.CapAdd": ["IPC_LOCK", "SYS_NICE"]}, host), host, "DKR-CAP-ADD")
    assert verdict.severity == Severity.MEDIUM
    assert verdict.hit.evidence == {
        "cap_add": ["IPC_LOCK", "SYS_NICE"],
        "dangerous": [],
        "running": True,
        "state": "running",
    }


# --- 5.6 sensitive host directories ---------------------------------------------------------------

#: check_5_6's sensitive_dirs (docker-bench matches the directory itself; Posture also subdirectories).
DOCKER_BENCH_SENSITIVE_DIRS = {"/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr"}


def test_sensitive_directories_are_docker_benchs() -> None:
    assert docker_rules.SENSITIVE_DIRS == DOCKER_BENCH_SENSITIVE_DIRS


def _bind(source: str, rw: bool = True, destination: str = "/host", kind: str = "bind") -> dict[str, Any]:
    return {"Type": kind, "Source": source, "Destination": destination, "RW": rw, "Propagation": "rprivate"}


def _mount_verdicts(rule: str, *mounts: dict[str, Any]) -> list[tuple[str, Severity]]:
    host = engine(LSM_ENGINE)
    found = verdicts(container({"Mounts": list(mounts)}, host), host, rule)
    return sorted((v.hit.discriminator, v.severity) for v in found)


@pytest.mark.parametrize("directory", sorted(DOCKER_BENCH_SENSITIVE_DIRS))
def test_each_sensitive_directory_is_found_rw_high_and_ro_medium(directory: str) -> None:
    assert _mount_verdicts("DKR-SENSITIVE-MOUNT", _bind(directory)) == [(directory, Severity.HIGH)]
    assert _mount_verdicts("DKR-SENSITIVE-MOUNT", _bind(directory, rw=False)) == [(directory, Severity.MEDIUM)]
    assert _mount_verdicts("DKR-SENSITIVE-MOUNT", _bind(directory + "/")) == [(directory, Severity.HIGH)]


@pytest.mark.parametrize("directory", sorted(DOCKER_BENCH_SENSITIVE_DIRS - {"/"}))
def test_below_a_sensitive_directory_counts_a_lookalike_sibling_does_not(directory: str) -> None:
    assert _mount_verdicts("DKR-SENSITIVE-MOUNT", _bind(f"{directory}/x")) == [(f"{directory}/x", Severity.HIGH)]
    assert _mount_verdicts("DKR-SENSITIVE-MOUNT", _bind(f"{directory}x")) == []


def test_below_the_root_is_not_the_root() -> None:
    assert _mount_verdicts("DKR-SENSITIVE-MOUNT", _bind("/srv/data"), _bind("/home/app", destination="/h")) == []


def test_only_bind_mounts_are_host_directories() -> None:
    # A named volume's Source is under /var/lib/docker; a tmpfs has none: neither is a host directory.
    assert _mount_verdicts("DKR-SENSITIVE-MOUNT", _bind("/etc", kind="volume"), _bind("/dev", kind="tmpfs")) == []


# --- 5.32 runtime sockets ---------------------------------------------------------------------------

#: check_5_32 greps ``docker.sock`` in .Mounts; Kubescape C-0074 adds containerd.sock and crio.sock;
#: Posture judges every runtime socket and every directory above one (posture/facts/sockets.py, its
#: tables pinned in tests/facts/test_sockets.py): here each reaches DKR-RUNTIME-SOCKET by both routes.
@pytest.mark.parametrize("name", sorted(f"{stem}{suffix}" for stem in SOCKET_STEMS for suffix in (".sock", ".socket")))
def test_each_runtime_socket_is_found_by_source_or_destination(name: str) -> None:
    source = f"/srv/sockets/{name}"
    assert _mount_verdicts("DKR-RUNTIME-SOCKET", _bind(source, destination="/api")) == [(source, Severity.CRITICAL)]
    renamed = _bind("/srv/sockets/api", destination=f"/var/run/{name}")
    assert _mount_verdicts("DKR-RUNTIME-SOCKET", renamed) == [("/srv/sockets/api", Severity.CRITICAL)]
    assert _mount_verdicts("DKR-RUNTIME-SOCKET", _bind(f"/srv/sockets/{name}.bak", destination="/api")) == []


RUNTIME_SOCKET_DIRS = sorted({socket.rsplit("/", 1)[0] for socket in RUNTIME_SOCKETS} | {"/", "/var", "/run/user/1000"})


@pytest.mark.parametrize("directory", RUNTIME_SOCKET_DIRS)
def test_each_runtime_socket_directory_is_found(directory: str) -> None:
    mounted = directory.rstrip("/") + "/"
    assert _mount_verdicts("DKR-RUNTIME-SOCKET", _bind(mounted)) == [(mounted, Severity.CRITICAL)]
    assert _mount_verdicts("DKR-RUNTIME-SOCKET", _bind(directory.rstrip("/") + "/lock")) == []


def test_the_runtime_socket_evidence_says_whether_it_is_writable() -> None:
    host = engine(LSM_ENGINE)
    mount = _bind("/run/docker.sock", rw=False, destination="/var/run/docker.sock")
    [verdict] = verdicts(container({"Mounts": [mount]}, host), host, "DKR-RUNTIME-SOCKET")
    assert verdict.hit.evidence == {
        "source": "/run/docker.sock",
        "destination": "/var/run/docker.sock",
        "rw": False,
        "running": True,
        "state": "running",
    }


# --- 5.20 propagation, 5.14 wildcard addresses -------------------------------------------------------


@pytest.mark.parametrize(
    ("propagation", "fires"),
    # check_5_20 greps "shared" in each mount's Propagation: shared and rshared.
    [("shared", True), ("rshared", True), ("slave", False), ("rslave", False), ("private", False),
     ("rprivate", False), ("", False)],
)  # fmt: skip
def test_shared_propagation(propagation: str, fires: bool) -> None:
    mount = {**_bind("/srv/data"), "Propagation": propagation}
    expected = [("/host", Severity.MEDIUM)] if fires else []
    assert _mount_verdicts("DKR-SHARED-PROPAGATION", mount) == expected


@pytest.mark.parametrize(
    ("host_ip", "host_port", "binding"),
    # check_5_14 warns on 0.0.0.0; an empty HostIp means the same, and :: is IPv6's any-address.
    # The binding names the finding: an empty host port (the engine picks one) is "*".
    [
        ("", "8080", "0.0.0.0:8080->80/tcp"),
        ("0.0.0.0", "", "0.0.0.0:*->80/tcp"),
        ("::", "8080", ":::8080->80/tcp"),
        ("127.0.0.1", "8080", None),
        ("::1", "8080", None),
        ("10.0.0.5", "8080", None),
    ],
)
def test_wildcard_addresses(host_ip: str, host_port: str, binding: str | None) -> None:
    bindings = {"80/tcp": [{"HostIp": host_ip, "HostPort": host_port}]}
    host = engine(LSM_ENGINE)
    found = verdicts(container({"HostConfig.PortBindings": bindings}, host), host, "DKR-WILDCARD-BIND")
    assert [(v.hit.discriminator, v.hit.evidence["binding"]) for v in found] == (
        [(binding, binding)] if binding else []
    )


# --- the daemon: 5.1 swarm states, 2.13 logging drivers ------------------------------------------------


@pytest.mark.parametrize(
    ("state", "fires"),
    # check_5_1 passes only "Swarm: inactive" (Docker's LocalNodeState values: "", inactive, pending,
    # active, error, locked; the collector reads a missing state as inactive).
    [("inactive", False), ("", False), ("pending", True), ("active", True), ("error", True), ("locked", True)],
)
def test_swarm_states(state: str, fires: bool) -> None:
    assert ("DKR-SWARM-ENABLED" in engine_hits(engine({"Swarm": {"LocalNodeState": state}}))) is fires


@pytest.mark.parametrize(
    ("driver", "fires"),
    # check_2_13 warns on json-file; Posture also on the other host-only drivers, local and none.
    [("json-file", True), ("local", True), ("none", True), ("syslog", False), ("journald", False),
     ("fluentd", False), ("gelf", False)],
)  # fmt: skip
def test_host_only_logging_drivers(driver: str, fires: bool) -> None:
    assert ("DKR-LOCAL-LOGGING" in engine_hits(engine({"LoggingDriver": driver}))) is fires


# --- severities and CIS numbers ---------------------------------------------------------------------------

#: docs/docker-checks.md's tables: rule → (CIS 1.6.0 id, severity on a running container / the engine).
DOCUMENTED = {
    "DKR-APPARMOR": ("5.2", Severity.MEDIUM),
    "DKR-SELINUX": ("5.3", Severity.MEDIUM),
    "DKR-CAP-ADD": ("5.4", Severity.MEDIUM),
    "DKR-PRIVILEGED": ("5.5", Severity.CRITICAL),
    "DKR-SENSITIVE-MOUNT": ("5.6", Severity.HIGH),
    "DKR-SSHD": ("5.7", Severity.MEDIUM),
    "DKR-PRIVILEGED-PORT": ("5.8", Severity.LOW),
    "DKR-HOST-NETWORK": ("5.10", Severity.HIGH),
    "DKR-NO-MEMORY-LIMIT": ("5.11", Severity.MEDIUM),
    "DKR-NO-CPU-LIMIT": ("5.12", Severity.LOW),
    "DKR-WRITABLE-ROOTFS": ("5.13", Severity.LOW),
    "DKR-WILDCARD-BIND": ("5.14", Severity.MEDIUM),
    "DKR-RESTART-POLICY": ("5.15", Severity.LOW),
    "DKR-HOST-PID": ("5.16", Severity.HIGH),
    "DKR-HOST-IPC": ("5.17", Severity.HIGH),
    "DKR-HOST-DEVICE": ("5.18", Severity.MEDIUM),
    "DKR-SHARED-PROPAGATION": ("5.20", Severity.MEDIUM),
    "DKR-HOST-UTS": ("5.21", Severity.MEDIUM),
    "DKR-SECCOMP-DISABLED": ("5.22", Severity.HIGH),
    "DKR-EXEC-PRIVILEGED": ("5.23", Severity.HIGH),
    "DKR-EXEC-ROOT": ("5.24", Severity.MEDIUM),
    "DKR-CGROUP-PARENT": ("5.25", Severity.INFO),
    "DKR-NO-NEW-PRIVILEGES": ("5.26", Severity.MEDIUM),
    "DKR-NO-HEALTHCHECK": ("5.27", Severity.LOW),
    "DKR-NO-PIDS-LIMIT": ("5.29", Severity.LOW),
    "DKR-DEFAULT-BRIDGE": ("5.30", Severity.LOW),
    "DKR-HOST-USERNS": ("5.31", Severity.HIGH),
    "DKR-RUNTIME-SOCKET": ("5.32", Severity.CRITICAL),
    "DKR-ENV-SECRET": (None, Severity.HIGH),
    "DKR-MUTABLE-IMAGE-REF": (None, Severity.LOW),
    "DKR-SWARM-ENABLED": ("5.1", Severity.LOW),
    "DKR-ROOTFUL-DAEMON": ("2.1", Severity.INFO),
    "DKR-ICC-ENABLED": ("2.2", Severity.MEDIUM),
    "DKR-DEBUG-LOGGING": ("2.3", Severity.LOW),
    "DKR-INSECURE-REGISTRY": ("2.5", Severity.HIGH),
    "DKR-AUFS": ("2.6", Severity.MEDIUM),
    "DKR-API-NO-TLS": ("2.7", Severity.CRITICAL),
    "DKR-NO-USERNS": ("2.9", Severity.MEDIUM),
    "DKR-NO-AUTHZ-PLUGIN": ("2.12", Severity.LOW),
    "DKR-LOCAL-LOGGING": ("2.13", Severity.LOW),
    "DKR-NO-LIVE-RESTORE": ("2.15", Severity.LOW),
    "DKR-DAEMON-SECCOMP": ("2.17", Severity.HIGH),
    "DKR-EXPERIMENTAL": ("2.18", Severity.LOW),
}


def test_every_rule_has_its_documented_cis_id_and_severity() -> None:
    got = {}
    for rule in docker_rules.RULES:
        cis = [ref.id for ref in rule.references if ref.framework == CIS_DOCKER]
        assert len(cis) <= 1, rule.id
        got[rule.id] = (cis[0] if cis else None, rule.severity)
    assert got == DOCUMENTED


@pytest.mark.parametrize(
    ("running", "base", "demoted"),
    [(True, Severity.CRITICAL, Severity.CRITICAL), (False, Severity.CRITICAL, Severity.HIGH),
     (False, Severity.HIGH, Severity.MEDIUM), (False, Severity.MEDIUM, Severity.LOW),
     (False, Severity.LOW, Severity.INFO), (False, Severity.INFO, Severity.INFO)],
)  # fmt: skip
def test_a_container_that_is_not_running_is_one_severity_lower(
    running: bool, base: Severity, demoted: Severity
) -> None:
    by_severity = {
        Severity.CRITICAL: ("HostConfig.Privileged", True, "DKR-PRIVILEGED"),
        Severity.HIGH: ("HostConfig.NetworkMode", "host", "DKR-HOST-NETWORK"),
        Severity.MEDIUM: ("HostConfig.Memory", 0, "DKR-NO-MEMORY-LIMIT"),
        Severity.LOW: ("HostConfig.ReadonlyRootfs", False, "DKR-WRITABLE-ROOTFS"),
        Severity.INFO: ("HostConfig.CgroupParent", "/batch", "DKR-CGROUP-PARENT"),
    }
    path, value, rule = by_severity[base]
    state = {"Status": "running" if running else "exited", "Running": running, "Health": {"Status": "healthy"}}
    host = engine(LSM_ENGINE)
    [verdict] = verdicts(container({path: value, "State": state}, host), host, rule)
    assert verdict.severity == demoted
    assert (verdict.hit.evidence["running"], verdict.hit.evidence["state"]) == (running, state["Status"])
