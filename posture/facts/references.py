"""Container image references, read the way Docker and the registries read them.

``nginx``, ``docker.io/library/nginx:latest`` and ``index.docker.io/library/nginx`` name one tag. The
Kubernetes collector normalizes pod images with :func:`parse_image` so a pod meets the tag a registry
collector recorded; the registry collector names Docker Hub by :func:`registry_host`; REG-BASE-REGISTRY
judges a base image's registry with it; DKR-IMAGE-LATEST, K8S-IMAGE-LATEST and IMG-LATEST-TAG decide
"mutable tag" with :func:`mutable_tag`. One parser, so the three can never disagree about a reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
#: Docker Hub's names: addressed as docker.io, served from registry-1, logged in to as index.
DOCKER_HUB_ALIASES = frozenset({DOCKER_HUB, "index.docker.io", "registry-1.docker.io"})
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_HEX = frozenset("0123456789abcdef")


def registry_host(host: str) -> str:
    """A registry host as one name: lower case (DNS is), Docker Hub's aliases as ``docker.io``."""
    lowered = host.strip().lower()
    return DOCKER_HUB if lowered in DOCKER_HUB_ALIASES else lowered


def split_registry(name: str) -> tuple[str, str]:
    """``(registry, repository)`` of a reference without tag or digest, Docker's way: the first
    component is a registry only when it has a dot or a port or is ``localhost`` (``org/app`` is on Docker Hub)."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return registry_host(first), rest
    return DOCKER_HUB, name


def is_image_id(reference: str) -> bool:
    """An image ID rather than a name (``sha256:…``, or 12 or 64 hex digits as ``docker run`` accepts)."""
    return reference.startswith("sha256:") or (len(reference) in (12, 64) and set(reference) <= _HEX)


def _split(reference: str) -> tuple[str, str | None, str | None]:
    """``(name, tag, digest)`` as written: the tag follows the last ``:`` after the last ``/``."""
    text, at, digest = reference.partition("@")
    slash, colon = text.rfind("/"), text.rfind(":")
    tag: str | None = None
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :] or None
    return text, tag, digest if at else None


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A parsed image reference; ``tag`` is None when the reference names none (implicitly ``latest``)."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def tag_key(self) -> str:
        """``registry/repository:tag`` with the implicit ``latest`` made explicit."""
        return f"{self.registry}/{self.repository}:{self.tag or 'latest'}"

    @property
    def uses_latest(self) -> bool:
        """Not pinned by digest and tagged ``latest`` or not tagged at all."""
        return self.digest is None and self.tag in (None, "latest")


def parse_image(reference: str) -> ImageRef | None:
    """Parse ``[registry/]repo[:tag][@digest]``; None for an empty or unparsable reference. A digest
    that is not one (``@sha256:zz``) is dropped: the runtime refuses such a reference anyway."""
    text = reference.strip()
    if not text or any(c.isspace() for c in text):
        return None
    name, tag, digest = _split(text)
    if digest is not None and not _DIGEST.match(digest):
        digest = None
    if not name:
        return None
    registry, repository = split_registry(name)
    if not _REPOSITORY.match(repository):
        return None
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(registry, repository, tag, digest)


def reference_registry(reference: str) -> str:
    """The registry host of any image reference, parsable or not (``alpine`` is on Docker Hub)."""
    return split_registry(_split(reference.strip())[0])[0]


def mutable_tag(reference: str) -> str | None:
    """``"latest"`` for ``nginx`` or ``nginx:latest``: what it names can change under the same name.
    None for ``nginx:1.25``, anything pinned by digest and image IDs (nothing to move)."""
    text = reference.strip()
    if not text or is_image_id(text):
        return None
    _, tag, digest = _split(text)
    return "latest" if digest is None and tag in (None, "latest") else None


def digest_from_image_id(image_id: str) -> str | None:
    """The digest in a container status ``imageID`` (``docker-pullable://x@sha256:…`` or ``sha256:…``)."""
    candidate = image_id.rpartition("@")[2] if "@" in image_id else image_id.removeprefix("docker://")
    return candidate if _DIGEST.match(candidate) else None
