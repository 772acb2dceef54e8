"""The trace screen's build and run facts say "root" exactly when the image rule (IMG-ROOT-USER) and the
score's root privilege do: one judgement (posture.facts.users.is_root_user, the run facts read the score's
own traits), so the screen an operator drills into never shows a root container as unprivileged."""

from __future__ import annotations

import pytest

from posture.facts.users import is_root_user
from tui.screens.trace import build_facts, run_facts

CASES = [
    ("", True, "root (no USER)"),
    ("root", True, "root"),
    ("0", True, "0 (root)"),
    ("0:0", True, "0:0 (root)"),
    ("root:0", True, "root:0 (root)"),
    ("0:1000", True, "0:1000 (root)"),
    ("root:staff", True, "root:staff (root)"),
    ("1000", False, "1000"),
    ("1000:0", False, "1000:0"),
    ("app:root", False, "app:root"),
    ("rooty", False, "rooty"),
]


@pytest.mark.parametrize(("user", "root", "shown"), CASES)
def test_the_trace_judges_root_as_the_rule_and_the_score_do(user: str, root: bool, shown: str) -> None:
    assert is_root_user(user) is root
    assert ("user", shown) in build_facts({"config": {"user": user}})
    assert ("runs as root" in run_facts("container", {"user": user}, "")) is root
    assert ("runs as root" in run_facts("container", {"user": ""}, user)) is root  # the image's USER


def test_an_image_without_a_user_is_not_judged_at_build_but_runs_as_root() -> None:
    assert ("user", "root (no USER)") not in build_facts({"config": {"os": "linux"}})
    assert run_facts("container", {"privileged": True}, "") == ["privileged", "runs as root"]
    assert run_facts("container", {"privileged": True}, "app") == ["privileged"]


def test_the_run_facts_are_the_score_s_privileges_in_words() -> None:
    container = {"user": "app", "pid_mode": "host", "network_mode": "host", "ipc_mode": "host",
                 "mounts": [{"source": "/var/run"}], "cap_add": ["SYS_TIME"],
                 "ports": [{"host_ip": "", "host_port": "8080"}]}
    assert run_facts("container", container, "") == [
        "host network", "host PID", "host IPC", "mounts a runtime socket", "adds SYS_TIME", "publishes 0.0.0.0:8080"]
    pod = {"pod": {"hostPID": True, "volumes": [{"type": "hostPath", "path": "/run/podman/podman.sock"}],
                   "containers": [{"securityContext": {"privileged": True, "runAsUser": 0}}]}}
    expected = ["privileged", "runs as root", "host PID", "mounts a runtime socket"]
    assert run_facts("k8s-workload", pod, "app") == expected
