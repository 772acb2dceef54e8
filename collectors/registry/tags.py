"""Which tags of a repository are images, which are signatures, and which N are the newest.

A registry's tag list holds cosign's artifacts (``sha256-<hex>.sig``/``.att``/``.sbom``) and the
OCI referrers fallback tags (``sha256-<hex>``) beside real image tags: they are evidence about
other tags, not images of their own. The registry API has no push time, so "newest" is the
version order of the tag names (``latest`` first, ``1.10.0`` above ``1.9.0``), which needs no
request per tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_ARTIFACT_TAG = re.compile(r"^(sha256)-([0-9a-f]{64})(?:\.(sig|att|sbom))?$")
_CHUNKS = re.compile(r"(\d+)")


@dataclass
class TagSplit:
    images: list[str] = field(default_factory=list)
    #: digest → kinds of artifacts found for it: "sig", "att", "sbom" or "referrers" (the fallback tag)
    artifacts: dict[str, set[str]] = field(default_factory=dict)


def split_tags(tags: Iterable[str]) -> TagSplit:
    split = TagSplit()
    for tag in tags:
        match = _ARTIFACT_TAG.match(tag)
        if match is None:
            split.images.append(tag)
            continue
        digest = f"{match.group(1)}:{match.group(2)}"
        split.artifacts.setdefault(digest, set()).add(match.group(3) or "referrers")
    return split


def _version_key(tag: str) -> tuple[tuple[int, int, str], ...]:
    if tag == "latest":
        return ((2, 0, ""),)
    return tuple((1, int(c), "") if c.isdigit() else (0, 0, c) for c in _CHUNKS.split(tag) if c)


def newest(tags: Iterable[str], limit: int | None) -> list[str]:
    """The ``limit`` newest tags by version order (all of them, sorted, when ``limit`` is None)."""
    ordered = sorted(tags, key=_version_key, reverse=True)
    return ordered if limit is None else ordered[:limit]
