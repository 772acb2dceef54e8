"""A collector bug, a rule bug or a record the rules refuse ends its run as failed (nothing resolves),
and the exception's text (which comes from the source) is neither printed raw nor stored with a secret
in it: no traceback on the terminal, the run's error scrubbed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from posture.attributes.docker import container_attributes
from posture.model import CollectionRun, finding_table
from posture.pipeline import collect
from posture.records import AssetKind, AssetRecord, Record, ScopeKind, ScopeRef
from posture.rules.base import Hit, Rule, RuleRegistry, Snapshot
from posture.taxonomy import Phase, RunStatus, Severity
from tests.core.fakes import RULES, FakeCollector

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


def _refusing(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    container_attributes(asset.attributes)  # the fake's containers lack the Docker record's keys
    yield from ()


def _crashing(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    raise ValueError(HOSTILE)
    yield  # pragma: no cover


def _registry(evaluate: Callable[[AssetRecord, Snapshot], Iterator[Hit]]) -> RuleRegistry:
    return RuleRegistry([*RULES, Rule(id="TEST-STRICT", title="Strict", severity=Severity.LOW,
                                            phase=Phase.RUN, nist="3.4.3", remediation="-",
                                            kinds=frozenset({AssetKind.CONTAINER}), evaluate=evaluate)])


def test_a_record_the_rules_refuse_fails_the_run_and_resolves_nothing(engine: Engine) -> None:
    collect(engine, FakeCollector(privileged=frozenset({0, 1})), RULES)
    result = collect(engine, FakeCollector(privileged=frozenset()), _registry(_refusing))
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error.startswith("docker:engine-1")
    assert "container attributes lack " in result.error
    assert result.stats.get("resolved", 0) == 0
    with engine.connect() as connection:
        statuses = connection.execute(select(finding_table.c.status)).scalars().all()
    assert statuses == ["open", "open"]  # the run judged nothing, so both stay open


def test_a_rule_bug_fails_the_run_with_nothing_raw_stored(
    engine: Engine, capfd: pytest.CaptureFixture[str]
) -> None:
    collect(engine, FakeCollector(privileged=frozenset({0})), RULES)
    result = collect(engine, FakeCollector(privileged=frozenset()), _registry(_crashing))
    assert result.status is RunStatus.FAILED
    assert result.error is not None and "unexpected error: ValueError" in result.error
    assert TOKEN not in result.error and "<secret " in result.error  # raw bytes reach a screen only through the gates
    out, err = capfd.readouterr()
    assert TOKEN not in out + err and "\x1b" not in out + err
    with engine.connect() as connection:
        assert connection.execute(select(finding_table.c.status)).scalars().all() == ["open"]
