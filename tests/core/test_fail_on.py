"""``posture findings --fail-on``: the gate judges exactly what the filters select, open findings only,
and says in one line why it failed or passed (on a ``posture demo`` database, in process)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update

from posture.cli.main import cli
from posture.db import make_engine, write_session
from posture.model import finding_table
from tests.docker.docker_support import run_posture


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("gate") / "demo.db"
    loaded = run_posture("demo", POSTURE_DB=f"sqlite:///{db}", XDG_CONFIG_HOME=str(db.parent))
    assert loaded.returncode == 0, loaded.stderr
    return db


def gate(db: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["findings", "--db", f"sqlite:///{db}", "--format", "json", *args])


def test_an_unknown_rule_selects_nothing_and_passes(demo: Path) -> None:
    # The reported bug: the gate judged the whole database, printed "0 findings" and exited 1.
    result = gate(demo, "--rule", "NOPE", "--fail-on", "critical")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "[]"
    assert result.stderr == "posture: fail-on critical: passed, no open finding selected at or above critical\n"


def test_a_failing_gate_counts_by_severity_in_one_line(demo: Path) -> None:
    result = gate(demo, "--fail-on", "high")
    assert result.exit_code == 1
    assert result.stderr == "posture: fail-on high: 31 open findings selected at or above high (8 critical, 23 high)\n"
    assert result.stdout.startswith("[")  # the listing is still written


@pytest.mark.parametrize(
    ("option", "failing", "passing"),
    [
        ("--rule", "DKR-PRIVILEGED", "K8S-PSS-PRIVILEGED"),
        ("--asset", "metrics-agent", "registry.demo.internal:5000/web/frontend:2.3.0"),
        ("--team", "monitoring", "web"),
        ("--namespace", "monitoring", "payments"),
        ("--phase", "build", "distribute"),
        ("--category", "image", "orchestrator"),
        ("--search", "metrics", "frontend"),
    ],
)
def test_each_filter_narrows_what_the_gate_judges(demo: Path, option: str, failing: str, passing: str) -> None:
    failed = gate(demo, option, failing, "--fail-on", "critical")
    assert failed.exit_code == 1, failed.stderr
    assert "open finding" in failed.stderr and "critical)" in failed.stderr
    passed = gate(demo, option, passing, "--fail-on", "critical")
    assert passed.exit_code == 0, passed.stderr
    assert passed.stdout.strip() != "[]"  # the passing selection is not empty: it holds only lower severities
    assert "passed" in passed.stderr


def test_min_severity_and_the_threshold_both_bound_the_count(demo: Path) -> None:
    assert "(8 critical)\n" in gate(demo, "--min-severity", "critical", "--fail-on", "high").stderr
    assert "(8 critical, 23 high)\n" in gate(demo, "--min-severity", "high", "--fail-on", "high").stderr


def test_limit_shortens_the_listing_not_what_is_judged(demo: Path) -> None:
    result = gate(demo, "--limit", "1", "--sort", "age", "--fail-on", "high")
    assert result.exit_code == 1
    assert "31 open findings" in result.stderr


def test_accepted_and_resolved_findings_never_fail_the_gate(demo: Path, tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    shutil.copyfile(demo, db)
    engine = make_engine(f"sqlite:///{db}")
    with write_session(engine) as session:
        session.execute(update(finding_table).where(finding_table.c.severity == "critical").values(status="accepted"))
    engine.dispose()
    assert gate(db, "--fail-on", "critical").exit_code == 0
    listed = gate(db, "--status", "accepted", "--fail-on", "critical")  # shown, yet not judged
    assert listed.exit_code == 0 and listed.stdout.strip() != "[]"
    assert "passed" in listed.stderr
    every = gate(db, "--all", "--fail-on", "high")
    assert every.stderr.endswith("23 open findings selected at or above high (23 high)\n")
