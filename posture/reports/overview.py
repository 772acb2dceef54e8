"""The manager's picture of the estate, read once and rendered by the TUI overview and every report.

Everything here answers a question from PRODUCT.md: one score and grade with its trend, risk by
severity / NIST area / lifecycle phase (and by team and namespace for reports), the riskiest open
findings, what the latest run of each source changed, how long findings stay open (SLA ageing),
and whether every source is still being collected. Figures count *open* findings; accepted ones
are counted apart, resolved ones only appear as changes.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from posture.model import asset_table, finding_table, score_table
from posture.store.queries import latest_runs
from posture.store.sqltext import unindexed
from posture.store.tui_queries import Change, run_changes
from posture.taxonomy import Category, FindingStatus, Phase, Severity

F = finding_table.c
SEVERITIES = [s.value for s in sorted(Severity, key=lambda s: s.rank, reverse=True)]
AREAS = [c.value for c in Category]
PHASES = [p.value for p in Phase]
#: SLA ageing buckets: (label, minimum age in days); a finding falls in the last one it reaches.
AGE_BUCKETS: tuple[tuple[str, int], ...] = (("0-7d", 0), ("8-30d", 8), ("31-90d", 31), (">90d", 91))
#: Labels that name the team owning an asset (Kubernetes or Docker labels), first match wins.
TEAM_LABELS = ("team", "owner", "app.kubernetes.io/team")
UNASSIGNED = "(unassigned)"
#: How many teams and namespaces a report lists (the riskiest).
GROUP_LIMIT = 10
_OPEN = FindingStatus.OPEN.value


@dataclass(frozen=True)
class ScorePoint:
    taken_at: datetime
    score: float
    grade: str


@dataclass(frozen=True)
class TopRisk:
    id: int
    risk: int
    severity: str
    rule_id: str
    title: str
    asset_name: str
    asset_kind: str
    category: str
    first_seen: datetime


@dataclass(frozen=True)
class SourceHealth:
    kind: str
    name: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class GroupRisk:
    """Open findings of one team or namespace."""

    name: str
    open: int
    critical: int
    high: int
    max_risk: int


@dataclass
class Counts:
    """Open findings by severity, NIST area, phase and age (from one scan), and how many are accepted."""

    by_severity: dict[str, int]
    by_area: dict[str, int]
    by_phase: dict[str, int]
    ageing: dict[str, dict[str, int]]
    accepted: int = 0

    @property
    def open_total(self) -> int:
        return sum(self.by_severity.values())


@dataclass
class Headline:
    """What is cheap to read (indexes only): score and trend, top risks, latest changes, health."""

    generated_at: datetime
    trend: list[ScorePoint]
    top: list[TopRisk]
    change_counts: dict[str, int]
    changes: list[Change]
    health: list[SourceHealth]

    @property
    def score(self) -> ScorePoint | None:
        return self.trend[-1] if self.trend else None


@dataclass
class Overview:
    headline: Headline
    counts: Counts
    by_team: list[GroupRisk] = field(default_factory=list)
    by_namespace: list[GroupRisk] = field(default_factory=list)


def load_overview(session: Session, now: datetime, *, groups: bool = False, top: int = 10) -> Overview:
    """Everything; ``groups`` adds risk by team and namespace (one more scan, for reports)."""
    overview = Overview(load_headline(session, now, top=top), load_counts(session, now))
    if groups:
        overview.by_team, overview.by_namespace = _groups(session)
    return overview


def load_headline(session: Session, now: datetime, *, top: int = 10, trend: int = 30) -> Headline:
    runs = latest_runs(session)
    health = [
        SourceHealth(r["scope_kind"], r["scope_name"], r["status"], r["started_at"], r["finished_at"], r["error"])
        for r in runs
    ]
    change_counts, changes = run_changes(session, [r["id"] for r in runs if r["status"] != "running"], limit=top)
    return Headline(now, _trend(session, trend), _top(session, top), change_counts, changes, health)


def load_counts(session: Session, now: datetime) -> Counts:
    """Every count of the overview from one scan of ``finding`` (grouped, so a few hundred rows back)."""
    bounds = [(label, now - timedelta(days=days)) for label, days in AGE_BUCKETS]
    bucket = case(*((F.first_seen <= since, label) for label, since in reversed(bounds[1:])), else_=bounds[0][0])
    out = Counts(
        by_severity=dict.fromkeys(SEVERITIES, 0),
        by_area=dict.fromkeys(AREAS, 0),
        by_phase=dict.fromkeys(PHASES, 0),
        ageing={s: dict.fromkeys((label for label, _ in AGE_BUCKETS), 0) for s in SEVERITIES},
    )
    stmt = (
        select(F.status, F.severity, F.category, F.phase, bucket, func.count())
        .where(unindexed(F.status).in_((_OPEN, FindingStatus.ACCEPTED.value)))
        .group_by(F.status, F.severity, F.category, F.phase, bucket)
    )
    for status, severity, category, phase, age, count in session.execute(stmt):
        if status != _OPEN:
            out.accepted += count
            continue
        out.by_severity[severity] = out.by_severity.get(severity, 0) + count
        out.by_area[category] = out.by_area.get(category, 0) + count
        out.by_phase[phase] = out.by_phase.get(phase, 0) + count
        ages = out.ageing.setdefault(severity, {})
        ages[age] = ages.get(age, 0) + count
    return out


def _trend(session: Session, limit: int) -> list[ScorePoint]:
    S = score_table.c
    rows = session.execute(select(S.taken_at, S.score, S.grade).order_by(S.taken_at.desc(), S.id.desc()).limit(limit))
    return [ScorePoint(r.taken_at, float(r.score), r.grade) for r in reversed(rows.all())]


def _top(session: Session, limit: int) -> list[TopRisk]:
    stmt = (
        select(
            F.id,
            F.risk,
            F.severity,
            F.rule_id,
            F.title,
            F.category,
            F.first_seen,
            asset_table.c.name,
            asset_table.c.kind,
        )
        .join(asset_table, asset_table.c.id == F.asset_id)
        .where(F.status == _OPEN)
        .order_by(F.risk.desc(), F.id.desc())
        .limit(limit)
    )
    return [
        TopRisk(r.id, r.risk, r.severity, r.rule_id, r.title, r.name, r.kind, r.category, r.first_seen)
        for r in session.execute(stmt)
    ]


def _groups(session: Session) -> tuple[list[GroupRisk], list[GroupRisk]]:
    asset_id = unindexed(F.asset_id)
    stats = session.execute(
        select(
            asset_id,
            func.count(),
            func.sum(case((F.severity_rank == Severity.CRITICAL.rank, 1), else_=0)),
            func.sum(case((F.severity_rank == Severity.HIGH.rank, 1), else_=0)),
            func.max(F.risk),
        )
        .where(unindexed(F.status) == _OPEN)
        .group_by(asset_id)
    ).all()
    by_asset = {r[0]: r for r in stats}
    teams: dict[str, list[Any]] = defaultdict(lambda: [0, 0, 0, 0])
    namespaces: dict[str, list[Any]] = defaultdict(lambda: [0, 0, 0, 0])
    ids = sorted(by_asset)
    A = asset_table.c
    for start in range(0, len(ids), 500):
        rows = session.execute(select(A.id, A.kind, A.name, A.attributes).where(A.id.in_(ids[start : start + 500])))
        for r in rows:
            _, count, critical, high, max_risk = by_asset[r.id]
            attrs = r.attributes or {}
            namespace = r.name if r.kind == "k8s-namespace" else attrs.get("namespace")
            for bucket, name in ((teams, _team(attrs)), (namespaces, namespace)):
                if name is None:
                    continue
                acc = bucket[str(name)]
                acc[0] += count
                acc[1] += critical or 0
                acc[2] += high or 0
                acc[3] = max(acc[3], max_risk or 0)

    def ranked(bucket: dict[str, list[Any]]) -> list[GroupRisk]:
        groups = [GroupRisk(name, *values) for name, values in bucket.items()]
        return sorted(groups, key=lambda g: (-g.critical, -g.high, -g.open, g.name))

    return ranked(teams), ranked(namespaces)


def _team(attributes: dict[str, Any]) -> str:
    labels = attributes.get("labels")
    if isinstance(labels, dict):
        for key in TEAM_LABELS:
            if labels.get(key):
                return str(labels[key])
    return str(attributes["team"]) if attributes.get("team") else UNASSIGNED
