"""``posture findings`` filters and ``--fail-on`` on a ``posture demo`` database, through the real CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from posture.db import make_engine, write_session
from posture.model import finding_table
from tests.docker.docker_support import run_posture

SEVERITY_ORDER = ["critical", "high", "medium", "low", "info"]


def posture(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_posture(*args, POSTURE_DB=f"sqlite:///{db}", XDG_CONFIG_HOME=str(db.parent))


def listed(db: Path, *args: str) -> list[dict[str, Any]]:
    result = posture(db, "findings", "--format", "json", *args)
    assert result.returncode == 0, result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    loaded = posture(db, "demo")
    assert loaded.returncode == 0, loaded.stderr
    return db


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo database, so a test may change statuses."""
    db = tmp_path / "demo.db"
    shutil.copyfile(demo_template, db)
    return db


def _set_status(db: Path, status: str, *, severity: str | None = None, ids: list[int] | None = None) -> None:
    engine = make_engine(f"sqlite:///{db}")
    try:
        stmt = update(finding_table).values(status=status)
        if severity is not None:
            stmt = stmt.where(finding_table.c.severity == severity)
        if ids is not None:
            stmt = stmt.where(finding_table.c.id.in_(ids))
        with write_session(engine) as session:
            session.execute(stmt)
    finally:
        engine.dispose()


def test_fail_on_critical_exits_1_and_still_prints(demo: Path) -> None:
    result = posture(demo, "findings", "--fail-on", "critical", "--format", "json")
    assert result.returncode == 1
    assert any(f["severity"] == "critical" for f in json.loads(result.stdout))


def test_fail_on_counts_only_open_findings(demo: Path) -> None:
    _set_status(demo, "resolved", severity="critical")
    assert posture(demo, "findings", "--fail-on", "critical").returncode == 0
    assert posture(demo, "findings", "--fail-on", "high").returncode == 1


def test_fail_on_an_empty_database_exits_0(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    assert posture(db, "db", "upgrade").returncode == 0
    result = posture(db, "findings", "--fail-on", "info", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


@pytest.mark.parametrize("level", ["critical", "high", "medium"])
def test_min_severity_keeps_that_level_and_above(demo: Path, level: str) -> None:
    everything = listed(demo)
    kept = listed(demo, "--min-severity", level)
    allowed = set(SEVERITY_ORDER[: SEVERITY_ORDER.index(level) + 1])
    assert kept and {f["severity"] for f in kept} <= allowed
    assert sorted(f["id"] for f in kept) == sorted(f["id"] for f in everything if f["severity"] in allowed)


@pytest.mark.parametrize(
    ("option", "field", "values"),
    [
        ("--phase", "phase", ("build",)),
        ("--phase", "phase", ("build", "distribute")),
        ("--category", "category", ("registry",)),
        ("--category", "category", ("image", "host")),
    ],
)
def test_phase_and_category_narrow_to_the_chosen_values(
    demo: Path, option: str, field: str, values: tuple[str, ...]
) -> None:
    everything = listed(demo)
    args = [a for v in values for a in (option, v)]
    kept = listed(demo, *args)
    assert kept and len(kept) < len(everything)
    assert sorted(f["id"] for f in kept) == sorted(f["id"] for f in everything if f[field] in values)


def test_filters_combine(demo: Path) -> None:
    kept = listed(demo, "--phase", "run", "--category", "container", "--min-severity", "high")
    assert kept
    assert all(f["phase"] == "run" and f["category"] == "container" for f in kept)
    assert all(f["severity"] in ("critical", "high") for f in kept)


def test_status_filter_and_the_open_default(demo: Path) -> None:
    ids = sorted(f["id"] for f in listed(demo))
    _set_status(demo, "resolved", ids=ids[:3])
    _set_status(demo, "accepted", ids=ids[3:5])
    assert sorted(f["id"] for f in listed(demo)) == ids[5:]
    assert sorted(f["id"] for f in listed(demo, "--status", "resolved")) == ids[:3]
    both = listed(demo, "--status", "resolved", "--status", "accepted")
    assert sorted(f["id"] for f in both) == ids[:5]
    assert {f["status"] for f in both} == {"resolved", "accepted"}
    assert sorted(f["id"] for f in listed(demo, "--all")) == ids


def test_an_unknown_filter_value_is_a_one_line_usage_error(demo: Path) -> None:
    result = posture(demo, "findings", "--phase", "deploy")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "--phase" in result.stderr


def test_every_finding_explains_its_risk_factor_by_factor(demo: Path) -> None:
    """The JSON names every factor (docs/scoring.md), though the store keeps them by position."""
    for finding in listed(demo):
        factors = finding["risk_factors"]
        assert factors["scored"].endswith(f"/{finding['risk']}")
        assert {"base", "exploitability", "fix", "exposure", "privilege", "use", "prevalence"} <= factors.keys()
        assert "multiplier" not in factors["base"] and "multiplier" in factors["use"]
        total = sum(entry["contribution"] for name, entry in factors.items() if name != "scored")
        assert abs(min(total, 100) - finding["risk"]) <= 1
