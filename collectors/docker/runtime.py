"""What a running container is doing, read without entering it: CIS 5.7, 5.23 and 5.24.

docker-bench runs ``docker exec ps`` for 5.7 (sshd) and leaves 5.23/5.24 (``docker exec
--privileged`` / ``--user root``) to the audit log. Both have read-only answers in the API:
``GET /containers/{id}/top`` lists the processes (the engine runs ``ps`` on the host, nothing runs in
the container), and the ``ExecIDs`` of the container inspect lead to ``GET /exec/{id}/json`` with
``ProcessConfig.privileged`` and ``.user``.

Best effort by nature: the engine lists an exec only while its container runs, and drops it from
``ExecIDs`` once the exec process ends (Docker 20.10; a created, never started exec stays listed).
So a finding shows an exec session that is running (or pending) at collection time, not history.
The engine runs each health probe as an exec of its own, listed while it runs; those are Docker's,
not an operator's, and are left out (else every collection that met a probe would see one more).
Command lines are never kept: arguments can hold secrets; only the sshd executable path is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict

import docker.errors

from posture.attributes.docker import ExecSession

#: Users an exec may name that are root in every image (names are resolved in the container's passwd).
_ROOT = frozenset({"root", "0"})


class Observed(TypedDict):
    """The container attributes this module fills in (see :class:`posture.attributes.docker.ContainerAttributes`)."""

    sshd: list[str] | None
    execs: list[ExecSession]


#: Attributes of a container whose processes and exec sessions could not be looked at.
NOT_OBSERVED: Observed = {"sshd": None, "execs": []}


def observe(client: Any, inspect: Mapping[str, Any]) -> Observed:
    """``sshd`` (executables, or None when unknown) and ``execs`` of a running container."""
    container_id = str(inspect.get("Id") or "")
    if not (inspect.get("State") or {}).get("Running"):
        return NOT_OBSERVED.copy()
    try:
        top = client.top(container_id)
    except docker.errors.APIError:  # stopped meanwhile, or an engine without /top (no ps on the host)
        sshd = None
    else:
        sshd = sshd_executables(top.get("Titles") or [], top.get("Processes") or [])
    config = inspect.get("Config") or {}
    inspects = _exec_inspects(client, inspect.get("ExecIDs") or [])
    return {"sshd": sshd, "execs": exec_sessions(inspects, health_probe(config), str(config.get("User") or ""))}


def health_probe(config: Mapping[str, Any]) -> list[str] | None:
    """The command the engine runs for the container's health probe (``Config.Healthcheck.Test``):
    ``CMD`` as given, ``CMD-SHELL`` through the container's shell; None without a probe."""
    test = (config.get("Healthcheck") or {}).get("Test")
    if not isinstance(test, list) or len(test) < 2:
        return None
    if test[0] == "CMD":
        return [str(word) for word in test[1:]]
    if test[0] == "CMD-SHELL":
        shell = config.get("Shell") or ["/bin/sh", "-c"]
        return [*(str(word) for word in shell), str(test[1])]
    return None


def _exec_inspects(client: Any, exec_ids: Iterable[str]) -> list[Mapping[str, Any]]:
    found = []
    for exec_id in exec_ids:
        try:
            found.append(client.exec_inspect(exec_id))
        except docker.errors.APIError:  # ended and removed between the two calls
            continue
    return found


def sshd_executables(titles: Sequence[str], processes: Iterable[Sequence[Any]]) -> list[str]:
    """The sshd programs among ``ps -ef`` rows: ``/usr/sbin/sshd -D``, ``sshd: root@pts/0``, and a
    script run by its interpreter (``/bin/sh /opt/sshd``). Only the executable is kept, never arguments."""
    column = next((i for i, t in enumerate(titles) if t in ("CMD", "COMMAND")), len(titles) - 1)
    found: set[str] = set()
    for row in processes:
        words = str(row[column]).split() if len(row) > column else []
        for word in words[:2]:
            if word.rsplit("/", 1)[-1] in ("sshd", "sshd:"):
                found.add(word.rstrip(":"))
                break
    return sorted(found)


def exec_sessions(
    inspects: Iterable[Mapping[str, Any]], probe: Sequence[str] | None = None, container_user: str = ""
) -> list[ExecSession]:
    """Exec sessions as ``{id, privileged, user, root, running}``; ``root`` only when asked for by name.

    An exec running the health ``probe`` as the engine runs it (unprivileged, as the container's
    user) is the engine's probe, not a session.
    """
    sessions: list[ExecSession] = []
    for raw in inspects:
        config = raw.get("ProcessConfig") or {}
        user = str(config.get("user") or "")
        command = [str(config.get("entrypoint") or ""), *(str(a) for a in config.get("arguments") or [])]
        if probe and command == list(probe) and not config.get("privileged") and user == container_user:
            continue
        sessions.append(
            {
                "id": str(raw.get("ID") or "")[:12],
                "privileged": bool(config.get("privileged")),
                "user": user,
                "root": user.split(":", 1)[0] in _ROOT,
                "running": bool(raw.get("Running")),
            }
        )
    return sorted(sessions, key=lambda s: str(s["id"]))
