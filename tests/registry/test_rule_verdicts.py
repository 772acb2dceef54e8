"""The registry rules (posture/rules/registry.py) on both sides of each condition and at each boundary (issue 26).

Pure unit tests over hand-made snapshots (registry → repository → tag → points-to → image): no registry
service. The clock is pinned, so the stale boundary is exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from posture.records import AssetKind, AssetRecord, AssetRef, RelationRecord
from posture.rules import registry as reg
from posture.rules.base import Hit, Reference, RuleRegistry, Snapshot, Verdict, evaluate_all
from posture.taxonomy import CIS_DOCKER, Phase, Severity
from tests.sarif_rules import descriptors

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOST = "reg.example:5000"
REPO = f"{HOST}/team/app"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
IMG = "sha256:" + "c" * 64


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("posture.clock.utcnow", lambda: NOW)


def registry(policy: Any = None, host: str = HOST, **attrs: Any) -> AssetRecord:
    """A registry with nothing wrong: HTTPS, verified, no anonymous access."""
    base: dict[str, Any] = {
        "url": f"https://{host}",
        "scheme": "https",
        "tls_verify": True,
        "anonymous_catalog": False,
        "anonymous_pull": False,
    }
    if policy is not None:
        base["policy"] = policy
    return AssetRecord(AssetKind.REGISTRY, host, host, Phase.DISTRIBUTE, {**base, **attrs})


def repository(host: str = HOST) -> AssetRecord:
    key = f"{host}/team/app"
    parent = AssetRef(AssetKind.REGISTRY, host)
    return AssetRecord(AssetKind.REPOSITORY, key, key, Phase.DISTRIBUTE, {"name": "team/app"}, parent)


def tag(name: str = "1.0.0", digest: str | None = D1, host: str = HOST, **attrs: Any) -> AssetRecord:
    key = f"{host}/team/app:{name}"
    base = {"tag": name, "digest": digest, "images": [], "signatures": [], "artifact_type": ""}
    return AssetRecord(
        AssetKind.TAG, key, key, Phase.DISTRIBUTE, {**base, **attrs}, AssetRef(AssetKind.REPOSITORY, f"{host}/team/app")
    )


def image(key: str = IMG, config: Any = None, **attrs: Any) -> AssetRecord:
    return AssetRecord(AssetKind.IMAGE, key, key[:19], Phase.BUILD, {"config": config or {}, **attrs})


def points(source: AssetRecord, target: str = IMG, relation: str = "points-to") -> RelationRecord:
    return RelationRecord(source.ref, relation, AssetRef(AssetKind.IMAGE, target))


def verdicts(
    rule_id: str,
    assets: list[AssetRecord],
    relations: list[RelationRecord] | None = None,
    previous: Mapping[AssetRef, Mapping[str, Any]] | None = None,
) -> list[Verdict]:
    snapshot = Snapshot(assets, relations or [], previous)
    return [v for v in evaluate_all(RuleRegistry(reg.RULES), snapshot, assets) if v.rule.id == rule_id]


def hits(rule_id: str, assets: list[AssetRecord], relations: list[RelationRecord] | None = None) -> list[Hit]:
    return [v.hit for v in verdicts(rule_id, assets, relations)]


# --- the rule table ------------------------------------------------------------------------------

# (id, severity, phase, NIST SP 800-190 section, references, kinds). NIST SP 800-190 §3.2.1 insecure
# connections to registries, §3.2.2 stale images in registries, §3.2.3 insufficient authentication and
# authorization restrictions, §3.1.5 use of untrusted images. CIS Docker Benchmark 1.6.0: 2.5 "insecure
# registries are not used", 4.5 "Content trust for Docker is enabled", 4.2 "only trusted base images".
R, T, IM = frozenset({AssetKind.REGISTRY}), frozenset({AssetKind.TAG}), frozenset({AssetKind.IMAGE})
RULE_TABLE = [
    ("REG-PLAIN-HTTP", Severity.HIGH, Phase.DISTRIBUTE, "3.2.1", (Reference(CIS_DOCKER, "2.5"),), R),
    ("REG-TLS-UNVERIFIED", Severity.HIGH, Phase.DISTRIBUTE, "3.2.1", (Reference(CIS_DOCKER, "2.5"),), R),
    ("REG-ANON-CATALOG", Severity.MEDIUM, Phase.DISTRIBUTE, "3.2.3", (), R),
    ("REG-ANON-PULL", Severity.MEDIUM, Phase.DISTRIBUTE, "3.2.3", (), R),
    ("REG-STALE-IMAGE", Severity.LOW, Phase.DISTRIBUTE, "3.2.2", (), T),
    ("REG-TAG-DRIFT", Severity.LOW, Phase.DISTRIBUTE, "3.2.2", (), T),
    ("REG-LATEST-TAG", Severity.INFO, Phase.DISTRIBUTE, "3.2.2", (), T),
    ("REG-UNSIGNED-IMAGE", Severity.MEDIUM, Phase.DISTRIBUTE, "3.1.5", (Reference(CIS_DOCKER, "4.5"),), T),
    ("REG-BASE-REGISTRY", Severity.MEDIUM, Phase.BUILD, "3.1.5", (Reference(CIS_DOCKER, "4.2"),), IM),
    # No evaluator: posture/held_vulns.py derives it from the store.
    ("REG-HELD-FIXABLE-CRITICAL", Severity.HIGH, Phase.DISTRIBUTE, "3.2.2", (), frozenset()),
]


def test_the_rule_table() -> None:
    assert [(r.id, r.severity, r.phase, r.nist, r.references, r.kinds) for r in reg.RULES] == RULE_TABLE
    assert [r.id for r in reg.RULES if r.needs_previous] == ["REG-TAG-DRIFT"]
    assert reg.RULES[-1] is reg.HELD_FIXABLE_CRITICAL and reg.HELD_FIXABLE_CRITICAL.evaluate is None
    for rule in reg.RULES:
        assert rule.title and rule.remediation  # what a user reads next to the finding


def test_the_rules_that_need_more_than_a_title_explain_themselves_in_sarif() -> None:
    """Where a rule's title alone would mislead (when it is checked, what "stale" means, why a moved
    tag is high), its description says it, shown as SARIF's fullDescription."""
    described = descriptors(RuleRegistry(reg.RULES), [r.id for r in reg.RULES])
    shown = {rule_id: entry["fullDescription"]["text"]
             for rule_id, entry in described.items() if "fullDescription" in entry}
    assert shown == {r.id: r.description for r in reg.RULES if r.description}
    assert sorted(shown) == ["REG-BASE-REGISTRY", "REG-HELD-FIXABLE-CRITICAL", "REG-PLAIN-HTTP", "REG-STALE-IMAGE",
                             "REG-TAG-DRIFT", "REG-TLS-UNVERIFIED", "REG-UNSIGNED-IMAGE"]


def test_the_default_policy() -> None:
    # A registry that states no policy: stale after 180 days, signatures not required, any base registry.
    expected = {"stale_days": 180, "require_signatures": False, "allowed_base_registries": []}
    assert reg.policy_of(None) == expected
    assert reg.policy_of(registry()) == expected
    assert reg.policy_of(registry("not-a-mapping")) == expected
    assert reg.policy_of(registry({"stale_days": 30})) == {**expected, "stale_days": 30}


# --- connection and access (§3.2.1, §3.2.3) ---------------------------------------------------------


def test_a_sound_registry_has_no_findings() -> None:
    assert list(evaluate_all(RuleRegistry(reg.RULES), Snapshot([registry()]), [registry()])) == []


@pytest.mark.parametrize(
    ("attrs", "fired"),
    [
        ({"scheme": "http"}, {"REG-PLAIN-HTTP"}),
        ({"scheme": "http", "tls_verify": False}, {"REG-PLAIN-HTTP"}),  # no TLS to verify
        ({"tls_verify": False}, {"REG-TLS-UNVERIFIED"}),
        ({"tls_verify": None}, set()),  # not determined
        ({"tls_verify": 0}, set()),
        ({"scheme": "HTTP"}, set()),
        ({"anonymous_catalog": True}, {"REG-ANON-CATALOG"}),
        ({"anonymous_catalog": None}, set()),
        ({"anonymous_catalog": 1}, set()),
        ({"anonymous_pull": True}, {"REG-ANON-PULL"}),
        ({"anonymous_pull": None}, set()),
        ({"anonymous_pull": "yes"}, set()),
    ],
)
def test_connection_and_access(attrs: dict[str, Any], fired: set[str]) -> None:
    asset = registry(**attrs)
    assert {v.rule.id for v in evaluate_all(RuleRegistry(reg.RULES), Snapshot([asset]), [asset])} == fired


def test_connection_and_access_evidence() -> None:
    url = "http://reg.example"
    assert hits("REG-PLAIN-HTTP", [registry(scheme="http", url=url)]) == [Hit(evidence={"url": url})]
    assert hits("REG-TLS-UNVERIFIED", [registry(tls_verify=False)]) == [Hit(evidence={"url": f"https://{HOST}"})]
    assert hits("REG-ANON-CATALOG", [registry(anonymous_catalog=True)]) == [Hit(evidence={"url": f"https://{HOST}"})]
    pull = registry(anonymous_pull=True, pull_probe="team/app:latest")
    assert hits("REG-ANON-PULL", [pull]) == [Hit(evidence={"url": f"https://{HOST}", "probe": "team/app:latest"})]


def test_evidence_without_a_url_or_probe_is_empty_text() -> None:
    bare = {"scheme": "http", "tls_verify": False, "anonymous_catalog": True, "anonymous_pull": True}
    asset = AssetRecord(AssetKind.REGISTRY, HOST, HOST, Phase.DISTRIBUTE, bare)
    assert hits("REG-PLAIN-HTTP", [asset]) == [Hit(evidence={"url": ""})]
    assert hits("REG-ANON-CATALOG", [asset]) == [Hit(evidence={"url": ""})]
    assert hits("REG-ANON-PULL", [asset]) == [Hit(evidence={"url": "", "probe": ""})]
    https = AssetRecord(AssetKind.REGISTRY, HOST, HOST, Phase.DISTRIBUTE, {"scheme": "https", "tls_verify": False})
    assert hits("REG-TLS-UNVERIFIED", [https]) == [Hit(evidence={"url": ""})]


# --- finding the registry -------------------------------------------------------------------------


def chain(depth: int) -> tuple[AssetRecord, list[AssetRecord]]:
    """A tag whose registry is ``depth`` parents up (the collector's tag → repository → registry is 2)."""
    top = registry()
    assets = [top]
    parent = top.ref
    for level in range(depth - 1):
        key = f"{HOST}/level{level}"
        node = AssetRecord(AssetKind.REPOSITORY, key, key, Phase.DISTRIBUTE, {}, parent)
        assets.append(node)
        parent = node.ref
    leaf = AssetRecord(AssetKind.TAG, f"{HOST}/leaf:1", "leaf", Phase.DISTRIBUTE, {"tag": "1"}, parent)
    return leaf, [*assets, leaf]


@pytest.mark.parametrize(("depth", "found"), [(1, True), (2, True), (4, True), (5, False)])
def test_the_registry_is_looked_for_four_parents_up(depth: int, found: bool) -> None:
    leaf, assets = chain(depth)
    got = reg.registry_of(leaf, Snapshot(assets))
    assert (got is not None and got.key == HOST) is found


def test_no_registry_when_a_parent_is_missing_or_absent_or_a_cycle() -> None:
    assert reg.registry_of(registry(), Snapshot([registry()])) is None  # no parent at all
    assert reg.registry_of(tag(), Snapshot([tag()])) is None  # repository not in the snapshot
    a = AssetRecord(AssetKind.REPOSITORY, "a", "a", Phase.DISTRIBUTE, {}, AssetRef(AssetKind.REPOSITORY, "b"))
    b = AssetRecord(AssetKind.REPOSITORY, "b", "b", Phase.DISTRIBUTE, {}, AssetRef(AssetKind.REPOSITORY, "a"))
    assert reg.registry_of(a, Snapshot([a, b])) is None


# --- REG-STALE-IMAGE (§3.2.2) ----------------------------------------------------------------------


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def stale(age: timedelta, policy: Any = None) -> list[Hit]:
    t = tag()
    created = stamp(NOW - age)
    return hits("REG-STALE-IMAGE", [registry(policy), repository(), t, image(config={"created": created})], [points(t)])


@pytest.mark.parametrize(
    ("age", "policy", "fires"),
    [
        (timedelta(days=180), None, False),  # the default stale age exactly: not older
        (timedelta(days=180, seconds=1), None, True),
        (timedelta(days=30), {"stale_days": 30}, False),
        (timedelta(days=30, seconds=1), {"stale_days": 30}, True),
        (timedelta(days=2), {"stale_days": 1}, True),  # the smallest stale age is one day
        (timedelta(days=400), {"stale_days": 0}, False),  # 0 or less: the check is off
        (timedelta(days=400), {"stale_days": -1}, False),
        (timedelta(days=400), {"stale_days": True}, False),  # a bool is not a number of days
        (timedelta(days=400), {"stale_days": "30"}, False),
        (timedelta(days=400), {"stale_days": None}, False),
    ],
)
def test_stale_age_and_its_boundary(age: timedelta, policy: Any, fires: bool) -> None:
    assert bool(stale(age, policy)) is fires


def test_stale_evidence() -> None:
    created = NOW - timedelta(days=200)
    assert stale(timedelta(days=200)) == [
        Hit(evidence={"created": created.isoformat(), "stale_days": 180, "digest": D1})
    ]


def test_a_tag_is_stale_by_its_newest_image() -> None:
    t = tag()
    old, fresh = "sha256:" + "d" * 64, "sha256:" + "e" * 64
    assets = [
        registry(), repository(), t,
        image(old, config={"created": stamp(NOW - timedelta(days=900))}),
        image(fresh, config={"created": stamp(NOW - timedelta(days=10))}),
    ]  # fmt: skip
    assert hits("REG-STALE-IMAGE", assets, [points(t, old), points(t, fresh)]) == []
    older = image(fresh, config={"created": stamp(NOW - timedelta(days=200))})
    (hit,) = hits("REG-STALE-IMAGE", [*assets[:4], older], [points(t, old), points(t, fresh)])
    assert hit.evidence["created"] == (NOW - timedelta(days=200)).isoformat()


def test_no_known_build_time_is_not_stale() -> None:
    t = tag()
    for config in ({}, {"created": ""}, {"created": "soon"}, "not-a-mapping"):
        assert hits("REG-STALE-IMAGE", [registry(), repository(), t, image(config=config)], [points(t)]) == []
    assert hits("REG-STALE-IMAGE", [registry(), repository(), t], [points(t)]) == []  # image not collected
    old = image(config={"created": "2020-01-01T00:00:00Z"})
    assert hits("REG-STALE-IMAGE", [registry(), repository(), t, old], [points(t, relation="signed-by")]) == []


# --- REG-TAG-DRIFT (§3.2.2) ------------------------------------------------------------------------


def drift(name: str, before: Any, now: Any) -> list[Verdict]:
    t = tag(name, now)
    return verdicts("REG-TAG-DRIFT", [registry(), repository(), t], previous={t.ref: {"digest": before}})


@pytest.mark.parametrize(
    ("name", "severity", "title"),
    [
        # A full release version never moves by convention (semver.org; RELEASE_TAG).
        ("1.4.2", Severity.HIGH, "Release tag 1.4.2 was moved to another image"),
        ("v1.4.2", Severity.HIGH, "Release tag v1.4.2 was moved to another image"),
        ("1.4.2-alpine", Severity.HIGH, "Release tag 1.4.2-alpine was moved to another image"),
        ("1.4.2+build.7", Severity.HIGH, "Release tag 1.4.2+build.7 was moved to another image"),
        ("10.20.30_r1", Severity.HIGH, "Release tag 10.20.30_r1 was moved to another image"),
        ("latest", Severity.INFO, "Tag latest now points to another image"),
        ("1.4", Severity.LOW, "Tag 1.4 now points to another image"),  # a minor line moves by design
        ("1.4.2-", Severity.LOW, "Tag 1.4.2- now points to another image"),
        ("x1.4.2", Severity.LOW, "Tag x1.4.2 now points to another image"),
        ("1.4.2.", Severity.LOW, "Tag 1.4.2. now points to another image"),
        ("main", Severity.LOW, "Tag main now points to another image"),
    ],
)
def test_a_moved_tag_by_kind_of_tag(name: str, severity: Severity, title: str) -> None:
    (verdict,) = drift(name, D1, D2)
    assert (verdict.severity, verdict.title) == (severity, title)
    assert verdict.hit.discriminator == D2  # the move itself: a later move is a new finding
    assert verdict.hit.evidence == {"previous_digest": D1, "digest": D2}


@pytest.mark.parametrize(("before", "now"), [(D1, D1), (None, D2), ("", D2), (D1, None), (D1, "")])
def test_no_drift_without_two_different_digests(before: Any, now: Any) -> None:
    assert drift("1.4.2", before, now) == []


def test_a_tag_never_seen_before_has_not_drifted() -> None:
    assert verdicts("REG-TAG-DRIFT", [registry(), repository(), tag("1.4.2", D2)]) == []


# --- REG-LATEST-TAG and REG-UNSIGNED-IMAGE -------------------------------------------------------------


def test_latest_only_for_an_image_tag_named_latest() -> None:
    assert hits("REG-LATEST-TAG", [tag("latest", D2)]) == [Hit(evidence={"digest": D2})]
    assert hits("REG-LATEST-TAG", [tag("latest", artifact_type="application/vnd.cncf.helm.config.v1+json")]) == []
    assert hits("REG-LATEST-TAG", [tag("latest-alpine")]) == []
    assert hits("REG-LATEST-TAG", [tag("1.0.0")]) == []


@pytest.mark.parametrize(
    ("policy", "attrs", "fires"),
    [
        ({"require_signatures": True}, {}, True),
        ({"require_signatures": True}, {"signatures": ["cosign-tag"]}, False),
        ({"require_signatures": True}, {"signatures": ["referrer"]}, False),
        ({"require_signatures": True}, {"signatures": None}, True),
        ({"require_signatures": True}, {"artifact_type": "application/vnd.cncf.helm.config.v1+json"}, False),
        ({"require_signatures": "true"}, {}, False),  # only a real True turns the policy on
        ({"require_signatures": False}, {}, False),
        (None, {}, False),  # the default: not required
    ],
)
def test_unsigned_under_a_signature_policy(policy: Any, attrs: dict[str, Any], fires: bool) -> None:
    expected = [Hit(evidence={"digest": D1})] if fires else []
    assert hits("REG-UNSIGNED-IMAGE", [registry(policy), repository(), tag(**attrs)]) == expected


# --- REG-BASE-REGISTRY (§3.1.5, CIS 4.2) -----------------------------------------------------------


def based(base_label: Any = None, allowed: Any = ("reg.example:5000",), **image_attrs: Any) -> list[Hit]:
    t = tag()
    labels = {} if base_label is None else {reg.BASE_NAME_LABEL: base_label}
    img = image(config={"labels": labels}, **image_attrs)
    policy = {"allowed_base_registries": list(allowed) if isinstance(allowed, tuple) else allowed}
    return hits("REG-BASE-REGISTRY", [registry(policy), repository(), t, img], [points(t)])


def test_the_base_name_label_is_the_oci_annotation() -> None:
    # OCI image-spec annotations.md: org.opencontainers.image.base.name.
    assert reg.BASE_NAME_LABEL == "org.opencontainers.image.base.name"


@pytest.mark.parametrize(
    ("base", "allowed", "fires"),
    [
        ("quay.io/org/base:1", ("reg.example:5000",), True),
        ("reg.example:5000/base/debian:12", ("reg.example:5000",), False),
        ("REG.EXAMPLE:5000/base/debian:12", ("reg.example:5000",), False),
        ("reg.example:5000/base/debian:12", ("REG.example:5000",), False),  # the list is compared lowercased
        ("alpine:3.19", ("docker.io",), False),
        ("alpine:3.19", ("index.docker.io",), False),
        ("alpine:3.19", ("registry-1.docker.io",), False),
        ("alpine:3.19", ("quay.io",), True),
        ("docker.io/library/alpine", ("quay.io", "reg.example:5000"), True),
        ("quay.io/org/base:1", ("docker.io",), True),  # Docker Hub allowed is not everything allowed
        ("alpine:3.19", ("", "quay.io"), True),  # an empty entry allows nothing, Docker Hub included
        ("quay.io/org/base:1", (), False),  # no allow-list: the check is off
        ("quay.io/org/base:1", "quay.io", False),  # not a list: no policy
    ],
)
def test_base_registry_allow_list(base: str, allowed: Any, fires: bool) -> None:
    assert bool(based(base, allowed)) is fires


def test_base_registry_evidence() -> None:
    assert based("quay.io/org/base:1", ("reg.example:5000", "Ghcr.io")) == [
        Hit(evidence={"base_image": "quay.io/org/base:1", "base_registry": "quay.io",
                      "allowed": ["ghcr.io", "reg.example:5000"]})
    ]  # fmt: skip


def test_the_label_wins_over_the_manifest_annotation() -> None:
    assert based("reg.example:5000/base:1", base_image="quay.io/x:1") == []
    (hit,) = based(None, base_image="quay.io/x:1")
    assert hit.evidence["base_image"] == "quay.io/x:1"
    (hit,) = based("", base_image="quay.io/x:1")  # an empty label is no label
    assert hit.evidence["base_registry"] == "quay.io"


@pytest.mark.parametrize("base", [None, "", 42])
def test_no_base_image_no_finding(base: Any) -> None:
    assert based(base) == []
    assert based(None, base_image=base) == []


def test_labels_that_are_not_a_mapping_fall_back_to_the_annotation() -> None:
    t = tag()
    img = image(config={"labels": ["org.opencontainers.image.base.name=quay.io/x"]}, base_image="quay.io/y:1")
    policy = {"allowed_base_registries": ["reg.example:5000"]}
    (hit,) = hits("REG-BASE-REGISTRY", [registry(policy), repository(), t, img], [points(t)])
    assert hit.evidence["base_image"] == "quay.io/y:1"


def test_the_allow_lists_of_every_registry_holding_the_image_are_joined() -> None:
    other = "mirror.example"
    t1, t2 = tag(), tag(host=other)
    img = image(config={"labels": {reg.BASE_NAME_LABEL: "mirror.example/base:1"}})
    assets = [
        registry({"allowed_base_registries": ["reg.example:5000"]}), repository(), t1,
        registry({"allowed_base_registries": [other]}, host=other), repository(other), t2, img,
    ]  # fmt: skip
    assert hits("REG-BASE-REGISTRY", assets, [points(t1), points(t2)]) == []
    # A registry without a list does not switch the check off for the one that has it.
    assets[3] = registry(None, host=other)
    (hit,) = hits("REG-BASE-REGISTRY", assets, [points(t1), points(t2)])
    assert hit.evidence["allowed"] == ["reg.example:5000"]


def test_an_image_only_reached_by_other_relations_or_missing_tags_is_not_governed() -> None:
    t = tag()
    img = image(config={"labels": {reg.BASE_NAME_LABEL: "quay.io/x:1"}})
    strict = registry({"allowed_base_registries": ["reg.example:5000"]})
    assert hits("REG-BASE-REGISTRY", [strict, repository(), t, img], [points(t, relation="signed-by")]) == []
    # The tag that points to it was not collected: no registry, no policy.
    assert hits("REG-BASE-REGISTRY", [strict, repository(), img], [points(t)]) == []
