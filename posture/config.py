"""The configuration file: notification channels, routing rules, thresholds, the team label.

TOML at ``$POSTURE_CONFIG`` or ``$XDG_CONFIG_HOME/posture/config.toml`` (``~/.config/posture/…``);
a missing file is an empty configuration. Example::

    team_label = "team"            # label or annotation naming the owning team
    max_image_age_days = 365       # an image built longer ago than this is stale (IMG age rule)
    exceptions_file = "exceptions.yaml"  # applied before every collect (relative to this file; docs/exceptions.md)

    [kubernetes]
    allow_exec_plugins = ["aws"]   # kubeconfig credential plugins allowed to run (as --allow-exec-plugin)

    [thresholds]
    new_risk = 60                  # a route without min_severity/min_risk announces a finding event
    new_severity = "high"          #   at or above either of these two (whichever is wider)
    scope_risk = 50                # announce a namespace/team/cluster/host/registry whose risk rises past this
    regression_delta = 10          # a risk rise that counts as a regression
    top = 10                       # lines per digest section before "and M more"
    exception_warning_days = 7

    [[channels]]
    name = "payments"
    url = "slack://T000/B000/XXXX"  # any apprise URL; a secret: never shown whole

    [[routes]]
    channel = "payments"
    events = ["new", "regressed", "scope-risk", "collector"]   # default: every event but "resolved"
    min_severity = "high"          # announced: high or worse, or risk 70 or more (either bar);
    min_risk = 70                  #   a route that sets only one bar is held to that one alone
    team = ["payments"]            # also: namespace, registry, host, cluster (glob patterns)

    [[sinks]]                      # the machine event stream (docs/events.md): jsonl, webhook or syslog
    kind = "webhook"
    url = "https://siem.example/posture"
    secret_env = "POSTURE_WEBHOOK_SECRET"

Channels given with ``--notify URL`` or ``POSTURE_NOTIFY`` (URLs separated by whitespace) get the
default route. A channel without any route gets the default route too.

Channel URLs carry tokens and passwords: they never appear in a message, a log line or the
database. The outbox names a channel by a keyed hash of its URL (:meth:`Channel.id`), and people
see :func:`posture.notify.display.display_url`: the scheme, and the host only where it is not a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from posture.errors import ConfigFailure
from posture.notify.policy import EVENTS, SCOPE_KEYS, Route, Thresholds
from posture.notify.sinkconfig import SinkConfig, SinkConfigError, parse_sinks
from posture.taxonomy import Severity


class ConfigError(ConfigFailure, ValueError):
    """One line naming the file and the problem."""


@dataclass(frozen=True)
class Channel:
    name: str
    url: str = field(repr=False)

    def id(self, key: bytes) -> str:
        """Stable outbox id: a keyed hash of the URL, so the database never holds (or confirms) the URL."""
        return "ch-" + hmac.new(key, self.url.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


@dataclass(frozen=True)
class Settings:
    """The whole configuration file, parsed: what collectors, rules, scoring, notification and the event
    stream are told (not only notification settings, hence the plain name)."""

    channels: tuple[Channel, ...] = ()
    routes: tuple[Route, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    team_label: str = "team"
    source: str = "defaults"
    #: Days after which an image counts as stale; None = the rule's default.
    max_image_age_days: int | None = None
    #: Kubeconfig exec credential plugins allowed to run (``[kubernetes] allow_exec_plugins``).
    allow_exec_plugins: tuple[str, ...] = ()
    #: The exceptions file ``collect`` and ``watch`` apply before their runs (docs/exceptions.md).
    exceptions_file: str | None = None
    #: Where the machine event stream goes (``[[sinks]]``, :mod:`posture.notify.sinkconfig`).
    sinks: tuple[SinkConfig, ...] = ()

    def source_settings(self) -> dict[str, Any]:
        """What collectors are told of the configuration (``SourceContext.settings``)."""
        return {"team_label": self.team_label, "kubernetes": {"allow_exec_plugins": list(self.allow_exec_plugins)}}

    def effective_routes(self) -> tuple[Route, ...]:
        """Configured routes, plus the default route for every channel that has none."""
        routed = {r.channel for r in self.routes}
        return self.routes + tuple(Route(c.name) for c in self.channels if c.name not in routed)

    def with_urls(self, urls: Iterable[str], prefix: str) -> Settings:
        """Add channels given on the command line or in the environment (default route)."""
        known = {c.url for c in self.channels}
        added = [u.strip() for u in urls if u.strip() and u.strip() not in known]
        extra = tuple(Channel(f"{prefix}-{n}", url) for n, url in enumerate(dict.fromkeys(added), 1))
        return replace(self, channels=self.channels + extra)

    def channel_ids(self, key: bytes) -> dict[str, Channel]:
        return {c.id(key): c for c in self.channels}


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/posture`` or ``~/.config/posture``: the configuration file and the secret key file."""
    env = os.environ if environ is None else environ
    return Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "posture"


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get("POSTURE_CONFIG"):
        return Path(env["POSTURE_CONFIG"]).expanduser()
    return config_dir(env) / "config.toml"


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """The configuration file (if any) plus the channels of ``POSTURE_NOTIFY``."""
    env = os.environ if environ is None else environ
    path = path or config_path(env)
    settings = Settings()
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"config {path}: {str(exc).splitlines()[0]}") from None
        settings = parse(data, str(path))
    return settings.with_urls(env.get("POSTURE_NOTIFY", "").split(), "env")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: expected a string or a list of strings")


def _int(value: Any, where: str, low: float, high: float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{where}: expected a number from {low:g} to {high:g}")
    return value


def _thresholds(data: Any, where: str) -> Thresholds:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [thresholds] must be a table")
    data = dict(data)
    severity = data.pop("new_severity", Severity.HIGH.value)
    try:
        new_severity = Severity.parse(severity) if isinstance(severity, str) else Severity(severity)
    except ValueError:
        raise ConfigError(f"{where}: thresholds.new_severity {severity!r} is not a severity") from None
    limits = {"new_risk": (0, 100), "scope_risk": (0, 100), "regression_delta": (1, 100), "top": (1, 100),
              "exception_warning_days": (0, 365)}
    unknown = set(data) - set(limits)
    if unknown:
        raise ConfigError(f"{where}: unknown threshold {sorted(unknown)[0]!r} (known: {', '.join(limits)}, "
                          "new_severity)")
    values = {k: _int(v, f"{where}: thresholds.{k}", *limits[k]) for k, v in data.items()}
    return Thresholds(**{k: (v if k == "scope_risk" else int(v)) for k, v in values.items()},
                      new_severity=new_severity)


def _channels(data: Any, where: str) -> tuple[Channel, ...]:
    if not isinstance(data, list):
        raise ConfigError(f"{where}: channels must be an array of tables ([[channels]])")
    out: list[Channel] = []
    for n, entry in enumerate(data, 1):
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str) or "://" not in entry["url"]:
            raise ConfigError(f"{where}: channel {n} needs a url (an apprise URL such as slack://…)")
        name = entry.get("name", f"channel-{n}")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: channel {n}: name must be a non-empty string")
        out.append(Channel(name, entry["url"]))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: two channels share a name")
    return tuple(out)


def _route(entry: Any, n: int, channels: Sequence[Channel], where: str) -> Route:
    at = f"{where}: route {n}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{at}: must be a table")
    channel = entry.get("channel")
    if channel not in {c.name for c in channels}:
        raise ConfigError(f"{at}: channel {channel!r} is not one of the [[channels]] names")
    events = frozenset(_strings(entry["events"], f"{at}.events")) if "events" in entry else None
    if events is not None and not events <= set(EVENTS):
        raise ConfigError(f"{at}: unknown event {sorted(events - set(EVENTS))[0]!r} (known: {', '.join(EVENTS)})")
    severity = entry.get("min_severity")
    try:
        min_severity = Severity.parse(severity) if isinstance(severity, str) else None
    except ValueError:
        raise ConfigError(f"{at}: min_severity {severity!r} is not a severity") from None
    min_risk = int(_int(entry["min_risk"], f"{at}.min_risk", 0, 100)) if "min_risk" in entry else None
    scope = {k: _strings(entry[k], f"{at}.{k}") for k in SCOPE_KEYS if k in entry}
    unknown = set(entry) - {"channel", "events", "min_severity", "min_risk", *SCOPE_KEYS}
    if unknown:
        raise ConfigError(f"{at}: unknown key {sorted(unknown)[0]!r}")
    route = Route(str(channel), min_severity=min_severity, min_risk=min_risk, scope=scope)
    return replace(route, events=events) if events is not None else route


def parse(data: Mapping[str, Any], where: str = "config") -> Settings:
    unknown = set(data) - {"team_label", "thresholds", "channels", "routes", "max_image_age_days", "kubernetes",
                           "exceptions_file", "sinks"}
    if unknown:
        raise ConfigError(f"{where}: unknown setting {sorted(unknown)[0]!r}")
    team = data.get("team_label", "team")
    if not isinstance(team, str) or not team:
        raise ConfigError(f"{where}: team_label must be a non-empty string")
    channels = _channels(data.get("channels", []), where)
    routes_data = data.get("routes", [])
    if not isinstance(routes_data, list):
        raise ConfigError(f"{where}: routes must be an array of tables ([[routes]])")
    routes = tuple(_route(entry, n, channels, where) for n, entry in enumerate(routes_data, 1))
    thresholds = _thresholds(data.get("thresholds", {}), where)
    age = data.get("max_image_age_days")
    if age is not None and (isinstance(age, bool) or not isinstance(age, int) or not 1 <= age <= 36500):
        raise ConfigError(f"{where}: max_image_age_days: expected a whole number of days from 1 to 36500")
    max_age: int | None = age
    try:
        sinks = parse_sinks(data.get("sinks", []), where)
    except SinkConfigError as exc:
        raise ConfigError(str(exc)) from None
    return Settings(channels, routes, thresholds, team, where, max_age, _exec_plugins(data, where),
                          _exceptions_file(data, where), sinks)


def _exceptions_file(data: Mapping[str, Any], where: str) -> str | None:
    """The exceptions file's path; a relative one is relative to the configuration file's directory."""
    value = data.get("exceptions_file")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: exceptions_file must be a non-empty path")
    return str(Path(where).parent / Path(value).expanduser())


def _exec_plugins(data: Mapping[str, Any], where: str) -> tuple[str, ...]:
    section = data.get("kubernetes", {})
    if not isinstance(section, dict) or set(section) - {"allow_exec_plugins"}:
        raise ConfigError(f"{where}: [kubernetes] takes only allow_exec_plugins")
    return tuple(_strings(section.get("allow_exec_plugins", []), f"{where}: kubernetes.allow_exec_plugins"))
