"""The TUI's one door to the store: short read sessions per call, and the two writes (accept a risk, revoke one).

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
from sqlmodel import Session

from posture.acceptance import Acceptance, Reach
from posture.config import Settings
from posture.db import read_session, write_session
from posture.model import finding_table
from posture.reports.overview import Counts, Headline, load_counts, load_headline
from posture.rules.base import RuleRegistry
from posture.settle import settle
from posture.store import diff, estate_queries, tui_queries
from posture.store.detail_models import AssetDetail, FindingDetail, FindingEventRow, ImageChoice
from posture.store.estate_queries import EstateIndex, Trace
from posture.store.exception_list import list_exceptions
from posture.store.exceptions import create_exception, revoke_exception, would_cover
from posture.store.queries import FindingFilter
from posture.store.tui_queries import CoveredRow, FindingRow

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class AcceptRequest:
    """What the operator chose in the accept-risk form: the scope, why, who, and until when (a date or a fix)."""

    scope: Reach
    reason: str
    owner: str
    expires_at: datetime | None
    until_fix: bool = False


class FindingView(FindingDetail):
    """A finding's detail with its history and what its rule says to do (None: the rule is not installed)."""

    history: list[FindingEventRow]
    remediation: str | None
    rule_title: str | None


@dataclass(frozen=True)
class Preview:
    """What a scope would accept now: how many open findings, and the first few of them."""

    count: int
    first: list[CoveredRow]


@dataclass(frozen=True)
class ExceptionRow:
    """One exception in force, as the exceptions screen lists it."""

    id: int
    scope: Reach
    reason: str
    owner: str
    source: str
    origin: str
    created_at: datetime
    expires_at: datetime | None
    until_fix: bool
    covered: int


class Store:
    """``notify``: the settings an accepted or revoked risk settles with (team key, channels to announce to)."""

    def __init__(self, engine: Engine, registry: RuleRegistry, clock: Clock,
                 notify: Settings | None = None) -> None:
        self.engine = engine
        self.registry = registry
        self.clock = clock
        self.notify = notify or Settings()

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

    def finding(self, finding_id: int) -> FindingView | None:
        """The finding in full, its history and the remediation its rule gives."""
        with read_session(self.engine) as session:
            detail = tui_queries.finding_detail(session, finding_id)
            if detail is None:
                return None
            history = tui_queries.finding_history(session, finding_id)
        rule = self.registry.get(detail["rule_id"]) if detail["rule_id"] in self.registry else None
        return {
            **detail,
            "history": history,
            "remediation": rule.remediation if rule else None,
            "rule_title": rule.title if rule else None,
        }

    # -- estate ---------------------------------------------------------------------------------
    def estate(self) -> EstateIndex:
        with read_session(self.engine) as session:
            return estate_queries.load_estate(session)

    def asset(self, asset_id: int) -> AssetDetail | None:
        with read_session(self.engine) as session:
            return estate_queries.asset_detail(session, asset_id)

    def images(self, text: str | None = None) -> list[ImageChoice]:
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

    # -- accepted risks ------------------------------------------------------------------------
    def preview(self, scope: Reach, until_fix: bool, limit: int = 5) -> Preview:
        """The open findings an exception of ``scope`` would accept now (the dialog shows them before saving)."""
        with read_session(self.engine) as session:
            ids = would_cover(session, scope, until_fix)
            return Preview(len(ids), tui_queries.covered_rows(session, ids, limit))

    def exceptions(self) -> list[ExceptionRow]:
        """The exceptions in force now, newest first, each with the findings it accepts now."""
        with read_session(self.engine) as session:
            listed = list_exceptions(session, self.clock())
        listed.sort(key=lambda x: (x.created_at, x.id), reverse=True)
        return [
            ExceptionRow(x.id, x.acceptance.scope, x.acceptance.reason, x.acceptance.owner, x.acceptance.source,
                         x.acceptance.origin, x.created_at, x.acceptance.expires_at, x.acceptance.until_fix, x.covers)
            for x in listed
        ]

    def accept_risk(self, request: AcceptRequest) -> int:
        """Write the exception (source ``tui``); returns how many open findings it accepted."""
        acceptance = Acceptance(request.scope, request.reason, request.owner, "tui",
                                expires_at=request.expires_at, until_fix=request.until_fix)
        now = self.clock()
        with write_session(self.engine) as session:
            exc_id = create_exception(session, acceptance, now, self.notify.team_label)
            settle(session, self.notify, now)  # the overview's score and summary move now
            return _held(session, exc_id)

    def revoke(self, exception_id: int) -> int:
        """End an exception now; returns how many findings reopened (others stay accepted by another one)."""
        now = self.clock()
        with write_session(self.engine) as session:
            reopened = revoke_exception(session, exception_id, "tui", now, self.notify.team_label)
            settle(session, self.notify, now, reopened)
            return len(reopened)


def _held(session: Session, exc_id: int) -> int:
    """How many findings ``exc_id`` accepts."""
    F = finding_table.c
    return int(session.execute(select(func.count()).select_from(finding_table).where(F.exception_id == exc_id))
               .scalar_one())
