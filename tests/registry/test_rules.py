"""The registry rules over hand-made snapshots: what fires, at which severity, and what must not."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from posture.records import AssetKind, AssetRecord, AssetRef, RelationRecord
from posture.rules import registry as reg
from posture.rules.base import RuleRegistry, Snapshot, Verdict, evaluate_all
from posture.taxonomy import NIST_SECTIONS, Phase, Severity

RULES = RuleRegistry(reg.RULES)
HOST = "reg.example:5000"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
IMG = "sha256:" + "c" * 64


def registry(policy: Mapping[str, Any] | None = None, **attrs: Any) -> AssetRecord:
    base = {
        "url": f"https://{HOST}",
        "scheme": "https",
        "tls_verify": True,
        "anonymous_catalog": False,
        "anonymous_pull": False,
        "policy": dict(policy or {}),
    }
    return AssetRecord(AssetKind.REGISTRY, HOST, HOST, Phase.DISTRIBUTE, {**base, **attrs})


def repository(name: str = "team/app") -> AssetRecord:
    return AssetRecord(
        AssetKind.REPOSITORY,
        f"{HOST}/{name}",
        f"{HOST}/{name}",
        Phase.DISTRIBUTE,
        {"name": name},
        AssetRef(AssetKind.REGISTRY, HOST),
    )


def tag(name: str, digest: str = D1, **attrs: Any) -> AssetRecord:
    key = f"{HOST}/team/app:{name}"
    base = {
        "repository": "team/app",
        "tag": name,
        "digest": digest,
        "images": [],
        "signatures": [],
        "artifact_type": "",
    }
    return AssetRecord(
        AssetKind.TAG, key, key, Phase.DISTRIBUTE, {**base, **attrs}, AssetRef(AssetKind.REPOSITORY, f"{HOST}/team/app")
    )


def image(created: str = "2024-01-01T00:00:00Z", labels: Mapping[str, str] | None = None, **attrs: Any) -> AssetRecord:
    config = {"user": "", "created": created, "labels": dict(labels or {})}
    return AssetRecord(AssetKind.IMAGE, IMG, "img", Phase.BUILD, {"config": config, **attrs})


def points(t: AssetRecord, key: str = IMG) -> RelationRecord:
    return RelationRecord(t.ref, "points-to", AssetRef(AssetKind.IMAGE, key))


def run(
    assets: list[AssetRecord],
    relations: list[RelationRecord] = (),  # type: ignore[assignment]
    previous: Mapping[AssetRef, Mapping[str, Any]] | None = None,
) -> list[Verdict]:
    return list(evaluate_all(RULES, Snapshot(assets, relations, previous), assets))


def ids(verdicts: list[Verdict]) -> list[str]:
    return sorted(v.rule.id for v in verdicts)


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    pinned = datetime(2025, 1, 1, tzinfo=UTC)
    monkeypatch.setattr("posture.clock.utcnow", lambda: pinned)
    return pinned


def test_every_rule_cites_a_registry_or_image_nist_section() -> None:
    for rule in reg.RULES:
        assert rule.id.startswith("REG-")
        assert NIST_SECTIONS[rule.nist][0].value in ("registry", "image")


def test_a_secure_authenticated_registry_has_no_findings() -> None:
    assert run([registry()]) == []


@pytest.mark.parametrize(
    ("attrs", "rule"),
    [
        ({"scheme": "http", "tls_verify": False}, "REG-PLAIN-HTTP"),
        ({"tls_verify": False}, "REG-TLS-UNVERIFIED"),
        ({"anonymous_catalog": True}, "REG-ANON-CATALOG"),
        ({"anonymous_pull": True}, "REG-ANON-PULL"),
    ],
)
def test_registry_connection_and_access_checks(attrs: dict[str, Any], rule: str) -> None:
    verdicts = run([registry(**attrs)])
    assert ids(verdicts) == [rule]
    assert verdicts[0].rule.nist in ("3.2.1", "3.2.3")


def test_unknown_anonymous_access_is_not_a_finding() -> None:
    assert run([registry(anonymous_catalog=None, anonymous_pull=None)]) == []


def test_moved_release_tag_is_high_and_moved_latest_is_info() -> None:
    release, latest, floating = tag("1.4.2", D2), tag("latest", D2), tag("main", D2)
    previous = {t.ref: {"digest": D1, "tag": t.attributes["tag"]} for t in (release, latest, floating)}
    verdicts = [
        v
        for v in run([registry(), repository(), release, latest, floating], previous=previous)
        if v.rule.id == "REG-TAG-DRIFT"
    ]
    by_tag = {v.asset.key.rsplit(":", 1)[1]: v for v in verdicts}
    assert by_tag["1.4.2"].severity is Severity.HIGH
    assert by_tag["latest"].severity is Severity.INFO
    assert by_tag["main"].severity is Severity.LOW
    assert by_tag["1.4.2"].hit.evidence == {"previous_digest": D1, "digest": D2}
    assert by_tag["1.4.2"].hit.discriminator == D2  # the move itself, so a later move is a new finding


def test_unmoved_or_new_tags_do_not_drift() -> None:
    unmoved, new = tag("1.0.0", D1), tag("2.0.0", D1)
    verdicts = run([registry(), repository(), unmoved, new], previous={unmoved.ref: {"digest": D1}})
    assert "REG-TAG-DRIFT" not in ids(verdicts)


def test_drift_rule_asks_for_previous_attributes() -> None:
    assert AssetKind.TAG in RULES.kinds_needing_previous


def test_latest_tag_itself_is_informational() -> None:
    verdicts = [
        v for v in run([registry(), repository(), tag("latest"), tag("1.0.0")]) if v.rule.id == "REG-LATEST-TAG"
    ]
    assert [v.asset.key for v in verdicts] == [f"{HOST}/team/app:latest"]
    assert verdicts[0].severity is Severity.INFO


def test_stale_image_uses_default_and_registry_policy(now: datetime) -> None:
    t = tag("1.0.0")
    old = image(created="2024-06-01T00:00:00.123456789Z")  # 214 days before "now"; Go's nanoseconds
    default = run([registry(), repository(), t, old], [points(t)])
    assert "REG-STALE-IMAGE" in ids(default)
    stale = next(v for v in default if v.rule.id == "REG-STALE-IMAGE")
    assert stale.hit.evidence["stale_days"] == 180
    relaxed = run([registry({"stale_days": 365}), repository(), t, old], [points(t)])
    assert "REG-STALE-IMAGE" not in ids(relaxed)


def test_a_multi_platform_tag_is_stale_only_if_its_newest_image_is(now: datetime) -> None:
    t = tag("1.0.0")
    old = image(created="2023-01-01T00:00:00Z")
    fresh = AssetRecord(
        AssetKind.IMAGE, "sha256:" + "f" * 64, "f", Phase.BUILD, {"config": {"created": "2024-12-01T00:00:00Z"}}
    )
    verdicts = run([registry(), repository(), t, old, fresh], [points(t), points(t, fresh.key)])
    assert "REG-STALE-IMAGE" not in ids(verdicts)


def test_unsigned_only_under_a_signature_policy() -> None:
    t = tag("1.0.0")
    assert "REG-UNSIGNED-IMAGE" not in ids(run([registry(), repository(), t]))
    strict = registry({"require_signatures": True})
    assert "REG-UNSIGNED-IMAGE" in ids(run([strict, repository(), t]))
    signed = tag("1.0.0", signatures=["cosign-tag"])
    assert "REG-UNSIGNED-IMAGE" not in ids(run([strict, repository(), signed]))
    helm_chart = tag("1.0.0", artifact_type="application/vnd.cncf.helm.config.v1+json")
    assert "REG-UNSIGNED-IMAGE" not in ids(run([strict, repository(), helm_chart]))


@pytest.mark.parametrize(
    ("base", "allowed", "fires"),
    [
        ("quay.io/org/base:1", ["reg.example:5000"], True),
        ("reg.example:5000/base/debian:12", ["reg.example:5000"], False),
        ("alpine:3.19", ["docker.io"], False),  # Docker Hub short names
        ("library/alpine", ["index.docker.io"], False),
        ("alpine:3.19", ["quay.io"], True),
        ("quay.io/org/base:1", [], False),  # no allow-list: no policy, no finding
    ],
)
def test_base_image_registry_allow_list(base: str, allowed: list[str], fires: bool) -> None:
    t = tag("1.0.0")
    img = image(labels={"org.opencontainers.image.base.name": base})
    verdicts = run([registry({"allowed_base_registries": allowed}), repository(), t, img], [points(t)])
    assert ("REG-BASE-REGISTRY" in ids(verdicts)) is fires


def test_base_image_from_the_manifest_annotation() -> None:
    t = tag("1.0.0")
    img = image(base_image="ghcr.io/other/base:1")
    verdicts = run([registry({"allowed_base_registries": ["reg.example:5000"]}), repository(), t, img], [points(t)])
    hit = next(v for v in verdicts if v.rule.id == "REG-BASE-REGISTRY").hit
    assert hit.evidence["base_registry"] == "ghcr.io"


def test_an_image_seen_outside_any_registry_is_not_judged_by_registry_policy() -> None:
    img = image(labels={"org.opencontainers.image.base.name": "quay.io/x/y"})
    assert run([img]) == []
