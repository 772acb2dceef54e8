"""What a runtime asset's attributes say about privilege, exposure and whether it runs
(posture/scoring/traits.py, docs/scoring.md factor table "exposure" and "privilege"), every table
pinned whole and every condition on both sides: a wrong trait silently moves a finding ×1.3 up or down."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from posture.facts.sockets import RUNTIME_SOCKETS
from posture.scoring.traits import (
    Traits,
    container_traits,
    kubernetes_traits,
    merge,
    pod_summary_privileges,
)

NON_ROOT = {"user": "app"}


@pytest.mark.parametrize("socket", [*RUNTIME_SOCKETS, "/var/run", "/run/podman", "/", "/run/user/1000",
                                    "/srv/podman.sock"])
def test_each_path_reaching_a_runtime_socket_is_the_docker_socket_privilege(socket: str) -> None:
    """Which paths reach a socket is posture/facts/sockets.py's (tests/facts): the score counts each one."""
    assert container_traits({**NON_ROOT, "mounts": [{"source": "/data"}, {"source": socket}]}).privileges == {
        "docker-socket"}
    for path in (socket, socket.rstrip("/") + "/"):
        assert pod_summary_privileges({"volumes": [{"type": "hostPath", "path": path}]}) == {"docker-socket"}
    # Only a volume with a host path (the collector writes "path" for hostPath alone) reaches the node.
    assert pod_summary_privileges({"volumes": [{"type": "emptyDir"}]}) == frozenset()


def test_a_bind_mount_at_a_socket_s_name_is_the_privilege_too() -> None:
    for mount in ({"source": "/srv/api", "destination": "/var/run/docker.sock"}, {"destination": "/run/crio.sock"}):
        assert container_traits({**NON_ROOT, "mounts": [mount]}).privileges == {"docker-socket"}


def test_other_mounts_and_malformed_mounts_are_not_privileges() -> None:
    for mounts in ([{"source": "/var/log"}], [{"destination": "/var/run/app.sock"}], ["/var/run/docker.sock"],
                   {"source": "/var/run/docker.sock"}, None):
        assert container_traits({**NON_ROOT, "mounts": mounts}).privileges == frozenset(), mounts
    assert pod_summary_privileges({"volumes": [{"type": "hostPath"}, "x"]}) == frozenset()
    assert pod_summary_privileges({"volumes": {"type": "hostPath", "path": "/run/docker.sock"}}) == frozenset()


@pytest.mark.parametrize(("attrs", "image_user", "root"), [
    ({}, None, True),  # no USER anywhere: root
    ({"user": ""}, "", True),
    ({"user": None}, "app", False),  # the image's USER when the container sets none
    ({}, "app", False),
    ({"user": ""}, "root", True),
    ({"user": "app"}, "root", False),  # the container's user wins over the image's
    ({"user": "0"}, "app", True),
    ({"user": 1000}, None, False),  # a number stored as such
])
def test_container_user_and_image_user(attrs: dict[str, Any], image_user: str | None, root: bool) -> None:
    assert ("root" in container_traits(attrs, image_user).privileges) is root


@pytest.mark.parametrize(("attrs", "privileges"), [
    ({"privileged": True}, {"privileged"}),
    ({"privileged": False}, set()),
    ({"pid_mode": "host"}, {"host-pid"}),
    ({"network_mode": "host"}, {"host-network"}),
    ({"ipc_mode": "host"}, {"host-ipc"}),
    ({"pid_mode": "container:abc", "network_mode": "bridge", "ipc_mode": "shareable"}, set()),
    ({"pid_mode": "host", "network_mode": "host", "ipc_mode": "host", "privileged": True},
     {"host-pid", "host-network", "host-ipc", "privileged"}),
])
def test_container_privileges(attrs: dict[str, Any], privileges: set[str]) -> None:
    assert container_traits({**NON_ROOT, **attrs}).privileges == privileges


@pytest.mark.parametrize(("host_ip", "exposed"), [
    # docs/scoring.md: "a Docker port published on all interfaces (0.0.0.0, ::, or -P)"; Docker
    # reports "" (and Podman "[::]") for all interfaces too.
    ("0.0.0.0", True), ("::", True), ("[::]", True), ("", True),
    ("127.0.0.1", False), ("::1", False), ("10.0.0.5", False), ("192.168.1.2", False),
])
def test_a_published_port_is_exposed_only_on_all_interfaces(host_ip: str, exposed: bool) -> None:
    port = {"container_port": "80/tcp", "host_ip": host_ip, "host_port": "8080"}
    assert container_traits({**NON_ROOT, "ports": [port]}).exposed is exposed
    # A port the engine did not publish (no host port) exposes nothing.
    assert container_traits({**NON_ROOT, "ports": [{**port, "host_port": ""}]}).exposed is False


def test_a_published_port_without_an_address_is_on_all_interfaces() -> None:
    assert container_traits({"ports": [{"container_port": "80/tcp", "host_port": "80"}]}).exposed is True
    assert container_traits({"ports": ["80:80", None]}).exposed is False
    assert container_traits({"ports": {"host_port": "80"}}).exposed is False
    assert container_traits({"publish_all_ports": True}).exposed is True
    assert container_traits({"publish_all_ports": False, "ports": []}).exposed is False


def test_a_container_runs_when_it_says_so() -> None:
    assert container_traits({"running": True}).running is True
    assert container_traits({"running": False}).running is False
    assert container_traits({}).running is False
    assert container_traits({}) == Traits(frozenset({"root"}), False, False)


@pytest.mark.parametrize(("pod_sc", "container_sc", "root"), [
    ({}, {}, True),  # nothing set: the image's user, root unless known otherwise
    ({"runAsNonRoot": True}, {}, False),
    ({}, {"runAsNonRoot": True}, False),
    ({"runAsNonRoot": True}, {"runAsNonRoot": False}, True),  # the container wins
    ({"runAsNonRoot": False}, {"runAsNonRoot": True}, False),
    ({"runAsNonRoot": "true"}, {}, True),  # only a boolean true counts
    ({"runAsUser": 1000}, {}, False),
    ({"runAsUser": 0}, {}, True),
    ({"runAsUser": 0, "runAsNonRoot": True}, {}, True),  # an explicit uid 0 is root
    ({"runAsUser": 1000}, {"runAsUser": 0}, True),  # the container wins
    ({"runAsUser": 0}, {"runAsUser": 1000}, False),
    ({"runAsUser": "1000"}, {}, True),  # not a number: falls back to runAsNonRoot
    ({"runAsUser": "1000", "runAsNonRoot": True}, {}, False),
])
def test_a_pod_container_runs_as_root_unless_told_otherwise(pod_sc: dict[str, Any], container_sc: dict[str, Any],
                                                            root: bool) -> None:
    pod = {"securityContext": pod_sc, "containers": [{"name": "c", "securityContext": container_sc}]}
    assert pod_summary_privileges(pod) == ({"root"} if root else set())


@pytest.mark.parametrize(("field", "name"), [("hostPID", "host-pid"), ("hostNetwork", "host-network"),
                                             ("hostIPC", "host-ipc")])
def test_host_namespaces_need_a_boolean_true(field: str, name: str) -> None:
    assert pod_summary_privileges({field: True}) == {name}
    assert pod_summary_privileges({field: "true"}) == frozenset()
    assert pod_summary_privileges({field: 1}) == frozenset()


def test_a_privileged_container_needs_a_boolean_true() -> None:
    safe = {"runAsNonRoot": True}
    assert pod_summary_privileges({"securityContext": safe, "containers": [
        {"securityContext": {"privileged": True}}]}) == {"privileged"}
    assert pod_summary_privileges({"securityContext": safe, "containers": [
        {"securityContext": {"privileged": "true"}}, {"securityContext": {"privileged": False}}, "junk",
    ]}) == frozenset()
    # One privileged container of several is enough.
    assert pod_summary_privileges({"securityContext": safe, "containers": [
        {"name": "a"}, {"name": "b", "securityContext": {"privileged": True}}]}) == {"privileged"}


def test_kubernetes_exposure_running_and_an_absent_pod() -> None:
    assert kubernetes_traits({}) == Traits(frozenset(), False, False)
    assert kubernetes_traits({"pod": {}, "exposed": True, "phase": "Running"}) == Traits(frozenset(), True, True)
    assert kubernetes_traits({"phase": "Pending"}).running is False
    assert kubernetes_traits({"phase": "Pending"}, pods_running=True).running is True
    assert kubernetes_traits({"phase": "Running"}, pods_running=False).running is False
    assert kubernetes_traits({"exposed": False}).exposed is False


@pytest.mark.parametrize(("ports", "exposed"), [
    ([{"containerPort": 80, "hostPort": 8080}], True),
    ([{"containerPort": 80}], False),
    ([{"containerPort": 80, "hostPort": 0}], False),
    ([{"containerPort": 80}, {"containerPort": 81, "hostPort": 81}], True),
    (None, False),
])
def test_a_host_port_exposes_a_pod(ports: Any, exposed: bool) -> None:
    pod = {"securityContext": {"runAsNonRoot": True}, "containers": [{"name": "x"}, {"name": "c", "ports": ports}]}
    assert kubernetes_traits({"pod": pod}) == Traits(frozenset(), exposed, False)


def test_merge_is_the_union() -> None:
    assert merge([]) == Traits(frozenset(), False, False)
    parts = [Traits(frozenset({"root"}), False, True), Traits(frozenset({"host-pid"}), True, False),
             Traits(frozenset(), False, False)]
    assert merge(parts) == Traits(frozenset({"root", "host-pid"}), True, True)
    assert merge(parts[2:]) == Traits(frozenset(), False, False)
    assert merge(parts[:1]) == parts[0] and merge(parts[1:2]) == parts[1]


def test_traits_are_immutable_and_slotted() -> None:
    """Shared by every finding of an asset and cached per asset: frozen, and without a per-instance dict."""
    traits = Traits(frozenset(), False, False)
    assert not hasattr(traits, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        traits.exposed = True  # type: ignore[misc]
