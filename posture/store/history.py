"""Finding history: every state change is an event row, so any two moments can be diffed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session

from posture.model import asset_table, finding_event_table, finding_table


@dataclass
class FindingChange:
    """One state change, for history, diff and the notification outbox."""

    finding_id: int
    fingerprint: str
    event: str  # new | reopened | regressed | resolved | accepted
    severity: str
    risk: int
    rule_id: str
    title: str
    asset_name: str
    detail: dict[str, Any] = field(default_factory=dict)


def record_events(session: Session, run_id: int | None, changes: Sequence[FindingChange], now: datetime) -> None:
    if changes:
        session.execute(
            insert(finding_event_table),
            [
                {
                    "finding_id": c.finding_id,
                    "run_id": run_id,
                    "at": now,
                    "event": c.event,
                    "severity": c.severity,
                    "risk": c.risk,
                    "detail": c.detail,
                }
                for c in changes
            ],
        )


def changes_for(
    session: Session, finding_ids: Sequence[int], event: str, detail: dict[str, Any] | None = None
) -> list[FindingChange]:
    """The change records of ``event`` for these findings, named with their assets (for messages)."""
    stmt = (
        select(
            finding_table.c.id,
            finding_table.c.fingerprint,
            finding_table.c.severity,
            finding_table.c.risk,
            finding_table.c.rule_id,
            finding_table.c.title,
            asset_table.c.name,
        )
        .join(asset_table, asset_table.c.id == finding_table.c.asset_id)
        .where(finding_table.c.id.in_(finding_ids))
    )
    return [
        FindingChange(r.id, r.fingerprint, event, r.severity, r.risk, r.rule_id, r.title, r.name, dict(detail or {}))
        for r in session.execute(stmt)
    ]
