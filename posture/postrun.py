"""What runs inside each collection's write transaction after its findings are reconciled: the
findings derived from the whole store (held vulnerabilities), scoring, then the notification outbox,
in that order (scoring scores the derived findings too; the outbox announces scored risks and reads
the snapshot scoring just wrote). All commit with the findings or not at all."""

from __future__ import annotations

from sqlmodel import Session

from posture.config import Settings
from posture.notify.outbox import OutboxWriter
from posture.pipeline import AfterReconcile, RunResult
from posture.store.held_vulns import TRIGGERS, reconcile_held
from posture.store.scoring import ScoringOutcome, ScoringSettings, score_estate
from posture.taxonomy import RunStatus


def held_vulns_hook(session: Session, result: RunResult) -> None:
    """NIST 3.2.2 across sources: re-derived after every registry or report run (its two inputs)."""
    if result.scope.startswith(TRIGGERS):
        complete = result.status is RunStatus.COMPLETE
        result.changes.extend(
            reconcile_held(session, run_id=result.run_id, complete=complete, now=result.finished_at)
        )


class ScoringHook:
    """Re-scores the estate; risk regressions join the run's changes for the outbox."""

    def __init__(self, settings: ScoringSettings) -> None:
        self.settings = settings
        self.outcomes: dict[int, ScoringOutcome] = {}

    def __call__(self, session: Session, result: RunResult) -> None:
        outcome = score_estate(
            session, run_id=result.run_id, now=result.finished_at, settings=self.settings,
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
            coverage=result.coverage,
            changes=result.changes,
            outcome=outcome,
            now=result.finished_at,
        )


def post_run_hooks(settings: Settings, queued: list[str] | None = None) -> list[AfterReconcile]:
    """``queued``: receives one line per channel and run saying what the outbox queued, or why nothing."""
    scoring = ScoringHook(ScoringSettings(settings.team_label, settings.thresholds.regression_delta))
    return [held_vulns_hook, scoring, OutboxHook(OutboxWriter(settings, queued), scoring)]
