"""How a reader refuses attributes that lack a declared key, shared by every source's records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from posture.errors import SourceFailure


class MissingAttributes(SourceFailure, ValueError):
    """An asset's attributes lack keys its kind's record declares (a normalizer and its readers disagree):
    the source's run fails in one line rather than being judged on a default."""


def require(attributes: Mapping[str, Any], declared: frozenset[str], what: str) -> None:
    """Raise :class:`MissingAttributes` naming every key of ``declared`` that ``attributes`` lacks."""
    missing = declared - attributes.keys()
    if missing:
        raise MissingAttributes(f"{what} attributes lack {', '.join(sorted(missing))}")
