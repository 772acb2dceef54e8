"""Walk one registry: catalog → tags → manifests → configs, as few requests as the store allows.

The walker holds the network plan and nothing else: which requests to make in which order, what
may be skipped, and how a failure is scoped (a :class:`RegistryError` marked ``fatal`` ends the
registry; anything else costs one repository or one tag and becomes a problem line). Config
documents are turned into attributes as soon as they arrive (``describe_image``), so no env value
outlives the function that scanned it.

Skipping: a manifest digest the store already holds (``known``: every image key and alias in the
store) costs one ``HEAD`` per tag; a manifest whose *config* the store holds (seen by Docker or a
scanner first) costs no config fetch. Such images come back with ``attributes is None``
("unchanged") and keyed by the digest the store knows them by: the store resolves a manifest
digest through its aliases to the image's config-digest key. A multi-arch index is no image's
alias, so for an index tag the stored tag itself (``known_tags``) says what it held: when the
``HEAD`` answers the stored index digest and every platform image is still known, that one
request is the tag's whole cost too.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

import orjson

from collectors.registry.client import (
    AuthFailed,
    BadResponse,
    MiB,
    NotFound,
    RegistryClient,
    RegistryError,
    Reply,
)
from collectors.registry.oci_manifests import (
    ACCEPT,
    DIGEST,
    INDEX_TYPES,
    MANIFEST_TYPES,
    REPOSITORY,
    SIGNATURE_ARTIFACT_TYPES,
    TAG,
    ImageManifest,
    Index,
    digest_of,
    parse_manifest,
    referrer_artifact_types,
    verify_digest,
)
from collectors.registry.tags import newest, split_tags
from collectors.registry.target import RegistryTarget

MANIFEST_CAP = 4 * MiB
CONFIG_CAP = 8 * MiB
PAGE_CAP = 8 * MiB
_PAGE_SIZE = 1000

#: ``describe_image(config document, manifest) -> image attributes``; secrets are scanned inside.
DescribeImage = Callable[[Mapping[str, Any], ImageManifest], dict[str, Any]]
#: Tag key (``host[:port]/repository:tag``) → the tag's stored attributes (``digest``, ``images``).
KnownTags = Mapping[str, Mapping[str, Any]]
T = TypeVar("T")


@dataclass
class ImageSeen:
    key: str  # config digest; for an unchanged image, whichever of its digests the store knows
    manifest_digests: set[str] = field(default_factory=set)
    references: set[str] = field(default_factory=set)  # host/repo:tag, for the asset's name
    platform: str = ""
    attributes: dict[str, Any] | None = None  # None: the store already holds this image unchanged


@dataclass(frozen=True, slots=True)
class TagImage:
    platform: str  # "" for a single-platform tag
    manifest_digest: str
    image_key: str


@dataclass(frozen=True, slots=True)
class TagSeen:
    repository: str
    tag: str
    digest: str
    media_type: str
    images: tuple[TagImage, ...] = ()
    artifact_type: str = ""
    signatures: tuple[str, ...] = ()


@dataclass
class WalkResult:
    api_version: str = ""
    catalog: bool = False
    anonymous_catalog: bool | None = None
    anonymous_pull: bool | None = None
    pull_probe: str = ""  # the repository:tag asked for anonymously
    repositories: dict[str, int] = field(default_factory=dict)  # name → number of tags listed
    tags: list[TagSeen] = field(default_factory=list)
    images: dict[str, ImageSeen] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class SingleFlight:
    """One fetch per digest per run, however many tags in however many repositories ask for it.

    Content is verified against its digest, so any repository's copy will do; but a copy that is
    broken or forbidden in one repository must not fail the others: a waiter from another
    repository then fetches its own copy.
    """

    def __init__(self) -> None:
        self._tasks: dict[str, tuple[str, asyncio.Task[Any]]] = {}

    async def run(self, key: str, repository: str, make: Callable[[str], Awaitable[T]]) -> T:
        owner, task = self._tasks.get(key) or (repository, None)
        if task is None:
            task = asyncio.ensure_future(make(repository))
            self._tasks[key] = (repository, task)
        try:
            result: T = await asyncio.shield(task)
        except RegistryError as exc:
            if exc.fatal or owner == repository:
                raise
            return await make(repository)
        return result

    def cancel(self) -> None:
        for _, task in self._tasks.values():
            task.cancel()


async def gather_all(awaitables: Iterable[Awaitable[T]]) -> list[T]:
    """Run concurrently; on the first failure cancel the rest and raise that failure itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_as_coroutine(a)) for a in awaitables]
    except BaseExceptionGroup as failures:
        raise _first(failures) from None
    return [t.result() for t in tasks]


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    inner = group.exceptions[0]
    return _first(inner) if isinstance(inner, BaseExceptionGroup) else inner


class Walker:
    def __init__(
        self,
        client: RegistryClient,
        target: RegistryTarget,
        describe_image: DescribeImage,
        known: frozenset[str] = frozenset(),
        known_tags: KnownTags | None = None,
    ) -> None:
        self.client = client
        self.target = target
        self.result = WalkResult()
        self._describe = describe_image
        self._known = known
        self._known_tags = known_tags or {}
        self._manifests = SingleFlight()
        self._configs = SingleFlight()
        self._referrers_supported = True

    def _problem(self, subject: str, error: RegistryError | str) -> None:
        self.result.problems.append(f"registry {self.target.authority}: {subject}: {error}")

    async def run(self) -> WalkResult:
        """Walk the registry; a fatal :class:`RegistryError` propagates, everything else is a problem."""
        ping = await self.client.ping()
        self.result.api_version = ping.headers.get("docker-distribution-api-version", "")
        repositories = await self._repositories()
        try:
            await gather_all(self._repository(name) for name in repositories)
        finally:
            self._manifests.cancel()
            self._configs.cancel()
        await self._probe_anonymous()
        return self.result

    # -- listing ---------------------------------------------------------------------------------

    async def _pages(self, first: str, key: str, what: str) -> list[str]:
        """Every name of a ``Link``-paginated list (catalog or tags)."""
        names: list[str] = []
        url: str | None = first
        seen: set[str] = set()
        while url is not None and url not in seen:
            seen.add(url)
            reply = await self.client.request("GET", url, cap=PAGE_CAP)
            doc = reply.json(what)
            values = doc.get(key) if isinstance(doc, dict) else None
            if values is None and isinstance(doc, dict) and key in doc:
                values = []  # distribution answers "tags": null for a repository whose tags were deleted
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise_bad(f"{what}: the answer has no {key!r} list of names")
            names.extend(values)
            url = RegistryClient.next_link(reply)
        return names

    async def _repositories(self) -> list[str]:
        try:
            names = await self._pages(f"/v2/_catalog?n={_PAGE_SIZE}", "repositories", "catalog")
            self.result.catalog = True
        except (AuthFailed, NotFound):
            # No catalog (Docker Hub, many cloud registries): the prefix names the one repository.
            if not self.target.prefix or not REPOSITORY.match(self.target.prefix):
                raise
            names = [self.target.prefix]
        wanted: list[str] = []
        for name in dict.fromkeys(names):
            if not REPOSITORY.match(name):
                self._problem(f"repository {name[:200]!r}", "not a valid repository name; skipped")
            elif self.target.wants(name):
                wanted.append(name)
        return wanted

    async def _repository(self, name: str) -> None:
        try:
            listed = await self._pages(f"/v2/{name}/tags/list?n={_PAGE_SIZE}", "tags", f"{name} tags")
        except RegistryError as exc:
            if exc.fatal:
                raise
            self.result.repositories[name] = 0
            self._problem(f"repository {name}", exc)
            return
        self.result.repositories[name] = len(listed)
        split = split_tags(listed)
        valid = [t for t in split.images if TAG.match(t)]
        for bad in sorted(set(split.images) - set(valid)):
            self._problem(f"{name}:{bad[:200]!r}", "not a valid tag name; skipped")
        chosen = newest(valid, self.target.newest_tags)
        await gather_all(self._tag(name, tag, split.artifacts) for tag in chosen)

    # -- one tag ---------------------------------------------------------------------------------

    async def _tag(self, repository: str, tag: str, artifacts: Mapping[str, set[str]]) -> None:
        try:
            seen = await self._resolve(repository, tag)
            signatures = await self._signatures(repository, seen.digest, artifacts)
        except RegistryError as exc:
            if exc.fatal:
                raise
            self._problem(f"{repository}:{tag}", exc)
            return
        self.result.tags.append(dataclasses.replace(seen, signatures=signatures))

    async def _resolve(self, repository: str, tag: str) -> TagSeen:
        path = f"/v2/{repository}/manifests/{tag}"
        what = f"GET {path}"
        if self._known:
            head = await self.client.request("HEAD", path, accept=ACCEPT, cap=MANIFEST_CAP)
            digest = head.headers.get("docker-content-digest", "")
            media_type = head.headers.get("content-type", "").split(";", 1)[0].strip()
            # An index digest may be a Docker RepoDigest alias of one platform's image: only a
            # single-image manifest may be short-cut.
            if digest in self._known and media_type in MANIFEST_TYPES and DIGEST.match(digest):
                self._remember(digest, digest, repository, tag, "", None)
                return TagSeen(repository, tag, digest, media_type, (TagImage("", digest, digest),))
            stored = self._stored_index(repository, tag, digest) if media_type in INDEX_TYPES else None
            if stored:
                for image in stored:
                    self._remember(image.image_key, image.manifest_digest, repository, tag, image.platform, None)
                return TagSeen(repository, tag, digest, media_type, stored)
        reply = await self.client.request("GET", path, accept=ACCEPT, cap=MANIFEST_CAP, counts_as_pull=True)
        digest = digest_of(reply.body)
        claimed = reply.headers.get("docker-content-digest")
        if claimed and claimed != digest:
            verify_digest(reply.body, claimed, what)  # sha512 registries; raises on a real mismatch
            digest = claimed
        manifest = parse_manifest(reply.body, reply.headers.get("content-type"), what)
        if isinstance(manifest, Index):
            images = await gather_all(self._platform(repository, tag, e.digest, e.platform) for e in manifest.entries)
            return TagSeen(repository, tag, digest, manifest.media_type, tuple(i for i in images if i is not None))
        key = await self._image(repository, tag, digest, manifest, "")
        if key is None:
            artifact = manifest.artifact_type or manifest.config_media_type
            return TagSeen(repository, tag, digest, manifest.media_type, (), artifact)
        return TagSeen(repository, tag, digest, manifest.media_type, (TagImage("", digest, key),))

    def _stored_index(self, repository: str, tag: str, digest: str) -> tuple[TagImage, ...]:
        """The platform images this tag held at this same index digest last run, if all are still known."""
        stored = self._known_tags.get(f"{self.target.authority}/{repository}:{tag}") or {}
        images = stored.get("images")
        if stored.get("digest") != digest or not isinstance(images, list):
            return ()
        held: list[TagImage] = []
        for image in images:
            entry = image if isinstance(image, Mapping) else {}
            manifest, platform = entry.get("manifest_digest"), entry.get("platform")
            if not isinstance(manifest, str) or manifest not in self._known or not isinstance(platform, str):
                return ()
            held.append(TagImage(platform, manifest, manifest))
        return tuple(held)

    async def _platform(self, repository: str, tag: str, digest: str, platform: str) -> TagImage | None:
        if digest in self._known:
            self._remember(digest, digest, repository, tag, platform, None)
            return TagImage(platform, digest, digest)
        manifest = await self._manifests.run(digest, repository, lambda repo: self._fetch_manifest(repo, digest))
        key = await self._image(repository, tag, digest, manifest, platform)
        return None if key is None else TagImage(platform, digest, key)

    async def _fetch_manifest(self, repository: str, digest: str) -> ImageManifest:
        path = f"/v2/{repository}/manifests/{digest}"
        what = f"GET {path}"
        reply = await self.client.request("GET", path, accept=ACCEPT, cap=MANIFEST_CAP, counts_as_pull=True)
        verify_digest(reply.body, digest, what)
        manifest = parse_manifest(reply.body, reply.headers.get("content-type"), what)
        if isinstance(manifest, Index):
            raise_bad(f"{what}: an index inside an index is not supported")
        return manifest

    async def _image(
        self, repository: str, tag: str, digest: str, manifest: ImageManifest, platform: str
    ) -> str | None:
        """The image key for an image manifest (fetching its config unless known); None for artifacts."""
        if not manifest.is_image:
            return None
        key = manifest.config_digest
        if key in self._known:
            self._remember(key, digest, repository, tag, platform, None)
            return key
        attributes = await self._configs.run(key, repository, lambda repo: self._fetch_config(repo, manifest))
        self._remember(key, digest, repository, tag, platform, attributes)
        return key

    async def _fetch_config(self, repository: str, manifest: ImageManifest) -> dict[str, Any]:
        digest = manifest.config_digest
        path = f"/v2/{repository}/blobs/{digest}"
        what = f"GET {path}"
        reply = await self.client.request("GET", path, cap=CONFIG_CAP, follow_redirects=True)
        verify_digest(reply.body, digest, what)
        try:
            config = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            raise_bad(f"{what}: the image config is not valid JSON")
        if not isinstance(config, dict):
            raise_bad(f"{what}: the image config is not a JSON object")
        return self._describe(config, manifest)

    def _remember(
        self,
        key: str,
        manifest_digest: str,
        repository: str,
        tag: str,
        platform: str,
        attributes: dict[str, Any] | None,
    ) -> None:
        image = self.result.images.setdefault(key, ImageSeen(key, platform=platform))
        image.manifest_digests.add(manifest_digest)
        image.references.add(f"{self.target.authority}/{repository}:{tag}")
        if attributes is not None:
            image.attributes = attributes

    # -- signatures ------------------------------------------------------------------------------

    async def _signatures(self, repository: str, digest: str, artifacts: Mapping[str, set[str]]) -> tuple[str, ...]:
        """How ``digest`` is signed: a cosign ``.sig`` tag, or (under a signature policy) a referrer."""
        found = artifacts.get(digest, set())
        if "sig" in found:
            return ("cosign-tag",)
        if not self.target.policy.require_signatures:
            return ()
        types: set[str] = set()
        if self._referrers_supported:
            try:
                reply = await self.client.request("GET", f"/v2/{repository}/referrers/{digest}", cap=MANIFEST_CAP)
                types = referrer_artifact_types(reply.body, f"{repository} referrers")
            except NotFound:
                self._referrers_supported = False  # OCI 1.1 says a supporting registry never 404s here
        if not types and "referrers" in found:
            # The referrers tag schema: the fallback tag holds an index of the referrers.
            fallback = f"/v2/{repository}/manifests/{digest.replace(':', '-')}"
            reply = await self.client.request("GET", fallback, accept=ACCEPT, cap=MANIFEST_CAP, counts_as_pull=True)
            types = referrer_artifact_types(reply.body, f"{repository} referrers tag")
        return ("referrer",) if types & SIGNATURE_ARTIFACT_TYPES else ()

    # -- anonymous access ------------------------------------------------------------------------

    async def _probe_anonymous(self) -> None:
        """Ask, without credentials, for the catalog and for one manifest (NIST 3.2.3)."""
        self.result.anonymous_catalog = await self._anonymous_ok("/v2/_catalog?n=1", "repositories")
        pulled = sorted((t.repository, t.tag) for t in self.result.tags)
        if pulled:
            repository, tag = pulled[0]
            self.result.pull_probe = f"{repository}:{tag}"
            self.result.anonymous_pull = await self._anonymous_ok(f"/v2/{repository}/manifests/{tag}", None)

    async def _anonymous_ok(self, path: str, listing: str | None) -> bool | None:
        method = "GET" if listing else "HEAD"
        try:
            reply = await self.client.request(method, path, accept=ACCEPT, cap=PAGE_CAP, anonymous=True)
        except (AuthFailed, NotFound):
            return False
        except RegistryError as exc:
            if exc.fatal:
                raise
            return None  # rate limited, server error: not known either way
        if listing is None:
            return True
        doc = _loads(reply)
        return isinstance(doc, dict) and bool(doc.get(listing))


def _loads(reply: Reply) -> object:
    try:
        return orjson.loads(reply.body)
    except orjson.JSONDecodeError:
        return None


def raise_bad(message: str) -> NoReturn:
    raise BadResponse(message)
