"""What an exception's scope covers (posture.acceptance): each condition, on each side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from posture.acceptance import Candidate, Reach, covers


def finding(**overrides: Any) -> Candidate:
    values: dict[str, Any] = {
        "fingerprint": "f" * 64,
        "rule_id": "VULN",
        "asset_key": "sha256:" + "a" * 64,
        "asset_name": "registry.example/app:1.0",
        "asset_aliases": ("sha256:" + "b" * 64,),
        "attributes": {"namespace": "payments"},
        "evidence": {"vulnerability": "GHSA-jfh8-c2jp-5v3q", "aliases": ["CVE-2021-44228"], "package": "log4j-core",
                     "installed": "2.14.1", "fix_available": False},
        "asset_id": 7,
    }
    values.update(overrides)
    return Candidate(**values)


def evidence(**overrides: Any) -> dict[str, Any]:
    return {**finding().evidence, **overrides}


@pytest.mark.parametrize(
    ("scope", "inside", "outside"),
    [
        (Reach(fingerprint="f" * 64), finding(), finding(fingerprint="e" * 64)),
        # a vulnerability under any of its ids, never another vulnerability
        (Reach(vuln_id="cve-2021-44228"), finding(), finding(evidence=evidence(vulnerability="CVE-2024-6387",
                                                                              aliases=[]))),
        (Reach(vuln_id="CVE-2021-45046", aliases=("GHSA-JFH8-C2JP-5V3Q",)), finding(),
         finding(evidence=evidence(vulnerability="CVE-2021-45046x", aliases=[]))),
        (Reach(package="log4j-core"), finding(), finding(evidence=evidence(package="log4j-api"))),
        # a version names that installed version exactly, never another one of the package
        (Reach(package="log4j-core", version="2.14.1"), finding(), finding(evidence=evidence(installed="2.17.0"))),
        (Reach(rule_id="VULN"), finding(), finding(rule_id="SECRET")),
        (Reach(asset="sha256:" + "a" * 64), finding(), finding(asset_key="sha256:" + "c" * 64)),
        (Reach(asset="registry.example/app:1.0"), finding(), finding(asset_name="registry.example/app:2.0")),
        (Reach(asset="sha256:" + "b" * 64), finding(), finding(asset_aliases=())),
        (Reach(namespace="payments"), finding(), finding(attributes={"namespace": "payments-dev"})),
        (Reach(pattern="registry.example/*"), finding(), finding(asset_name="other/app:1.0")),
        (Reach(pattern="sha256:a*"), finding(), finding(asset_key="sha256:" + "c" * 64)),
    ],
)
def test_each_scope_field_covers_what_it_names_and_nothing_else(scope: Reach, inside: Candidate,
                                                                 outside: Candidate) -> None:
    assert covers(scope, False, inside)
    assert not covers(scope, False, outside)


def test_every_field_set_must_hold() -> None:
    scope = Reach(vuln_id="CVE-2021-44228", package="log4j-core", asset="registry.example/app:1.0")
    assert covers(scope, False, finding())
    assert not covers(scope, False, finding(evidence=evidence(package="log4j-api")))
    assert not covers(scope, False, finding(asset_name="registry.example/app:2.0"))


def test_a_vulnerability_scope_never_covers_a_finding_without_a_vulnerability() -> None:
    assert not covers(Reach(vuln_id="CVE-2021-44228"), False, finding(rule_id="K8S-PRIV", evidence={}))


def test_until_fix_ends_when_the_evidence_shows_a_fix() -> None:
    scope = Reach(vuln_id="CVE-2021-44228")
    fixed = finding(evidence=evidence(fix_available=True))
    assert covers(scope, True, finding())
    assert not covers(scope, True, fixed)
    assert covers(scope, False, fixed)  # an exception with an expiry date still covers it


@pytest.mark.parametrize("dimension", ["cluster", "host", "team"])
def test_group_scopes_read_the_assets_groups(dimension: str) -> None:
    def groups_of(c: Candidate) -> Mapping[str, list[str]]:
        return {dimension: ["blue"]} if c.asset_id == 7 else {}

    scope = Reach(**{dimension: "blue"})
    assert covers(scope, False, finding(), groups_of)
    assert not covers(scope, False, finding(asset_id=8), groups_of)
    assert not covers(Reach(**{dimension: "green"}), False, finding(), groups_of)
    assert not covers(scope, False, finding())  # no group lookup: nothing is known to be in the group


def test_a_scope_needs_a_field_and_aliases_need_a_vulnerability() -> None:
    with pytest.raises(ValueError, match="needs a scope"):
        Reach()
    with pytest.raises(ValueError, match="a version needs a package"):
        Reach(vuln_id="CVE-2021-44228", version="2.14.1")
    with pytest.raises(ValueError, match="aliases need"):
        Reach(aliases=("CVE-2021-44228",), rule_id="VULN")


def test_narrower_scopes_rank_above_wider_ones() -> None:
    order = [
        Reach(fingerprint="f" * 64),
        Reach(vuln_id="CVE-1", package="p", asset="a"),
        Reach(vuln_id="CVE-1", asset="a"),
        Reach(vuln_id="CVE-1"),
        Reach(rule_id="VULN", asset="a"),
        Reach(rule_id="VULN"),
    ]
    ranks = [s.specificity for s in order]
    assert ranks == sorted(ranks, reverse=True) and len(set(ranks)) == len(ranks)


def test_describe_names_every_field_set() -> None:
    text = Reach(vuln_id="CVE-2021-44228", aliases=("GHSA-jfh8-c2jp-5v3q",), asset="app").describe()
    assert text == "vulnerability CVE-2021-44228 (aliases GHSA-jfh8-c2jp-5v3q) · asset app"


def test_a_vulnerability_is_stored_as_scanners_spell_it() -> None:
    scope = Reach(vuln_id=" cve-2021-44228", aliases=("GHSA-JFH8-C2JP-5V3Q", "CVE-2021-44228"))
    assert (scope.vuln_id, scope.aliases) == ("CVE-2021-44228", ("GHSA-jfh8-c2jp-5v3q",))
