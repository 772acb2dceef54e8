"""The one source of "now", so history is consistent and tests can pin time; and the one reader of
the timestamps sources write."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime: SQLite gives naive ones back, and every stored time is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    """A time as RFC 3339 in UTC with a ``Z`` (``2026-12-07T19:00:00.123456Z``), as event streams and VEX
    documents write it; a naive value is UTC (the store keeps UTC)."""
    return as_utc(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_timestamp(text: object) -> datetime | None:
    """RFC 3339 as images, registries and scanners write it, as an aware datetime; None if it is not one.

    Go writes nanoseconds (``2019-04-10T19:49:07.970840451Z``, ``…07.97-04:00``); Python reads at most
    microseconds, so the fraction is cut to six digits. A time without a zone is UTC, as every
    container tool writes.
    """
    if not isinstance(text, str) or not text:
        return None
    head, _, rest = text.partition(".")
    if rest:
        zone = rest.lstrip("0123456789")
        digits = rest[: len(rest) - len(zone)]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
