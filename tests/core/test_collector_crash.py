"""A collector bug ends its run as failed, and the exception's text (which comes from the source) is
neither printed raw nor stored with a secret in it: no traceback on the terminal, the run's error scrubbed."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from posture.model import CollectionRun
from posture.pipeline import collect
from posture.records import Record, ScopeKind, ScopeRef
from posture.taxonomy import RunStatus
from tests.core.fakes import RULES

TOKEN = "ghp_" + "M1n2B3v4C5x6Z7l8K9j0H1g2F3d4S5a6P7o8"
HOSTILE = f"\x1b]52;c;UFdORUQ=\x07 bad label value {TOKEN}"


class Crashing:
    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.DOCKER, "engine-crash")

    def collect(self) -> Iterator[Record]:
        raise ValueError(HOSTILE)
        yield  # pragma: no cover - a generator that fails on its first step


def test_a_collector_bug_is_a_failed_run_with_nothing_raw_printed_or_stored(
    engine: Engine, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        result = collect(engine, Crashing(), RULES)
    assert result.status is RunStatus.FAILED
    out, err = capfd.readouterr()
    assert TOKEN not in out + err and "\x1b" not in out + err
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    with engine.connect() as connection:
        (error,) = connection.execute(select(CollectionRun.error)).scalars().all()
    assert error is not None and "unexpected error: ValueError" in error
    assert TOKEN not in error and "<secret " in error
