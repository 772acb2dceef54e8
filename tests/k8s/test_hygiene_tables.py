"""The tables of posture/rules/k8s_hygiene.py used entry by entry: escape-CVE ranges (the runtime sockets
moved to posture/facts/sockets.py, tested in tests/facts). Each escape CVE's
ranges are its advisory's affected versions, half-open ``[introduced, fixed)``: every edge is tested.
"""

from __future__ import annotations

import pytest

from posture.records import AssetKind, AssetRecord
from posture.rules.k8s_hygiene import ESCAPE_CVES, escape_cves
from posture.taxonomy import Phase


def _node(component: str, version: str) -> AssetRecord:
    attributes = {
        "kubelet": {"kubelet_version": version},
        "runc": {"runc_version": version},
    }.get(component, {"container_runtime_version": f"{component}://{version}"})
    return AssetRecord(AssetKind.NODE, "n", "n", Phase.RUN, attributes)


def _edges() -> list[object]:
    cases: list[object] = []
    for entry in ESCAPE_CVES:
        for low, high in entry.ranges:
            cases.append(pytest.param(entry.cve, entry.component, low, high, id=f"{entry.cve}:{low}-{high}"))
    return cases


@pytest.mark.parametrize(("cve", "component", "low", "high"), _edges())
def test_each_escape_cve_range_is_half_open(cve: str, component: str, low: str, high: str) -> None:
    def affected(version: str) -> bool:
        return cve in {h.discriminator for h in escape_cves(_node(component, version), None)}  # type: ignore[arg-type]

    first = "0.0.1" if low == "0" else low
    assert affected(first)
    assert not affected(high)
    if low != "0":
        major, minor = low.split("-")[0].split(".")[:2]
        below = f"{major}.{int(minor) - 1}.99" if int(minor) else "0.99.99"
        assert not affected(below)


def test_escape_cve_table() -> None:
    assert {(e.cve, e.component, e.ranges) for e in ESCAPE_CVES} == {
        (
            "CVE-2022-0811",
            "cri-o",
            (
                ("1.19.0", "1.19.6"),
                ("1.20.0", "1.20.7"),
                ("1.21.0", "1.21.6"),
                ("1.22.0", "1.22.3"),
                ("1.23.0", "1.23.2"),
            ),
        ),
        ("CVE-2024-21626", "runc", (("1.0.0-rc93", "1.1.12"),)),
        ("CVE-2022-23648", "containerd", (("0", "1.4.13"), ("1.5.0", "1.5.10"), ("1.6.0", "1.6.1"))),
        ("CVE-2020-15257", "containerd", (("0", "1.3.9"), ("1.4.0", "1.4.3"))),
        (
            "CVE-2021-25741",
            "kubelet",
            (("0", "1.19.15"), ("1.20.0", "1.20.11"), ("1.21.0", "1.21.5"), ("1.22.0", "1.22.2")),
        ),
    }
