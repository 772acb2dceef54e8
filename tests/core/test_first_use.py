"""Many collectors starting together on an empty database (issue 23, item 8): every one succeeds.

The processes race on creating the schema. Migrations run inside the writers' lock and read the
schema again once they hold it, so one process migrates and the others find the schema at head.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from posture.db import DatabaseError, make_engine, read_session, resolve_url
from posture.migrations import SCHEMA_HEAD, current_revisions, upgrade
from posture.model import run_table

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "tests" / "data" / "reports" / "trivy" / "trivy-alpine-39.json"


def _start_together(url: str, count: int) -> list[subprocess.CompletedProcess[str]]:
    """``count`` first runs of ``posture collect --report`` started at once; each must end within 240 s."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "posture.cli.main", "collect", "--db", url, "--report", str(REPORT)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(count)
    ]
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


@pytest.mark.parametrize("count", [6, 12])
def test_concurrent_first_runs(db_url: str, count: int, fresh_config_dir: Path) -> None:
    url = resolve_url(db_url)
    results = _start_together(url, count)
    assert [(r.returncode, r.stderr) for r in results] == [(0, "")] * count
    assert os.listdir(fresh_config_dir / "posture") == ["secret.key"]  # one key, no temporary file left
    engine = make_engine(url)
    try:
        assert current_revisions(engine) == {SCHEMA_HEAD}
        with read_session(engine) as session:
            versions = session.execute(text("SELECT count(*) FROM alembic_version")).scalar_one()
            runs = session.execute(select(run_table.c.status, func.count()).group_by(run_table.c.status)).all()
        assert versions == 1
        assert dict(runs) == {"complete": count}  # every run recorded, none failed
    finally:
        engine.dispose()


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's writer, as SQLite sees it: a connection holding the write lock."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_upgrade_waits_for_the_write_lock_only_when_it_migrates(tmp_path: Path) -> None:
    """An empty database is migrated under the writers' lock (here held elsewhere past the busy
    timeout: refused); a database already at head is not locked at all, so a busy writer never
    delays a command's start."""
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    url = resolve_url(f"sqlite:///{empty}?timeout=0.5")
    engine = make_engine(url)
    holder = _hold_write_lock(empty)
    try:
        with pytest.raises(OperationalError, match="locked"):
            upgrade(engine, url)
    finally:
        holder.close()
    upgrade(engine, url)
    assert current_revisions(engine) == {SCHEMA_HEAD}
    engine.dispose()

    holder = _hold_write_lock(empty)
    try:
        engine = make_engine(url)
        started = time.monotonic()
        upgrade(engine, url)  # at head: no lock taken, no wait
        assert time.monotonic() - started < 0.5
        engine.dispose()
    finally:
        holder.close()


def test_newer_schema_is_still_refused_inside_the_lock(tmp_path: Path) -> None:
    url = resolve_url(f"sqlite:///{tmp_path / 'p.db'}")
    engine = make_engine(url)
    upgrade(engine, url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(DatabaseError, match="9999 is newer"):
        upgrade(engine, url)
    engine.dispose()
