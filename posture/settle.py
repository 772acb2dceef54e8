"""Changes made outside a collection run (an exception accepted, revoked or expired; exploitability
data loaded) settle the way a run's do: the estate is re-scored at once, so the score, the summary and
the trend move now rather than after the next run, and what reopened or regressed is announced."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from posture.config import Settings
from posture.notify.outbox import OutboxWriter
from posture.store.history import FindingChange
from posture.store.scoring import ScoringOutcome, ScoringSettings, score_estate


def settle(session: Session, settings: Settings, now: datetime,
           changes: Sequence[FindingChange] = ()) -> ScoringOutcome:
    """Re-score, write a score snapshot and queue the announcements, in the caller's transaction."""
    outcome = score_estate(session, run_id=None, now=now, changes=changes,
                           settings=ScoringSettings.of(settings))
    OutboxWriter(settings).write_changes(session, [*changes, *outcome.regressions], outcome, now)
    return outcome
