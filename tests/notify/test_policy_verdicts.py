"""Routing verdicts on both sides of each condition: which events are held to a finding bar, which a
route takes by default, the default bars, a finding without a risk, and scope filters.

A slip here is silent: a reopened low that skips ``min_severity`` pages the on-call, a missing
``scope-risk`` default never warns anyone, a flipped scope match sends one team's findings to another.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from posture.notify.policy import (
    EVENTS,
    Route,
    Subject,
    Thresholds,
    channels_for,
    describe_bar,
    in_scope,
    meets_bar,
    route_matches,
)
from posture.taxonomy import Severity

DOCS = Path(__file__).parents[2] / "docs"
#: Events about one finding: each is held to the route's severity/risk bar.
FINDING = {"new", "reopened", "regressed", "exception-expired", "exception-revoked", "resolved"}
#: Events about a source, a scope or an exception: no finding bar applies.
NOT_FINDING = {"collector", "scope-risk", "exception-expiring", "baseline"}
EVERY_EVENT = frozenset(EVENTS)


def test_the_events_are_exactly_these() -> None:
    assert set(EVENTS) == FINDING | NOT_FINDING and len(EVENTS) == len(FINDING | NOT_FINDING)


@pytest.mark.parametrize("event", sorted(FINDING))
def test_each_finding_event_is_held_to_the_bar(event: str) -> None:
    """A reopened (or regressed, or …) low is judged by ``min_severity`` like a new one."""
    route = Route("ops", events=EVERY_EVENT, min_severity=Severity.HIGH)
    assert not route_matches(route, Subject(event, "low", 100), Thresholds())
    assert route_matches(route, Subject(event, "high", 0), Thresholds())
    by_risk = Route("ops", events=EVERY_EVENT, min_risk=60)
    assert not route_matches(by_risk, Subject(event, "critical", 59), Thresholds())
    assert route_matches(by_risk, Subject(event, "info", 60), Thresholds())


@pytest.mark.parametrize("event", sorted(NOT_FINDING))
def test_other_events_are_not_held_to_a_finding_bar(event: str) -> None:
    route = Route("ops", events=EVERY_EVENT, min_severity=Severity.CRITICAL, min_risk=100)
    assert route_matches(route, Subject(event), Thresholds())


@pytest.mark.parametrize("event", EVENTS)
def test_a_route_takes_every_event_but_resolved_by_default(event: str) -> None:
    """``scope-risk`` among them: a default channel hears that a namespace's risk rose."""
    announced = route_matches(Route("d"), Subject(event, "critical", 100), Thresholds())
    assert announced is (event != "resolved")
    assert route_matches(Route("d", events=frozenset({event})), Subject(event, "critical", 100), Thresholds())
    others = frozenset(EVENTS) - {event}
    assert not route_matches(Route("d", events=others), Subject(event, "critical", 100), Thresholds())


def test_default_thresholds_are_the_documented_ones() -> None:
    defaults = Thresholds()
    assert (defaults.new_risk, defaults.new_severity) == (60, Severity.HIGH)
    assert (defaults.scope_risk, defaults.regression_delta) == (50.0, 10)
    assert (defaults.top, defaults.exception_warning_days) == (10, 7)
    notifications = (DOCS / "notifications.md").read_text(encoding="utf-8")
    scoring = " ".join((DOCS / "scoring.md").read_text(encoding="utf-8").split())
    assert re.search(rf"`min_risk` \(default `\[thresholds\] new_risk`, {defaults.new_risk}\)", notifications)
    assert f"`[thresholds] scope_risk` (default {defaults.scope_risk:g})" in scoring
    assert f"`regression_delta` points (default {defaults.regression_delta};" in scoring


@pytest.mark.parametrize(("severity", "risk", "announced"), [
    ("high", 0, True), ("critical", 0, True), ("medium", 59, False), ("medium", 60, True),
    ("info", 60, True), ("low", 59, False), (None, 59, False), (None, 60, True),
])
def test_the_default_bars_are_high_or_risk_60(severity: str | None, risk: int, announced: bool) -> None:
    assert meets_bar(Route("d"), severity, risk, Thresholds()) is announced
    assert describe_bar(Route("d"), Thresholds()) == "high or worse or risk 60 or more"


def test_a_finding_without_a_risk_counts_as_risk_0() -> None:
    assert meets_bar(Route("r", min_risk=0), "info", None, Thresholds())
    assert not meets_bar(Route("r", min_risk=1), "critical", None, Thresholds())
    assert meets_bar(Route("d"), "high", None, Thresholds())
    assert not meets_bar(Route("d"), "medium", None, Thresholds())
    assert not route_matches(Route("d"), Subject("reopened", "low", None), Thresholds())


@pytest.mark.parametrize(("severity", "announced"), [
    ("info", True), ("low", True), (None, False), ("", False), ("bogus", False)])
def test_an_unknown_severity_is_below_every_bar(severity: str | None, announced: bool) -> None:
    assert meets_bar(Route("s", min_severity=Severity.INFO), severity, 100, Thresholds()) is announced


def test_one_bar_set_is_that_bar_alone() -> None:
    assert describe_bar(Route("s", min_severity=Severity.CRITICAL), Thresholds()) == "critical or worse"
    assert describe_bar(Route("r", min_risk=70), Thresholds()) == "risk 70 or more"
    assert not meets_bar(Route("s", min_severity=Severity.CRITICAL), "high", 100, Thresholds())
    assert not meets_bar(Route("r", min_risk=70), "critical", 69, Thresholds())


# -- scope filters --------------------------------------------------------------------------------
@pytest.mark.parametrize(("patterns", "keys", "inside"), [
    (("prod",), ["eu-1/prod"], True),  # the last segment
    (("eu-1/*",), ["eu-1/prod"], True),  # the whole key
    (("eu-1/prod",), ["eu-1/prod"], True),
    (("eu-1",), ["eu-1/prod"], False),  # the first segment is neither
    (("prod",), ["eu-1/staging"], False),
    (("prod",), ["eu-1/production"], False),  # a glob, not a prefix
    (("Prod",), ["eu-1/prod"], False),  # case-sensitive
    (("pay*",), ["search", "payments"], True),  # any of the keys
    (("dev", "prod"), ["eu-1/prod"], True),  # any of the patterns
    (("prod",), [], False),  # a subject outside every group of the dimension
])
def test_a_scope_pattern_matches_a_key_or_its_last_segment(patterns: tuple[str, ...], keys: list[str],
                                                          inside: bool) -> None:
    assert in_scope(Route("c", scope={"namespace": patterns}), {"namespace": keys}) is inside


def test_every_scope_dimension_set_must_match() -> None:
    route = Route("pay", scope={"team": ("pay*",), "namespace": ("prod",)})
    assert in_scope(route, {"team": ["payments"], "namespace": ["eu-1/prod"]})
    assert not in_scope(route, {"team": ["payments"], "namespace": ["eu-1/dev"]})
    assert not in_scope(route, {"team": ["search"], "namespace": ["eu-1/prod"]})
    assert not in_scope(route, {"team": ["payments"]})
    assert in_scope(Route("all"), {})
    assert in_scope(Route("empty", scope={"team": ()}), {})  # an empty filter filters nothing


def test_routing_needs_the_event_the_bar_and_the_scope() -> None:
    route = Route("pay", events=frozenset({"new"}), min_risk=50, scope={"team": ("payments",)})
    mine = {"team": ["payments"]}
    assert channels_for([route], Subject("new", "low", 50, mine), Thresholds()) == {"pay"}
    assert channels_for([route], Subject("reopened", "low", 50, mine), Thresholds()) == set()
    assert channels_for([route], Subject("new", "low", 49, mine), Thresholds()) == set()
    assert channels_for([route], Subject("new", "low", 50, {"team": ["search"]}), Thresholds()) == set()
    two = [route, Route("pay", events=frozenset({"reopened"}))]
    assert channels_for(two, Subject("reopened", "critical", 90, mine), Thresholds()) == {"pay"}
