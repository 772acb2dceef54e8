"""What the Prometheus exposition reports, read from the store in a few cheap queries.

A scrape may come every few seconds from several Prometheus servers, so nothing here walks the wide
``finding`` rows: open and accepted findings are counted over the ``ix_finding_counts`` covering index,
team and cluster figures come from the latest score snapshot (scoring alone decides which team and
cluster an asset belongs to, so the metrics agree with ``posture score --by team``), source health
from the newest runs, and the outbox backlog from its ``status`` index (delivered rows are not counted).
Label sets stay bounded: severities, NIST areas, run and outbox states are closed sets; teams, clusters,
sources and channels are what the estate and the configuration name; no asset is ever a label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from posture.clock import as_utc
from posture.model import finding_table, outbox_table, run_table
from posture.store.queries import latest_runs
from posture.store.snapshots import latest_snapshots
from posture.taxonomy import Category, FindingStatus, RunStatus, Severity

F = finding_table.c
O = outbox_table.c  # noqa: E741 - the table's column namespace, as F is the finding's
#: Outbox states of a message not yet delivered (posture.notify.outbox); ``sent`` is history, not backlog.
BACKLOG_STATES: tuple[str, ...] = ("pending", "sending", "retry", "dead")
#: States whose oldest message says how long delivery has been waiting.
_WAITING = ("pending", "retry")
SEVERITIES: tuple[str, ...] = tuple(s.value for s in sorted(Severity, key=lambda s: s.rank, reverse=True))
AREAS: tuple[str, ...] = tuple(c.value for c in Category)
RUN_STATES: tuple[str, ...] = tuple(s.value for s in RunStatus)


@dataclass(frozen=True)
class GroupReading:
    """One team or cluster as the latest score snapshot rolled it up."""

    name: str
    score: float
    open_by_severity: Mapping[str, int]


@dataclass(frozen=True)
class SourceReading:
    """One source scope's newest run and its newest complete run (None when it never completed)."""

    kind: str
    identity: str
    name: str
    status: str
    duration_seconds: float | None
    last_complete: datetime | None


@dataclass(frozen=True)
class ScoreReading:
    score: float
    grade: str
    taken_at: datetime


@dataclass(frozen=True)
class Readings:
    """Everything one exposition shows, read at ``now``."""

    now: datetime
    open: Mapping[tuple[str, str], int]  # (severity, area) → open findings, every pair present
    accepted: Mapping[tuple[str, str], int]
    score: ScoreReading | None
    teams: list[GroupReading] = field(default_factory=list)
    clusters: list[GroupReading] = field(default_factory=list)
    sources: list[SourceReading] = field(default_factory=list)
    backlog: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (channel, state) → messages
    oldest_waiting: Mapping[str, datetime] = field(default_factory=dict)  # channel → oldest undelivered


def read_metrics(session: Session, now: datetime) -> Readings:
    """Every reading, from one read session (one consistent view on PostgreSQL; WAL readers on SQLite)."""
    opened, accepted = _finding_counts(session)
    latest = latest_snapshots(session, 1)
    snapshot = latest[0] if latest else None
    counts: Mapping[str, Any] = snapshot["counts"] if snapshot else {}
    backlog, oldest = _backlog(session)
    return Readings(
        now=now,
        open=opened,
        accepted=accepted,
        score=ScoreReading(float(snapshot["score"]), str(snapshot["grade"]), as_utc(snapshot["taken_at"]))
        if snapshot else None,
        teams=_groups(counts, "team"),
        clusters=_groups(counts, "cluster"),
        sources=_sources(session),
        backlog=backlog,
        oldest_waiting=oldest,
    )


def _finding_counts(session: Session) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
    """Open and accepted findings per (severity, area): one GROUP BY answered from ``ix_finding_counts``."""
    wanted = {FindingStatus.OPEN.value: _zeroes(), FindingStatus.ACCEPTED.value: _zeroes()}
    stmt = (
        select(F.status, F.severity, F.category, func.count())
        .where(F.status.in_(tuple(wanted)))
        .group_by(F.status, F.severity, F.category)
    )
    for status, severity, category, count in session.execute(stmt):
        table = wanted[status]
        table[(severity, category)] = table.get((severity, category), 0) + int(count)
    return wanted[FindingStatus.OPEN.value], wanted[FindingStatus.ACCEPTED.value]


def _zeroes() -> dict[tuple[str, str], int]:
    """Every (severity, area) at zero, so a series never vanishes when its last finding is resolved."""
    return {(severity, area): 0 for severity in SEVERITIES for area in AREAS}


def _groups(counts: Mapping[str, Any], dimension: str) -> list[GroupReading]:
    """The groups of one dimension of a snapshot; a snapshot without that dimension has none."""
    groups = counts.get("groups", {}).get(dimension, {})
    out = []
    for name, group in sorted(groups.items()):
        if not isinstance(group, Mapping):
            continue
        severities = group.get("severities", {})
        out.append(GroupReading(str(name), float(group.get("score", 100.0)),
                                {s: int(severities.get(s, 0)) for s in SEVERITIES}))
    return out


def _sources(session: Session) -> list[SourceReading]:
    """Each scope's newest run, and when its newest complete run finished (one grouped query over runs)."""
    R = run_table.c
    newest_complete = (
        select(R.scope_id, func.max(R.finished_at)).where(R.status == RunStatus.COMPLETE.value).group_by(R.scope_id)
    )
    complete = {scope_id: finished for scope_id, finished in session.execute(newest_complete)}
    out = []
    for run in latest_runs(session):
        started, finished = as_utc(run["started_at"]), run["finished_at"]
        out.append(SourceReading(
            kind=run["scope_kind"],
            identity=run["scope_name"],
            name=run["scope_label"] or run["scope_name"],
            status=run["status"],
            duration_seconds=None if finished is None else (as_utc(finished) - started).total_seconds(),
            last_complete=None if complete.get(run["scope_id"]) is None else as_utc(complete[run["scope_id"]]),
        ))
    return out


def _backlog(session: Session) -> tuple[dict[tuple[str, str], int], dict[str, datetime]]:
    """Undelivered outbox messages per (channel, state), and each channel's oldest waiting one."""
    stmt = (
        select(O.channel, O.status, func.count(), func.min(O.created_at))
        .where(O.status.in_(BACKLOG_STATES))
        .group_by(O.channel, O.status)
    )
    backlog: dict[tuple[str, str], int] = {}
    oldest: dict[str, datetime] = {}
    for channel, status, count, first in session.execute(stmt):
        backlog[(channel, status)] = int(count)
        if status in _WAITING and first is not None:
            created = as_utc(first)
            oldest[channel] = min(created, oldest.get(channel, created))
    return backlog, oldest

