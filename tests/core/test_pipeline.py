"""Collection runs against a real database: what a complete, partial or failed run may change."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from posture.acceptance import Acceptance, Reach
from posture.clock import utcnow
from posture.db import read_session, write_session
from posture.model import asset_table, finding_event_table, finding_table, run_table
from posture.pipeline import collect
from posture.records import AssetKind, AssetRef
from posture.store.exceptions import create_exception
from posture.store.findings import fingerprint
from posture.taxonomy import RunStatus
from tests.core.fakes import RULES, FakeCollector


def _findings(engine: Engine) -> dict[str, str]:
    with read_session(engine) as s:
        rows = s.execute(
            select(finding_table.c.rule_id, finding_table.c.discriminator, finding_table.c.status, asset_table.c.name)
            .join(asset_table, asset_table.c.id == finding_table.c.asset_id)
        )
        return {f"{r.rule_id}:{r.name}:{r.discriminator}": r.status for r in rows}


def test_first_run_creates_findings_and_second_identical_run_changes_nothing(engine: Engine) -> None:
    first = collect(engine, FakeCollector(privileged=frozenset({0, 1}), cves=("CVE-2024-1",)), RULES)
    assert first.status is RunStatus.COMPLETE
    assert first.first_run
    assert first.stats["new"] == 3
    assert _findings(engine) == {
        "TEST-PRIV:c0:": "open", "TEST-PRIV:c1:": "open", "VULN:app:1.0:CVE-2024-1|openssl|3.0.2": "open",
    }
    second = collect(engine, FakeCollector(privileged=frozenset({0, 1}), cves=("CVE-2024-1",)), RULES)
    assert not second.first_run
    assert second.changes == []
    assert second.stats["assets_new"] == 0 and second.stats["assets_changed"] == 0


def test_complete_run_resolves_what_it_no_longer_sees(engine: Engine) -> None:
    collect(engine, FakeCollector(privileged=frozenset({0, 1})), RULES)
    result = collect(engine, FakeCollector(privileged=frozenset({1})), RULES)
    assert result.stats["resolved"] == 1
    assert _findings(engine)["TEST-PRIV:c0:"] == "resolved"
    again = collect(engine, FakeCollector(privileged=frozenset({0, 1})), RULES)
    assert [c.event for c in again.changes] == ["reopened"]
    assert _findings(engine)["TEST-PRIV:c0:"] == "open"


def test_partial_run_leaves_every_earlier_finding_open(engine: Engine) -> None:
    collect(engine, FakeCollector(containers=3, privileged=frozenset({0, 1, 2}), cves=("CVE-1", "CVE-2")), RULES)
    shrunk = FakeCollector(containers=1, privileged=frozenset(), problems=("403 listing containers",))
    partial = collect(engine, shrunk, RULES)
    assert partial.status is RunStatus.PARTIAL
    assert partial.stats["resolved"] == 0
    assert set(_findings(engine).values()) == {"open"}
    with read_session(engine) as s:
        gone = select(func.count()).select_from(asset_table).where(asset_table.c.gone_at.is_not(None))
        assert s.execute(gone).scalar_one() == 0
        run = s.execute(select(run_table).where(run_table.c.id == partial.run_id)).mappings().one()
    assert run["status"] == "partial" and "403" in run["error"]


def test_failed_run_is_recorded_and_changes_nothing_else(engine: Engine) -> None:
    collect(engine, FakeCollector(privileged=frozenset({0})), RULES)
    before = _findings(engine)
    failed = collect(engine, FakeCollector(containers=3, fail_after=1), RULES)
    assert failed.status is RunStatus.FAILED
    assert failed.error == "docker engine-1: connection reset while listing containers"
    assert _findings(engine) == before
    with read_session(engine) as s:
        statuses = [r.status for r in s.execute(select(run_table.c.status).order_by(run_table.c.id))]
    assert statuses == ["complete", "failed"]


def test_fingerprint_ignores_title_severity_and_evidence(engine: Engine) -> None:
    collect(engine, FakeCollector(cves=("CVE-9",)), RULES)
    image = AssetRef(AssetKind.IMAGE, "sha256:" + "a" * 64)
    with read_session(engine) as s:
        stored = s.execute(select(finding_table.c.fingerprint).where(finding_table.c.rule_id == "VULN")).scalar_one()
    assert stored == fingerprint("VULN", image, "CVE-9|openssl|3.0.2")


def test_an_image_known_by_an_alias_is_one_asset_across_scopes(engine: Engine) -> None:
    collect(engine, FakeCollector(scope_name="engine-1"), RULES)
    # A second source knows the same image only by its manifest digest (the alias) and reports a CVE.
    other = FakeCollector(scope_name="report", containers=0, image_key="sha256:" + "b" * 64, image_aliases=(),
                          cves=("CVE-7",))
    collect(engine, other, RULES)
    with read_session(engine) as s:
        images = s.execute(select(asset_table.c.key).where(asset_table.c.kind == "image")).scalars().all()
        fp = s.execute(select(finding_table.c.fingerprint).where(finding_table.c.rule_id == "VULN")).scalar_one()
    assert images == ["sha256:" + "a" * 64]
    assert fp == fingerprint("VULN", AssetRef(AssetKind.IMAGE, "sha256:" + "a" * 64), "CVE-7|openssl|3.0.2")


def test_a_finding_seen_by_two_scopes_resolves_only_when_both_stop_seeing_it(engine: Engine) -> None:
    collect(engine, FakeCollector(scope_name="a", containers=0, cves=("CVE-5",)), RULES)
    collect(engine, FakeCollector(scope_name="b", containers=0, cves=("CVE-5",)), RULES)
    collect(engine, FakeCollector(scope_name="a", containers=0), RULES)
    assert _findings(engine)["VULN:app:1.0:CVE-5|openssl|3.0.2"] == "open"
    collect(engine, FakeCollector(scope_name="b", containers=0), RULES)
    assert _findings(engine)["VULN:app:1.0:CVE-5|openssl|3.0.2"] == "resolved"


def test_exception_accepts_then_expiry_reopens(engine: Engine) -> None:
    collect(engine, FakeCollector(privileged=frozenset({0})), RULES)
    now = utcnow()
    with write_session(engine) as s:
        create_exception(s, Acceptance(Reach(rule_id="TEST-PRIV"), "lab host", "ops", "cli",
                                        expires_at=now + timedelta(seconds=1)), now)
    assert _findings(engine)["TEST-PRIV:c0:"] == "accepted"
    rerun = collect(engine, FakeCollector(privileged=frozenset({0})), RULES, now=now + timedelta(seconds=5))
    assert _findings(engine)["TEST-PRIV:c0:"] == "open"
    assert "exception-expired" in [c.event for c in rerun.changes]
    with read_session(engine) as s:
        events = s.execute(select(finding_event_table.c.event).order_by(finding_event_table.c.id)).scalars().all()
    assert events == ["new", "accepted", "exception-expired"]


def test_until_fix_exception_stops_covering_once_a_fix_exists(engine: Engine) -> None:
    collect(engine, FakeCollector(containers=0, cves=("CVE-3",)), RULES)
    with write_session(engine) as s:
        create_exception(s, Acceptance(Reach(rule_id="VULN"), "no fix yet", "sec", "cli", until_fix=True), utcnow())
    # FakeCollector reports fix_available=True, so the exception does not cover it.
    assert _findings(engine)["VULN:app:1.0:CVE-3|openssl|3.0.2"] == "open"
