"""posture.coverage.Coverage.covers: each condition on each side, and the stored form round-trips."""

from __future__ import annotations

import pytest

from posture.coverage import FULL, Coverage, describe, severities_at_least
from posture.taxonomy import Severity

VULN_FIXED = {"fix_available": True}
VULN_UNFIXED = {"fix_available": False}
LAYER_SECRET = {"found_in": [{"location": "layer-deleted", "key": "/root/.ssh/id_rsa"}]}
ENV_AND_LAYER = {"found_in": [{"location": "env", "key": "TOKEN"}, {"location": "layer", "key": "/x"}]}
ENV_SECRET = {"found_in": [{"location": "env", "key": "TOKEN"}]}


def test_full_coverage_covers_everything() -> None:
    assert FULL.is_full and FULL.judges_presence
    assert FULL.covers("ANY", Severity.INFO, {}, None)
    assert FULL.as_dict() == {} and describe({}) == "full"


def test_a_run_that_resolves_nothing_covers_nothing() -> None:
    additive = Coverage(resolves=False)
    assert not additive.covers("ANY", Severity.CRITICAL, {}, None)
    assert not additive.judges_presence


@pytest.mark.parametrize(("rule", "covered"), [("VULN", False), ("IMG-SECRET", True)])
def test_skipped_rules(rule: str, covered: bool) -> None:
    assert Coverage(skipped_rules=frozenset({"VULN"})).covers(rule, Severity.HIGH, {}, None) is covered


@pytest.mark.parametrize(
    ("evidence", "covered"),
    [(LAYER_SECRET, False), (ENV_AND_LAYER, False), (ENV_SECRET, True), ({}, True), ({"found_in": ["x"]}, True)],
)
def test_skipped_locations(evidence: dict[str, object], covered: bool) -> None:
    coverage = Coverage(skipped_locations=frozenset({"layer", "layer-deleted"}))
    assert coverage.covers("IMG-SECRET", Severity.HIGH, evidence, None) is covered
    assert coverage.judges_presence


@pytest.mark.parametrize(
    ("severity", "covered"),
    [(Severity.CRITICAL, True), (Severity.HIGH, True), (Severity.MEDIUM, False), (Severity.LOW, False)],
)
def test_severities(severity: Severity, covered: bool) -> None:
    coverage = Coverage(severities=severities_at_least(["HIGH", "CRITICAL", " "]))
    assert coverage.covers("VULN", severity, {}, None) is covered


@pytest.mark.parametrize(("evidence", "covered"), [(VULN_FIXED, True), (VULN_UNFIXED, False), ({}, True)])
def test_fixed_only(evidence: dict[str, object], covered: bool) -> None:
    assert Coverage(fixed_only=True).covers("VULN", Severity.HIGH, evidence, None) is covered


@pytest.mark.parametrize(("namespace", "covered"), [("shop", True), ("payments", False), (None, False)])
def test_namespaces(namespace: str | None, covered: bool) -> None:
    coverage = Coverage(namespaces=frozenset({"shop"}))
    assert coverage.covers("K8S-X", Severity.HIGH, {}, namespace) is covered
    assert not coverage.judges_presence


def test_narrowed_intersects_and_keeps_every_note() -> None:
    a = Coverage(severities=frozenset({Severity.HIGH, Severity.CRITICAL}), notes=("a",))
    b = Coverage(severities=frozenset({Severity.CRITICAL, Severity.LOW}), fixed_only=True, notes=("b",))
    both = a.narrowed(b)
    assert both.severities == {Severity.CRITICAL} and both.fixed_only and both.notes == ("a", "b")
    assert a.narrowed(FULL).severities == a.severities and FULL.narrowed(a).severities == a.severities
    n = Coverage(namespaces=frozenset({"x", "y"})).narrowed(Coverage(namespaces=frozenset({"y"})))
    assert n.namespaces == {"y"}
    assert not a.narrowed(Coverage(resolves=False)).resolves


def test_the_stored_form_round_trips_and_reads_in_one_line() -> None:
    coverage = Coverage(
        skipped_rules=frozenset({"VULN"}),
        skipped_locations=frozenset({"layer"}),
        severities=frozenset({Severity.HIGH, Severity.CRITICAL}),
        fixed_only=True,
        namespaces=frozenset({"shop"}),
        resolves=False,
        sees_change=False,
        notes=("why",),
    )
    stored = coverage.as_dict()
    assert stored["severities"] == ["critical", "high"]
    assert Coverage.from_dict(stored) == coverage
    assert describe(stored) == (
        "resolves nothing; severities critical,high; fixable only; namespaces shop; not judged VULN; "
        "secrets not looked for in layer"
    )
