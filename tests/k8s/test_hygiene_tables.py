"""The tables of posture/rules/k8s_hygiene.py used entry by entry: runtime sockets and escape-CVE ranges.

Runtime sockets are the default API socket paths of Docker, containerd (standalone and Docker's
embedded one), CRI-O, dockershim and cri-dockerd, under both /var/run and /run. Each escape CVE's
ranges are its advisory's affected versions, half-open ``[introduced, fixed)``: every edge is tested.
"""

from __future__ import annotations

import pytest

from posture.records import AssetKind, AssetRecord
from posture.rules.k8s_hygiene import ESCAPE_CVES, RUNTIME_SOCKETS, escape_cves, reachable_sockets
from posture.taxonomy import Phase

SOCKETS_UNDER_RUN = [
    "docker.sock",
    "docker/containerd/containerd.sock",
    "containerd/containerd.sock",
    "crio/crio.sock",
    "dockershim.sock",
    "cri-dockerd.sock",
]


def test_runtime_sockets_are_exactly_the_defaults_under_both_run_directories() -> None:
    assert sorted(RUNTIME_SOCKETS) == sorted(f"{root}/{s}" for root in ("/var/run", "/run") for s in SOCKETS_UNDER_RUN)


@pytest.mark.parametrize("root", ["/var/run", "/run"])
def test_a_run_directory_reaches_each_of_its_sockets(root: str) -> None:
    expected = [f"{root}/{s}" for s in SOCKETS_UNDER_RUN]
    assert reachable_sockets(root) == expected
    assert reachable_sockets(root + "/") == expected
    assert set(expected) <= set(reachable_sockets("/"))


@pytest.mark.parametrize("socket", RUNTIME_SOCKETS)
def test_each_socket_and_its_directory(socket: str) -> None:
    assert reachable_sockets(socket) == [socket]
    assert socket in reachable_sockets(socket.rsplit("/", 1)[0])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/srv/docker.sock", ["/srv/docker.sock"]),
        ("/srv/containerd.socket", ["/srv/containerd.socket"]),
        ("/srv/crio.sock/", ["/srv/crio.sock"]),
        ("/srv/podman.sock", []),
        ("/srv/docker.socks", []),
        ("/var/log", []),
        ("/var/run2", []),
        ("/run/containerd", ["/run/containerd/containerd.sock"]),
    ],
)
def test_socket_names_outside_the_table(path: str, expected: list[str]) -> None:
    assert reachable_sockets(path) == expected


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
