"""Accepted risks: which findings an exception covers, and what happens when it expires.

An exception is scoped by rule, asset key, namespace or a glob pattern over the asset name (the
rule may combine with any of the others). "Until a fix exists" exceptions stop covering a finding
as soon as its evidence says a fix is available. An expired exception reopens what it covered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from posture.model import Asset, RiskException, asset_table, exception_table, finding_table
from posture.records import AssetKind, AssetRef
from posture.store.history import FindingChange, changes_for, record_events
from posture.taxonomy import FindingStatus


@dataclass(frozen=True)
class _Active:
    id: int
    rule_id: str | None
    asset_key: str | None
    namespace: str | None
    pattern: str | None
    until_fix: bool


def _covers(
    exc: _Active,
    rule_id: str,
    asset: AssetRef,
    asset_name: str,
    attributes: Mapping[str, Any],
    evidence: Mapping[str, Any],
) -> bool:
    if exc.rule_id and exc.rule_id != rule_id:
        return False
    if exc.asset_key and exc.asset_key not in (asset.key, asset_name):
        return False
    if exc.namespace and attributes.get("namespace") != exc.namespace:
        return False
    if exc.pattern and not (fnmatchcase(asset_name, exc.pattern) or fnmatchcase(asset.key, exc.pattern)):
        return False
    return not (exc.until_fix and evidence.get("fix_available"))


class ExceptionMatcher:
    """The exceptions in force at one moment, matched against findings in memory."""

    def __init__(self, active: Sequence[_Active]) -> None:
        self._active = list(active)

    @classmethod
    def load(cls, session: Session, now: datetime) -> ExceptionMatcher:
        rows = session.execute(
            select(RiskException).where(
                exception_table.c.expired_at.is_(None),
                (exception_table.c.expires_at.is_(None)) | (exception_table.c.expires_at > now),
            )
        ).scalars()
        return cls(
            [
                _Active(r.id, r.rule_id, r.asset_key, r.namespace, r.pattern, r.until_fix)
                for r in rows
                if r.id is not None
            ]
        )

    def match(
        self, rule_id: str, asset: AssetRef, asset_name: str, attributes: Mapping[str, Any], evidence: Mapping[str, Any]
    ) -> int | None:
        for exc in self._active:
            if _covers(exc, rule_id, asset, asset_name, attributes, evidence):
                return exc.id
        return None


def create_exception(session: Session, exc: RiskException) -> int:
    """Store an exception and accept the open findings it covers now; returns its id."""
    if not (exc.rule_id or exc.asset_key or exc.namespace or exc.pattern):
        raise ValueError("an exception needs a scope: rule, asset, namespace or pattern")
    session.add(exc)
    session.flush()
    assert exc.id is not None
    active = _Active(exc.id, exc.rule_id, exc.asset_key, exc.namespace, exc.pattern, exc.until_fix)
    rows = session.execute(
        select(
            finding_table.c.id,
            finding_table.c.rule_id,
            finding_table.c.evidence,
            asset_table.c.kind,
            asset_table.c.key,
            asset_table.c.name,
            asset_table.c.attributes,
        )
        .join(Asset, asset_table.c.id == finding_table.c.asset_id)
        .where(finding_table.c.status == FindingStatus.OPEN.value)
    )
    covered = [
        r.id
        for r in rows
        if _covers(active, r.rule_id, AssetRef(AssetKind(r.kind), r.key), r.name, r.attributes, r.evidence)
    ]
    if covered:
        session.execute(
            update(finding_table)
            .where(finding_table.c.id.in_(covered))
            .values(status=FindingStatus.ACCEPTED.value, exception_id=exc.id)
        )
        _record(session, covered, "accepted", exc.created_at, {"exception": exc.id, "reason": exc.reason})
    return exc.id


def _record(
    session: Session, finding_ids: Sequence[int], event: str, now: datetime, detail: dict[str, Any]
) -> list[FindingChange]:
    changes = changes_for(session, finding_ids, event, detail)
    record_events(session, None, changes, now)
    return changes


def expire_exceptions(session: Session, now: datetime) -> list[FindingChange]:
    """Mark exceptions past their expiry and reopen their findings (history event ``exception-expired``)."""
    due = (
        session.execute(
            select(exception_table.c.id).where(
                exception_table.c.expired_at.is_(None),
                exception_table.c.expires_at.is_not(None),
                exception_table.c.expires_at <= now,
            )
        )
        .scalars()
        .all()
    )
    expired: list[FindingChange] = []
    for exc_id in due:
        reopened = list(
            session.execute(
                select(finding_table.c.id).where(
                    finding_table.c.exception_id == exc_id, finding_table.c.status == FindingStatus.ACCEPTED.value
                )
            ).scalars()
        )
        if reopened:
            session.execute(
                update(finding_table)
                .where(finding_table.c.id.in_(reopened))
                .values(status=FindingStatus.OPEN.value, exception_id=None)
            )
        session.execute(update(exception_table).where(exception_table.c.id == exc_id).values(expired_at=now))
        expired.extend(_record(session, reopened, "exception-expired", now, {"exception": exc_id}))
    return expired
