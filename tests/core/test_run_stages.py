"""The stages after reconcile (posture.run_stages): which runs re-derive held vulnerabilities is decided
on the kind of their source scope, never on how the scope is shown."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from posture.db import write_session
from posture.records import ScopeKind, ScopeRef
from posture.run_stages import Reconciled, held_vulnerabilities
from posture.taxonomy import RunStatus

TRIGGERING = {ScopeKind.REGISTRY, ScopeKind.REPORT, ScopeKind.KUBERNETES}


def _run(scope: ScopeRef, status: RunStatus = RunStatus.COMPLETE) -> Reconciled:
    return Reconciled(scope=scope, run_id=7, status=status, first_run=False,
                      finished_at=datetime(2025, 5, 1, tzinfo=UTC), coverage={}, changes=())


@pytest.mark.parametrize("kind", list(ScopeKind))
def test_held_vulnerabilities_follow_a_run_of_a_source_of_their_inputs_only(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch, kind: ScopeKind
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("posture.run_stages.reconcile_held", lambda session, **kw: calls.append(kw) or [])
    # labelled like another kind of source: the label is for people, the kind decides
    scope = ScopeRef(kind, "x", label="registry:reg.example" if kind is ScopeKind.DOCKER else "docker:host")
    with write_session(sqlite_engine) as session:
        held_vulnerabilities(session, _run(scope))
        held_vulnerabilities(session, _run(scope, RunStatus.PARTIAL))
    expected = [{"run_id": 7, "complete": True, "now": datetime(2025, 5, 1, tzinfo=UTC)},
                {"run_id": 7, "complete": False, "now": datetime(2025, 5, 1, tzinfo=UTC)}]
    assert calls == (expected if kind in TRIGGERING else [])
