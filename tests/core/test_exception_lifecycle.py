"""Exceptions in the store: the narrowest covering one is a finding's exception, and when one ends
(revoked, expired, dropped from its document) its findings move to another that covers them or reopen."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from posture.acceptance import Acceptance, Reach
from posture.clock import utcnow
from posture.db import read_session, write_session
from posture.model import asset_table, exception_table, finding_event_table, finding_table
from posture.pipeline import collect
from posture.store.exceptions import (
    apply_acceptances,
    create_exception,
    expire_exceptions,
    revoke_exception,
    would_cover,
)
from tests.core.fakes import RULES, FakeCollector

PRIV = Reach(rule_id="TEST-PRIV")
PRIV_C0 = Reach(rule_id="TEST-PRIV", asset="c0")


def _state(engine: Engine) -> dict[str, tuple[str, int | None]]:
    """Each privileged container's finding: its status and exception."""
    with read_session(engine) as s:
        rows = s.execute(
            select(asset_table.c.name, finding_table.c.status, finding_table.c.exception_id)
            .join(asset_table, asset_table.c.id == finding_table.c.asset_id)
            .where(finding_table.c.rule_id == "TEST-PRIV")
        )
        return {r.name: (r.status, r.exception_id) for r in rows}


def _events(engine: Engine) -> list[tuple[str, str]]:
    with read_session(engine) as s:
        rows = s.execute(
            select(asset_table.c.name, finding_event_table.c.event)
            .join(finding_table, finding_table.c.id == finding_event_table.c.finding_id)
            .join(asset_table, asset_table.c.id == finding_table.c.asset_id)
            .where(finding_event_table.c.event != "new")
            .order_by(finding_event_table.c.id)
        )
        return [(r.name, r.event) for r in rows]


def _accept(engine: Engine, scope: Reach, **kw: object) -> int:
    with write_session(engine) as s:
        return create_exception(s, Acceptance(scope, "lab hosts", "ops", "cli", **kw), utcnow())  # type: ignore[arg-type]


@pytest.fixture
def two_privileged(engine: Engine) -> Engine:
    collect(engine, FakeCollector(privileged=frozenset({0, 1})), RULES)
    return engine


def test_revoking_a_broad_exception_moves_what_a_narrower_one_covers_and_reopens_the_rest(
    two_privileged: Engine,
) -> None:
    broad = _accept(two_privileged, PRIV)
    narrow = _accept(two_privileged, PRIV_C0)
    assert _state(two_privileged) == {"c0": ("accepted", broad), "c1": ("accepted", broad)}
    with write_session(two_privileged) as s:
        changes = revoke_exception(s, broad, "alice", utcnow())
    assert [(c.asset_name, c.event) for c in changes] == [("c1", "exception-revoked")]
    assert _state(two_privileged) == {"c0": ("accepted", narrow), "c1": ("open", None)}
    with write_session(two_privileged) as s:
        assert revoke_exception(s, broad, "alice", utcnow()) == []  # revoking twice changes nothing
        with pytest.raises(LookupError):
            revoke_exception(s, 9999, "alice", utcnow())


def test_the_narrowest_exception_holds_a_finding_in_a_run(two_privileged: Engine) -> None:
    broad = _accept(two_privileged, PRIV)
    narrow = _accept(two_privileged, PRIV_C0)
    collect(two_privileged, FakeCollector(privileged=frozenset({0, 1})), RULES)
    assert _state(two_privileged) == {"c0": ("accepted", narrow), "c1": ("accepted", broad)}


def test_an_expired_exception_hands_its_findings_to_one_still_in_force(two_privileged: Engine) -> None:
    now = utcnow()
    narrow = _accept(two_privileged, PRIV_C0, expires_at=now + timedelta(seconds=30))
    broad = _accept(two_privileged, PRIV)
    assert _state(two_privileged) == {"c0": ("accepted", narrow), "c1": ("accepted", broad)}
    with write_session(two_privileged) as s:
        assert expire_exceptions(s, now + timedelta(minutes=1)) == []
        assert expire_exceptions(s, now + timedelta(minutes=2)) == []
    assert _state(two_privileged) == {"c0": ("accepted", broad), "c1": ("accepted", broad)}


def test_the_preview_is_what_creating_accepts(two_privileged: Engine) -> None:
    with read_session(two_privileged) as s:
        previewed = would_cover(s, PRIV_C0)
    exc = _accept(two_privileged, PRIV_C0)
    with read_session(two_privileged) as s:
        accepted = list(s.execute(select(finding_table.c.id).where(finding_table.c.exception_id == exc)).scalars())
    assert previewed == accepted and len(accepted) == 1


def test_an_asset_is_named_by_its_key_its_name_or_an_alias(engine: Engine) -> None:
    collect(engine, FakeCollector(cves=("CVE-1",)), RULES)
    image = FakeCollector()
    with read_session(engine) as s:
        for name in (image.image_key, "app:1.0", *image.image_aliases):
            assert len(would_cover(s, Reach(rule_id="VULN", asset=name))) == 1, name
        assert would_cover(s, Reach(rule_id="VULN", asset="sha256:" + "c" * 64)) == []


def test_a_document_applied_again_updates_its_exceptions_in_place(two_privileged: Engine) -> None:
    def apply(*entries: tuple[str, Reach]) -> tuple[list[int], list[int], list[int]]:
        with write_session(two_privileged) as s:
            applied = apply_acceptances(
                s, "file", "exceptions.yaml", [Acceptance(scope, "lab", "ops", "", key) for key, scope in entries],
                utcnow(),
            )
        return applied.created, applied.updated, applied.revoked

    (first,), _, _ = apply(("lab", PRIV_C0))
    assert _state(two_privileged) == {"c0": ("accepted", first), "c1": ("open", None)}
    assert apply(("lab", PRIV_C0)) == ([], [], [])  # unchanged: nothing written
    assert apply(("lab", Reach(rule_id="TEST-PRIV", asset="c1"))) == ([], [first], [])
    assert _state(two_privileged) == {"c0": ("open", None), "c1": ("accepted", first)}
    assert apply() == ([], [], [first])
    assert _state(two_privileged) == {"c0": ("open", None), "c1": ("open", None)}
    assert _events(two_privileged) == [("c0", "accepted"), ("c0", "unaccepted"), ("c1", "accepted"),
                                       ("c1", "exception-revoked")]
    with read_session(two_privileged) as s:
        row = s.execute(select(exception_table).where(exception_table.c.id == first)).one()
    assert (row.source, row.source_key, row.revoked_by) == ("file", "exceptions.yaml#lab", "file:exceptions.yaml")


def test_an_exception_needs_an_owner_a_reason_and_a_future_expiry(two_privileged: Engine) -> None:
    now = utcnow()
    for bad in (Acceptance(PRIV, " ", "ops", "cli"), Acceptance(PRIV, "why", "", "cli"),
                Acceptance(PRIV, "why", "ops", "cli", expires_at=now)):
        with pytest.raises(ValueError), write_session(two_privileged) as s:
            create_exception(s, bad, now)
    assert _state(two_privileged) == {"c0": ("open", None), "c1": ("open", None)}


def test_an_exceptions_free_text_passes_the_secret_gate(two_privileged: Engine) -> None:
    token = "ghp_" + "Zq8RtY3uVw5xLk2JhG7fDs1aPo9iUe4nMb6c"  # a GitHub token's shape, pasted into a reason
    with write_session(two_privileged) as s:
        exc = create_exception(s, Acceptance(PRIV, f"temporary, token {token}", "ops", "cli",
                                             justification=f"see {token}"), utcnow())
    with read_session(two_privileged) as s:
        row = s.execute(select(exception_table).where(exception_table.c.id == exc)).one()
    assert token not in row.reason and token not in (row.justification or "")
    assert row.reason.startswith("temporary, token <secret gh… (sha256:")  # a redacted preview and keyed hash
