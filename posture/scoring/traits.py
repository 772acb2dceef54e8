"""What a runtime asset's attributes say about privilege, exposure and whether it runs.

Read from the attributes the collectors store: a Docker container's inspect summary
(``privileged``, ``pid_mode``, ``mounts``, ``ports`` …) and a Kubernetes pod summary
(``pod.hostPID``, ``pod.containers[].securityContext`` …, ``exposed`` from Services and Ingresses).
Pure functions over plain mappings, so they are tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from posture.attributes.k8s import ContainerSummary, PodSummary, VolumeSummary, stored_pod
from posture.facts.sockets import mounted_sockets, reachable_sockets
from posture.facts.users import is_root_user

#: Addresses a published Docker port listens on that reach beyond the host itself.
_ALL_INTERFACES = frozenset({"", "0.0.0.0", "::", "[::]"})


@dataclass(frozen=True, slots=True)
class Traits:
    """Every reader builds one from an asset's attributes (no defaults: a trait left out is a bug)."""

    privileges: frozenset[str]
    exposed: bool
    running: bool


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _mount_sockets(mount: Mapping[str, Any]) -> list[str]:
    return mounted_sockets(str(mount.get("source") or ""), str(mount.get("destination") or ""))


def container_traits(attributes: Mapping[str, Any], image_user: str | None = None) -> Traits:
    """A Docker/Podman container; ``image_user`` is the image's USER, used when the container sets none."""
    privileges: set[str] = set()
    if attributes.get("privileged"):
        privileges.add("privileged")
    for mode, name in (("pid_mode", "host-pid"), ("network_mode", "host-network"), ("ipc_mode", "host-ipc")):
        if attributes.get(mode) == "host":
            privileges.add(name)
    if any(_mount_sockets(_map(m)) for m in _list(attributes.get("mounts"))):
        privileges.add("docker-socket")
    user = str(attributes.get("user") or "") or (image_user or "")
    if is_root_user(user):
        privileges.add("root")
    exposed = bool(attributes.get("publish_all_ports")) or any(
        _map(p).get("host_port") and _map(p).get("host_ip", "") in _ALL_INTERFACES
        for p in _list(attributes.get("ports"))
    )
    return Traits(frozenset(privileges), exposed, bool(attributes.get("running")))


def _runs_as_root(pod: PodSummary, container: ContainerSummary) -> bool:
    """Root unless the container or the pod sets a non-zero runAsUser or runAsNonRoot (container wins)."""
    pod_sc, sc = _map(pod.get("securityContext")), _map(container.get("securityContext"))
    user = sc.get("runAsUser", pod_sc.get("runAsUser"))
    if isinstance(user, int):
        return user == 0
    return sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True


def _containers(pod: PodSummary) -> list[ContainerSummary]:
    """A stored summary's containers, each read as empty when it is not a mapping (see ``stored_pod``)."""
    return [cast(ContainerSummary, _map(c)) for c in _list(pod.get("containers"))]


def pod_summary_privileges(pod: PodSummary) -> frozenset[str]:
    """Privileges of a stored pod summary (``attributes["pod"]`` of a workload or an unowned pod)."""
    privileges: set[str] = set()
    for field, name in (("hostPID", "host-pid"), ("hostNetwork", "host-network"), ("hostIPC", "host-ipc")):
        if pod.get(field) is True:
            privileges.add(name)
    for volume in (cast(VolumeSummary, _map(v)) for v in _list(pod.get("volumes"))):
        if reachable_sockets(str(volume.get("path") or "")):
            privileges.add("docker-socket")
    for container in _containers(pod):
        if _map(container.get("securityContext")).get("privileged") is True:
            privileges.add("privileged")
        if _runs_as_root(pod, container):
            privileges.add("root")
    return frozenset(privileges)


def kubernetes_traits(attributes: Mapping[str, Any], pods_running: bool | None = None) -> Traits:
    """A workload or pod. ``pods_running`` is known for workloads (their pods); a pod reads its phase."""
    pod = stored_pod(attributes.get("pod"))
    privileges = pod_summary_privileges(pod) if pod else frozenset()
    host_ports = any(_map(p).get("hostPort") for c in _containers(pod) for p in _list(c.get("ports")))
    running = attributes.get("phase") == "Running" if pods_running is None else pods_running
    return Traits(privileges, bool(attributes.get("exposed")) or host_ports, running)


def merge(traits: Iterable[Traits]) -> Traits:
    """The union: an image is as exposed and privileged as the most exposed, most privileged thing running it."""
    privileges: set[str] = set()
    exposed = running = False
    for t in traits:
        privileges |= t.privileges
        exposed = exposed or t.exposed
        running = running or t.running
    return Traits(frozenset(privileges), exposed, running)
