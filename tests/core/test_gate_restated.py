"""A finding a scope restates unchanged skips the gate's test; anything else about it passes the gate.

The skip (posture.pipeline._observed) trusts a sighting's stated hash: only gated content was ever
hashed into one. So a description that changes to hold a secret, under the same fingerprint, is
gated; and so is a restated finding whose sighting hash predates the gate (cleared by the one-time
pass of posture.store.rescrub).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from posture.model import Finding, FindingSighting
from posture.pipeline import collect
from posture.records import AssetKind, AssetRef, ObservationRecord
from posture.scrub import Scrubber
from posture.taxonomy import Severity
from tests.core.fakes import RULES, FakeCollector

TOKEN = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
IMAGE = AssetRef(AssetKind.IMAGE, "sha256:" + "a" * 64)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _cve(description: str) -> ObservationRecord:
    return ObservationRecord(
        "VULN",
        IMAGE,
        "CVE-2026-0001|openssl|3.0.2",
        "CVE-2026-0001 in openssl",
        Severity.HIGH,
        {"description": description},
    )


def _collect(engine: Engine, description: str, day: int) -> None:
    collect(engine, FakeCollector(extra=[_cve(description)]), RULES, now=T0 + timedelta(days=day))


def _evidence(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(select(Finding.evidence).where(Finding.rule_id == "VULN")).scalar_one())


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[ObservationRecord]:
    gated: list[ObservationRecord] = []
    original = Scrubber.observation

    def observation(self: Scrubber, record: ObservationRecord) -> ObservationRecord:
        gated.append(record)
        return original(self, record)

    monkeypatch.setattr(Scrubber, "observation", observation)
    return gated


def test_restated_unchanged_skips_the_gate_and_a_changed_statement_passes_it(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    gated = _spy(monkeypatch)
    _collect(engine, "a flaw in the parser", 0)
    assert len(gated) == 1  # new: gated
    _collect(engine, "a flaw in the parser", 1)
    assert len(gated) == 1  # restated unchanged: not tested again
    _collect(engine, f"a flaw; the exploit uses {TOKEN}", 2)
    assert len(gated) == 2  # same fingerprint, new text: gated
    assert TOKEN not in _evidence(engine) and "<secret " in _evidence(engine)
    _collect(engine, f"a flaw; the exploit uses {TOKEN}", 3)
    assert len(gated) == 3  # its sighting holds the hash of the *gated* text: the raw text never matches it
    assert TOKEN not in _evidence(engine)


def test_a_sighting_hash_from_before_the_gate_vouches_for_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store from before the gate: its sighting hashes are cleared, so its findings are gated again."""
    _collect(engine, "a flaw in the parser", 0)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM meta WHERE key = 'stored_text_scrubbed'"))
    gated = _spy(monkeypatch)
    _collect(engine, "a flaw in the parser", 1)
    assert len(gated) == 1
    with engine.connect() as connection:  # and its hash is vouched for again: the next run skips it
        hashes = connection.execute(select(FindingSighting.content_hash)).scalars().all()
    assert hashes and "" not in hashes
    _collect(engine, "a flaw in the parser", 2)
    assert len(gated) == 1
