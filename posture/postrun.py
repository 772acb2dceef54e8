"""What runs inside each collection's write transaction after its findings are reconciled: the
findings derived from the whole store (held vulnerabilities), scoring, then the notification outbox,
in that order (scoring scores the derived findings too; the outbox announces scored risks and reads
the snapshot scoring just wrote). All commit with the findings or not at all."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from posture.clock import utcnow
from posture.config import NotifySettings
from posture.model import run_table
from posture.notify.outbox import OutboxWriter
from posture.pipeline import AfterReconcile, RunResult
from posture.store.held_vulns import TRIGGERS, reconcile_held
from posture.store.scoring import ScoringOutcome, ScoringSettings, score_estate
from posture.taxonomy import RunStatus


def _finished_at(session: Session, run_id: int) -> datetime:
    """The run's own end time: events and the snapshot must fall inside that run's diff window."""
    found = session.execute(select(run_table.c.finished_at).where(run_table.c.id == run_id)).scalar()
    return found if isinstance(found, datetime) else utcnow()


def held_vulns_hook(session: Session, result: RunResult) -> None:
    """NIST 3.2.2 across sources: re-derived after every registry or report run (its two inputs)."""
    if result.scope.startswith(TRIGGERS):
        complete = result.status is RunStatus.COMPLETE
        now = _finished_at(session, result.run_id)
        result.changes.extend(reconcile_held(session, run_id=result.run_id, complete=complete, now=now))


class ScoringHook:
    """Re-scores the estate; risk regressions join the run's changes for the outbox."""

    def __init__(self, settings: ScoringSettings) -> None:
        self.settings = settings
        self.outcomes: dict[int, ScoringOutcome] = {}

    def __call__(self, session: Session, result: RunResult) -> None:
        outcome = score_estate(
            session, run_id=result.run_id, now=_finished_at(session, result.run_id), settings=self.settings,
            changes=result.changes,
        )
        result.changes.extend(outcome.regressions)
        self.outcomes[result.run_id] = outcome


class OutboxHook:
    def __init__(self, writer: OutboxWriter, scoring: ScoringHook | None) -> None:
        self.writer = writer
        self.scoring = scoring

    def __call__(self, session: Session, result: RunResult) -> None:
        outcome = self.scoring.outcomes.pop(result.run_id, None) if self.scoring else None
        self.writer.write_run(
            session,
            run_id=result.run_id,
            scope=result.scope,
            first_run=result.first_run,
            status=result.status.value,
            changes=result.changes,
            outcome=outcome,
            now=_finished_at(session, result.run_id),
        )


def post_run_hooks(settings: NotifySettings) -> list[AfterReconcile]:
    scoring = ScoringHook(ScoringSettings(settings.team_key, settings.thresholds.regression_delta))
    return [held_vulns_hook, scoring, OutboxHook(OutboxWriter(settings), scoring)]
