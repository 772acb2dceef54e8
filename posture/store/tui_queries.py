"""Finding reads for an interactive reader: pages, counts, one finding in full, what the latest runs changed.

The terminal UI shows 100,000 findings by fetching only the rows on screen, so every query here
is shaped for SQLite's planner on that volume (PostgreSQL plans from statistics and needs no help):

* A page is ordered by a total key (the sort columns, then ``id``) in one direction, so the next
  page is a keyset condition ``(sort columns) < (last row's)``: constant cost however deep.
* An unfiltered view walks its order's index (``(status, risk)``, ``(severity_rank, risk, id)``,
  ``(first_seen, id)``); a filtered one (text, phase, area, rule, source, asset) scans the table
  and sorts, its order columns hidden from the planner (``+column``): a scan of 100,000 rows costs
  ~50 ms, while walking an index with a selective filter costs a random table read per row (~250
  ms for no match).
* Rows are narrowed first and joined to their asset after the LIMIT (a deferred join).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, tuple_
from sqlmodel import Session

from posture.model import (
    asset_table,
    finding_event_table,
    finding_sighting_table,
    finding_table,
    scope_table,
)
from posture.scoring.formula import explain
from posture.store.detail_models import FindingDetail, FindingEventRow
from posture.store.exceptions import exception_details
from posture.store.queries import FindingFilter, finding_conditions
from posture.store.sqltext import unindexed

F = finding_table.c

#: Sort orders of the finding table. Each is a total order in one direction (keyset paging
#: needs that): riskiest first, most severe first, oldest first.
ORDERS: dict[str, tuple[tuple[Any, ...], bool]] = {
    "risk": ((F.risk, F.id), True),
    "severity": ((F.severity_rank, F.risk, F.id), True),
    "age": ((F.first_seen, F.id), False),
}


@dataclass(frozen=True, slots=True)
class FindingRow:
    """What one line of the findings table shows."""

    id: int
    risk: int
    severity: str
    severity_rank: int
    status: str
    rule_id: str
    title: str
    asset_name: str
    asset_kind: str
    phase: str
    category: str
    first_seen: datetime

    def sort_key(self, order: str) -> tuple[Any, ...]:
        """The keyset of this row in ``order``: where the next page starts."""
        if order == "risk":
            return (self.risk, self.id)
        if order == "severity":
            return (self.severity_rank, self.risk, self.id)
        return (self.first_seen, self.id)


_ROW_COLUMNS = (
    F.id,
    F.risk,
    F.severity,
    F.severity_rank,
    F.status,
    F.rule_id,
    F.title,
    F.asset_id,
    F.phase,
    F.category,
    F.first_seen,
)


def _conditions(flt: FindingFilter, indexed: bool) -> list[ColumnElement[bool]]:
    """The filter's conditions; for a scan, the status and severity ones hide their index."""
    if indexed:
        return finding_conditions(flt)
    conds = finding_conditions(replace(flt, statuses=(), min_severity=None))
    if flt.statuses:
        conds.append(unindexed(F.status).in_(flt.statuses))
    if flt.min_severity is not None:
        conds.append(unindexed(F.severity_rank) >= flt.min_severity.rank)
    return conds


def _narrowed(flt: FindingFilter) -> bool:
    """Whether the filter is selective enough that scanning beats walking an index (see the module doc)."""
    return bool(flt.text or flt.phases or flt.categories or flt.rule_ids or flt.sources or flt.asset_id is not None)


def _page_uses_index(flt: FindingFilter, order: str) -> bool:
    """Whether walking the ``(status, risk)`` index beats a scan (see the module doc)."""
    return order == "risk" and not _narrowed(flt)


def finding_page(
    session: Session,
    flt: FindingFilter,
    order: str,
    limit: int,
    *,
    after: tuple[Any, ...] | None = None,
    offset: int = 0,
    reverse: bool = False,
) -> list[FindingRow]:
    """One page in ``order``: after the keyset ``after`` when given, else at ``offset``.

    ``reverse`` reads from the far end (the last page is then cheap: offset 0 backwards); rows
    come back in display order either way.
    """
    columns, descending = ORDERS[order]
    if _narrowed(flt):
        columns = tuple(unindexed(c) for c in columns)
    backwards = descending != reverse
    inner = select(*_ROW_COLUMNS).where(*_conditions(flt, _page_uses_index(flt, order)))
    if after is not None:
        key = tuple_(*columns)
        inner = inner.where(key < tuple_(*after) if backwards else key > tuple_(*after))
    inner = inner.order_by(*(c.desc() if backwards else c.asc() for c in columns)).limit(limit).offset(offset)
    narrowed = inner.subquery()
    stmt = select(narrowed, asset_table.c.name.label("asset_name"), asset_table.c.kind.label("asset_kind")).join(
        asset_table, asset_table.c.id == narrowed.c.asset_id
    )
    rows = [
        FindingRow(
            r.id,
            r.risk,
            r.severity,
            r.severity_rank,
            r.status,
            r.rule_id,
            r.title,
            r.asset_name,
            r.asset_kind,
            r.phase,
            r.category,
            r.first_seen,
        )
        for r in session.execute(stmt)
    ]
    rows.sort(key=lambda row: row.sort_key(order), reverse=descending)
    return rows


def count_matching(session: Session, flt: FindingFilter) -> int:
    only_status = flt == FindingFilter(statuses=flt.statuses)  # answered from the index alone
    stmt = select(func.count()).select_from(finding_table).where(*_conditions(flt, only_status))
    return int(session.execute(stmt).scalar_one())


def finding_detail(session: Session, finding_id: int) -> FindingDetail | None:
    """The finding with its asset, the exception that accepts it and the sources that see it."""
    row = (
        session.execute(
            select(
                finding_table,
                asset_table.c.kind.label("asset_kind"),
                asset_table.c.key.label("asset_key"),
                asset_table.c.name.label("asset_name"),
                asset_table.c.attributes.label("asset_attributes"),
            )
            .join(asset_table, asset_table.c.id == F.asset_id)
            .where(F.id == finding_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    exc_id = row["exception_id"]
    sources = [
        f"{r.kind}:{r.name}"
        for r in session.execute(
            select(scope_table.c.kind, scope_table.c.name)
            .join(finding_sighting_table, finding_sighting_table.c.scope_id == scope_table.c.id)
            .where(finding_sighting_table.c.finding_id == finding_id)
            .order_by(scope_table.c.kind, scope_table.c.name)
        )
    ]
    return {
        "id": row["id"],
        "fingerprint": row["fingerprint"],
        "rule_id": row["rule_id"],
        "asset_id": row["asset_id"],
        "discriminator": row["discriminator"],
        "title": row["title"],
        "severity": row["severity"],
        "severity_rank": row["severity_rank"],
        "phase": row["phase"],
        "category": row["category"],
        "references": row["references"],
        "evidence": row["evidence"],
        "content_hash": row["content_hash"],
        "status": row["status"],
        "risk": row["risk"],
        "risk_factors": explain(row["risk_factors"]),
        "first_seen": row["first_seen"],
        "last_seen": row["last_seen"],
        "resolved_at": row["resolved_at"],
        "exception_id": exc_id,
        "asset_kind": row["asset_kind"],
        "asset_key": row["asset_key"],
        "asset_name": row["asset_name"],
        "asset_attributes": row["asset_attributes"],
        "exception": exception_details(session, [exc_id]).get(exc_id) if exc_id is not None else None,
        "sources": sources,
    }


def finding_history(session: Session, finding_id: int) -> list[FindingEventRow]:
    """Every state change of one finding, oldest first."""
    E = finding_event_table.c
    stmt = select(finding_event_table).where(E.finding_id == finding_id).order_by(E.at, E.id)
    return [
        {
            "id": r.id,
            "finding_id": r.finding_id,
            "run_id": r.run_id,
            "at": r.at,
            "event": r.event,
            "severity": r.severity,
            "risk": r.risk,
            "detail": r.detail,
        }
        for r in session.execute(stmt)
    ]


@dataclass(frozen=True)
class Change:
    """One event a run recorded, labelled for display."""

    finding_id: int
    change: str  # new | resolved | regressed | accepted
    event: str  # the event itself (``reopened`` counts as new)
    severity: str
    risk: int
    rule_id: str
    title: str
    asset_name: str


def run_changes(session: Session, run_ids: list[int], limit: int = 10) -> tuple[dict[str, int], list[Change]]:
    """What the given runs recorded: counts by change, and the ``limit`` riskiest changes."""
    if not run_ids:
        return {}, []
    E = finding_event_table.c
    change = E.event.in_(list(_CHANGE_OF_EVENT))
    counts: dict[str, int] = {}
    for event, count in session.execute(
        select(E.event, func.count()).where(E.run_id.in_(run_ids), change).group_by(E.event)
    ):
        counts[_CHANGE_OF_EVENT[event]] = counts.get(_CHANGE_OF_EVENT[event], 0) + count
    stmt = (
        select(E.finding_id, E.event, E.severity, E.risk, F.rule_id, F.title, asset_table.c.name)
        .join(finding_table, F.id == E.finding_id)
        .join(asset_table, asset_table.c.id == F.asset_id)
        .where(E.run_id.in_(run_ids), change)
        .order_by(E.risk.desc(), E.finding_id)
        .limit(limit)
    )
    top = [
        Change(r.finding_id, _CHANGE_OF_EVENT[r.event], r.event, r.severity, r.risk, r.rule_id, r.title, r.name)
        for r in session.execute(stmt)
    ]
    return counts, top


_CHANGE_OF_EVENT = {
    "new": "new",
    "reopened": "new",
    "resolved": "resolved",
    "regressed": "regressed",
    "accepted": "accepted",
}



@dataclass(frozen=True, slots=True)
class CoveredRow:
    """One finding an exception covers (or would cover), as a preview line shows it."""

    id: int
    rule_id: str
    title: str
    asset_name: str


def covered_rows(session: Session, finding_ids: list[int], limit: int) -> list[CoveredRow]:
    """The first ``limit`` of ``finding_ids`` (oldest first), for a dialog's preview of what a scope covers."""
    first = sorted(finding_ids)[:limit]
    if not first:
        return []
    rows = session.execute(
        select(F.id, F.rule_id, F.title, asset_table.c.name)
        .join(asset_table, asset_table.c.id == F.asset_id)
        .where(F.id.in_(first))
        .order_by(F.id)
    )
    return [CoveredRow(r.id, r.rule_id, r.title, r.name) for r in rows]
