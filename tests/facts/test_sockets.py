"""posture/facts/sockets.py: which host paths reach a container runtime's API socket, every table pinned
to its source and every branch on both sides. DKR-RUNTIME-SOCKET, K8S-RUNTIME-SOCKET and the score's
``docker-socket`` privilege all ask this (test_agreement.py checks that they do)."""

from __future__ import annotations

import pytest

from posture.facts.sockets import (
    ROOTLESS_SOCKETS,
    RUNTIME_SOCKETS,
    SOCKET_STEMS,
    SOCKETS_UNDER_RUN,
    is_socket_name,
    mounted_sockets,
    reachable_sockets,
)

#: Default API sockets: dockerd (/run/docker.sock, docker-bench check_5_32), Docker's embedded containerd
#: (docker/containerd/containerd.sock), containerd and CRI-O (Kubescape C-0074), the kubelet's
#: dockershim, Mirantis cri-dockerd, and the podman system service (podman-system-service(1)).
UNDER_RUN = [
    "docker.sock",
    "docker/containerd/containerd.sock",
    "containerd/containerd.sock",
    "crio/crio.sock",
    "dockershim.sock",
    "cri-dockerd.sock",
    "podman/podman.sock",
]
#: Rootless Docker (dockerd-rootless.sh: $XDG_RUNTIME_DIR/docker.sock) and rootless Podman
#: ($XDG_RUNTIME_DIR/podman/podman.sock).
ROOTLESS = ["docker.sock", "podman/podman.sock"]


def test_the_tables_are_pinned() -> None:
    assert list(SOCKETS_UNDER_RUN) == UNDER_RUN
    assert list(RUNTIME_SOCKETS) == [f"{run}/{s}" for run in ("/var/run", "/run") for s in UNDER_RUN]
    assert list(ROOTLESS_SOCKETS) == ROOTLESS
    assert {"docker", "podman", "containerd", "crio", "dockershim", "cri-dockerd"} == SOCKET_STEMS


@pytest.mark.parametrize("socket", RUNTIME_SOCKETS)
def test_each_default_socket_is_reached_by_itself_and_every_directory_above_it(socket: str) -> None:
    assert reachable_sockets(socket) == [socket]
    assert reachable_sockets(socket + "/") == [socket]
    parts = socket.split("/")
    for depth in range(1, len(parts) - 1):
        directory = "/".join(parts[: depth + 1])
        assert socket in reachable_sockets(directory), directory
        assert socket in reachable_sockets(directory + "/"), directory
    assert socket in reachable_sockets("/")


@pytest.mark.parametrize("run", ["/var/run", "/run"])
def test_a_run_directory_reaches_its_defaults_then_every_user_s_rootless_sockets(run: str) -> None:
    expected = [f"{run}/{s}" for s in UNDER_RUN] + [f"{run}/user/<uid>/{s}" for s in ROOTLESS]
    assert reachable_sockets(run) == expected
    assert reachable_sockets(run + "/") == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/run/user", ["/run/user/<uid>/docker.sock", "/run/user/<uid>/podman/podman.sock"]),
        ("/run/user/1000", ["/run/user/1000/docker.sock", "/run/user/1000/podman/podman.sock"]),
        ("/var/run/user/0/", ["/var/run/user/0/docker.sock", "/var/run/user/0/podman/podman.sock"]),
        ("/run/user/1000/podman", ["/run/user/1000/podman/podman.sock"]),
        ("/run/user/1000/podman/podman.sock", ["/run/user/1000/podman/podman.sock"]),
        ("/run/user/1000/docker.sock", ["/run/user/1000/docker.sock"]),
        ("/run/user/1000/bus", []),
        ("/run/user/app", []),  # not a UID: not a runtime directory
        ("/run/users", []),
        ("/run/us", []),  # a prefix of a name is not the directory above it
        ("/run/user/1000/pod", []),
    ],
)
def test_rootless_runtime_directories(path: str, expected: list[str]) -> None:
    assert reachable_sockets(path) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/srv/docker.sock", ["/srv/docker.sock"]),
        ("/srv/podman.sock", ["/srv/podman.sock"]),
        ("/srv/containerd.socket", ["/srv/containerd.socket"]),
        ("/srv/crio.sock/", ["/srv/crio.sock"]),
        ("/srv/dockershim.sock", ["/srv/dockershim.sock"]),
        ("/srv/cri-dockerd.sock", ["/srv/cri-dockerd.sock"]),
        ("/srv/docker.x.sock", ["/srv/docker.x.sock"]),
        ("/srv/docker.sock.d/containerd.sock", ["/srv/docker.sock.d/containerd.sock"]),
        ("/srv/docker.socks", []),
        ("/srv/docker.sock.bak", []),
        ("/srv/dockerd.sock", []),
        ("/srv/sock/api", []),
        ("/var/run/docker.so", []),
        ("/var/log", []),
        ("/var/run2", []),
        ("/run/cri", []),  # a prefix of a name is not the directory above it
        ("/run/lock", []),
        ("/var/run/docker", ["/var/run/docker/containerd/containerd.sock"]),
        ("/run/podman", ["/run/podman/podman.sock"]),
        ("", []),
        ("   ", []),
    ],
)
def test_sockets_by_name_and_by_directory(path: str, expected: list[str]) -> None:
    assert reachable_sockets(path) == expected


def test_the_root_and_var_reach_everything_under_them() -> None:
    everything = reachable_sockets("/")
    assert set(RUNTIME_SOCKETS) < set(everything)
    assert "/run/user/<uid>/docker.sock" in everything and "/var/run/user/<uid>/podman/podman.sock" in everything
    assert reachable_sockets("/var") == [s for s in everything if s.startswith("/var/")]


@pytest.mark.parametrize(
    ("name", "socket"),
    [("/a/docker.sock", True), ("/a/crio.socket/", True), ("/a/docker.sock.bak", False), ("/a/docker", False),
     ("/a/sock", False), ("/a/mysql.sock", False), ("", False)],
)
def test_is_socket_name(name: str, socket: bool) -> None:
    assert is_socket_name(name) is socket


def test_a_mount_at_a_socket_s_name_is_a_socket_whatever_the_host_calls_it() -> None:
    assert mounted_sockets("/srv/api", "/var/run/docker.sock") == ["/srv/api"]
    assert mounted_sockets("/srv/api/", "/run/podman/podman.sock") == ["/srv/api"]
    assert mounted_sockets("/srv/api", "/data") == []
    assert mounted_sockets("", "/var/run/docker.sock") == ["/var/run/docker.sock"]  # no source reported
    assert mounted_sockets("", "/run/crio/crio.sock/") == ["/run/crio/crio.sock"]
    assert mounted_sockets("", "/data") == []
    assert mounted_sockets("/run", "/host-run") == reachable_sockets("/run")
    assert mounted_sockets("/var/run/docker.sock", "/api") == ["/var/run/docker.sock"]
