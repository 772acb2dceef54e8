"""``[[sinks]]``: where the machine event stream goes (docs/events.md), as the configuration file states it.

Three kinds, each a table in the configuration file::

    [[sinks]]
    kind = "jsonl"                      # one JSON event per line, appended and fsynced
    path = "/var/log/posture/events.jsonl"

    [[sinks]]
    kind = "webhook"                    # one POST per event, JSON body, signed
    url = "https://siem.example/posture"
    secret_env = "POSTURE_WEBHOOK_SECRET"   # the HMAC key is read from this variable, never from the file

    [[sinks]]
    kind = "syslog"                     # RFC 5424; udp, tcp (RFC 6587 octet counting) or tls (RFC 5425)
    url = "tcp://siem.example:6514"
    facility = "local0"
    ca_file = "/etc/ssl/siem-ca.pem"    # tls only; default: the system's trust store

A sink is identified in the database by a keyed hash of its kind and target (:meth:`SinkConfig.id`),
as channels are: a webhook URL may carry a token, so it is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from posture.errors import ConfigFailure

KINDS = ("jsonl", "webhook", "syslog")
SYSLOG_TRANSPORTS = ("udp", "tcp", "tls")
#: RFC 5424 facility codes a sink may name.
FACILITIES = {"user": 1, "daemon": 3, "auth": 4, "authpriv": 10, **{f"local{n}": 16 + n for n in range(8)}}
_KEYS = {
    "jsonl": {"kind", "name", "path"},
    "webhook": {"kind", "name", "url", "secret_env"},
    "syslog": {"kind", "name", "url", "facility", "ca_file"},
}


class SinkConfigError(ConfigFailure, ValueError):
    """One line naming the file, the sink and the problem (posture.config re-raises it as a ConfigError)."""


@dataclass(frozen=True)
class SinkConfig:
    """One event sink. ``target`` is the file path or the URL; ``secret_env`` names the variable holding
    the webhook's HMAC key (the key itself is read when sending, never kept here)."""

    kind: str
    name: str
    target: str = field(repr=False)
    secret_env: str | None = None
    facility: int = FACILITIES["local0"]
    ca_file: str | None = None

    def id(self, key: bytes) -> str:
        """Stable cursor id: a keyed hash of kind and target, so a new target starts its own stream."""
        return "sk-" + hmac.new(key, f"{self.kind}\0{self.target}".encode(), hashlib.sha256).hexdigest()[:24]

    def display(self) -> str:
        """What people see: the file, or scheme://host:port (never a URL's path, user or query)."""
        if self.kind == "jsonl":
            return f"{self.name} ({self.target})"
        parts = urlsplit(self.target)
        port = f":{parts.port}" if parts.port else ""
        return f"{self.name} ({parts.scheme}://{parts.hostname or ''}{port})"


def parse_sinks(data: Any, where: str) -> tuple[SinkConfig, ...]:
    """The ``[[sinks]]`` array: every sink checked whole, so a typo fails at load, not at delivery."""
    if not isinstance(data, list):
        raise SinkConfigError(f"{where}: sinks must be an array of tables ([[sinks]])")
    sinks = tuple(_sink(entry, n, where) for n, entry in enumerate(data, 1))
    names = [s.name for s in sinks]
    if len(set(names)) != len(names):
        raise SinkConfigError(f"{where}: two sinks share a name")
    return sinks


def _sink(entry: Any, n: int, where: str) -> SinkConfig:
    at = f"{where}: sink {n}"
    if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
        raise SinkConfigError(f"{at}: kind must be one of {', '.join(KINDS)}")
    kind = entry["kind"]
    unknown = set(entry) - _KEYS[kind]
    if unknown:
        raise SinkConfigError(f"{at}: unknown key {sorted(unknown)[0]!r} for a {kind} sink")
    name = entry.get("name", f"sink-{n}")
    if not isinstance(name, str) or not name:
        raise SinkConfigError(f"{at}: name must be a non-empty string")
    if kind == "jsonl":
        return SinkConfig(kind, name, _path(entry.get("path"), at, where))
    url = entry.get("url")
    if not isinstance(url, str):
        raise SinkConfigError(f"{at}: needs a url")
    parts = urlsplit(url)
    if kind == "webhook":
        secret = entry.get("secret_env")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SinkConfigError(f"{at}: url must be an http:// or https:// URL")
        if not isinstance(secret, str) or not secret:
            raise SinkConfigError(f"{at}: secret_env must name the environment variable holding the HMAC key")
        return SinkConfig(kind, name, url, secret_env=secret)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in SYSLOG_TRANSPORTS or not parts.hostname or not port:
        raise SinkConfigError(f"{at}: url must be udp://, tcp:// or tls:// with a host and a port")
    facility = entry.get("facility", "local0")
    if facility not in FACILITIES:
        raise SinkConfigError(f"{at}: facility must be one of {', '.join(FACILITIES)}")
    ca_file = entry.get("ca_file")
    if ca_file is not None and (parts.scheme != "tls" or not isinstance(ca_file, str)):
        raise SinkConfigError(f"{at}: ca_file is a path, for a tls:// sink only")
    return SinkConfig(kind, name, url, facility=FACILITIES[facility],
                      ca_file=_path(ca_file, at, where) if ca_file else None)


def _path(value: Any, at: str, where: str) -> str:
    """A path; a relative one is relative to the configuration file's directory (as exceptions_file)."""
    if not isinstance(value, str) or not value:
        raise SinkConfigError(f"{at}: needs a path")
    return str(Path(where).parent / Path(value).expanduser())
