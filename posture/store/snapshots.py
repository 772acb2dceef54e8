"""Reading score snapshots (trends, thresholds) and the per-asset roll-up, computed on demand."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from posture.model import asset_table, finding_table, score_table
from posture.taxonomy import FindingStatus

F = finding_table.c


def asset_rollup(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Per-asset roll-up (open findings, worst and total risk), riskiest first: the one dimension too
    large to keep in every snapshot, so it is computed on demand."""
    stmt = (
        select(asset_table.c.kind, asset_table.c.name, func.count().label("open"), func.max(F.risk).label("max_risk"),
               func.sum(F.risk).label("risk_sum"))
        .join(asset_table, asset_table.c.id == F.asset_id)
        .where(F.status == FindingStatus.OPEN.value)
        .group_by(asset_table.c.id, asset_table.c.kind, asset_table.c.name)
        .order_by(func.max(F.risk).desc(), func.sum(F.risk).desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in session.execute(stmt)]


def latest_snapshots(session: Session, limit: int = 2) -> list[dict[str, Any]]:
    """The newest score snapshots, newest first (trend, and "did a scope cross a threshold")."""
    S = score_table.c
    stmt = select(S.id, S.run_id, S.taken_at, S.score, S.grade, S.counts).order_by(S.taken_at.desc(), S.id.desc())
    return [dict(r._mapping) for r in session.execute(stmt.limit(limit))]
