"""Container runtime API sockets: whoever can reach one controls every container on the host.

CIS Docker Benchmark 5.32 (docker-bench check_5_32 looks for ``docker.sock`` in the mounts) and
Kubescape C-0074 (docker, containerd and CRI-O sockets as hostPath volumes) ask the same question of a
Docker bind mount and of a Kubernetes hostPath. One answer serves DKR-RUNTIME-SOCKET,
K8S-RUNTIME-SOCKET and the score's ``docker-socket`` privilege, so a mount cannot raise a finding
without its privilege, or the reverse.

A path reaches a socket when it *is* one (by file name, wherever it lives) or when it is a directory
above one of the runtimes' default socket paths (``/run``, ``/var``, ``/``). A bind mount names the path
the user wrote, so each default is listed under ``/run`` and under its ``/var/run`` link.
"""

from __future__ import annotations

import re

#: What a runtime API socket's file name starts with: Docker, Podman, containerd (standalone and
#: Docker's embedded one), CRI-O, the kubelet's dockershim and Mirantis' cri-dockerd.
SOCKET_STEMS = frozenset({"docker", "podman", "containerd", "crio", "dockershim", "cri-dockerd"})
_SOCKET_SUFFIXES = (".sock", ".socket")
#: Each runtime's default socket, relative to the run directory (dockerd, Docker's embedded
#: containerd, containerd, CRI-O, dockershim, cri-dockerd, the podman system service).
SOCKETS_UNDER_RUN = (
    "docker.sock",
    "docker/containerd/containerd.sock",
    "containerd/containerd.sock",
    "crio/crio.sock",
    "dockershim.sock",
    "cri-dockerd.sock",
    "podman/podman.sock",
)
RUN_DIRECTORIES = ("/var/run", "/run")
#: The default system socket paths, ``/var/run`` first.
RUNTIME_SOCKETS = tuple(f"{run}/{socket}" for run in RUN_DIRECTORIES for socket in SOCKETS_UNDER_RUN)
#: Rootless Docker and Podman listen in the user's runtime directory (``$XDG_RUNTIME_DIR``,
#: ``/run/user/<uid>``): mounting it, or a directory above it, reaches them too.
ROOTLESS_SOCKETS = ("docker.sock", "podman/podman.sock")
_USER_DIRECTORY = re.compile(r"^(/var)?/run/user/(?P<uid>[0-9]+)(?P<rest>/.*)?$")


def is_socket_name(path: str) -> bool:
    """Whether the last component of ``path`` is a runtime socket's file name (``docker.sock``,
    ``crio.socket``, ``containerd.sock`` …), trailing slashes ignored."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name.endswith(_SOCKET_SUFFIXES) and name.split(".", 1)[0] in SOCKET_STEMS


def _rootless(path: str) -> list[str]:
    """Rootless sockets under ``path``: ``<uid>`` stands for every user when ``path`` is above them."""
    match = _USER_DIRECTORY.match(path)
    if match is not None:
        base = path[: match.start("rest")] if match.group("rest") else path
        candidates = [f"{base}/{socket}" for socket in ROOTLESS_SOCKETS]
    else:
        candidates = [f"{run}/user/<uid>/{socket}" for run in RUN_DIRECTORIES for socket in ROOTLESS_SOCKETS]
    return [c for c in candidates if c == path or c.startswith(path + "/")]


def reachable_sockets(host_path: str) -> list[str]:
    """The runtime sockets a host path exposes: itself when it is one, else the default sockets under it.

    ``""`` is no path at all (nothing is reachable); ``/`` reaches every socket.
    """
    if not host_path.strip():
        return []
    path = host_path.strip().rstrip("/")
    if is_socket_name(path):
        return [path]
    return [s for s in RUNTIME_SOCKETS if s == path or s.startswith(path + "/")] + _rootless(path)


def mounted_sockets(source: str, destination: str) -> list[str]:
    """The sockets a bind mount of ``source`` at ``destination`` exposes. A mount *at* a socket's name
    (``-v /srv/api:/var/run/docker.sock``) is one too, whatever the host calls it, and even when the
    engine reported no source: a socket mounted where a socket is expected is assumed, not excused."""
    found = reachable_sockets(source)
    if not found and is_socket_name(destination):
        return [source.strip().rstrip("/") or destination.strip().rstrip("/")]
    return found
