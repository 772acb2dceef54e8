"""Turning store values into terminal text: untrusted strings made inert, severities coloured, ages short.

Every string that came from a source (names, labels, titles, evidence) goes through :func:`safe`:
control and bidi characters stripped (no OSC 52 clipboard write, no reversed file names) and
wrapped in a ``rich.text.Text``, which Textual never parses as markup (so ``[@click=app.quit]``
is shown, not run). Colours are the 16 ANSI names, readable on any terminal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text

from posture.textsafe import clean

SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
SEVERITY_SHORT = {"critical": "CRIT", "high": "HIGH", "medium": "MED", "low": "LOW", "info": "INFO"}
STATUS_STYLE = {"complete": "green", "partial": "yellow", "failed": "bold red", "running": "cyan"}
CHANGE_STYLE = {
    "new": "red",
    "reopened": "red",
    "regressed": "bold red",
    "exception-expired": "yellow",
    "exception-revoked": "yellow",
    "unaccepted": "yellow",
    "accepted": "cyan",
    "resolved": "green",
}


def safe(value: object, style: str = "", limit: int | None = None) -> Text:
    """Untrusted text for a widget: cleaned, never markup."""
    return Text(clean("" if value is None else value, limit=limit), style=style)


def severity(value: str, short: bool = False) -> Text:
    label = SEVERITY_SHORT.get(value, value.upper()) if short else value
    return Text(clean(label), style=SEVERITY_STYLE.get(value, ""))


def risk_style(risk: int) -> str:
    if risk >= 90:
        return "bold red"
    if risk >= 70:
        return "red"
    if risk >= 40:
        return "yellow"
    return "green" if risk > 0 else "dim"


def risk(value: int) -> Text:
    return Text(f"{value:>3}", style=risk_style(value))


def age(since: datetime | None, now: datetime) -> str:
    """``5m``, ``3h``, ``12d``: how long ago, in the fewest characters."""
    if since is None:
        return "-"
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def stamp(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


def number(value: int) -> str:
    return f"{value:,}"


def flatten(value: Any, prefix: str = "", limit: int = 400) -> list[tuple[str, str]]:
    """Nested attributes/evidence as ``(dotted.key, value)`` lines, every part cleaned."""
    if isinstance(value, dict):
        if not value and prefix:
            return [(prefix, "{}")]
        out: list[tuple[str, str]] = []
        for key in sorted(value, key=str):
            name = f"{prefix}.{clean(key)}" if prefix else clean(key)
            out.extend(flatten(value[key], name, limit))
        return out
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            return [(prefix, clean(", ".join(str(v) for v in value), limit=limit))]
        out = []
        for n, item in enumerate(value):
            out.extend(flatten(item, f"{prefix}[{n}]", limit))
        return out
    return [(prefix, clean("" if value is None else value, limit=limit))]


def key_values(pairs: list[tuple[str, str]], key_style: str = "bold") -> Text:
    """Lines of ``key  value`` aligned on the longest key (keys and values already cleaned)."""
    width = min(max((len(k) for k, _ in pairs), default=0), 32)
    text = Text()
    for n, (key, value) in enumerate(pairs):
        if n:
            text.append("\n")
        text.append(key.ljust(width), style=key_style)
        text.append("  ")
        text.append(value)
    return text
