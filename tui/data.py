"""The TUI's one door to the store: short read sessions per call, and the one write (accept a risk).

Every method blocks on the database, so screens call them from thread workers only. A method
opens its own session, so calls from two workers at once never share a connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from posture.acceptance import Acceptance, Scope
from posture.db import read_session, write_session
from posture.model import finding_table
from posture.reports.overview import Counts, Headline, load_counts, load_headline
from posture.rules.base import RuleRegistry
from posture.store import diff, estate_queries, tui_queries
from posture.store.estate_queries import EstateIndex, Trace
from posture.store.exceptions import create_exception
from posture.store.queries import FindingFilter
from posture.store.tui_queries import FindingRow

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class AcceptRequest:
    """What the operator typed in the accept-risk form; ``scope`` is ``finding``, ``rule`` or ``asset``."""

    finding_id: int
    rule_id: str
    asset_key: str
    scope: str
    reason: str
    owner: str
    expires_at: datetime | None


class Store:
    def __init__(self, engine: Engine, registry: RuleRegistry, clock: Clock) -> None:
        self.engine = engine
        self.registry = registry
        self.clock = clock

    # -- overview and findings ------------------------------------------------------------------
    def headline(self) -> Headline:
        with read_session(self.engine) as session:
            return load_headline(session, self.clock())

    def counts(self) -> Counts:
        with read_session(self.engine) as session:
            return load_counts(session, self.clock())

    def count(self, flt: FindingFilter) -> int:
        with read_session(self.engine) as session:
            return tui_queries.count_matching(session, flt)

    def page(
        self,
        flt: FindingFilter,
        order: str,
        limit: int,
        *,
        after: tuple[Any, ...] | None = None,
        offset: int = 0,
        reverse: bool = False,
    ) -> list[FindingRow]:
        with read_session(self.engine) as session:
            return tui_queries.finding_page(session, flt, order, limit, after=after, offset=offset, reverse=reverse)

    def finding(self, finding_id: int) -> dict[str, Any] | None:
        """The finding in full, its history and the remediation its rule gives."""
        with read_session(self.engine) as session:
            detail = tui_queries.finding_detail(session, finding_id)
            if detail is None:
                return None
            detail["history"] = tui_queries.finding_history(session, finding_id)
        rule = self.registry.get(detail["rule_id"]) if detail["rule_id"] in self.registry else None
        detail["remediation"] = rule.remediation if rule else None
        detail["rule_title"] = rule.title if rule else None
        return detail

    # -- estate ---------------------------------------------------------------------------------
    def estate(self) -> EstateIndex:
        with read_session(self.engine) as session:
            return estate_queries.load_estate(session)

    def asset(self, asset_id: int) -> dict[str, Any] | None:
        with read_session(self.engine) as session:
            return estate_queries.asset_detail(session, asset_id)

    def images(self, text: str | None = None) -> list[dict[str, Any]]:
        with read_session(self.engine) as session:
            return estate_queries.image_choices(session, text)

    def trace(self, image_id: int) -> Trace | None:
        with read_session(self.engine) as session:
            return estate_queries.lifecycle_trace(session, image_id)

    # -- history --------------------------------------------------------------------------------
    def runs(self) -> list[Any]:
        with read_session(self.engine) as session:
            return list(diff.recent_runs(session, limit=200))

    def diff(self, from_run: int | None) -> tuple[diff.Window, list[diff.DiffRow], list[str]]:
        """From ``from_run`` (default: the previous run of the newest run's source) to the newest run,
        with what the window's runs said about findings they kept open."""
        with read_session(self.engine) as session:
            window = diff.run_window(session, from_run, None)
            return window, diff.load_diff(session, window), diff.window_notes(session, window)

    # -- the one write --------------------------------------------------------------------------
    def accept_risk(self, request: AcceptRequest) -> int:
        """Write the exception; returns how many open findings it accepted."""
        scope = Scope(
            rule_id=request.rule_id if request.scope in ("finding", "rule") else None,
            asset=request.asset_key if request.scope in ("finding", "asset") else None,
        )
        acceptance = Acceptance(scope, request.reason, request.owner, "tui", expires_at=request.expires_at)
        with write_session(self.engine) as session:
            exc_id = create_exception(session, acceptance, self.clock())
            covered = session.execute(
                select(func.count()).select_from(finding_table).where(finding_table.c.exception_id == exc_id)
            ).scalar_one()
        return int(covered)
