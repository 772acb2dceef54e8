"""The manager's picture of the estate, read once and rendered by the TUI overview and every report.

Everything here answers a question from PRODUCT.md: one score and grade with its trend, open
findings by severity / NIST area / lifecycle phase, risk by team, namespace and NIST area (for
reports), the riskiest open findings, what the latest run of each source changed, how long findings
stay open (SLA ageing), and whether every source is still being collected. Counts are of *open*
findings; accepted ones are counted apart, resolved ones only appear as changes.

Risk by group is read from the latest score snapshot, never recomputed here: scoring alone decides
which team and namespace an asset (or an image, through what runs it) belongs to, with the
configured team label, so ``posture summary`` and ``posture score --by team`` cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from posture.model import asset_table, finding_table, score_table
from posture.store.queries import latest_runs
from posture.store.snapshots import latest_snapshots
from posture.store.tui_queries import Change, run_changes
from posture.taxonomy import Category, FindingStatus, Phase, Severity

F = finding_table.c
SEVERITIES = [s.value for s in sorted(Severity, key=lambda s: s.rank, reverse=True)]
AREAS = [c.value for c in Category]
PHASES = [p.value for p in Phase]
#: SLA ageing buckets: (label, minimum age in days); a finding falls in the last one it reaches.
AGE_BUCKETS: tuple[tuple[str, int], ...] = (("0-7d", 0), ("8-30d", 8), ("31-90d", 31), (">90d", 91))
#: How many groups of each dimension a report lists (the riskiest).
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
    """One source's newest run; ``name`` is what people call it (its label, else its identity)."""

    kind: str
    name: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    identity: str = ""


@dataclass(frozen=True)
class GroupRisk:
    """One team, namespace or NIST area as the latest score snapshot rolled it up (docs/scoring.md)."""

    name: str
    score: float
    grade: str
    open: int
    critical: int
    high: int
    max_risk: int

    def figures(self) -> list[str]:
        """The cells after the name, in :data:`GROUP_COLUMNS` order (the text and Markdown tables)."""
        return [
            f"{self.score:g}",
            self.grade,
            f"{self.open:,}",
            f"{self.critical:,}",
            f"{self.high:,}",
            str(self.max_risk),
        ]


#: Column headers of a risk-by-group table: the name, then :meth:`GroupRisk.figures`.
GROUP_COLUMNS = ["name", "score", "grade", "open", "critical", "high", "max risk"]
#: The positions of :data:`GROUP_COLUMNS` holding numbers (right-aligned in every format).
GROUP_NUMERIC = frozenset({1, 3, 4, 5, 6})


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
    by_area: list[GroupRisk] = field(default_factory=list)

    def group_sections(self) -> list[tuple[str, list[GroupRisk]]]:
        """Every report lists these three, titled alike."""
        return [
            ("Risk by team", self.by_team),
            ("Risk by namespace", self.by_namespace),
            ("Risk by NIST SP 800-190 area", self.by_area),
        ]


def load_overview(session: Session, now: datetime, *, groups: bool = False, top: int = 10) -> Overview:
    """Everything; ``groups`` adds risk by team, namespace and NIST area from the latest snapshot (reports)."""
    overview = Overview(load_headline(session, now, top=top), load_counts(session, now))
    if groups:
        latest = latest_snapshots(session, 1)
        snapshot = latest[0]["counts"] if latest else None
        overview.by_team = snapshot_groups(snapshot, "team")
        overview.by_namespace = snapshot_groups(snapshot, "namespace")
        overview.by_area = snapshot_groups(snapshot, "category")
    return overview


def snapshot_groups(snapshot: Mapping[str, Any] | None, dimension: str) -> list[GroupRisk]:
    """The groups of one dimension of a snapshot's ``counts``, riskiest first (lowest score, worst risk).

    A snapshot written before a dimension existed, or by a test, may lack it: that is no group.
    """
    groups = (snapshot or {}).get("groups", {}).get(dimension, {})
    out = [
        GroupRisk(
            str(name),
            float(g.get("score", 100.0)),
            str(g.get("grade", "")),
            int(g.get("open", 0)),
            int(g.get("severities", {}).get(Severity.CRITICAL.value, 0)),
            int(g.get("severities", {}).get(Severity.HIGH.value, 0)),
            int(g.get("max_risk", 0)),
        )
        for name, g in groups.items()
        if isinstance(g, Mapping)
    ]
    return sorted(out, key=lambda g: (g.score, -g.max_risk, g.name))


def load_headline(session: Session, now: datetime, *, top: int = 10, trend: int = 30) -> Headline:
    runs = latest_runs(session)
    health = [
        SourceHealth(
            r["scope_kind"],
            r["scope_label"] or r["scope_name"],
            r["status"],
            r["started_at"],
            r["finished_at"],
            r["error"],
            r["scope_name"],
        )
        for r in runs
    ]
    change_counts, changes = run_changes(session, [r["id"] for r in runs if r["status"] != "running"], limit=top)
    return Headline(now, _trend(session, trend), _top(session, top), change_counts, changes, health)


def load_counts(session: Session, now: datetime) -> Counts:
    """Every count of the overview from one pass over the ``ix_finding_counts`` covering index, grouped
    in its order (a few hundred rows back); the ageing buckets as running sums, not a grouped CASE,
    so no row is sorted: 40 ms instead of 200 on 100,000 findings, before the overview can paint."""
    boundaries = [(label, now - timedelta(days=days)) for label, days in AGE_BUCKETS[1:]]
    older = [func.sum(case((F.first_seen <= since, 1), else_=0)) for _label, since in boundaries]
    out = Counts(
        by_severity=dict.fromkeys(SEVERITIES, 0),
        by_area=dict.fromkeys(AREAS, 0),
        by_phase=dict.fromkeys(PHASES, 0),
        ageing={s: dict.fromkeys((label for label, _ in AGE_BUCKETS), 0) for s in SEVERITIES},
    )
    stmt = (
        select(F.status, F.severity, F.category, F.phase, func.count(), *older)
        .where(F.status.in_((_OPEN, FindingStatus.ACCEPTED.value)))
        .group_by(F.status, F.severity, F.category, F.phase)
    )
    for status, severity, category, phase, count, *at_least in session.execute(stmt):
        if status != _OPEN:
            out.accepted += count
            continue
        out.by_severity[severity] = out.by_severity.get(severity, 0) + count
        out.by_area[category] = out.by_area.get(category, 0) + count
        out.by_phase[phase] = out.by_phase.get(phase, 0) + count
        ages = out.ageing.setdefault(severity, {})
        # at_least[i]: first seen at least AGE_BUCKETS[i + 1] days ago; each bucket is the difference.
        bounds = [count, *(int(n or 0) for n in at_least), 0]
        for i, (label, _days) in enumerate(AGE_BUCKETS):
            ages[label] = ages.get(label, 0) + bounds[i] - bounds[i + 1]
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
