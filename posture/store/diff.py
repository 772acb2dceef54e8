"""Loading a diff window from history: which runs bound it, its events, and each finding's labels.

Three queries whatever the window's size (events, states before it, labels), each with a subquery
instead of a list of ids, so a baseline run of 100,000 new findings diffs in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlmodel import Session

from posture.coverage import describe
from posture.diff import STATE_AFTER, Before, Entry, classify
from posture.errors import StoreFailure
from posture.gcpause import gc_paused
from posture.model import asset_table, finding_event_table, finding_table, run_table, scope_table
from posture.records import source_name
from posture.store.assets import chunks
from posture.store.exceptions import ExceptionDetail, exception_details, exception_json, until_text
from posture.store.raw import run_raw

E = finding_event_table.c
F = finding_table.c
R = run_table.c


class WindowError(StoreFailure, ValueError):
    """A run id that does not exist or is not finished, or an empty history."""


@dataclass(frozen=True)
class Window:
    since: datetime | None  # None: from the beginning of history
    until: datetime
    label: str
    from_run: int | None = None
    to_run: int | None = None


class Resolver(NamedTuple):
    """The run that resolved a finding, its source and what it covered (so a reader can judge the resolution)."""

    run_id: int
    source: str
    coverage: dict[str, Any]

    def describe(self) -> str:
        return f"run {self.run_id} ({describe(self.coverage)})"

    def as_json(self) -> dict[str, Any]:
        return {"run": self.run_id, "source": self.source, "coverage": self.coverage}


class DiffRow(NamedTuple):
    entry: Entry
    fingerprint: str
    rule_id: str
    title: str
    asset_name: str
    asset_kind: str
    resolver: Resolver | None = None
    #: The exception a change of acceptance is about (accepted, expired, revoked): who, why, until when.
    exception: ExceptionDetail | None = None

    def why(self) -> str:
        """One line saying what caused the change, when the diff knows: the resolving run, or the
        exception (``exception 4 by alice: no fix upstream; until-fix``; who revoked it, when revoked)."""
        if self.resolver is not None:
            return self.resolver.describe()
        exc = self.exception
        if exc is None:
            return ""
        text = f"exception {exc['id']} by {exc['owner']}: {exc['reason']}"
        if self.entry.change == "exception-revoked" and exc["revoked_by"]:
            return f"{text}; revoked by {exc['revoked_by']}"
        if self.entry.change == "exception-expired":
            return f"{text}; expired"
        until = until_text(exc)
        return f"{text}; " + {"never": "no expiry", "until-fix": "until a fix exists"}.get(until, f"until {until}")

    def as_json(self) -> dict[str, Any]:
        e = self.entry
        return {
            "change": e.change,
            "finding_id": e.finding_id,
            "fingerprint": self.fingerprint,
            "rule_id": self.rule_id,
            "title": self.title,
            "asset": self.asset_name,
            "asset_kind": self.asset_kind,
            "severity": e.severity,
            "risk": e.risk,
            "previous_severity": e.previous_severity,
            "previous_risk": e.previous_risk,
            **({"resolved_by": self.resolver.as_json()} if self.resolver else {}),
            **({"exception": exception_json(self.exception)} if self.exception else {}),
        }


def _run(session: Session, run_id: int) -> Any:
    row = session.execute(
        select(R.id, R.scope_id, R.finished_at, scope_table.c.kind, scope_table.c.name, scope_table.c.label)
        .join(scope_table, scope_table.c.id == R.scope_id)
        .where(R.id == run_id)
    ).first()
    if row is None:
        raise WindowError(f"run {run_id} does not exist (see posture diff --runs)")
    if row.finished_at is None:
        raise WindowError(f"run {run_id} has not finished")
    return row


def _previous_run(session: Session, scope_id: int, before: datetime, not_id: int) -> Any:
    return session.execute(
        select(R.id, R.finished_at)
        .where(R.scope_id == scope_id, R.finished_at.is_not(None), R.finished_at <= before, R.id != not_id)
        .order_by(R.finished_at.desc(), R.id.desc())
        .limit(1)
    ).first()


def run_window(session: Session, from_run: int | None, to_run: int | None) -> Window:
    """From one run's end to another's; by default the last run against the previous run of its scope."""
    if to_run is None:
        latest = session.execute(
            select(R.id).where(R.finished_at.is_not(None)).order_by(R.finished_at.desc(), R.id.desc()).limit(1)
        ).scalar()
        if latest is None:
            raise WindowError("no finished collection run yet: run posture collect first")
        to_run = int(latest)
    end = _run(session, to_run)
    if from_run is None:
        previous = _previous_run(session, end.scope_id, end.finished_at, end.id)
        since = previous.finished_at if previous else None
        from_run = previous.id if previous else None
    else:
        start = _run(session, from_run)
        if start.finished_at > end.finished_at:
            raise WindowError(f"run {from_run} finished after run {to_run}: swap --from and --to")
        since = start.finished_at
    label = f"run {from_run} → run {to_run}" if from_run else f"beginning → run {to_run}"
    return Window(since, end.finished_at, f"{label} ({source_name(end.kind, end.name, end.label)})", from_run, to_run)


def diff_entries(session: Session, window: Window) -> list[Entry]:
    """The net change of every finding with events in the window (no labels: see :func:`label`)."""
    with gc_paused():  # up to one object per event of the window: bulk work (posture.gcpause)
        return _diff_entries(session, window)


def _in_window(window: Window) -> list[Any]:
    return [E.at <= window.until] + ([E.at > window.since] if window.since is not None else [])


def _diff_entries(session: Session, window: Window) -> list[Entry]:
    in_window = _in_window(window)
    rows = run_raw(
        session, select(E.finding_id, E.event, E.severity, E.risk, E.run_id).where(*in_window).order_by(E.at, E.id)
    )
    if not rows:
        return []
    before: dict[int, Before] = {}
    if window.since is not None:
        touched = select(E.finding_id).where(*in_window).distinct()
        state: dict[int, str] = {}
        earlier = run_raw(
            session,
            select(E.finding_id, E.event, E.severity, E.risk)
            .where(E.at <= window.since, E.finding_id.in_(touched))
            .order_by(E.at, E.id),
        )
        for fid, event, severity, risk in earlier:
            state[fid] = STATE_AFTER.get(event, state.get(fid, "open"))
            before[fid] = Before(state[fid], severity, risk)
    return classify(before, rows)


_LABEL_COLUMNS = (F.id, F.fingerprint, F.rule_id, F.title, asset_table.c.name, asset_table.c.kind)


def label(session: Session, entries: Sequence[Entry], window: Window) -> list[DiffRow]:
    """Entries with their finding's fingerprint, rule, title and asset, in the entries' order."""
    joined = select(*_LABEL_COLUMNS).join(asset_table, asset_table.c.id == F.asset_id)
    labels: dict[int, Any] = {}
    for part in chunks(sorted({e.finding_id for e in entries}), 900):
        labels.update((r[0], r) for r in run_raw(session, joined.where(F.id.in_(part))))
    return _labelled(entries, labels, _resolvers(session, entries), _exceptions(session, entries, window))


def _labelled(entries: Sequence[Entry], labels: dict[int, Any], resolvers: dict[int, Resolver],
              exceptions: dict[int, ExceptionDetail]) -> list[DiffRow]:
    out: list[DiffRow] = []
    for e in entries:
        found = labels.get(e.finding_id)
        if found is not None:
            resolver = resolvers.get(e.run_id) if e.change == "resolved" and e.run_id is not None else None
            out.append(DiffRow(e, found[1], found[2], found[3], found[4], found[5], resolver,
                               exceptions.get(e.finding_id)))
    return out


#: The changes an exception explains.
EXCEPTION_CHANGES = ("accepted", "exception-expired", "exception-revoked")


def _exceptions(session: Session, entries: Sequence[Entry], window: Window) -> dict[int, ExceptionDetail]:
    """Finding id → the exception its change of acceptance is about: the one its window's last event
    of that change names (an ``accepted`` event recorded before events named theirs: the finding's
    exception now)."""
    change = {e.finding_id: e.change for e in entries if e.change in EXCEPTION_CHANGES}
    named: dict[int, int] = {}
    for part in chunks(sorted(change), 900):
        stmt = (
            select(E.finding_id, E.event, E.detail, F.exception_id)
            .join(finding_table, F.id == E.finding_id)
            .where(E.finding_id.in_(part), E.event.in_(EXCEPTION_CHANGES), *_in_window(window))
            .order_by(E.at, E.id)
        )
        for fid, event, detail, current in session.execute(stmt):
            exc_id = (detail or {}).get("exception") or (current if event == "accepted" else None)
            if event == change[fid] and isinstance(exc_id, int):
                named[fid] = exc_id
    details = exception_details(session, set(named.values()))
    return {fid: details[exc_id] for fid, exc_id in named.items() if exc_id in details}


def _resolvers(session: Session, entries: Sequence[Entry]) -> dict[int, Resolver]:
    """The runs that resolved the window's resolved findings (a few runs, however many findings)."""
    ids = sorted({e.run_id for e in entries if e.change == "resolved" and e.run_id is not None})
    found: dict[int, Resolver] = {}
    for part in chunks(ids, 900):
        stmt = (
            select(R.id, scope_table.c.kind, scope_table.c.name, scope_table.c.label, R.coverage)
            .join(scope_table, scope_table.c.id == R.scope_id)
            .where(R.id.in_(part))
        )
        for run_id, kind, name, label, coverage in session.execute(stmt):
            found[run_id] = Resolver(run_id, source_name(kind, name, label), dict(coverage or {}))
    return found


def window_notes(session: Session, window: Window) -> list[str]:
    """What the window's runs said about findings they kept open (outside their coverage, held by the
    guard, a new identity): one line each, oldest first, so a diff never reads as a silent all-clear."""
    stmt = (
        select(R.id, R.stats, scope_table.c.kind, scope_table.c.name, scope_table.c.label)
        .join(scope_table, scope_table.c.id == R.scope_id)
        .where(R.finished_at.is_not(None), R.finished_at <= window.until)
        .order_by(R.finished_at, R.id)
    )
    if window.since is not None:
        stmt = stmt.where(R.finished_at > window.since)
    return [
        f"run {run_id} ({source_name(kind, name, label)}): {note}"
        for run_id, stats, kind, name, label in session.execute(stmt)
        for note in (stats or {}).get("notes") or ()
    ]


def load_diff(session: Session, window: Window) -> list[DiffRow]:
    """Every net change of the window, labelled: the labels of every finding the window touched in one
    query (a subquery, not 100,000 ids in chunks)."""
    with gc_paused():
        entries = diff_entries(session, window)
        touched = select(E.finding_id).where(*_in_window(window))
        stmt = select(*_LABEL_COLUMNS).join(asset_table, asset_table.c.id == F.asset_id).where(F.id.in_(touched))
        return _labelled(entries, {r[0]: r for r in run_raw(session, stmt)}, _resolvers(session, entries),
                         _exceptions(session, entries, window))


def top(entries: Sequence[Entry], per_category: int) -> list[Entry]:
    """The riskiest ``per_category`` entries of each category (entries come sorted that way)."""
    seen: dict[str, int] = {}
    out = []
    for entry in entries:
        seen[entry.change] = seen.get(entry.change, 0) + 1
        if seen[entry.change] <= per_category:
            out.append(entry)
    return out


def recent_runs(session: Session, limit: int = 20) -> Sequence[Any]:
    """Finished runs, newest first, for choosing --from/--to."""
    stmt = (
        select(
            R.id, R.status, R.started_at, R.finished_at, scope_table.c.kind, scope_table.c.name, scope_table.c.label
        )
        .join(scope_table, scope_table.c.id == R.scope_id)
        .where(R.finished_at.is_not(None))
        .order_by(R.finished_at.desc(), R.id.desc())
        .limit(limit)
    )
    return session.execute(stmt).all()
