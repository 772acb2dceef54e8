"""The exceptions as people review them: each with its scope, who and why, until when, and how many
findings it accepts now (``posture exceptions list`` and ``export``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from posture.acceptance import Acceptance
from posture.model import exception_table, finding_table
from posture.store.exceptions import in_force, scope_of
from posture.taxonomy import FindingStatus


@dataclass(frozen=True, slots=True)
class Listed:
    """One stored exception: what it states, its state now and how many findings it accepts."""

    id: int
    acceptance: Acceptance
    created_at: datetime
    state: str  # in force | expired | revoked
    covers: int
    revoked_by: str | None = None


def list_exceptions(session: Session, now: datetime, *, include_ended: bool = False,
                    expiring_before: datetime | None = None) -> list[Listed]:
    """The exceptions in force (with ``include_ended`` also the revoked and expired ones), oldest first;
    ``expiring_before``: only those in force whose expiry falls before it (the weekly review)."""
    X = exception_table.c
    query = select(exception_table).order_by(X.id)
    if not include_ended or expiring_before is not None:
        query = query.where(in_force(now))
    if expiring_before is not None:
        query = query.where(X.expires_at.is_not(None), X.expires_at <= expiring_before)
    counts = _accepted_counts(session)
    return [Listed(r.id, _acceptance(r), r.created_at, _state(r, now), counts.get(r.id, 0), r.revoked_by)
            for r in session.execute(query)]


def find_exception(session: Session, exc_id: int, now: datetime) -> Listed | None:
    """One exception by id, whatever its state (None when there is no such id)."""
    row = session.execute(select(exception_table).where(exception_table.c.id == exc_id)).first()
    if row is None:
        return None
    covers = _accepted_counts(session, finding_table.c.exception_id == exc_id).get(exc_id, 0)
    return Listed(row.id, _acceptance(row), row.created_at, _state(row, now), covers, row.revoked_by)


def _accepted_counts(session: Session, where: Any = None) -> dict[int, int]:
    F = finding_table.c
    query = (select(F.exception_id, func.count()).where(F.status == FindingStatus.ACCEPTED.value,
                                                        F.exception_id.is_not(None)).group_by(F.exception_id))
    if where is not None:
        query = query.where(where)
    return {exc_id: count for exc_id, count in session.execute(query)}


def _acceptance(row: Any) -> Acceptance:
    key = row.source_key.split("#", 1)[1] if row.source == "file" and "#" in row.source_key else row.source_key
    return Acceptance(scope_of(row), row.reason, row.owner, row.source, key, row.origin, row.expires_at,
                      row.until_fix, row.justification, row.created_at)


def _state(row: Any, now: datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expired_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return "expired"
    return "in force"
