"""Alembic owns the schema: upgrade from empty, no drift against the model, refuse a newer schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from posture.db import make_engine, resolve_url

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], db_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POSTURE_DB": db_url}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_db_upgrade_then_alembic_check_reports_no_drift(db_url: str) -> None:
    upgraded = _run([sys.executable, "-m", "posture.cli.main", "db", "upgrade"], db_url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "schema at" in upgraded.stdout
    check = _run([sys.executable, "-m", "alembic", "check"], db_url)
    assert check.returncode == 0, check.stderr + check.stdout
    assert "No new upgrade operations detected" in check.stdout + check.stderr
    again = _run([sys.executable, "-m", "posture.cli.main", "db", "upgrade"], db_url)
    assert again.returncode == 0, again.stderr


def test_a_database_newer_than_the_code_is_refused(db_url: str) -> None:
    assert _run([sys.executable, "-m", "posture.cli.main", "db", "upgrade"], db_url).returncode == 0
    engine = make_engine(resolve_url(db_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    for command in (["findings"], ["db", "upgrade"]):
        result = _run([sys.executable, "-m", "posture.cli.main", *command], db_url)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1, result.stderr
        assert "newer than this Posture" in result.stderr


def test_reading_an_empty_database_asks_for_an_upgrade(tmp_path: Path) -> None:
    result = _run([sys.executable, "-m", "posture.cli.main", "findings"], f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.returncode == 2
    assert "posture db upgrade" in result.stderr


def test_the_fast_schema_check_knows_the_newest_migration() -> None:
    """SCHEMA_HEAD spares read-only commands the Alembic import; it must name the scripts' head."""
    from posture.migrations import SCHEMA_HEAD, script_heads

    assert script_heads("sqlite://") == {SCHEMA_HEAD}
