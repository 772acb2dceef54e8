"""The image rules (posture/rules/image.py) on both sides of each condition and at each boundary (issue 26).

Pure unit tests over hand-made image records: no engine, no registry. The clock is pinned, so the age
boundaries are exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from posture.records import ENGINE_SOURCE, AssetKind, AssetRecord
from posture.rules import image as image_rules
from posture.rules.base import Hit, Reference, RuleRegistry, Snapshot, Verdict, evaluate_all
from posture.secrets import TOKEN_PATTERNS
from posture.taxonomy import CIS_DOCKER, TRIVY, Phase, Severity

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KEY = "sha256:" + "a" * 64


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # image.py imports utcnow by name, so the name in that module is the one to pin.
    monkeypatch.setattr(image_rules, "utcnow", lambda: NOW)


def image(config: dict[str, Any] | None = None, **attrs: Any) -> AssetRecord:
    """An image whose config is healthy (non-root USER, a HEALTHCHECK, no age) unless ``config`` says otherwise."""
    healthy: dict[str, Any] = {"user": "app", "healthcheck": {"test": ["CMD", "true"]}, "created": ""}
    attributes = {"repo_tags": ["app:1.0"], "config": {**healthy, **(config or {})}, **attrs}
    return AssetRecord(AssetKind.IMAGE, KEY, "app:1.0", Phase.BUILD, attributes)


def verdicts(asset: AssetRecord, rule_id: str, **settings: int) -> list[Verdict]:
    registry = RuleRegistry(image_rules.rules(**settings) if settings else image_rules.RULES)
    return [v for v in evaluate_all(registry, Snapshot([asset]), [asset]) if v.rule.id == rule_id]


def hits(asset: AssetRecord, rule_id: str, **settings: int) -> list[Hit]:
    return [v.hit for v in verdicts(asset, rule_id, **settings)]


def test_a_healthy_tagged_image_has_no_findings() -> None:
    assert list(evaluate_all(RuleRegistry(image_rules.RULES), Snapshot([image()]), [image()])) == []


# --- the rule table ------------------------------------------------------------------------------

# (id, severity, NIST SP 800-190 section, references). CIS Docker Benchmark 1.6.0 section 4: 4.1 "a user
# for the container has been created", 4.6 "HEALTHCHECK instructions have been added", 4.10 "secrets are
# not stored in Dockerfiles"; Trivy Dockerfile checks DS002 (root user), DS026 (no HEALTHCHECK), DS001
# (':latest' tag). NIST SP 800-190 §3.1.2 image configuration defects, §3.1.4 embedded clear-text
# secrets, §3.1.5 use of untrusted images (mutable tags), §3.1.1 image vulnerabilities (stale base).
RULE_TABLE = [
    ("IMG-ROOT-USER", Severity.MEDIUM, "3.1.2", (Reference(CIS_DOCKER, "4.1"), Reference(TRIVY, "DS002"))),
    ("IMG-NO-HEALTHCHECK", Severity.LOW, "3.1.2", (Reference(CIS_DOCKER, "4.6"), Reference(TRIVY, "DS026"))),
    ("IMG-SECRET", Severity.HIGH, "3.1.4", (Reference(CIS_DOCKER, "4.10"),)),
    ("IMG-LATEST-TAG", Severity.LOW, "3.1.5", (Reference(TRIVY, "DS001"),)),
    ("IMG-UNTAGGED", Severity.LOW, "3.1.5", ()),
    ("IMG-STALE", Severity.LOW, "3.1.1", ()),
]


def test_the_rule_table() -> None:
    rules = image_rules.rules()
    assert [(r.id, r.severity, r.nist, r.references) for r in rules] == RULE_TABLE
    for rule in rules:
        assert rule.phase is Phase.BUILD
        assert rule.kinds == frozenset({AssetKind.IMAGE})
        assert rule.title and rule.remediation  # what a user reads next to the finding
    assert [r.id for r in image_rules.RULES] == [row[0] for row in RULE_TABLE]


def test_the_stale_rule_title_names_the_threshold() -> None:
    assert image_rules.rules(max_image_age_days=30)[-1].title == "Image older than 30 days"
    assert image_rules.RULES[-1].title == "Image older than 365 days"


# --- IMG-ROOT-USER (CIS 4.1) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "shown"),
    [
        (None, "(unset: root)"),
        ("", "(unset: root)"),
        ("   ", "(unset: root)"),
        ("root", "root"),
        ("0", "0"),
        (" root ", "root"),
        ("0:0", "0:0"),
        ("root:root", "root:root"),
        ("root:0", "root:0"),
        ("0:root", "0:root"),
        # UID 0 whatever the group: USER 0:1000 still runs as root (a bug fixed in issue 26).
        ("0:1000", "0:1000"),
        ("root:staff", "root:staff"),
    ],
)
def test_root_users_are_flagged_with_the_user_shown(user: str | None, shown: str) -> None:
    assert hits(image({"user": user}), "IMG-ROOT-USER") == [Hit(evidence={"user": shown})]


@pytest.mark.parametrize("user", ["app", "1000", "1000:0", "1000:root", "nobody:nogroup", "rooty", "00x"])
def test_non_root_users_are_not_flagged(user: str) -> None:
    assert hits(image({"user": user}), "IMG-ROOT-USER") == []


def test_an_image_without_a_config_is_not_judged() -> None:
    # A scanner report can name an image whose config nobody read: unknown is not root.
    for attributes in ({}, {"config": None}, {"config": "not-a-mapping"}):
        asset = AssetRecord(AssetKind.IMAGE, KEY, "app", Phase.BUILD, {"repo_tags": ["app:1"], **attributes})
        found = {v.rule.id for v in evaluate_all(RuleRegistry(image_rules.RULES), Snapshot([asset]), [asset])}
        assert found == set()


# --- IMG-NO-HEALTHCHECK (CIS 4.6) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("healthcheck", "shown"),
    [
        (None, None),
        ({}, None),
        ({"test": []}, None),
        ({"test": None}, None),
        ("CMD true", None),  # not a mapping: no usable healthcheck
        ({"test": ["NONE"]}, "NONE"),  # HEALTHCHECK NONE disables an inherited one
    ],
)
def test_missing_or_disabled_healthcheck(healthcheck: Any, shown: str | None) -> None:
    assert hits(image({"healthcheck": healthcheck}), "IMG-NO-HEALTHCHECK") == [Hit(evidence={"healthcheck": shown})]


@pytest.mark.parametrize("test", [["CMD", "curl", "-f", "http://localhost/"], ["CMD-SHELL", "pg_isready"], ["NONEX"]])
def test_a_real_healthcheck_passes(test: list[str]) -> None:
    assert hits(image({"healthcheck": {"test": test, "interval_ns": 30_000_000_000}}), "IMG-NO-HEALTHCHECK") == []


# --- IMG-SECRET (CIS 4.10) -------------------------------------------------------------------------

# The token formats of posture/secrets.py (_TOKENS, "Sources: the providers' published formats") whose
# match is a live credential: every one except those that may be a placeholder or a public value.
UNCERTAIN_TOKEN_DETECTORS = {"slack-webhook", "jwt", "url-credentials", "host-credentials"}
CERTAIN_DETECTORS = {
    "private-key", "aws-access-key-id", "github-token", "github-fine-grained-token", "gitlab-token",
    "slack-token", "google-api-key", "gcp-service-account", "stripe-key", "anthropic-key", "openai-key",
    "npm-token", "pypi-token", "dockerhub-token", "huggingface-token", "sendgrid-key", "digitalocean-token",
    "shopify-token", "azure-storage-key",
}  # fmt: skip


def secret(detector: str, hash_: str = "hmac-sha256:" + "0123456789abcdef" * 4, location: str = "env",
           key: str = "TOKEN", preview: str = "ab… (sha256:0011)") -> dict[str, Any]:  # fmt: skip
    return {"location": location, "key": key, "detector": detector, "preview": preview, "hash": hash_}


def secret_severity(*found: dict[str, Any]) -> Severity:
    (verdict,) = verdicts(image(secrets=list(found)), "IMG-SECRET")
    return verdict.severity


def test_the_certain_detectors_are_the_token_formats_less_the_uncertain_ones() -> None:
    assert {d for d, _ in TOKEN_PATTERNS} - UNCERTAIN_TOKEN_DETECTORS == CERTAIN_DETECTORS


@pytest.mark.parametrize("detector", sorted(CERTAIN_DETECTORS))
def test_a_certain_token_format_is_critical(detector: str) -> None:
    assert secret_severity(secret(detector)) is Severity.CRITICAL


@pytest.mark.parametrize("detector", sorted(UNCERTAIN_TOKEN_DETECTORS | {"key-name"}))
def test_an_uncertain_detector_keeps_the_rules_high(detector: str) -> None:
    assert secret_severity(secret(detector)) is Severity.HIGH


def test_entropy_alone_is_medium_and_named_evidence_raises_it() -> None:
    assert secret_severity(secret("entropy"), secret("entropy", location="history")) is Severity.MEDIUM
    assert secret_severity(secret("entropy"), secret("key-name")) is Severity.HIGH
    # One certain sighting of the same value is enough, whichever comes first.
    assert secret_severity(secret("key-name"), secret("github-token")) is Severity.CRITICAL
    assert secret_severity(secret("entropy"), secret("aws-access-key-id")) is Severity.CRITICAL


def test_a_secret_only_in_deleted_layer_files() -> None:
    deleted = [secret("private-key", location="layer-deleted", key="/root/.ssh/id_rsa")] * 2
    (verdict,) = verdicts(image(secrets=deleted), "IMG-SECRET")
    # Still in the image (a layer keeps it), so still a finding, but not a live-credential CRITICAL.
    assert verdict.severity is Severity.HIGH
    assert verdict.title == "Secret in a file deleted by a later layer (still in the image)"
    (entropy,) = verdicts(image(secrets=[secret("entropy", location="layer-deleted")]), "IMG-SECRET")
    assert (entropy.severity, entropy.title) == (Severity.MEDIUM, verdict.title)


def test_a_secret_also_outside_deleted_files_is_not_called_deleted() -> None:
    mixed = [secret("private-key", location="layer-deleted"), secret("private-key", location="layer")]
    (verdict,) = verdicts(image(secrets=mixed), "IMG-SECRET")
    assert (verdict.severity, verdict.title) == (Severity.CRITICAL, "Secret stored in the image")


def test_one_hit_per_distinct_secret_with_every_sighting_as_evidence() -> None:
    h1 = "hmac-sha256:" + "1" * 16 + "f" * 48
    h2 = "hmac-sha256:" + "0" * 16 + "e" * 48
    found = [
        secret("key-name", h1, location="env", key="DB_PASSWORD", preview="Su… (sha256:1)"),
        secret("entropy", h2, location="label", key="build.token", preview="x… (sha256:2)"),
        secret("entropy", h1, location="history", key="", preview="Su… (sha256:3)"),
    ]
    got = hits(image(secrets=found), "IMG-SECRET")
    # Sorted by hash; the discriminator is the hash without its scheme, cut to 16 characters.
    assert got == [
        Hit(
            discriminator="0" * 16,
            evidence={
                "found_in": [{"location": "label", "key": "build.token", "detector": "entropy"}],
                "preview": "x… (sha256:2)",
                "detector": "entropy",
            },
            severity=Severity.MEDIUM,
        ),
        Hit(
            discriminator="1" * 16,
            evidence={
                "found_in": [
                    {"location": "env", "key": "DB_PASSWORD", "detector": "key-name"},
                    {"location": "history", "key": "", "detector": "entropy"},
                ],
                "preview": "Su… (sha256:1)",
                "detector": "key-name",
            },
        ),
    ]


def test_a_hash_without_the_hmac_scheme_is_cut_as_it_is() -> None:
    (hit,) = hits(image(secrets=[secret("key-name", "sha256:abcdefabcdefabcdef00")]), "IMG-SECRET")
    assert hit.discriminator == "sha256:abcdefabc"


@pytest.mark.parametrize("found", [None, []])
def test_no_secrets_no_hit(found: list[Any] | None) -> None:
    assert hits(image(secrets=found), "IMG-SECRET") == []


# --- IMG-LATEST-TAG (Trivy DS001) and IMG-UNTAGGED ---------------------------------------------------


def test_every_latest_tag_is_one_hit() -> None:
    tags = ["nginx:latest", "reg.example:5000/team/app:latest", "app:1.0", "app:latest-alpine", "latest.example/app:1"]
    got = hits(image(repo_tags=tags), "IMG-LATEST-TAG")
    assert got == [
        Hit(discriminator="nginx:latest", evidence={"tag": "nginx:latest"}),
        Hit(discriminator="reg.example:5000/team/app:latest", evidence={"tag": "reg.example:5000/team/app:latest"}),
    ]


def test_a_registry_port_is_not_a_tag() -> None:
    # "host:latest/app:1" has ":latest" only in its registry part; the tag is 1.
    assert hits(image(repo_tags=["host:latest/app:1"]), "IMG-LATEST-TAG") == []
    assert hits(image(repo_tags=None), "IMG-LATEST-TAG") == []


def test_an_engine_image_without_tags_is_untagged() -> None:
    digests = ["app@sha256:" + "b" * 64]
    for tags in ([], None):
        engine = image(source=ENGINE_SOURCE, repo_tags=tags, repo_digests=digests)
        assert hits(engine, "IMG-UNTAGGED") == [Hit(evidence={"repo_digests": digests})]
    bare = image(source=ENGINE_SOURCE, repo_tags=[])
    assert hits(bare, "IMG-UNTAGGED") == [Hit(evidence={"repo_digests": []})]


def test_tagged_or_not_engine_images_are_not_untagged() -> None:
    assert hits(image(source=ENGINE_SOURCE), "IMG-UNTAGGED") == []
    assert hits(image(source="registry", repo_tags=[]), "IMG-UNTAGGED") == []
    assert hits(image(repo_tags=[]), "IMG-UNTAGGED") == []


# --- IMG-STALE ------------------------------------------------------------------------------------


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("age", "stale"),
    [
        (timedelta(days=365), False),  # DEFAULT_MAX_IMAGE_AGE_DAYS exactly: not older than the threshold
        (timedelta(days=365, seconds=1), True),
        (timedelta(days=364), False),
        (timedelta(days=3650), True),
    ],
)
def test_the_default_threshold_is_365_days(age: timedelta, stale: bool) -> None:
    created = stamp(NOW - age)
    expected = [Hit(evidence={"created": created, "max_age_days": 365})] if stale else []
    assert hits(image({"created": created}), "IMG-STALE") == expected


def test_the_configured_threshold_and_its_boundary() -> None:
    exactly, over = stamp(NOW - timedelta(days=30)), stamp(NOW - timedelta(days=30, seconds=1))
    assert hits(image({"created": exactly}), "IMG-STALE", max_image_age_days=30) == []
    assert hits(image({"created": over}), "IMG-STALE", max_image_age_days=30) == [
        Hit(evidence={"created": over, "max_age_days": 30})
    ]


@pytest.mark.parametrize(
    "created",
    [
        "1970-01-01T00:00:00Z",  # SOURCE_DATE_EPOCH=0: a reproducible build, not an age
        "1970-12-31T23:59:59Z",
        "",
        None,
        "yesterday",
    ],
)
def test_unknown_or_reproducible_build_times_are_not_stale(created: str | None) -> None:
    assert hits(image({"created": created}), "IMG-STALE", max_image_age_days=1) == []


def test_the_first_year_after_the_epoch_is_a_real_age() -> None:
    assert len(hits(image({"created": "1971-01-01T00:00:00Z"}), "IMG-STALE", max_image_age_days=1)) == 1


def test_an_image_without_a_config_has_no_age() -> None:
    asset = AssetRecord(AssetKind.IMAGE, KEY, "app", Phase.BUILD, {"repo_tags": ["app:1"]})
    assert hits(asset, "IMG-STALE", max_image_age_days=1) == []
