"""Registry checks (NIST SP 800-190 §3.2) and the trust checks a registry can answer (§3.1.5).

The registry collector states what it saw; these rules judge it. Settings (stale age, whether
signatures are required, the allowed base-image registries) travel as the registry asset's
``policy`` attribute, because a rule sees only assets: a tag or image finds its registry through
the snapshot (tag → repository → registry; image ← tag ``points-to``). :data:`DEFAULT_POLICY`
applies where a registry states none.

Asset attributes read here (written by ``collectors/registry/records.py``):

- registry: ``scheme`` ("https"/"http"), ``tls_verify`` (bool), ``anonymous_catalog`` and
  ``anonymous_pull`` (bool, or None when not determined), ``policy``.
- tag: ``tag``, ``digest`` (what the tag resolves to: a manifest or an index), ``images``
  (``[{"platform", "manifest_digest"}]``), ``signatures`` (``["cosign-tag"]``, ``["referrer"]``
  or ``[]``), ``artifact_type`` (non-empty for a tag holding no image).
- image: the schema of ``posture/rules/image.py`` (``config.created``, ``config.labels``) and
  ``base_image`` (the ``org.opencontainers.image.base.name`` annotation, when the manifest had one).

:data:`HELD_FIXABLE_CRITICAL` has no evaluator: a tag and a scanner's CVE arrive in different runs,
so ``posture/held_vulns.py`` derives it from the store after each registry or report run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from posture import clock
from posture.facts.references import reference_registry, registry_host
from posture.records import AssetKind, AssetRecord
from posture.rules.base import Hit, Rule, Snapshot, cis_docker
from posture.taxonomy import Phase, Severity

DEFAULT_POLICY: dict[str, Any] = {"stale_days": 180, "require_signatures": False, "allowed_base_registries": []}
POINTS_TO = "points-to"
BASE_NAME_LABEL = "org.opencontainers.image.base.name"
#: A full release version (1.4.2, v1.4.2, 1.4.2-alpine, 1.4.2+build.7): by convention it never moves.
RELEASE_TAG = re.compile(r"^v?\d+\.\d+\.\d+(?:[-+._][0-9A-Za-z][0-9A-Za-z.+_-]*)?$")


# --- finding the registry and its policy --------------------------------------------------------


def registry_of(asset: AssetRecord, snapshot: Snapshot) -> AssetRecord | None:
    """The registry above a repository or tag, following parents through the snapshot."""
    ref = asset.parent
    for _ in range(4):
        if ref is None:
            return None
        found = snapshot.get(ref)
        if found is None:
            return None
        if found.kind is AssetKind.REGISTRY:
            return found
        ref = found.parent
    return None


def policy_of(registry: AssetRecord | None) -> dict[str, Any]:
    stated = registry.attributes.get("policy") if registry is not None else None
    return {**DEFAULT_POLICY, **(stated if isinstance(stated, Mapping) else {})}


def _tag_images(tag: AssetRecord, snapshot: Snapshot) -> Iterator[AssetRecord]:
    for relation in snapshot.outgoing(tag.ref, POINTS_TO):
        image = snapshot.get(relation.target)
        if image is not None:
            yield image


def _config(image: AssetRecord) -> Mapping[str, Any]:
    config = image.attributes.get("config")
    return config if isinstance(config, Mapping) else {}


# --- evaluators ---------------------------------------------------------------------------------


def _plain_http(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("scheme") == "http":
        yield Hit(evidence={"url": asset.attributes.get("url", "")})


def _tls_unverified(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("scheme") == "https" and asset.attributes.get("tls_verify") is False:
        yield Hit(evidence={"url": asset.attributes.get("url", "")})


def _anonymous_catalog(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("anonymous_catalog") is True:
        yield Hit(evidence={"url": asset.attributes.get("url", "")})


def _anonymous_pull(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("anonymous_pull") is True:
        yield Hit(evidence={"url": asset.attributes.get("url", ""), "probe": asset.attributes.get("pull_probe", "")})


def _stale(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    days = policy_of(registry_of(asset, snapshot)).get("stale_days")
    if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
        return
    created = [t for t in (clock.parse_timestamp(_config(i).get("created")) for i in _tag_images(asset, snapshot)) if t]
    if not created:
        return
    newest = max(created)
    if clock.utcnow() - newest > timedelta(days=days):
        digest = asset.attributes.get("digest")
        yield Hit(evidence={"created": newest.isoformat(), "stale_days": days, "digest": digest})


def _drift(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    previous = snapshot.previous_attributes(asset.ref)
    before = previous.get("digest") if previous else None
    now = asset.attributes.get("digest")
    if not before or not now or before == now:
        return
    tag = str(asset.attributes.get("tag", ""))
    if RELEASE_TAG.match(tag):
        severity, title = Severity.HIGH, f"Release tag {tag} was moved to another image"
    elif tag == "latest":
        severity, title = Severity.INFO, "Tag latest now points to another image"
    else:
        severity, title = Severity.LOW, f"Tag {tag} now points to another image"
    # The new digest identifies this move: a later move is a new finding, not the same one again.
    yield Hit(str(now), {"previous_digest": before, "digest": now}, title, severity)


def _latest(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("tag") == "latest" and not asset.attributes.get("artifact_type"):
        yield Hit(evidence={"digest": asset.attributes.get("digest")})


def _unsigned(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("artifact_type") or asset.attributes.get("signatures"):
        return
    if policy_of(registry_of(asset, snapshot)).get("require_signatures") is True:
        yield Hit(evidence={"digest": asset.attributes.get("digest")})


def _base_outside_allow_list(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    labels = _config(asset).get("labels")
    base = labels.get(BASE_NAME_LABEL) if isinstance(labels, Mapping) else None
    base = base or asset.attributes.get("base_image")
    if not isinstance(base, str) or not base:
        return
    allowed: set[str] = set()
    governed = False
    for relation in snapshot.incoming(asset.ref, POINTS_TO):
        tag = snapshot.get(relation.source)
        listed = policy_of(registry_of(tag, snapshot) if tag else None).get("allowed_base_registries")
        if isinstance(listed, list) and listed:
            governed = True
            allowed.update(str(h).lower() for h in listed)
    if not governed:
        return
    host = reference_registry(base)
    if host not in {registry_host(h) for h in allowed}:
        yield Hit(evidence={"base_image": base, "base_registry": host, "allowed": sorted(allowed)})


# --- the rules ----------------------------------------------------------------------------------

_REGISTRY = frozenset({AssetKind.REGISTRY})
_TAG = frozenset({AssetKind.TAG})

HELD_FIXABLE_CRITICAL = Rule(
    id="REG-HELD-FIXABLE-CRITICAL",
    title="Registry still holds an image with fixable critical vulnerabilities",
    severity=Severity.HIGH,
    phase=Phase.DISTRIBUTE,
    nist="3.2.2",
    remediation="Rebuild the image with the fixed packages, push it under the tag, and delete or stop "
    "serving the vulnerable one.",
    description="One finding per registry tag whose image a scanner report says has an open critical "
    "vulnerability with a fixed version; derived from the store after each registry or report run.",
)

RULES: list[Rule] = [
    Rule(
        id="REG-PLAIN-HTTP",
        title="Registry reached over plain HTTP",
        severity=Severity.HIGH,
        phase=Phase.DISTRIBUTE,
        nist="3.2.1",
        references=(cis_docker("2.5"),),
        kinds=_REGISTRY,
        evaluate=_plain_http,
        remediation="Serve the registry over TLS and remove it from every engine's insecure-registries list.",
        description="Images and credentials cross the network unencrypted and can be read or replaced in transit.",
    ),
    Rule(
        id="REG-TLS-UNVERIFIED",
        title="Registry reached with TLS verification disabled",
        severity=Severity.HIGH,
        phase=Phase.DISTRIBUTE,
        nist="3.2.1",
        references=(cis_docker("2.5"),),
        kinds=_REGISTRY,
        evaluate=_tls_unverified,
        remediation="Give the registry a certificate its clients trust (or distribute its CA) and stop marking it "
        "insecure.",
        description="The registry was named insecure, so its certificate is not checked and anyone in the path "
        "can impersonate it.",
    ),
    Rule(
        id="REG-ANON-CATALOG",
        title="Registry lists its repositories to anonymous users",
        severity=Severity.MEDIUM,
        phase=Phase.DISTRIBUTE,
        nist="3.2.3",
        kinds=_REGISTRY,
        evaluate=_anonymous_catalog,
        remediation="Require authentication for the catalog endpoint (/v2/_catalog).",
    ),
    Rule(
        id="REG-ANON-PULL",
        title="Registry serves images to anonymous users",
        severity=Severity.MEDIUM,
        phase=Phase.DISTRIBUTE,
        nist="3.2.3",
        kinds=_REGISTRY,
        evaluate=_anonymous_pull,
        remediation="Require authentication to pull, or accept the risk for a registry meant to be public.",
    ),
    Rule(
        id="REG-STALE-IMAGE",
        title="Tag points to a stale image",
        severity=Severity.LOW,
        phase=Phase.DISTRIBUTE,
        nist="3.2.2",
        kinds=_TAG,
        evaluate=_stale,
        remediation="Rebuild the image on a current base or delete the tag, and prune images nobody runs.",
        description="The image was built longer ago than the registry's stale age (180 days unless set).",
    ),
    Rule(
        id="REG-TAG-DRIFT",
        title="Tag now points to another image",
        severity=Severity.LOW,
        phase=Phase.DISTRIBUTE,
        nist="3.2.2",
        kinds=_TAG,
        evaluate=_drift,
        needs_previous=True,
        remediation="Make release tags immutable in the registry, deploy by digest, and find out who moved it.",
        description="A moved release tag (such as 1.4.2) is high: what runs under that name changed silently.",
    ),
    Rule(
        id="REG-LATEST-TAG",
        title="Repository uses the mutable tag latest",
        severity=Severity.INFO,
        phase=Phase.DISTRIBUTE,
        nist="3.2.2",
        kinds=_TAG,
        evaluate=_latest,
        remediation="Publish and deploy versioned tags (or digests); do not rely on latest.",
    ),
    Rule(
        id="REG-UNSIGNED-IMAGE",
        title="Image in the registry is not signed",
        severity=Severity.MEDIUM,
        phase=Phase.DISTRIBUTE,
        nist="3.1.5",
        references=(cis_docker("4.5"),),
        kinds=_TAG,
        evaluate=_unsigned,
        remediation="Sign the image (cosign sign, or a Notary v2 signature) in the build pipeline.",
        description="Only checked when a signature policy is on (posture collect --require-signatures); a cosign "
        "signature tag sha256-<digest>.sig or a signature referrer counts.",
    ),
    Rule(
        id="REG-BASE-REGISTRY",
        title="Image built on a base image from a registry outside the allow-list",
        severity=Severity.MEDIUM,
        phase=Phase.BUILD,
        nist="3.1.5",
        references=(cis_docker("4.2"),),
        kinds=frozenset({AssetKind.IMAGE}),
        evaluate=_base_outside_allow_list,
        remediation="Rebuild FROM a base image mirrored into an allowed registry.",
        description="Read from the org.opencontainers.image.base.name label or annotation; only checked when "
        "--allowed-base-registry is given.",
    ),
    HELD_FIXABLE_CRITICAL,
]
