"""What a collection run does after its findings are reconciled, inside the same write transaction:
held vulnerabilities (re-derived from the whole store) → scoring → the notification outbox, in that
order and no other. Scoring scores the derived findings too; the outbox announces the scored changes
and reads the snapshot scoring just wrote. All commit with the findings or not at all.

Each stage is given what it reads and returns what it adds; :meth:`RunStages.after_reconcile` is the
one place that orders them and hands one stage's output to the next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from posture.config import Settings
from posture.notify.outbox import OutboxWriter
from posture.records import ScopeRef
from posture.store.held_vulns import TRIGGERS, reconcile_held
from posture.store.history import FindingChange
from posture.store.scoring import ScoringSettings, score_estate
from posture.taxonomy import RunStatus


@dataclass(frozen=True, kw_only=True)
class Reconciled:
    """A run as the stages read it: its findings reconciled, its end recorded."""

    scope: ScopeRef
    run_id: int
    status: RunStatus
    first_run: bool
    #: When the run ended, as recorded: the stages date its events and snapshot with it (inside its diff window).
    finished_at: datetime
    #: What the run judged (:meth:`posture.coverage.Coverage.as_dict`); each resolution announced says so.
    coverage: Mapping[str, Any]
    #: The run's own changes: exceptions expired and stated, findings reconciled.
    changes: Sequence[FindingChange]


class RunStages:
    """The stages for every run of one command, configured once (the outbox keeps its caches between runs)."""

    def __init__(self, settings: Settings, queued: list[str] | None = None) -> None:
        """``queued``: receives one line per channel and run saying what the outbox queued, or why nothing."""
        self.scoring = ScoringSettings.of(settings)
        self.outbox = OutboxWriter(settings, queued)

    def after_reconcile(self, session: Session, run: Reconciled) -> list[FindingChange]:
        """Runs the stages in order; returns the changes they add to the run's: held findings', then risk
        regressions (the outbox announces the run's and these together)."""
        held = held_vulnerabilities(session, run)
        outcome = score_estate(
            session, run_id=run.run_id, now=run.finished_at, settings=self.scoring, changes=[*run.changes, *held]
        )
        added = [*held, *outcome.regressions]
        self.outbox.write_run(
            session,
            run_id=run.run_id,
            scope=run.scope,
            first_run=run.first_run,
            status=run.status.value,
            coverage=run.coverage,
            changes=[*run.changes, *added],
            outcome=outcome,
            now=run.finished_at,
        )
        return added


def held_vulnerabilities(session: Session, run: Reconciled) -> list[FindingChange]:
    """NIST 3.2.2 across sources: re-derived after every run of a source of its inputs (:data:`TRIGGERS`)."""
    if run.scope.kind not in TRIGGERS:
        return []
    return reconcile_held(session, run_id=run.run_id, complete=run.status is RunStatus.COMPLETE, now=run.finished_at)
