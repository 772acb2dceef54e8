"""CIS 5.7 (sshd), 5.23 (exec --privileged) and 5.24 (exec --user root) from /top and /exec/{id}/json."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from collectors.docker.collector import DockerCollector
from collectors.docker.endpoint import from_url
from collectors.docker.runtime import exec_sessions, health_probe, sshd_executables
from posture.records import AssetKind, AssetRecord
from posture.rules import docker as docker_rules
from posture.rules.base import RuleRegistry, Snapshot, evaluate_all
from tests.docker.docker_support import TEST_LABEL, DockerCli
from tests.services import Dockerd

REGISTRY = RuleRegistry(docker_rules.RULES)
TITLES = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
#: A shell script named sshd: the kernel names the process after the script (as ``ps -el`` shows it).
SSHD_SCRIPT = 'mkdir -p /opt && printf "#!/bin/sh\\nsleep 3600\\n" > /opt/sshd && chmod +x /opt/sshd && /opt/sshd'


def _row(cmd: str) -> list[str]:
    return ["root", "1", "0", "0", "01:00", "?", "00:00:00", cmd]


@pytest.mark.parametrize(
    ("cmd", "found"),
    [
        ("/usr/sbin/sshd -D", ["/usr/sbin/sshd"]),
        ("sshd: root@pts/0", ["sshd"]),
        ("/bin/sh /opt/sshd --password hunter2", ["/opt/sshd"]),
        ("sleep 3600", []),
        ("grep -r something /etc/ssh/sshd", []),
        ("/usr/sbin/sshd-keygen", []),
    ],
)
def test_sshd_is_found_by_its_executable_and_arguments_are_never_kept(cmd: str, found: list[str]) -> None:
    assert sshd_executables(TITLES, [_row(cmd)]) == found


def test_exec_sessions_keep_who_and_how_never_the_command() -> None:
    raw = {
        "ID": "f" * 64,
        "Running": True,
        "ProcessConfig": {"privileged": True, "user": "0:0", "entrypoint": "sh", "arguments": ["-c", "TOKEN=x"]},
    }
    plain = {"ID": "a" * 64, "Running": False, "ProcessConfig": {"privileged": False, "user": "app"}}
    assert exec_sessions([raw, plain]) == [
        {"id": "a" * 12, "privileged": False, "user": "app", "root": False, "running": False},
        {"id": "f" * 12, "privileged": True, "user": "0:0", "root": True, "running": True},
    ]


@pytest.mark.parametrize(
    ("healthcheck", "shell", "probe"),
    [
        ({"Test": ["CMD-SHELL", "wget -q localhost"]}, None, ["/bin/sh", "-c", "wget -q localhost"]),
        ({"Test": ["CMD-SHELL", "true"]}, ["/bin/ash", "-eo"], ["/bin/ash", "-eo", "true"]),
        ({"Test": ["CMD", "/bin/check", "--fast"]}, None, ["/bin/check", "--fast"]),
        ({"Test": ["NONE"]}, None, None),
        (None, None, None),
    ],
)
def test_the_health_probe_command_is_the_one_the_engine_runs(
    healthcheck: dict[str, Any] | None, shell: list[str] | None, probe: list[str] | None
) -> None:
    assert health_probe({"Healthcheck": healthcheck, "Shell": shell}) == probe


def test_a_health_probe_is_not_an_exec_session_but_the_same_command_as_root_is() -> None:
    def inspect(user: str, privileged: bool = False) -> dict[str, Any]:
        config = {"privileged": privileged, "user": user, "entrypoint": "/bin/sh", "arguments": ["-c", "true"]}
        return {"ID": user * 12 or "p" * 12, "Running": True, "ProcessConfig": config}

    probe = ["/bin/sh", "-c", "true"]
    assert exec_sessions([inspect("app")], probe, "app") == []
    assert [e["user"] for e in exec_sessions([inspect("app"), inspect("0")], probe, "app")] == ["0"]
    assert len(exec_sessions([inspect("app", privileged=True)], probe, "app")) == 1


def test_a_running_health_probe_is_not_collected_as_an_exec(dockerd: Dockerd) -> None:
    """A probe that runs most of the time (30 s, every second): the engine lists it in ExecIDs."""
    cli = DockerCli(dockerd.url)
    name = "pdk-probing"
    cli("rm", "-f", name, check=False)
    cli("run", "-d", "--label", TEST_LABEL, "--name", name, "--health-cmd", "sleep 30", "--health-interval", "1s",
        dockerd.busybox_image, "sleep", "300")
    try:
        deadline = time.monotonic() + 20
        while cli("inspect", "--format", "{{len .ExecIDs}}", name) == "0":
            assert time.monotonic() < deadline, "the health probe never started"
            time.sleep(0.2)
        assert _container(dockerd, name).attributes["execs"] == []
    finally:
        cli("rm", "-f", name, check=False)


@pytest.fixture
def busy_container(dockerd: Dockerd) -> Iterator[str]:
    """A running container with an sshd process, a root exec running and a privileged exec created."""
    cli = DockerCli(dockerd.url)
    name = "pdk-runtime"
    cli("rm", "-f", name, check=False)
    cli("run", "-d", "--label", TEST_LABEL, "--name", name, dockerd.busybox_image, "sh", "-c", SSHD_SCRIPT)
    cli("exec", "-d", "-u", "0", name, "sleep", "300")
    client = docker.APIClient(base_url=dockerd.url, version="1.41")
    try:
        # Starting a privileged exec needs capabilities this sandbox lacks; created is enough to be listed.
        client.exec_create(name, ["sleep", "1"], privileged=True)
        yield name
    finally:
        client.close()
        cli("rm", "-f", name, check=False)


def _container(dockerd: Dockerd, name: str) -> AssetRecord:
    records = list(DockerCollector(from_url(dockerd.url), None, workers=2).collect())
    return next(r for r in records if isinstance(r, AssetRecord) and r.kind is AssetKind.CONTAINER and r.name == name)


def test_running_container_with_sshd_and_exec_sessions(dockerd: Dockerd, busy_container: str) -> None:
    container = _container(dockerd, busy_container)
    assert container.attributes["sshd"] == ["/opt/sshd"]
    execs = container.attributes["execs"]
    assert {(e["privileged"], e["root"]) for e in execs} == {(False, True), (True, False)}
    assert "sleep" not in str(execs)
    hits = {v.rule.id: v for v in evaluate_all(REGISTRY, Snapshot([container], [], {}), [container])}
    assert {"DKR-SSHD", "DKR-EXEC-PRIVILEGED", "DKR-EXEC-ROOT"} <= hits.keys()
    assert hits["DKR-EXEC-PRIVILEGED"].hit.evidence["running"] is True


def test_a_stopped_container_is_not_observed(dockerd: Dockerd, busy_container: str) -> None:
    DockerCli(dockerd.url)("stop", "-t", "0", busy_container)
    container = _container(dockerd, busy_container)
    assert (container.attributes["sshd"], container.attributes["execs"]) == (None, [])
    rules = {v.rule.id for v in evaluate_all(REGISTRY, Snapshot([container], [], {}), [container])}
    assert not {"DKR-SSHD", "DKR-EXEC-PRIVILEGED", "DKR-EXEC-ROOT"} & rules
