"""Two collector processes writing at once, on SQLite and on PostgreSQL: nothing lost, nothing failed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from posture.db import read_session
from posture.model import asset_table, finding_sighting_table, finding_table, run_table

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 6


def _run_pair(db_url: str, scopes: tuple[str, str]) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.core.concurrent_worker", db_url, scope, str(offset), str(ROUNDS)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for scope, offset in zip(scopes, (0, 10), strict=True)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-2000:]


def _count(engine: Engine, table: object, *where: object) -> int:
    with read_session(engine) as s:
        return int(s.execute(select(func.count()).select_from(table).where(*where)).scalar_one())  # type: ignore[arg-type]


def test_same_scope_from_two_processes(engine: Engine, db_url: str) -> None:
    _run_pair(db_url, ("engine-1", "engine-1"))
    assert _count(engine, run_table, run_table.c.status == "complete") == 2 * ROUNDS
    assert _count(engine, run_table, run_table.c.status != "complete") == 0
    # One engine, one image, 40 containers: no duplicate assets however the writes interleaved.
    assert _count(engine, asset_table) == 42
    # Every privileged container of either writer has exactly one finding row.
    assert _count(engine, finding_table, finding_table.c.rule_id == "TEST-PRIV") == 30


def test_two_scopes_sharing_an_image_from_two_processes(engine: Engine, db_url: str) -> None:
    _run_pair(db_url, ("engine-a", "engine-b"))
    assert _count(engine, run_table, run_table.c.status == "complete") == 2 * ROUNDS
    assert _count(engine, asset_table, asset_table.c.kind == "image") == 1
    # Each CVE is one finding whichever scope stated it; the last round of each scope still sees its 30.
    with read_session(engine) as s:
        open_vulns = s.execute(
            select(func.count()).select_from(finding_table)
            .where(finding_table.c.rule_id == "VULN", finding_table.c.status == "open")
        ).scalar_one()
        sightings = s.execute(select(func.count()).select_from(finding_sighting_table)).scalar_one()
    last_a = set(range(ROUNDS - 1, ROUNDS - 1 + 30))
    last_b = set(range(10 + ROUNDS - 1, 10 + ROUNDS - 1 + 30))
    assert open_vulns == len(last_a | last_b)
    assert sightings >= open_vulns
