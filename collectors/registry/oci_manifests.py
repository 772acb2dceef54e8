"""OCI manifests: the four media types a registry serves for an image, parsed defensively (named apart
from collectors/k8s/manifests.py, which reads Kubernetes manifest files).

Every digest and name read from a registry is untrusted: a digest is used in a URL path only
after it matched :data:`DIGEST`, and a body is accepted only if its sha256 matches the digest the
registry claimed (or that we asked for), so a manifest cannot smuggle a path or lie about itself.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

from collectors.registry.client import BadResponse

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
IMAGE_CONFIG_TYPES = frozenset(
    {"application/vnd.docker.container.image.v1+json", "application/vnd.oci.image.config.v1+json"}
)
#: What we accept for a manifest request, most specific first.
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
#: Artifact types of signatures (cosign, sigstore bundles, Notary v2) found through the referrers API.
SIGNATURE_ARTIFACT_TYPES = frozenset(
    {
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        "application/vnd.dev.sigstore.bundle.v0.3+json",
        "application/vnd.cncf.notary.signature",
    }
)

DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$|^sha512:[a-f0-9]{128}$")
#: The distribution spec's repository name grammar (path components separated by "/").
REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True, slots=True)
class PlatformEntry:
    digest: str
    platform: str  # "linux/arm64/v8"


@dataclass(frozen=True, slots=True)
class Index:
    media_type: str
    entries: tuple[PlatformEntry, ...]
    annotations: dict[str, str]


@dataclass(frozen=True, slots=True)
class ImageManifest:
    media_type: str
    config_digest: str
    config_media_type: str
    annotations: dict[str, str]
    artifact_type: str = ""  # OCI 1.1 artifacts (SBOMs, signatures, Helm charts) are not images

    @property
    def is_image(self) -> bool:
        return self.config_media_type in IMAGE_CONFIG_TYPES and not self.artifact_type


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def verify_digest(body: bytes, claimed: str, what: str) -> None:
    algorithm, _, expected = claimed.partition(":")
    actual = hashlib.new(algorithm, body).hexdigest() if algorithm in ("sha256", "sha512") else None
    if actual != expected:
        raise BadResponse(f"{what}: content does not match digest {claimed[:19]}…")


def _annotations(doc: dict[str, Any]) -> dict[str, str]:
    raw = doc.get("annotations")
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items() if isinstance(v, str)}


def _platform(entry: dict[str, Any]) -> str | None:
    platform = entry.get("platform")
    if not isinstance(platform, dict):
        return None
    parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
    text = "/".join(p for p in parts if isinstance(p, str) and p)
    return text or None


def parse_manifest(body: bytes, content_type: str | None, what: str) -> Index | ImageManifest:
    """Parse a manifest or index; raise :class:`BadResponse` for anything that is not one."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadResponse(f"{what}: the manifest is not valid JSON") from None
    if not isinstance(doc, dict):
        raise BadResponse(f"{what}: the manifest is not a JSON object")
    declared = doc.get("mediaType") if isinstance(doc.get("mediaType"), str) else None
    header = (content_type or "").split(";", 1)[0].strip()
    media_type = declared or header
    if media_type in DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
        raise BadResponse(f"{what}: schema 1 manifests are not supported (deprecated since 2017)")
    if media_type in INDEX_TYPES or (not media_type and isinstance(doc.get("manifests"), list)):
        return _parse_index(doc, media_type or OCI_INDEX, what)
    if media_type in MANIFEST_TYPES or (not media_type and isinstance(doc.get("config"), dict)):
        return _parse_image(doc, media_type or OCI_MANIFEST, what)
    raise BadResponse(f"{what}: unsupported manifest media type {media_type[:80]!r}")


def _parse_index(doc: dict[str, Any], media_type: str, what: str) -> Index:
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise BadResponse(f"{what}: the index has no manifests list")
    entries: list[PlatformEntry] = []
    for entry in manifests:
        if not isinstance(entry, dict):
            raise BadResponse(f"{what}: an index entry is not an object")
        digest = entry.get("digest")
        if not isinstance(digest, str) or not DIGEST.match(digest):
            raise BadResponse(f"{what}: an index entry has an invalid digest")
        annotations = entry.get("annotations") if isinstance(entry.get("annotations"), dict) else {}
        platform = _platform(entry)
        # BuildKit's attestation manifests ride in the index as "unknown/unknown": not images.
        if platform in (None, "unknown/unknown") or "vnd.docker.reference.type" in (annotations or {}):
            continue
        entries.append(PlatformEntry(digest, platform))
    return Index(media_type, tuple(entries), _annotations(doc))


def _parse_image(doc: dict[str, Any], media_type: str, what: str) -> ImageManifest:
    config = doc.get("config")
    if not isinstance(config, dict):
        raise BadResponse(f"{what}: the manifest has no config descriptor")
    digest = config.get("digest")
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise BadResponse(f"{what}: the config descriptor has an invalid digest")
    config_type = _text(config.get("mediaType"))
    artifact = _text(doc.get("artifactType"))
    return ImageManifest(media_type, digest, config_type, _annotations(doc), artifact)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def referrer_artifact_types(body: bytes, what: str) -> set[str]:
    """The ``artifactType`` of each manifest in a referrers index (OCI 1.1)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadResponse(f"{what}: the referrers index is not valid JSON") from None
    manifests = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(manifests, list):
        return set()
    return {m["artifactType"] for m in manifests if isinstance(m, dict) and isinstance(m.get("artifactType"), str)}
