"""A registry walk as Posture records: registry → repositories → tags → images, and the edges between.

Keys (what the store and the other sources join on):

- registry ``host[:port]`` (``docker.io`` for Docker Hub); repository ``host[:port]/name``; tag
  ``host[:port]/name:tag``.
- image: the config digest, as Docker and scanners name it, with every manifest digest seen for it
  as an alias (so a kubelet's ``imageID`` or a scanner's ``RepoDigests`` finds the same row). An
  index digest is no image's alias (it stands for several): it is the tag's ``digest`` attribute.
- an image the store already holds is stated with ``attributes={"_unchanged": True}`` under the
  digest the store knows (see ``walker.py``): the store keeps, and the rules see, what it has.
  That is exact only because image attributes are a function of content (config blob, manifest):
  which tags and repositories hold an image changes between runs, so it lives in the tag →
  image ``points-to`` edges (always re-stated), and ``repo_tags``/``repo_digests`` stay empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from collectors.docker.imageconfig import image_config, unique_evidence
from collectors.registry.oci_manifests import ImageManifest
from collectors.registry.target import RegistryTarget
from collectors.registry.walker import ImageSeen, TagSeen, WalkResult
from posture.records import UNCHANGED, AssetKind, AssetRecord, AssetRef, Problem, Record, RelationRecord
from posture.secrets import SecretScanner
from posture.taxonomy import Phase

POINTS_TO = "points-to"
BASE_NAME_ANNOTATION = "org.opencontainers.image.base.name"


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def describe_image(document: Mapping[str, Any], manifest: ImageManifest, secrets: SecretScanner) -> dict[str, Any]:
    """Image attributes from a config blob: the ``posture/rules/image.py`` schema, env values never kept."""
    config, hits = image_config(
        _map(document.get("config")),
        created=str(document.get("created") or ""),
        os=str(document.get("os") or ""),
        architecture=str(document.get("architecture") or ""),
        history=[h for h in _list(document.get("history")) if isinstance(h, Mapping)],
        secrets=secrets,
    )
    attributes: dict[str, Any] = {
        "id": manifest.config_digest,
        "repo_tags": [],
        "repo_digests": [],
        "layers": [str(d) for d in _list(_map(document.get("rootfs")).get("diff_ids"))],
        "config": config,
        "secrets": unique_evidence(hits),
    }
    base = manifest.annotations.get(BASE_NAME_ANNOTATION)
    if base:
        attributes["base_image"] = base
    return attributes


def registry_record(target: RegistryTarget, walk: WalkResult, auth_mode: str, authenticated: bool) -> AssetRecord:
    attributes: dict[str, Any] = {
        "url": target.base_url,
        "scheme": target.scheme,
        "tls_verify": target.verify_tls,
        "api_version": walk.api_version,
        "auth": auth_mode,
        "authenticated": authenticated,
        "catalog": walk.catalog,
        "anonymous_catalog": walk.anonymous_catalog,
        "anonymous_pull": walk.anonymous_pull,
        "pull_probe": walk.pull_probe,
        "policy": target.policy.as_attributes(),
    }
    return AssetRecord(AssetKind.REGISTRY, target.authority, target.authority, Phase.DISTRIBUTE, attributes)


def _repository_ref(target: RegistryTarget, name: str) -> AssetRef:
    return AssetRef(AssetKind.REPOSITORY, f"{target.authority}/{name}")


def tag_record(target: RegistryTarget, tag: TagSeen) -> AssetRecord:
    key = f"{target.authority}/{tag.repository}:{tag.tag}"
    attributes = {
        "repository": tag.repository,
        "tag": tag.tag,
        "digest": tag.digest,
        "media_type": tag.media_type,
        "images": [{"platform": i.platform, "manifest_digest": i.manifest_digest} for i in tag.images],
        "signatures": list(tag.signatures),
        "artifact_type": tag.artifact_type,
    }
    return AssetRecord(
        AssetKind.TAG, key, key, Phase.DISTRIBUTE, attributes, parent=_repository_ref(target, tag.repository)
    )


def image_record(image: ImageSeen) -> AssetRecord:
    name = min(image.references)
    if image.platform:
        name = f"{name} ({image.platform})"
    aliases = tuple(sorted(image.manifest_digests - {image.key}))
    attributes = {UNCHANGED: True} if image.attributes is None else image.attributes
    return AssetRecord(AssetKind.IMAGE, image.key, name, Phase.BUILD, attributes, aliases=aliases)


def records(target: RegistryTarget, walk: WalkResult, auth_mode: str, authenticated: bool) -> Iterator[Record]:
    """Every record of one walk, parents before children, problems last."""
    registry = registry_record(target, walk, auth_mode, authenticated)
    yield registry
    for name, count in sorted(walk.repositories.items()):
        ref = _repository_ref(target, name)
        yield AssetRecord(
            AssetKind.REPOSITORY, ref.key, ref.key, Phase.DISTRIBUTE, {"name": name, "tags": count}, registry.ref
        )
    tags = sorted(walk.tags, key=lambda t: (t.repository, t.tag))
    for tag in tags:
        yield tag_record(target, tag)
    for key in sorted(walk.images):
        yield image_record(walk.images[key])
    for tag in tags:
        source = AssetRef(AssetKind.TAG, f"{target.authority}/{tag.repository}:{tag.tag}")
        for image in tag.images:
            yield RelationRecord(source, POINTS_TO, AssetRef(AssetKind.IMAGE, image.image_key))
    for message in walk.problems:
        yield Problem(message)
