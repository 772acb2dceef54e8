"""The transactional outbox: what each channel must hear, written with the changes it announces.

Rows are written inside the collection's write transaction (its last stage after reconcile,
:mod:`posture.run_stages`), so a change is committed if and only if its announcement is; delivery happens after commit
(:mod:`posture.notify.deliver`). The table's unique (channel, event, subject) makes every write
idempotent: the subject is the finding's fingerprint (or a scope key), so each (fingerprint, event)
reaches a channel once, whichever process, run or retry enqueues it.

Some events are derived from durable state rather than from one run's changes (a collector failing
twice in a row, an exception about to expire): :func:`sweep_rows` computes them and may run any
number of times (after a reconcile, and before every delivery, which catches failed runs: the
pipeline records those without a transaction to hook into).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from posture.acceptance import Reach, silences_new
from posture.config import Settings
from posture.coverage import describe
from posture.model import (
    asset_table,
    exception_table,
    finding_table,
    outbox_table,
    run_table,
    scope_table,
    score_table,
)
from posture.notify.policy import (
    EXCEPTION_ENDINGS,
    FINDING_EVENTS,
    Route,
    Subject,
    channels_for,
    describe_bar,
    finding_detail,
    meets_bar,
    queue_line,
    route_matches,
    scope_label,
)
from posture.records import ScopeRef, source_name
from posture.rules import default_registry
from posture.scoring.estate import DIMENSIONS
from posture.scoring.rollup import band_of
from posture.secretkey import installation_key
from posture.store.exceptions import ExceptionDetail, exception_details, scope_of
from posture.store.history import FindingChange
from posture.store.scoring import ScoringOutcome
from posture.taxonomy import FindingStatus, RunStatus, Severity

PENDING, SENDING, RETRY, SENT, DEAD = "pending", "sending", "retry", "sent", "dead"
_BAD = (RunStatus.PARTIAL.value, RunStatus.FAILED.value)
#: Which roll-up dimension a source scope's name stands for, so scope filters route collector alerts.
_SCOPE_DIMENSION = {"kubernetes": "cluster", "docker": "host", "registry": "registry"}


def enqueue(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows, skipping any (channel, event, subject) already there: never a repeat."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        stmt: Any = sqlite_insert(outbox_table).on_conflict_do_nothing(index_elements=["channel", "event", "subject"])
    elif dialect == "postgresql":
        stmt = pg_insert(outbox_table).on_conflict_do_nothing(index_elements=["channel", "event", "subject"])
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported (posture.db)
        stmt = insert(outbox_table)
    session.execute(stmt, list(rows))


def _short(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class OutboxWriter:
    """Turns a run's changes, its score snapshot and the store's state into outbox rows per channel."""

    def __init__(self, settings: Settings, queued: list[str] | None = None) -> None:
        """``queued``: where each run's one line per channel goes (what was queued, or why nothing was)."""
        self.settings = settings
        self.routes: tuple[Route, ...] = settings.effective_routes()
        self.queued = queued
        self._remediation: dict[str, str] | None = None

    def remediation(self, rule_id: str) -> str | None:
        """The rule's remediation text (the rules Posture ships; a rule it does not know has none)."""
        if self._remediation is None:
            self._remediation = {r.id: r.remediation for r in default_registry()}
        return self._remediation.get(rule_id)

    def _ids(self, session: Session) -> dict[str, str]:
        key = installation_key(session)
        return {c.name: c.id(key) for c in self.settings.channels}

    def _row(self, channel: str, event: str, subject: str, run_id: int | None, payload: Mapping[str, Any],
             now: datetime) -> dict[str, Any]:
        return {"channel": channel, "event": event, "subject": subject[:256], "run_id": run_id,
                "payload": dict(payload), "status": PENDING, "attempts": 0, "created_at": now}

    # -- one run -----------------------------------------------------------------------------
    def write_run(self, session: Session, *, run_id: int, scope: ScopeRef, first_run: bool, status: str,
                  changes: Sequence[FindingChange], outcome: ScoringOutcome | None, now: datetime,
                  coverage: Mapping[str, Any] | None = None) -> int:
        """``coverage``: what the run judged; each resolution it announces says so. Messages name the
        ``scope`` as people see it (``str(scope)``, its label where it has one)."""
        if not self.settings.channels:
            return 0
        shown = str(scope)
        ids = self._ids(session)
        facts = _finding_facts(session, changes)
        exceptions = _exceptions_of(session, changes)
        if first_run:
            rows = self._baseline(session, run_id, shown, changes, outcome, ids, now, exceptions, facts)
        else:
            rows = self._changes(run_id, shown, status, changes, outcome, ids, now, exceptions, facts,
                                 coverage or {})
            if outcome is not None:
                rows += self._scope_risk(session, run_id, outcome, ids, now)
        rows += self.sweep_rows(session, now, ids, only_run=run_id)
        enqueue(session, rows)
        if self.queued is not None:
            source = scope_label(scope.kind.value, scope.label or scope.name) or shown
            self.queued += self._queue_lines(ids, rows, source, first_run, changes, outcome, exceptions)
        return len(rows)

    def _queue_lines(self, ids: Mapping[str, str], rows: Sequence[Mapping[str, Any]], source: str, first_run: bool,
                     changes: Sequence[FindingChange], outcome: ScoringOutcome | None,
                     exceptions: Mapping[int, ExceptionDetail]) -> list[str]:
        """One line per channel: the message queued for this run, or why there is none."""
        lines = []
        for name, channel_id in ids.items():
            counts = Counter(r["event"] for r in rows if r["channel"] == channel_id)
            findings = sum(int(r["payload"].get("matched", 1)) for r in rows
                           if r["channel"] == channel_id and r["event"] in (*FINDING_EVENTS, "baseline"))
            why = "" if counts else self._why_nothing(name, first_run, changes, outcome, exceptions)
            lines.append(queue_line(name, source, counts, findings, why))
        return lines

    def _why_nothing(self, channel: str, first_run: bool, changes: Sequence[FindingChange],
                     outcome: ScoringOutcome | None, exceptions: Mapping[int, ExceptionDetail]) -> str:
        """Why a channel hears nothing of a run: no change, none past its bar, or all outside its scope."""
        routes = [r for r in self.routes if r.channel == channel]
        events = {"new", "reopened"} if first_run else set(FINDING_EVENTS)
        heard = [c for c in changes if c.event in events and not _silenced(c, exceptions)
                 and any(c.event in r.events or first_run for r in routes)]
        if not heard:
            return "baseline only, nothing of its scope here" if first_run else "no change it listens for"
        past_bar = [(c, r) for c in heard for r in routes if meets_bar(r, c.severity, c.risk, self.settings.thresholds)]
        if not past_bar:
            bars = "; ".join(sorted({describe_bar(r, self.settings.thresholds) for r in routes}))
            return f"{len(heard)} change(s), none at or above its threshold ({bars})"
        scopes = "; ".join(sorted({", ".join(f"{k}={'|'.join(v)}" for k, v in r.scope.items()) for _, r in past_bar}))
        return f"{len({c.finding_id for c, _ in past_bar})} change(s) past its threshold, none in its scope ({scopes})"

    def write_changes(self, session: Session, changes: Sequence[FindingChange], outcome: ScoringOutcome | None,
                      now: datetime) -> int:
        """Changes outside a collection run (re-scoring after ``posture enrich``)."""
        if not self.settings.channels or not changes:
            return 0
        ids = self._ids(session)
        rows = self._changes(None, "", RunStatus.COMPLETE.value, changes, outcome, ids, now,
                             _exceptions_of(session, changes), _finding_facts(session, changes))
        enqueue(session, rows)
        return len(rows)

    def _changes(self, run_id: int | None, scope: str, status: str, changes: Sequence[FindingChange],
                 outcome: ScoringOutcome | None, ids: Mapping[str, str], now: datetime,
                 exceptions: Mapping[int, ExceptionDetail], facts: Mapping[int, Mapping[str, str]],
                 coverage: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """``exceptions``: finding id → the exception its event is about (:func:`_exceptions_of`)."""
        rows = []
        for change in changes:
            if change.event not in FINDING_EVENTS or _silenced(change, exceptions):
                continue
            if change.event == "resolved" and status != RunStatus.COMPLETE.value:
                continue  # never an all-clear from a run that did not see everything
            groups = outcome.groups_of(change.finding_id) if outcome else {}
            subject = Subject(change.event, change.severity, change.risk, groups)
            payload = _finding_payload(change, groups, scope, exceptions.get(change.finding_id),
                                       facts.get(change.finding_id), self.remediation(change.rule_id))
            if change.event == "resolved" and coverage is not None:
                payload["coverage"] = describe(coverage)
            key = change.fingerprint
            if change.event == "regressed":
                key = f"{change.fingerprint}@{change.severity}/{band_of(change.risk)}"
            elif change.event in EXCEPTION_ENDINGS:
                # Once per exception and finding: a finding whose next exception ends later is told again.
                key = f"{change.fingerprint}#exception:{change.detail.get('exception')}"
            for name in channels_for(self.routes, subject, self.settings.thresholds):
                rows.append(self._row(ids[name], change.event, key, run_id, payload, now))
        return rows

    def _baseline(self, session: Session, run_id: int, scope: str, changes: Sequence[FindingChange],
                  outcome: ScoringOutcome | None, ids: Mapping[str, str], now: datetime,
                  exceptions: Mapping[int, ExceptionDetail], facts: Mapping[int, Mapping[str, str]],
                  ) -> list[dict[str, Any]]:
        """First collection of a scope: at most one summary per channel, listing what it would have announced."""
        scope_id = session.execute(select(run_table.c.scope_id).where(run_table.c.id == run_id)).scalar_one()
        fresh = sorted((c for c in changes if c.event in ("new", "reopened") and not _silenced(c, exceptions)),
                       key=lambda c: (-c.risk, c.finding_id))
        rows = []
        for name, channel_id in ids.items():
            routes = [r for r in self.routes if r.channel == name and "baseline" in r.events]
            if not routes:
                continue
            matched: list[FindingChange] = []
            for change in fresh:
                groups = outcome.groups_of(change.finding_id) if outcome else {}
                subject = Subject("new", change.severity, change.risk, groups)
                if any(route_matches(Route(r.channel, FINDING_EVENTS, r.min_severity, r.min_risk, r.scope), subject,
                                     self.settings.thresholds) for r in routes):
                    matched.append(change)
            if not matched and all(r.scope for r in routes):
                continue  # a team channel hears nothing about a scope that holds nothing of theirs
            severities = {s.value: n for s in sorted(Severity, key=lambda s: -s.rank)
                          if (n := sum(1 for c in matched if c.severity == s.value))}
            top = [_finding_payload(c, outcome.groups_of(c.finding_id) if outcome else {}, scope,
                                    exceptions.get(c.finding_id), facts.get(c.finding_id),
                                    self.remediation(c.rule_id))
                   for c in matched[: self.settings.thresholds.top]]
            bar = " or ".join(sorted({describe_bar(r, self.settings.thresholds) for r in routes}))
            payload = {"scope": scope, "matched": len(matched), "severities": severities, "bar": bar, "top": top}
            rows.append(self._row(channel_id, "baseline", f"baseline:{scope_id}", run_id, payload, now))
        return rows

    def _scope_risk(self, session: Session, run_id: int, outcome: ScoringOutcome, ids: Mapping[str, str],
                    now: datetime) -> list[dict[str, Any]]:
        """Groups whose risk (100 − score) rose past the threshold since the previous snapshot."""
        S = score_table.c
        previous = session.execute(
            select(S.counts).where(S.run_id != run_id).order_by(S.taken_at.desc(), S.id.desc()).limit(1)
        ).scalar()
        if previous is None:
            return []
        threshold = self.settings.thresholds.scope_risk
        before_groups = previous.get("groups", {})
        rows = []
        for dim in DIMENSIONS:
            for key, now_summary in outcome.snapshot["groups"].get(dim, {}).items():
                old = before_groups.get(dim, {}).get(key, {}).get("risk", 0.0)
                new = now_summary["risk"]
                if not (old < threshold <= new):
                    continue
                payload = {"dimension": dim, "group": key, "risk": new, "previous_risk": old,
                           "score": now_summary["score"], "grade": now_summary["grade"], "threshold": threshold}
                subject = Subject("scope-risk", groups={dim: [key]})
                for name in channels_for(self.routes, subject, self.settings.thresholds):
                    rows.append(self._row(ids[name], "scope-risk", f"{dim}:{_short(key)}@{run_id}", run_id, payload,
                                          now))
        return rows

    # -- derived from state ------------------------------------------------------------------
    def sweep(self, session: Session, now: datetime) -> int:
        """Enqueue collector and exception alerts the store's state calls for (idempotent)."""
        if not self.settings.channels:
            return 0
        rows = self.sweep_rows(session, now, self._ids(session))
        enqueue(session, rows)
        return len(rows)

    def sweep_rows(self, session: Session, now: datetime, ids: Mapping[str, str],
                   only_run: int | None = None) -> list[dict[str, Any]]:
        rows = self._collector_rows(session, now, ids, only_run)
        if only_run is None:
            rows += self._expiring_rows(session, now, ids)
        return rows

    def _collector_rows(self, session: Session, now: datetime, ids: Mapping[str, str],
                        only_run: int | None) -> list[dict[str, Any]]:
        scopes = select(scope_table.c.id, scope_table.c.kind, scope_table.c.name, scope_table.c.label)
        if only_run is not None:
            scopes = scopes.where(scope_table.c.id == select(run_table.c.scope_id).where(
                run_table.c.id == only_run).scalar_subquery())
        rows = []
        for scope in session.execute(scopes).all():
            runs = session.execute(
                select(run_table.c.id, run_table.c.status, run_table.c.error)
                .where(run_table.c.scope_id == scope.id, run_table.c.finished_at.is_not(None))
                .order_by(run_table.c.finished_at.desc(), run_table.c.id.desc())
                .limit(50)
            ).all()
            streak = []
            for run in runs:
                if run.status not in _BAD:
                    break
                streak.append(run)
            if len(streak) < 2:
                continue
            name = source_name(scope.kind, scope.name, scope.label)
            payload = {"scope": name, "statuses": [r.status for r in streak[:2]][::-1], "runs": len(streak),
                       "error": streak[0].error}
            dim = _SCOPE_DIMENSION.get(scope.kind)
            subject = Subject("collector", groups={dim: [scope.label or scope.name]} if dim else {})
            for channel in channels_for(self.routes, subject, self.settings.thresholds):
                rows.append(self._row(ids[channel], "collector", f"scope:{scope.id}@{streak[-1].id}", streak[0].id,
                                      payload, now))
        return rows

    def _expiring_rows(self, session: Session, now: datetime, ids: Mapping[str, str]) -> list[dict[str, Any]]:
        X = exception_table.c
        horizon = now + timedelta(days=self.settings.thresholds.exception_warning_days)
        due = session.execute(
            select(exception_table).where(
                X.expired_at.is_(None), X.revoked_at.is_(None), X.expires_at.is_not(None), X.expires_at > now,
                X.expires_at <= horizon
            )
        ).all()
        rows = []
        for exc in due:
            payload = {"exception_id": exc.id, "covers": scope_of(exc).describe(), "reason": exc.reason,
                       "owner": exc.owner,
                       "expires_at": exc.expires_at.strftime("%Y-%m-%d %H:%M UTC")}
            subject = Subject("exception-expiring", groups={"namespace": [exc.namespace]} if exc.namespace else {})
            for channel in channels_for(self.routes, subject, self.settings.thresholds):
                rows.append(self._row(ids[channel], "exception-expiring",
                                      f"exception:{exc.id}@{exc.expires_at:%Y-%m-%dT%H:%M}", None, payload, now))
        return rows


#: Finding events that say a risk is there now: the ones an exception may have accepted already.
_ARRIVALS = ("new", "reopened")


def _exceptions_of(session: Session, changes: Sequence[FindingChange]) -> dict[int, ExceptionDetail]:
    """Finding id → the exception its event is about: for a new or reopened finding, the one that
    accepted it on arrival (if any); for an ending, the exception that ended (its history detail)."""
    named: dict[int, int] = {}
    for change in changes:
        exc_id = change.detail.get("exception")
        if change.event in EXCEPTION_ENDINGS and isinstance(exc_id, int):
            named[change.finding_id] = exc_id
    arrived = sorted({c.finding_id for c in changes if c.event in _ARRIVALS})
    F = finding_table.c
    for start in range(0, len(arrived), 500):
        accepted = select(F.id, F.exception_id).where(
            F.id.in_(arrived[start : start + 500]), F.exception_id.is_not(None),
            F.status == FindingStatus.ACCEPTED.value,
        )
        named.update({fid: exc_id for fid, exc_id in session.execute(accepted)})
    details = exception_details(session, set(named.values()))
    return {fid: details[exc_id] for fid, exc_id in named.items() if exc_id in details}


def _silenced(change: FindingChange, exceptions: Mapping[int, ExceptionDetail]) -> bool:
    """A risk that arrives already accepted by an exception naming it goes unannounced
    (:func:`posture.acceptance.silences_new` decides)."""
    exc = exceptions.get(change.finding_id)
    if change.event not in _ARRIVALS or exc is None:
        return False
    return silences_new(Reach(**exc["scope_fields"]), Severity(change.severity))


#: The roll-up dimensions a message line names (the asset's place and its owner).
_NAMED_GROUPS = ("team", "namespace", "cluster", "host", "registry")


def _finding_payload(change: FindingChange, groups: Mapping[str, Iterable[str]], scope: str,
                     exception: ExceptionDetail | None = None, facts: Mapping[str, str] | None = None,
                     remediation: str | None = None) -> dict[str, Any]:
    """``exception``: the one the event is about, named in the message (who, why, what it covers);
    ``facts``: :func:`_finding_facts`; ``remediation``: the rule's, whose first step the line gives."""
    facts = facts or {}
    payload: dict[str, Any] = {
        "finding_id": change.finding_id,
        "fingerprint": change.fingerprint,
        "rule_id": change.rule_id,
        "title": change.title,
        "asset": change.asset_name,
        "asset_kind": facts.get("asset_kind", ""),
        "detail": facts.get("detail", ""),
        "remediation": remediation,
        "severity": change.severity,
        "risk": change.risk,
        "scope": scope,
        "groups": {k: sorted(v)[:5] for k, v in groups.items() if k in _NAMED_GROUPS},
    }
    detail = change.detail
    if "previous_severity" in detail:
        payload["previous_severity"] = detail["previous_severity"]
    if "previous_risk" in detail:
        payload["previous_risk"] = detail["previous_risk"]
    if exception is not None:
        payload["exception"] = {k: exception[k] for k in ("id", "owner", "reason", "scope", "revoked_by")}
        payload["accepted"] = change.event in _ARRIVALS
    return payload


def _finding_facts(session: Session, changes: Sequence[FindingChange]) -> dict[int, dict[str, str]]:
    """Finding id → what its message line needs beyond the change itself: the asset's kind (how it is
    named to people) and the detail that tells it apart (:func:`posture.notify.policy.finding_detail`).
    Fills the asset name too, which resolution events do not carry."""
    ids = sorted({c.finding_id for c in changes if c.event in FINDING_EVENTS})
    facts: dict[int, dict[str, str]] = {}
    F, A = finding_table.c, asset_table.c
    for start in range(0, len(ids), 500):
        stmt = (
            select(F.id, F.discriminator, F.evidence, A.kind, A.name)
            .join(asset_table, A.id == F.asset_id)
            .where(F.id.in_(ids[start : start + 500]))
        )
        for row in session.execute(stmt):
            evidence = row.evidence if isinstance(row.evidence, Mapping) else {}
            facts[row.id] = {"asset_kind": row.kind, "asset": row.name,
                             "detail": finding_detail(row.discriminator or "", evidence)}
    for change in changes:
        if not change.asset_name and change.finding_id in facts:
            change.asset_name = facts[change.finding_id]["asset"]
    return facts
