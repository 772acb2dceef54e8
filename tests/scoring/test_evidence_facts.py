"""The four evidence facts the formula reads, extracted by the database on SQLite and PostgreSQL alike.

Evidence comes from scanners' reports, so a value of the wrong JSON type reads as unknown, never as a
number or a flag it only resembles (``"9.8"``, ``true`` as a score, ``"yes"`` as a fix).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from posture.db import make_engine, read_session, resolve_url, write_session
from posture.migrations import upgrade
from posture.model import finding_table
from posture.pipeline import collect
from posture.store.scoring_inputs import evidence_facts
from posture.taxonomy import Severity
from tests.scoring.scoring_fakes import RULES, ScanReport

F = finding_table.c
CASES: list[tuple[dict[str, Any], tuple[Any, ...]]] = [
    ({"cvss": {"score": 9.8}, "fix_available": True, "vulnerability": "CVE-1", "aliases": ["GHSA-1"]},
     (9.8, True, "CVE-1", ["GHSA-1"])),
    ({"cvss": {"score": 7}, "fix_available": False}, (7.0, False, None, None)),
    ({"cvss": {"score": "9.8"}, "fix_available": "yes", "vulnerability": 123, "aliases": "CVE-2"},
     (None, None, None, None)),
    ({"cvss": {"score": True}, "fix_available": 1, "vulnerability": {"id": "CVE-3"}, "aliases": {"a": 1}},
     (None, None, None, None)),
    ({}, (None, None, None, None)),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    sqlite = f"sqlite:///{tmp_path / 'p.db'}"
    url = sqlite if request.param == "sqlite" else request.getfixturevalue("fresh_postgres_db")
    eng = make_engine(resolve_url(url))
    upgrade(eng, resolve_url(url))
    yield eng
    eng.dispose()


@pytest.mark.parametrize("everything", [True, False])
def test_facts_are_typed_by_the_database(engine: Engine, everything: bool) -> None:
    report = ScanReport({f"CVE-2024-000{n}": (Severity.HIGH, 5.0, True) for n in range(len(CASES))})
    collect(engine, report, RULES)
    with write_session(engine) as session:
        ids = list(session.execute(select(F.id).order_by(F.id)).scalars())
        for fid, (evidence, _expected) in zip(ids, CASES, strict=True):
            session.execute(update(finding_table).where(F.id == fid).values(evidence=evidence))
    with read_session(engine) as session:
        facts = evidence_facts(session, ids, everything=everything)
    assert [facts[fid] for fid in ids] == [expected for _evidence, expected in CASES]
