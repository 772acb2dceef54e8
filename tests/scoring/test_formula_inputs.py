"""What a finding stores (``"i":[…]`` in ``finding.risk_factors``, docs/scoring.md "What risk_factors
holds") and how an explanation is read back from it: the stored form is pinned byte for byte (a
change re-scores nothing and silently mis-explains every stored finding), and every malformed input
falls back instead of crashing or inventing a factor."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from posture.scoring import Context, FindingFacts, Use, score
from posture.scoring.formula import (
    FACTORS,
    USE_MULTIPLIERS,
    explain,
    json_number,
    prevalence_multiplier,
    round_half_up,
    scored_inputs,
)
from posture.taxonomy import Severity as S

#: docs/scoring.md: "{"scored": …, "i": [severity, cvss, kev, epss, fix, use, exposed, [privileges], prevalence]}"
STORED_FORMS = [
    (FindingFacts(S.HIGH, 7.5, False, 0.35, False), Context(Use.RUNNING, False, frozenset({"root"}), 1),
     59, '"i":["high",7.5,false,0.35,false,"running",false,["root"],1]'),
    (FindingFacts(S.CRITICAL, 9.8, True, None, True),
     Context(Use.RUNNING, True, frozenset({"root", "privileged", "docker-socket"}), 12),
     100, '"i":["critical",9.8,true,null,true,"running",true,["docker-socket","privileged","root"],12]'),
    (FindingFacts(S.LOW), Context(), 15, '"i":["low",null,false,null,null,"n/a",false,[],0]'),
    (FindingFacts(S.MEDIUM), Context(Use.DEPLOYED, prevalence=3), 28,
     '"i":["medium",null,false,null,null,"deployed",false,[],3]'),
    (FindingFacts(S.INFO, epss=0.002), Context(Use.STORED), 2,
     '"i":["info",null,false,0.002,null,"stored",false,[],0]'),
]


@pytest.mark.parametrize(("facts", "context", "risk", "stored"), STORED_FORMS)
def test_the_stored_inputs_are_pinned(facts: FindingFacts, context: Context, risk: int, stored: str) -> None:
    assert scored_inputs(facts, context) == (risk, stored)
    assert score(facts, context).risk == risk


def test_use_values_and_multipliers_are_the_documented_ones() -> None:
    # docs/scoring.md, factor table "use": running ×1, deployed ×0.8, stored ×0.6, n/a ×1.
    assert {u.value: USE_MULTIPLIERS[u] for u in Use} == {"running": 1.0, "deployed": 0.8, "stored": 0.6, "n/a": 1.0}
    assert FACTORS == ("base", "exploitability", "fix", "exposure", "privilege", "use", "prevalence", "cap")


def test_round_half_up_rounds_halves_up_at_any_precision() -> None:
    assert [round_half_up(v) for v in (2.5, 3.5, 2.49, -0.5)] == [3.0, 4.0, 2.0, 0.0]
    assert round_half_up(0.25, 1) == 0.3 and round_half_up(1.0795, 3) == 1.08


def test_prevalence_of_one_copy_or_none_is_neutral() -> None:
    assert [prevalence_multiplier(n) for n in (-3, 0, 1, 2)] == [1.0, 1.0, 1.0, pytest.approx(1.05)]


def _stored(inputs: list[Any]) -> dict[str, Any]:
    return {"scored": "0123456789abcdef/1", "i": inputs}


def _explained(inputs: list[Any]) -> dict[str, Any]:
    found = explain(_stored(inputs))
    assert found.pop("scored") == "0123456789abcdef/1"
    return found


GOOD = ["high", 7.5, False, 0.35, False, "running", False, ["root"], 1]


def test_explaining_the_inputs_reads_each_position() -> None:
    assert _explained(GOOD) == score(FindingFacts(S.HIGH, 7.5, False, 0.35, False),
                                     Context(Use.RUNNING, False, frozenset({"root"}), 1)).factors
    assert _explained(["high", 9, True, None, True, "deployed", True, ["privileged", "root"], 4]) == score(
        FindingFacts(S.HIGH, 9.0, True, None, True),
        Context(Use.DEPLOYED, True, frozenset({"privileged", "root"}), 4)).factors


@pytest.mark.parametrize(("position", "bad", "facts", "context"), [
    # Only a JSON boolean true is true; anything else is not set (json_number: true is not 1).
    (1, True, FindingFacts(S.HIGH, None, False, 0.35, False), None),
    (1, "9.8", FindingFacts(S.HIGH, None, False, 0.35, False), None),
    (2, "true", FindingFacts(S.HIGH, 7.5, False, 0.35, False), None),
    (2, 1, FindingFacts(S.HIGH, 7.5, False, 0.35, False), None),
    (3, "0.9", FindingFacts(S.HIGH, 7.5, False, None, False), None),
    (4, "yes", FindingFacts(S.HIGH, 7.5, False, 0.35, None), None),
    (4, 1, FindingFacts(S.HIGH, 7.5, False, 0.35, None), None),
    (6, "true", None, Context(Use.RUNNING, False, frozenset({"root"}), 1)),
    (7, [3, "root", None], None, Context(Use.RUNNING, False, frozenset({"root"}), 1)),
    (8, "12", None, Context(Use.RUNNING, False, frozenset({"root"}), 0)),
    (8, 2.0, None, Context(Use.RUNNING, False, frozenset({"root"}), 0)),
])
def test_a_malformed_input_is_read_as_not_set(position: int, bad: Any, facts: FindingFacts | None,
                                              context: Context | None) -> None:
    inputs = list(GOOD)
    inputs[position] = bad
    expected = score(facts or FindingFacts(S.HIGH, 7.5, False, 0.35, False),
                     context or Context(Use.RUNNING, False, frozenset({"root"}), 1))
    assert _explained(inputs) == expected.factors


@pytest.mark.parametrize("inputs", [
    GOOD[:8], [*GOOD, 1], "high", None,
    ["bogus", *GOOD[1:]],  # not a severity: ValueError
    [*GOOD[:5], "bogus", *GOOD[6:]],  # not a use: ValueError
    [*GOOD[:7], 5, GOOD[8]],  # privileges not a list: TypeError
])
def test_inputs_of_another_shape_explain_nothing(inputs: Any) -> None:
    assert _explained(inputs) == {}


def test_json_number() -> None:
    assert [json_number(v) for v in (7, 7.5, 0, True, False, "7", None, [7])] == [7.0, 7.5, 0.0, None, None,
                                                                                   None, None, None]
    assert isinstance(json_number(7), float)


def test_explain_without_a_scored_entry_or_with_nothing() -> None:
    assert explain({}) == {}
    assert explain({"i": GOOD}) == score(FindingFacts(S.HIGH, 7.5, False, 0.35, False),
                                         Context(Use.RUNNING, False, frozenset({"root"}), 1)).factors


def test_a_version_2_explanation_keeps_each_well_formed_entry_in_factor_order() -> None:
    entries = [["CVSS 9.8", None, 58.8], ["in CISA KEV", 1.5, 29.4], "not a list", ["internal", 1.0],
               ["root", 1.1, 8.8], ["running", 1.0, 0.0], [12, 1.179, 17.3], ["100", None, -20.0], ["extra", 1, 1]]
    assert explain({"f": entries}) == {
        "base": {"value": "CVSS 9.8", "contribution": 58.8},
        "exploitability": {"value": "in CISA KEV", "multiplier": 1.5, "contribution": 29.4},
        "privilege": {"value": "root", "multiplier": 1.1, "contribution": 8.8},
        "use": {"value": "running", "multiplier": 1.0, "contribution": 0.0},
        "prevalence": {"value": 12, "multiplier": 1.179, "contribution": 17.3},
        "cap": {"value": "100", "contribution": -20.0},
    }
    assert explain({"f": {"base": ["x", None, 1]}}) == {}


def test_a_version_1_explanation_keeps_only_named_factor_mappings() -> None:
    stored = {"scored": "s/1", "base": {"value": "high", "contribution": 45}, "fix": "none", "cap": [1],
              "other": {"value": 1}}
    assert explain(stored) == {"scored": "s/1", "base": {"value": "high", "contribution": 45}}
    assert explain({"scored": "s/1", "i": "not a list", "use": {"value": "stored"}}) == {
        "scored": "s/1", "use": {"value": "stored"}}


def test_the_cap_entry_appears_only_above_100() -> None:
    below = score(FindingFacts(S.CRITICAL, 10.0, True), Context(Use.RUNNING, prevalence=1))  # 60 × 1.5 = 90
    assert below.risk == 90 and "cap" not in below.factors
    over = score(FindingFacts(S.CRITICAL, 10.0, True), Context(Use.RUNNING, True, prevalence=1))  # 117
    assert over.risk == 100 and over.factors["cap"] == {"value": 100, "contribution": -17.0}
    # A product of exactly 100 (6 × 9.6618… × 1.5 × 1.15) is not capped: nothing was cut.
    exact = score(FindingFacts(S.CRITICAL, 100 / (6 * 1.5 * 1.15), True, None, True),
                  Context(Use.RUNNING, prevalence=1))
    assert exact.risk == 100 and "cap" not in exact.factors
    # Just over 100 (100.26): capped, and what the cap cut is shown to one decimal like every contribution.
    just_over = score(FindingFacts(S.CRITICAL, 100.26 / (6 * 1.5 * 1.15), True, None, True),
                      Context(Use.RUNNING, prevalence=1))
    assert just_over.risk == 100 and just_over.factors["cap"] == {"value": 100, "contribution": -0.3}


def test_the_explanation_names_every_factor_with_its_value() -> None:
    result = score(FindingFacts(S.HIGH, 8.0, False, 0.2, True),
                   Context(Use.DEPLOYED, True, frozenset({"host-ipc", "root"}), 8))
    assert result.factors == {
        "base": {"value": "CVSS 8", "contribution": 48.0},
        "exploitability": {"value": "EPSS 0.200", "multiplier": 1.2, "contribution": 9.6},
        "fix": {"value": "available", "multiplier": 1.15, "contribution": 8.6},
        "exposure": {"value": "internet-exposed", "multiplier": 1.3, "contribution": 19.9},
        "privilege": {"value": "host-ipc, root", "multiplier": 1.2, "contribution": 17.2},
        "use": {"value": "deployed", "multiplier": 0.8, "contribution": -20.7},
        "prevalence": {"value": 8, "multiplier": 1.15, "contribution": 12.4},
    }
    assert result.risk == 95
    assert orjson.dumps(result.factors)  # the explanation is JSON as published


def test_the_package_exports_the_formula() -> None:
    import posture.scoring
    from posture.scoring import formula

    assert posture.scoring.__all__ == ["BASE_RISK", "Context", "FindingFacts", "Score", "Use", "score"]
    assert all(getattr(posture.scoring, name) is getattr(formula, name) for name in posture.scoring.__all__)


def test_contributions_are_shown_to_one_decimal() -> None:
    assert score(FindingFacts(S.HIGH, 7.77), Context()).factors["base"] == {"value": "CVSS 7.77", "contribution": 46.6}
    # docs/scoring.md example 1: 58.8 × 1.5 × 1.15 × 1.3 × 1.3 × 1 × 1.179 = 202.1…, capped at 100.
    capped = score(FindingFacts(S.CRITICAL, 9.8, True, None, True),
                   Context(Use.RUNNING, True, frozenset({"privileged", "root"}), 12))
    assert capped.factors["cap"] == {"value": 100, "contribution": -102.1}


def test_privileges_are_listed_strongest_first_then_by_name() -> None:
    def listed(*privileges: str) -> str:
        result = score(FindingFacts(S.HIGH), Context(Use.RUNNING, privileges=frozenset(privileges), prevalence=1))
        return str(result.factors["privilege"]["value"])

    assert listed("host-pid", "host-network", "host-ipc") == "host-ipc, host-network, host-pid"
    assert listed("root", "privileged", "docker-socket", "host-ipc") == "docker-socket, privileged, host-ipc, root"
    assert listed("root", "zz-unknown") == "root, zz-unknown"  # an unknown privilege weighs ×1, listed last


def test_scoring_records_are_immutable_and_slotted() -> None:
    """Records are frozen (a cached factor or a shared context cannot be changed under another finding)
    and slotted (no per-instance dict: one per asset and finding, 100,000s of them per run)."""
    import dataclasses

    from posture.scoring.formula import Score

    records: list[object] = [FindingFacts(S.HIGH), Context(), Score(1)]
    for record in records:
        assert not hasattr(record, "__dict__"), type(record)
        field = dataclasses.fields(record)[0].name  # type: ignore[arg-type]
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)
