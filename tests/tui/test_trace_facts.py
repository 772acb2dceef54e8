"""The trace screen's build and run facts say "root" exactly when the image rule (IMG-ROOT-USER) and the
score's root privilege do: one judgement (posture.scoring.traits.is_root_user), so the screen an operator
drills into never shows a root container as unprivileged."""

from __future__ import annotations

import pytest

from posture.scoring.traits import is_root_user
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
    assert ("runs as root" in run_facts({"user": user})) is root


def test_a_container_without_a_user_attribute_is_not_judged() -> None:
    assert "runs as root" not in run_facts({"privileged": True})
    assert ("user", "root (no USER)") not in build_facts({"config": {"os": "linux"}})
