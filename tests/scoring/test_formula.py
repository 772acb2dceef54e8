"""The published formula: the worked examples of docs/scoring.md are computed here, row for row."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from posture.scoring import BASE_RISK, Context, FindingFacts, Use, score
from posture.scoring.formula import explain, prevalence_multiplier, scored_inputs
from posture.scoring.rollup import band_of, grade_of, posture_score
from posture.taxonomy import Severity as S

DOC = (Path(__file__).resolve().parents[2] / "docs" / "scoring.md").read_text(encoding="utf-8")

EXAMPLES = [
    ("Critical CVE in KEV, image run by 12 exposed privileged pods",
     FindingFacts(S.CRITICAL, 9.8, True, None, True),
     Context(Use.RUNNING, True, frozenset({"privileged", "root"}), 12)),
    ("The same CVE in an image only stored in a registry, EPSS 0.002",
     FindingFacts(S.CRITICAL, 9.8, False, 0.002, True), Context(Use.STORED)),
    ("High CVE, EPSS 0.35, no fix, one internal container running as root",
     FindingFacts(S.HIGH, 7.5, False, 0.35, False), Context(Use.RUNNING, False, frozenset({"root"}), 1)),
    ("Privileged container with the Docker socket, a port on 0.0.0.0",
     FindingFacts(S.CRITICAL), Context(Use.RUNNING, True, frozenset({"privileged", "docker-socket", "root"}), 1)),
    ("Medium defect on a stopped, non-root, internal container",
     FindingFacts(S.MEDIUM), Context(Use.DEPLOYED, False, frozenset(), 1)),
    ("High finding on a registry (plain HTTP)", FindingFacts(S.HIGH), Context()),
    ("Low finding on a declared workload (3 replicas, exposed, may run as root)",
     FindingFacts(S.LOW), Context(Use.DEPLOYED, True, frozenset({"root"}), 3)),
]


def row(number: int, name: str, facts: FindingFacts, context: Context) -> str:
    """One line of the examples table, exactly as docs/scoring.md prints it."""
    result = score(facts, context)
    f = result.factors

    def cell(key: str) -> str:
        return f"{f[key]['value']} ×{f[key]['multiplier']:g}"

    base = f"{f['base']['value']} → {f['base']['contribution']:g}"
    cells = [str(number), name, base, *(cell(k) for k in ("exploitability", "fix", "exposure", "privilege", "use",
                                                             "prevalence")), f"**{result.risk}**"]
    return "| " + " | ".join(cells) + " |"


@pytest.mark.parametrize("number", range(1, len(EXAMPLES) + 1))
def test_worked_examples_match_the_documentation(number: int) -> None:
    name, facts, context = EXAMPLES[number - 1]
    assert row(number, name, facts, context) in DOC


def test_step_by_step_example_matches_the_documentation() -> None:
    """Example 3 is spelled out factor by factor; every contribution printed there is the computed one."""
    result = score(*EXAMPLES[2][1:])
    for name, factor in result.factors.items():
        assert f"| {name} | {factor['contribution']:+g} |" in DOC
    assert result.risk == 59


def test_contributions_add_up_to_the_risk() -> None:
    for _name, facts, context in EXAMPLES:
        result = score(facts, context)
        total = sum(f["contribution"] for f in result.factors.values())
        assert abs(total - result.risk) <= 0.5 + 0.05 * len(result.factors)


def test_the_stored_inputs_explain_the_risk_they_gave() -> None:
    """The database keeps the inputs; explaining them gives the very factors and risk scoring computed."""
    for _name, facts, context in EXAMPLES:
        risk, inputs = scored_inputs(facts, context)
        stored = orjson.loads(f'{{"scored":"0123456789abcdef/{risk}",{inputs}}}')
        expected = score(facts, context)
        assert risk == expected.risk
        assert explain(stored) == {"scored": f"0123456789abcdef/{risk}", **expected.factors}


def test_an_explanation_stored_by_formula_version_2_is_shown_as_stored() -> None:
    stored = {"scored": "0123456789abcdef/50", "f": [["CVSS 7.5", None, 45.0], ["EPSS 0.012", 1.05, 2.3],
                                                      ["none", 1.0, 0.0], ["bogus"]]}
    assert explain(stored) == {
        "scored": "0123456789abcdef/50",
        "base": {"value": "CVSS 7.5", "contribution": 45.0},
        "exploitability": {"value": "EPSS 0.012", "multiplier": 1.05, "contribution": 2.3},
        "fix": {"value": "none", "multiplier": 1.0, "contribution": 0.0},
    }


def test_an_explanation_stored_by_formula_version_1_is_shown_as_stored() -> None:
    named = {"base": {"value": "CVSS 7.5", "contribution": 45.0},
             "use": {"value": "stored", "multiplier": 0.6, "contribution": -18.0}}
    assert explain({"scored": "0123456789abcdef/27", **named, "noise": 1}) == {
        "scored": "0123456789abcdef/27", **named}


def test_an_unknown_stored_form_explains_nothing_beyond_its_scored_entry() -> None:
    assert explain({"scored": "0123456789abcdef/45", "f": "garbage"}) == {"scored": "0123456789abcdef/45"}
    assert explain({"scored": "x/1", "i": ["bogus", None, False, None, None, "running", False, [], 1]}) == {
        "scored": "x/1"}
    assert explain(None) == {}


def test_cap_keeps_risk_at_100_and_says_how_much_it_cut() -> None:
    result = score(*EXAMPLES[0][1:])
    assert result.risk == 100
    assert result.factors["cap"]["contribution"] < 0


def test_cvss_orders_within_the_severity_range_and_bad_cvss_is_ignored() -> None:
    assert score(FindingFacts(S.CRITICAL, 9.0), Context()).risk == 54
    assert score(FindingFacts(S.HIGH, 8.1), Context()).risk == 49
    clamped = score(FindingFacts(S.LOW, 9.8), Context())  # the distribution rated it low
    assert clamped.risk == 23 and clamped.factors["base"]["value"] == "CVSS 9.8, low: 3.9"
    assert score(FindingFacts(S.LOW, 42.0), Context()).risk == BASE_RISK[S.LOW]
    assert score(FindingFacts(S.LOW, 0.0), Context()).risk == BASE_RISK[S.LOW]


def test_kev_beats_epss_and_low_epss_lowers_risk() -> None:
    kev = score(FindingFacts(S.HIGH, kev=True, epss=0.001), Context()).risk
    low = score(FindingFacts(S.HIGH, epss=0.001), Context()).risk
    unknown = score(FindingFacts(S.HIGH), Context()).risk
    assert kev > unknown > low


def test_each_factor_moves_risk_the_documented_way() -> None:
    base = Context(Use.RUNNING, prevalence=1)
    plain = score(FindingFacts(S.HIGH), base).risk
    assert score(FindingFacts(S.HIGH), Context(Use.RUNNING, True, prevalence=1)).risk > plain
    assert score(FindingFacts(S.HIGH), Context(Use.RUNNING, False, frozenset({"host-pid"}), 1)).risk > plain
    stored = score(FindingFacts(S.HIGH), Context(Use.STORED)).risk
    assert stored < score(FindingFacts(S.HIGH), Context(Use.DEPLOYED, prevalence=1)).risk < plain
    assert score(FindingFacts(S.HIGH, fix_available=True), base).risk > plain


def test_prevalence_grows_per_doubling_and_is_capped() -> None:
    assert prevalence_multiplier(1) == 1.0
    assert prevalence_multiplier(2) == pytest.approx(1.05)
    assert prevalence_multiplier(8) == pytest.approx(1.15)
    assert prevalence_multiplier(10_000) == 1.3


POSTURE_EXAMPLES = [
    ({}, 100, 100.0, "A"),
    ({"critical": 1}, 1000, 95.9, "A"),
    ({"critical": 10, "high": 40, "medium": 200}, 1000, 68.9, "D"),
    ({"critical": 3000, "high": 12000, "medium": 40000, "low": 35000}, 20000, 26.5, "F"),
]


@pytest.mark.parametrize(("bands", "assets", "expected", "grade"), POSTURE_EXAMPLES)
def test_posture_score_examples_match_the_documentation(bands: dict[str, int], assets: int, expected: float,
                                                        grade: str) -> None:
    value = posture_score(bands, assets)
    assert value == expected and grade_of(value) == grade
    shown = ", ".join(f"{n} {b}" for b, n in bands.items()) or "none"
    assert f"| {shown} | {assets} | {expected:g} | {grade} |" in DOC


def test_bands_and_grades_edges() -> None:
    assert [band_of(r) for r in (100, 80, 79, 60, 59, 40, 39, 20, 19, 0)] == [
        "critical", "critical", "high", "high", "medium", "medium", "low", "low", "minimal", "minimal"]
    assert [grade_of(s) for s in (90, 89.9, 80, 70, 60, 59.9)] == ["A", "B", "B", "C", "D", "F"]


def test_documented_base_risks() -> None:
    for severity, risk in BASE_RISK.items():
        assert re.search(rf"\| {severity.value} \| [\d.]+ \| {risk} \|", DOC), severity
