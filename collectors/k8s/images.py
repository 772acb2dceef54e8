"""Container image references as Kubernetes writes them, normalized the way the registry sees them.

``nginx`` and ``docker.io/library/nginx:latest`` are the same tag; normalizing once here lets a pod's
``uses-image-ref`` relation meet the tag asset a registry collector records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_DEFAULT_REGISTRY = "docker.io"
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")


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
        return self.digest is None and (self.tag is None or self.tag == "latest")


def parse_image(reference: str) -> ImageRef | None:
    """Parse ``[registry/]repo[:tag][@digest]``; None for an empty or unparsable reference."""
    text = reference.strip()
    if not text or any(c.isspace() for c in text):
        return None
    digest: str | None = None
    if "@" in text:
        text, _, digest = text.partition("@")
        if not _DIGEST.match(digest):
            digest = None
    tag: str | None = None
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :] or None
    if not text:
        return None
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = _DEFAULT_REGISTRY, text
    if registry in ("index.docker.io", "registry-1.docker.io"):
        registry = _DEFAULT_REGISTRY
    if not _REPOSITORY.match(repository):
        return None
    if registry == _DEFAULT_REGISTRY and "/" not in repository:
        repository = f"library/{repository}"
    return ImageRef(registry, repository, tag, digest)


def digest_from_image_id(image_id: str) -> str | None:
    """The digest in a container status ``imageID`` (``docker-pullable://x@sha256:…`` or ``sha256:…``)."""
    candidate = image_id.rpartition("@")[2] if "@" in image_id else image_id.removeprefix("docker://")
    return candidate if _DIGEST.match(candidate) else None
