"""Typed reads from untrusted parsed JSON/YAML: a wrong type is treated as absent, never as a crash.

Report parsers read dozens of optional fields from structures anyone can write; going through these
accessors means a string where a list was expected (or a list where a string was) degrades to
"missing" instead of raising ``TypeError`` halfway through a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from posture.clock import parse_timestamp
from posture.taxonomy import Severity

_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-f]{32,}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

#: Longest description kept in evidence: enough to recognise an issue, bounded for 20,000 findings.
DESCRIPTION_MAX = 500
TEXT_MAX = 300
LIST_MAX = 20


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def dicts(value: Any) -> Iterator[dict[str, Any]]:
    """The dict items of a list (anything else in the list is ignored)."""
    for item in as_list(value):
        if isinstance(item, dict):
            yield item


def as_str(value: Any) -> str:
    """A stripped string; numbers become text (YAML reads ``tag: 1.10`` as a float), others ``""``."""
    if type(value) is str:
        return value.strip()
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def strs(value: Any) -> list[str]:
    """Non-empty strings of a list, in order, without duplicates."""
    out: list[str] = []
    for item in as_list(value):
        text = as_str(item)
        if text and text not in out:
            out.append(text)
    return out


def as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value == value else None  # NaN is no score
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if number == number else None
    return None


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def clean(text: str, limit: int = TEXT_MAX) -> str:
    """Report text made safe to keep: control characters (ANSI, OSC) removed, length bounded."""
    stripped = text.strip() if text.isprintable() else _CONTROL.sub("", text).strip()
    return stripped if len(stripped) <= limit else stripped[: limit - 1].rstrip() + "…"


def severity_of(value: Any, default: Severity = Severity.INFO) -> Severity:
    text = as_str(value)
    if not text:
        return default
    try:
        return Severity.parse(text)
    except ValueError:
        return default


def is_digest(text: str) -> bool:
    return bool(_DIGEST.match(text))


def digest_of(reference: str) -> str | None:
    """``repo@sha256:…`` or ``sha256:…`` → ``sha256:…``; None when there is no valid digest."""
    candidate = reference.rpartition("@")[2] if "@" in reference else reference
    candidate = candidate.strip().lower()
    return candidate if is_digest(candidate) else None


def report_time(value: Any) -> str:
    """When a report was made, as fixed-width UTC text (``2021-08-25T12:20:30.000000Z``), so text order
    is time order; ``""`` when absent or unreadable. RFC 3339 text (nanoseconds too), a YAML timestamp or
    Unix seconds (docker-bench's ``start``)."""
    moment: datetime | None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < 253402300800:
        moment = datetime.fromtimestamp(value, UTC)
    else:
        moment = parse_timestamp(as_str(value))
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else ""


def compact(mapping: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values so that evidence stays small and stable (no ``None`` vs missing flapping)."""
    return {k: v for k, v in mapping.items() if v or isinstance(v, (bool, int, float))}
