"""How a channel is named on screens and in logs without its secret (apprise knows which part is one).

Kept apart from :mod:`posture.config` so reading the settings never loads apprise: the TUI and the
store read settings too, and only the notification commands need apprise's plugins.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit


@functools.lru_cache(maxsize=256)  # apprise parses each URL once, however many rows name it
def display_url(url: str) -> str:
    """``scheme://host``, the host only when apprise itself shows it with privacy on, else ``scheme://``.

    Apprise URLs keep their secrets anywhere: the path, the user part, the query, and for many services
    (Opsgenie, Pushover, PagerDuty, Slack …) the host itself is the API key. Which part is a secret is
    apprise's own schema knowledge (the plugin's private template tokens), and the plugin applies it in
    ``url(privacy=True)``; so the host is shown only when that rendering keeps it unchanged. A URL apprise
    cannot parse shows its scheme only. The path, user and query are never shown.
    """
    import apprise  # the CLI's notification commands only; not every command needs its plugins loaded

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
    except ValueError:
        return "invalid-url"
    scheme = f"{parts.scheme or '?'}://"
    asset = apprise.AppriseAsset(storage_mode="memory")
    plugin = apprise.Apprise.instantiate(url.strip(), asset=asset, suppress_exceptions=True) if host else None
    if plugin is None:
        return scheme
    try:
        shown = urlsplit(str(plugin.url(privacy=True))).hostname  # type: ignore[no-untyped-call]
    except ValueError:
        return scheme
    return scheme + host if shown == host else scheme
