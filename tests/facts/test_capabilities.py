"""posture/facts/capabilities.py: the dangerous capabilities pinned whole (its docstring cites capabilities(7)
for each) and their spelling canonicalised the way Docker and Kubernetes both accept them."""

from __future__ import annotations

import pytest

from posture.facts.capabilities import DANGEROUS_CAPABILITIES, capability_name, dangerous

DANGEROUS = {
    "ALL", "SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "DAC_READ_SEARCH", "NET_ADMIN", "SYS_BOOT",
    "BPF", "PERFMON", "SYS_TIME", "MAC_ADMIN", "MAC_OVERRIDE", "SYSLOG", "LINUX_IMMUTABLE",
}


def test_the_dangerous_capabilities_are_pinned() -> None:
    assert DANGEROUS_CAPABILITIES == DANGEROUS


@pytest.mark.parametrize(("raw", "name"), [
    ("SYS_ADMIN", "SYS_ADMIN"), ("CAP_SYS_ADMIN", "SYS_ADMIN"), ("cap_sys_time", "SYS_TIME"), (" net_raw ", "NET_RAW"),
    ("all", "ALL"), ("CAPSYS", "CAPSYS"),
])
def test_capability_name(raw: str, name: str) -> None:
    assert capability_name(raw) == name


def test_dangerous_picks_the_dangerous_ones_in_any_spelling() -> None:
    assert dangerous(["CHOWN", "cap_sys_time", "SYS_TIME", "NET_RAW", "CAP_BPF"]) == ["BPF", "SYS_TIME"]
    assert dangerous(["CHOWN", "NET_BIND_SERVICE", "NET_RAW", "AUDIT_WRITE"]) == []
    assert dangerous([]) == []
