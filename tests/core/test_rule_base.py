"""The rule contract (posture/rules/base.py), the scanner observation rules and the default registry.

A rule id is part of every finding's fingerprint, a rule's NIST SP 800-190 section decides its category,
and the registry decides which rules run on which asset kind: each is pinned here on both sides.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import timedelta

import pytest

from posture.clock import utcnow
from posture.records import AssetKind, AssetRecord, AssetRef, RelationRecord
from posture.rules import (
    default_registry,
    docker,
    image,
    k8s_cis,
    k8s_controlplane,
    k8s_hygiene,
    k8s_pss,
    registry,
    scanner,
)
from posture.rules.base import Hit, Reference, Rule, RuleRegistry, Snapshot, Verdict, evaluate_all
from posture.taxonomy import NIST, NIST_SECTIONS, Category, Phase, Severity
from tests.sarif_rules import descriptors


def flag(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
    if asset.attributes.get("bad"):
        yield Hit("d", {"why": asset.name})


def rule(rule_id: str = "T-1", *, kinds: Iterable[AssetKind] = (AssetKind.IMAGE,), **extra: object) -> Rule:
    fields: dict[str, object] = {
        "id": rule_id,
        "title": f"{rule_id} title",
        "severity": Severity.MEDIUM,
        "phase": Phase.RUN,
        "nist": "3.4.3",
        "remediation": "fix it",
        "kinds": frozenset(kinds),
        "evaluate": flag,
    }
    fields.update(extra)
    return Rule(**fields)  # type: ignore[arg-type]


def asset(name: str, kind: AssetKind = AssetKind.IMAGE, **attributes: object) -> AssetRecord:
    return AssetRecord(kind, f"k/{name}", name, Phase.RUN, attributes)


# -- records -------------------------------------------------------------------------------------------
def test_reference_is_an_immutable_value_with_a_stable_dict() -> None:
    ref = Reference("CIS Docker Benchmark 1.6.0", "5.5")
    assert ref.as_dict() == {"framework": "CIS Docker Benchmark 1.6.0", "id": "5.5"}
    assert {ref, Reference("CIS Docker Benchmark 1.6.0", "5.5")} == {ref}
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.id = "5.6"  # type: ignore[misc]


def test_a_hit_without_a_discriminator_has_the_empty_one_and_is_immutable() -> None:
    hit = Hit()
    assert (hit.discriminator, dict(hit.evidence)) == ("", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.discriminator = "x"  # type: ignore[misc]


def test_rule_checks_its_nist_section_and_kinds() -> None:
    with pytest.raises(ValueError, match=r"unknown NIST SP 800-190 section '9\.9'"):
        rule(nist="9.9")
    with pytest.raises(ValueError, match="must name the asset kinds"):
        rule(kinds=())
    observation = Rule(id="O-1", title="t", severity=Severity.LOW, phase=Phase.BUILD, nist="3.1.1", remediation="r")
    assert (observation.evaluate, observation.kinds, observation.needs_previous) == (None, frozenset(), False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        observation.severity = Severity.HIGH  # type: ignore[misc]


def test_rule_category_references_and_dict() -> None:
    r = rule(nist="3.1.5", references=(Reference("Trivy", "KSV013"),), kinds=(AssetKind.POD, AssetKind.CONTAINER))
    assert r.category == NIST_SECTIONS["3.1.5"][0] and isinstance(r.category, Category)
    assert r.all_references == (Reference(NIST, "3.1.5"), Reference("Trivy", "KSV013"))
    assert r.as_dict() == {
        "id": "T-1",
        "title": "T-1 title",
        "severity": "medium",
        "phase": Phase.RUN.value,
        "category": NIST_SECTIONS["3.1.5"][0].value,
        "references": [{"framework": NIST, "id": "3.1.5"}, {"framework": "Trivy", "id": "KSV013"}],
        "remediation": "fix it",
        "kinds": sorted([AssetKind.POD.value, AssetKind.CONTAINER.value]),
    }


# -- snapshot ------------------------------------------------------------------------------------------
def test_snapshot_indexes_assets_relations_and_previous_attributes() -> None:
    a, b, c = asset("a"), asset("b"), asset("c", AssetKind.CONTAINER)
    runs = RelationRecord(c.ref, "runs", a.ref)
    tags = RelationRecord(b.ref, "tags", a.ref)
    snap = Snapshot([a, b, c], [runs, tags], previous={a.ref: {"digest": "old"}})
    assert snap.of_kind(AssetKind.IMAGE) == [a, b]
    assert snap.of_kind(AssetKind.NODE) == []
    assert snap.get(c.ref) is c and snap.get(AssetRef(AssetKind.NODE, "x")) is None
    assert snap.outgoing(c.ref) == [runs] and snap.outgoing(b.ref) == [tags]
    assert snap.incoming(a.ref) == [runs, tags]
    assert snap.incoming(a.ref, "tags") == [tags] and snap.incoming(a.ref, "owns") == []
    assert snap.outgoing(c.ref, "runs") == [runs] and snap.outgoing(a.ref) == []
    assert snap.previous_attributes(a.ref) == {"digest": "old"}
    assert snap.previous_attributes(b.ref) is None
    assert Snapshot([a]).previous_attributes(a.ref) is None


# -- registry and evaluation ---------------------------------------------------------------------------
def test_registry_lists_sorted_rejects_duplicates_and_finds_by_kind() -> None:
    first, second = rule("T-2"), rule("T-1", kinds=(AssetKind.IMAGE, AssetKind.NODE), needs_previous=True)
    reg = RuleRegistry([first, second])
    assert [r.id for r in reg] == ["T-1", "T-2"] and len(reg) == 2
    assert "T-1" in reg and "T-3" not in reg
    assert reg.get("T-2") is first
    with pytest.raises(KeyError, match="unknown rule T-3") as caught:
        reg.get("T-3")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert reg.for_kind(AssetKind.IMAGE) == [first, second] and reg.for_kind(AssetKind.NODE) == [second]
    assert reg.for_kind(AssetKind.POD) == []
    assert reg.kinds_needing_previous == frozenset({AssetKind.IMAGE, AssetKind.NODE})
    assert RuleRegistry([first]).kinds_needing_previous == frozenset()
    with pytest.raises(ValueError, match="duplicate rule id T-2"):
        RuleRegistry([first, rule("T-2")])


def test_verdict_takes_the_hits_severity_and_title_over_the_rules() -> None:
    r = rule()
    plain = Verdict(r, AssetRef(AssetKind.IMAGE, "k"), "n", Hit("d"))
    assert (plain.severity, plain.title) == (Severity.MEDIUM, "T-1 title")
    own = Verdict(r, AssetRef(AssetKind.IMAGE, "k"), "n", Hit("d", title="specific", severity=Severity.CRITICAL))
    assert (own.severity, own.title) == (Severity.CRITICAL, "specific")
    with pytest.raises(dataclasses.FrozenInstanceError):
        own.hit = Hit()  # type: ignore[misc]


def test_a_dormant_hit_is_one_severity_below_the_hits_or_the_rules() -> None:
    r, ref = rule(), AssetRef(AssetKind.CONTAINER, "k")
    assert Verdict(r, ref, "n", Hit("d", dormant=True)).severity == Severity.LOW
    assert Verdict(r, ref, "n", Hit("d", severity=Severity.CRITICAL, dormant=True)).severity == Severity.HIGH
    assert Verdict(r, ref, "n", Hit("d", severity=Severity.INFO, dormant=True)).severity == Severity.INFO


#: A stopped container's finding is one step lower (docs/docker-checks.md), never below info.
ONE_LOWER = [(Severity.CRITICAL, Severity.HIGH), (Severity.HIGH, Severity.MEDIUM), (Severity.MEDIUM, Severity.LOW),
             (Severity.LOW, Severity.INFO), (Severity.INFO, Severity.INFO)]


@pytest.mark.parametrize(("severity", "dormant"), ONE_LOWER)
def test_each_severity_of_a_dormant_hit(severity: Severity, dormant: Severity) -> None:
    r, ref = rule(), AssetRef(AssetKind.CONTAINER, "k")
    assert Verdict(r, ref, "n", Hit("d", severity=severity, dormant=True)).severity == dormant
    assert Verdict(r, ref, "n", Hit("d", severity=severity)).severity == severity


def test_a_rule_is_declared_by_keyword_only() -> None:
    """One way to declare a rule (issue 22): positional fields are refused, so no module grows its own order."""
    with pytest.raises(TypeError):
        Rule("X-1", "t", Severity.LOW, Phase.RUN, "3.4.3", "fix")  # type: ignore[call-arg]


def test_evaluate_all_runs_each_rule_of_the_assets_kind() -> None:
    reg = RuleRegistry([rule("T-1"), rule("T-2", kinds=(AssetKind.NODE,))])
    assets = [asset("good"), asset("bad", bad=True), asset("node", AssetKind.NODE, bad=True)]
    found = [(v.rule.id, v.asset_name, v.hit.discriminator) for v in evaluate_all(reg, Snapshot(assets), assets)]
    assert found == [("T-1", "bad", "d"), ("T-2", "node", "d")]


# -- the scanner observation rules --------------------------------------------------------------------
# Ids are part of every stored finding's fingerprint; the NIST SP 800-190 sections: 3.1.1 image
# vulnerabilities, 3.1.2 image configuration defects, 3.1.4 embedded clear-text secrets, 3.3.1 unbounded
# administrative access, 3.3.5 orchestrator node trust, 3.4.3 insecure container runtime configurations.
SCANNER_RULES = {
    "VULN": (Severity.MEDIUM, Phase.BUILD, "3.1.1"),
    "SCAN-MISCONFIG-IMAGE": (Severity.MEDIUM, Phase.BUILD, "3.1.2"),
    "SCAN-MISCONFIG": (Severity.MEDIUM, Phase.RUN, "3.4.3"),
    "SCAN-SECRET": (Severity.HIGH, Phase.BUILD, "3.1.4"),
    "SCAN-RBAC": (Severity.MEDIUM, Phase.RUN, "3.3.1"),
    "SCAN-CIS-DOCKER": (Severity.MEDIUM, Phase.RUN, "3.4.3"),
    "SCAN-CIS-K8S": (Severity.MEDIUM, Phase.RUN, "3.3.5"),
}


def test_scanner_rules_are_observations_with_these_ids_and_sections() -> None:
    constants = [
        scanner.VULN,
        scanner.SCAN_MISCONFIG_IMAGE,
        scanner.SCAN_MISCONFIG,
        scanner.SCAN_SECRET,
        scanner.SCAN_RBAC,
        scanner.SCAN_CIS_DOCKER,
        scanner.SCAN_CIS_K8S,
    ]
    assert constants == list(SCANNER_RULES)
    assert [r.id for r in scanner.RULES] == list(SCANNER_RULES)
    for r in scanner.RULES:
        assert (r.severity, r.phase, r.nist) == SCANNER_RULES[r.id]
        assert r.evaluate is None and r.kinds == frozenset()
        assert r.title.strip() and r.remediation.strip()
    assert len({r.title for r in scanner.RULES}) == len(scanner.RULES)


# -- the default registry ------------------------------------------------------------------------------
def test_the_default_registry_holds_every_rule_module() -> None:
    modules = [
        scanner.RULES,
        image.rules(),
        registry.RULES,
        docker.RULES,
        k8s_pss.RULES,
        k8s_cis.RULES,
        k8s_controlplane.RULES,
        k8s_hygiene.RULES,
    ]
    expected = {r.id for rules in modules for r in rules}
    assert all(rules for rules in modules)
    assert {r.id for r in default_registry()} == expected


def test_the_default_registry_passes_the_image_age_through() -> None:
    created = (utcnow() - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = asset("old", config={"created": created, "User": "app"})

    def stale(reg: RuleRegistry) -> list[str]:
        return [v.rule.id for v in evaluate_all(reg, Snapshot([old]), [old]) if v.rule.id == "IMG-STALE"]

    assert stale(default_registry(max_image_age_days=10)) == ["IMG-STALE"]
    assert stale(default_registry()) == []


@pytest.mark.parametrize(
    "record",
    [Reference("f", "i"), Hit(), Verdict(rule(), AssetRef(AssetKind.IMAGE, "k"), "n", Hit())],
    ids=["Reference", "Hit", "Verdict"],
)
def test_bulk_records_are_slotted(record: object) -> None:
    # One Hit and one Verdict per finding (20,000 CVEs in a run): no per-instance __dict__.
    assert not hasattr(record, "__dict__")


def test_the_scanner_rules_explain_themselves_in_sarif_and_a_rule_without_a_description_stays_silent() -> None:
    """A pass-through rule's title is generic ("… reported by a scanner"); its description says where the
    finding comes from, and SARIF's fullDescription is where a code-scanning dashboard shows it."""
    described = descriptors(RuleRegistry(scanner.RULES), [r.id for r in scanner.RULES])
    assert {rule_id: entry["fullDescription"]["text"] for rule_id, entry in described.items()} == {
        r.id: r.description for r in scanner.RULES
    }
    assert all(r.description.endswith(".") and len(r.description) > 20 for r in scanner.RULES)
    plain = rule("T-PLAIN")
    assert plain.description == ""
    assert "fullDescription" not in descriptors(RuleRegistry([plain]), ["T-PLAIN"])["T-PLAIN"]
