"""Image configuration checks: CIS Docker Benchmark 1.6.0 section 4, mutable tags and image age.

These rules read only the engine-independent image attributes below, so images collected from a
Docker engine and images whose config a registry collector fetched are judged the same way::

    source:       "docker-engine"                # ENGINE_SOURCE on images an engine listed
    repo_tags:    ["nginx:1.25", ...]            # registry/repository:tag, no "<none>"
    repo_digests: ["nginx@sha256:...", ...]      # manifest digests (also the asset's aliases)
    secrets:      [SecretHit.as_evidence(), ...] # env values, labels, healthcheck, history, layer files
    config:
      user:          ""                          # USER; "" = root
      env_keys:      ["PATH", ...]               # names only, never values
      exposed_ports: ["80/tcp", ...]
      healthcheck:   {"test": [...], "interval_ns", "timeout_ns", "retries"} | None
      labels:        {name: value}               # secret values replaced by their redacted preview
      history:       [{"created_by", "empty_layer", "created"}, ...]   # oldest first, secrets redacted
      created:       "2024-05-01T12:00:00Z"      # RFC 3339; "" when unknown
      os, architecture

``collectors/docker/imageconfig.py`` builds ``config`` from an image config (Docker inspect or OCI
config blob). The age rule compares ``config.created`` with :func:`posture.clock.utcnow`; the
threshold is a parameter of :func:`rules` so the composition root can take it from settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from posture.clock import parse_timestamp, utcnow
from posture.facts.references import mutable_tag
from posture.facts.users import is_root_user
from posture.records import ENGINE_SOURCE, AssetKind, AssetRecord
from posture.rules.base import Evaluate, Hit, Rule, Snapshot, cis_docker, trivy
from posture.taxonomy import Phase, Severity

DEFAULT_MAX_IMAGE_AGE_DAYS = 365
#: Detectors whose hit is almost certainly a live credential, not a guess.
_CERTAIN_DETECTORS = frozenset(
    {
        "private-key",
        "aws-access-key-id",
        "github-token",
        "github-fine-grained-token",
        "gitlab-token",
        "slack-token",
        "google-api-key",
        "gcp-service-account",
        "stripe-key",
        "anthropic-key",
        "openai-key",
        "npm-token",
        "pypi-token",
        "dockerhub-token",
        "huggingface-token",
        "sendgrid-key",
        "digitalocean-token",
        "shopify-token",
        "azure-storage-key",
    }
)
_IMAGE = frozenset({AssetKind.IMAGE})


def _config(asset: AssetRecord) -> Mapping[str, Any] | None:
    """The image config, or None when no source has read it (an image only a scanner report names).

    Unknown is not bad: a rule that judges the config says nothing about an image without one.
    """
    config = asset.attributes.get("config")
    return config if isinstance(config, Mapping) else None


def _root_user(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
    config = _config(asset)
    if config is None:
        return
    user = str(config.get("user") or "").strip()
    if is_root_user(user):
        yield Hit(evidence={"user": user or "(unset: root)"})


def _no_healthcheck(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
    config = _config(asset)
    if config is None:
        return
    check = config.get("healthcheck")
    test = check.get("test") if isinstance(check, Mapping) else None
    if not test or test[0] == "NONE":
        yield Hit(evidence={"healthcheck": "NONE" if test else None})


def _secrets(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
    """One hit per distinct secret (by keyed hash): the same ENV value in env and history is one finding."""
    by_hash: dict[str, list[Mapping[str, Any]]] = {}
    for secret in asset.attributes.get("secrets") or []:
        by_hash.setdefault(str(secret.get("hash", "")), []).append(secret)
    for digest, seen in sorted(by_hash.items()):
        first = seen[0]
        certain = any(s.get("detector") in _CERTAIN_DETECTORS for s in seen)
        deleted = all(s.get("location") == "layer-deleted" for s in seen)
        severity: Severity | None = None  # the rule's HIGH
        if certain and not deleted:
            severity = Severity.CRITICAL
        elif not certain and all(s.get("detector") == "entropy" for s in seen):
            severity = Severity.MEDIUM  # a random-looking value nobody named: likely, not certain
        title = "Secret in a file deleted by a later layer (still in the image)" if deleted else None
        yield Hit(
            discriminator=digest[len("hmac-sha256:") :][:16] if digest.startswith("hmac-sha256:") else digest[:16],
            evidence={
                "found_in": [{k: s.get(k) for k in ("location", "key", "detector")} for s in seen],
                "preview": first.get("preview"),
                "detector": first.get("detector"),
            },
            title=title,
            severity=severity,
        )


def _latest(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
    for tag in asset.attributes.get("repo_tags") or []:
        if mutable_tag(str(tag)) is not None:  # a repo tag always names its tag: only ":latest" is mutable
            yield Hit(discriminator=str(tag), evidence={"tag": tag})


def _untagged(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
    """An engine image no tag names: a dangling leftover of a rebuild, or one run by ID alone.

    Only images an engine listed are judged: registry images carry their tags as separate tag
    assets, and a scanner report may simply not state tags.
    """
    attributes = asset.attributes
    if attributes.get("source") == ENGINE_SOURCE and not attributes.get("repo_tags"):
        yield Hit(evidence={"repo_digests": list(attributes.get("repo_digests") or [])})


def _too_old(max_age_days: int) -> Evaluate:
    def check(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
        stamp = str((_config(asset) or {}).get("created") or "")
        created = parse_timestamp(stamp)
        # Reproducible builds stamp 1970-01-01 (SOURCE_DATE_EPOCH): that is no age at all.
        if created is None or created.year <= 1970:
            return
        if utcnow() - created > timedelta(days=max_age_days):
            yield Hit(evidence={"created": stamp, "max_age_days": max_age_days})

    return check


def rules(*, max_image_age_days: int = DEFAULT_MAX_IMAGE_AGE_DAYS) -> list[Rule]:
    """The image rules, with the stale-image threshold the installation chose."""
    return [
        Rule(
            id="IMG-ROOT-USER",
            title="Image runs as root (no USER)",
            severity=Severity.MEDIUM,
            phase=Phase.BUILD,
            nist="3.1.2",
            remediation="Add a USER instruction with a non-root user (and numeric UID) to the Dockerfile.",
            references=(cis_docker("4.1"), trivy("DS002")),
            kinds=_IMAGE,
            evaluate=_root_user,
        ),
        Rule(
            id="IMG-NO-HEALTHCHECK",
            title="Image has no HEALTHCHECK",
            severity=Severity.LOW,
            phase=Phase.BUILD,
            nist="3.1.2",
            remediation="Add a HEALTHCHECK instruction so the engine can tell a hung container from a healthy one.",
            references=(cis_docker("4.6"), trivy("DS026")),
            kinds=_IMAGE,
            evaluate=_no_healthcheck,
        ),
        Rule(
            id="IMG-SECRET",
            title="Secret stored in the image",
            severity=Severity.HIGH,
            phase=Phase.BUILD,
            nist="3.1.4",
            remediation="Remove the secret from ENV, LABEL, build args and every layer (RUN --mount=type=secret); "
            "rotate it.",
            references=(cis_docker("4.10"),),
            kinds=_IMAGE,
            evaluate=_secrets,
        ),
        Rule(
            id="IMG-LATEST-TAG",
            title="Image tagged 'latest'",
            severity=Severity.LOW,
            phase=Phase.BUILD,
            nist="3.1.5",
            remediation="Tag images with an immutable version and deploy by that tag or by digest.",
            references=(trivy("DS001"),),
            kinds=_IMAGE,
            evaluate=_latest,
        ),
        Rule(
            id="IMG-UNTAGGED",
            title="Image has no tag",
            severity=Severity.LOW,
            phase=Phase.BUILD,
            nist="3.1.5",
            remediation="Tag images with an immutable version; remove dangling images (docker image prune) so that "
            "what runs can be traced to a build.",
            kinds=_IMAGE,
            evaluate=_untagged,
        ),
        Rule(
            id="IMG-STALE",
            title=f"Image older than {max_image_age_days} days",
            severity=Severity.LOW,
            phase=Phase.BUILD,
            nist="3.1.1",
            remediation="Rebuild the image on a current base image; old images accumulate unpatched vulnerabilities.",
            kinds=_IMAGE,
            evaluate=_too_old(max_image_age_days),
        ),
    ]


RULES: list[Rule] = rules()
