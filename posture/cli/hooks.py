"""What runs inside each collection's write transaction after its findings are reconciled."""

from __future__ import annotations

from posture.cli.context import AppContext
from posture.pipeline import AfterReconcile


def after_reconcile_hooks(app: AppContext) -> list[AfterReconcile]:
    """Scoring and the notification outbox plug in here (so they commit with the findings)."""
    return []
