"""A test oracle: docker-bench-security's section 4 and 5 conditions, ported to Python over ``docker inspect``.

Each function mirrors one shell test of docker-bench-security (tests/5_container_runtime.sh and
tests/4_container_images.sh), with CIS Docker Benchmark 1.6.0 numbering: the Go template it prints
and the string comparison it makes. It is deliberately independent of Posture's normalization and
rules, so the comparison in test_docker_bench_oracle.py means something.

Not ported: 5.7 (runs ``docker exec ps``), 5.9, 5.23, 5.24 and 5.28 (NOTE/INFO only, no condition),
5.1 (engine, not container) and 5.19 (INFO on every container without ulimits: manual in Posture).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Inspect = Mapping[str, Any]
#: docker-bench's sed: Docker's default capabilities (and blanks) are cut out of ``CapAdd=[...]``.
DEFAULT_CAPS = re.compile(
    r"AUDIT_WRITE|CHOWN|DAC_OVERRIDE|FOWNER|FSETID|KILL|MKNOD|NET_BIND_SERVICE|NET_RAW|SETFCAP|SETGID|SETPCAP|SETUID"
    r"|SYS_CHROOT|\s"
)
SENSITIVE_DIRS = ("/", "/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr")


def _host(c: Inspect) -> Mapping[str, Any]:
    return c.get("HostConfig") or {}


def _empty(value: Any) -> bool:
    """docker-bench's ``= "X="`` / ``"X=[]"`` / ``"X=<no value>"`` tests."""
    return value in (None, "", [], {})


def _ports(c: Inspect) -> list[tuple[str, str]]:
    """``docker port`` lines as (host ip, host port); docker-bench sees them on running containers only,
    the oracle reads the configured bindings of the others so it can judge every container (difference 1)."""
    running = bool((c.get("State") or {}).get("Running"))
    source = ((c.get("NetworkSettings") or {}).get("Ports") if running else _host(c).get("PortBindings")) or {}
    return [(str(b.get("HostIp") or "0.0.0.0"), str(b.get("HostPort") or "")) for v in source.values() for b in v or []]


def _caps_added(c: Inspect) -> bool:
    return bool(DEFAULT_CAPS.sub("", " ".join(str(cap).upper() for cap in _host(c).get("CapAdd") or [])))


def _sensitive_mount(c: Inspect) -> bool:
    # grep -e "{.*\s$v\s.*true\s.*}" over {{ .Mounts }}: a read-write mount whose source is the directory itself
    return any(m.get("Source") in SENSITIVE_DIRS and m.get("RW") for m in c.get("Mounts") or [])


def _security_opt(c: Inspect) -> str:
    return " ".join(str(o) for o in _host(c).get("SecurityOpt") or [])


def _on_default_bridge(c: Inspect, bridge_names: frozenset[str]) -> bool:
    return bool(bridge_names & set(((c.get("NetworkSettings") or {}).get("Networks") or {}).keys()))


CHECKS: dict[str, Callable[[Inspect], bool]] = {
    "5.2": lambda c: str(c.get("AppArmorProfile") or "") in ("", "[]", "<no value>", "unconfined"),
    "5.3": lambda c: _empty(_host(c).get("SecurityOpt")),
    "5.4": _caps_added,
    "5.5": lambda c: _host(c).get("Privileged") is True,
    "5.6": _sensitive_mount,
    "5.8": lambda c: any(p.isdigit() and int(p) < 1024 for _, p in _ports(c)),
    "5.10": lambda c: _host(c).get("NetworkMode") == "host",
    "5.11": lambda c: _host(c).get("Memory") in (0, None),
    "5.12": lambda c: _host(c).get("CpuShares") in (0, None),
    "5.13": lambda c: _host(c).get("ReadonlyRootfs") is False,
    "5.14": lambda c: any(ip == "0.0.0.0" for ip, _ in _ports(c)),
    "5.15": lambda c: (_host(c).get("RestartPolicy") or {}).get("MaximumRetryCount") != 5,
    "5.16": lambda c: _host(c).get("PidMode") == "host",
    "5.17": lambda c: _host(c).get("IpcMode") == "host",
    "5.18": lambda c: not _empty(_host(c).get("Devices")),
    "5.20": lambda c: any("shared" in str(m.get("Propagation") or "") for m in c.get("Mounts") or []),
    "5.21": lambda c: _host(c).get("UTSMode") == "host",
    "5.22": lambda c: "seccomp:unconfined" in _security_opt(c) or "seccomp=unconfined" in _security_opt(c),
    "5.25": lambda c: bool(_host(c).get("CgroupParent")),
    "5.26": lambda c: "no-new-privileges" not in _security_opt(c),
    "5.27": lambda c: not (c.get("State") or {}).get("Health"),
    "5.29": lambda c: _host(c).get("PidsLimit") in (0, None, -1),
    "5.31": lambda c: "host" in str(_host(c).get("UsernsMode") or "").lower(),
    "5.32": lambda c: any("docker.sock" in str(m) for m in c.get("Mounts") or []),
}


def section5(container: Inspect, bridge_names: frozenset[str]) -> set[str]:
    """The section 5 ids docker-bench warns about for this container, and 5.18/5.30, which it reports as
    INFO and Posture as findings."""
    found = {cis for cis, failed in CHECKS.items() if failed(container)}
    if _on_default_bridge(container, bridge_names):
        found.add("5.30")
    return found


def root_user(container: Inspect) -> bool:
    """4.1: ``User={{.Config.User}}`` is ``0``, ``root`` or empty."""
    return str((container.get("Config") or {}).get("User") or "") in ("", "0", "root")


def no_healthcheck(image: Inspect) -> bool:
    """4.6: ``{{.Config.Healthcheck}}`` prints ``<nil>``."""
    return not (image.get("Config") or {}).get("Healthcheck")


def default_bridges(networks: list[Inspect]) -> frozenset[str]:
    """5.30: networks whose options name ``com.docker.network.bridge.name:docker0``."""
    return frozenset(
        str(n.get("Name"))
        for n in networks
        if (n.get("Options") or {}).get("com.docker.network.bridge.name") == "docker0"
    )
