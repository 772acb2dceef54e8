"""Who hears about what, and how it reads: routing rules, thresholds, the digest, and text made inert.

Pure (import-linter): the outbox decides *what* to enqueue with :func:`channels_for`, the deliverer
renders what it sends with :func:`render_digest`; both are tested here without a database or network.

Untrusted text (asset names, labels, report titles) reaches chat rooms, where a ``<!channel>`` pages
a whole company and a link in a trusted bot's message is a phishing vector. :func:`neutralise` is
applied to every such string at render time: control characters stripped, mentions broken, angle
and square brackets replaced by look-alikes, URLs and domain names defanged (``hxxp://evil[.]com``),
secrets redacted. Messages are sent as plain text, which apprise escapes for Markdown and HTML
destinations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from posture.taxonomy import Severity
from posture.textsafe import clean

#: Every event the outbox knows, in digest order.
EVENTS: tuple[str, ...] = (
    "collector",
    "scope-risk",
    "new",
    "reopened",
    "regressed",
    "exception-expired",
    "exception-revoked",
    "exception-expiring",
    "baseline",
    "resolved",
)
#: Resolutions are opt-in: a channel asks for them by listing ``resolved`` in a route.
DEFAULT_EVENTS: frozenset[str] = frozenset(EVENTS) - {"resolved"}
FINDING_EVENTS: frozenset[str] = frozenset(
    {"new", "reopened", "regressed", "exception-expired", "exception-revoked", "resolved"}
)
#: Finding events an exception ending causes: announced once per exception and finding.
EXCEPTION_ENDINGS: frozenset[str] = frozenset({"exception-expired", "exception-revoked"})
#: Scope filters a route may set, and the roll-up dimension each one matches.
SCOPE_KEYS: tuple[str, ...] = ("namespace", "team", "registry", "host", "cluster")

_HEADINGS = {
    "collector": "Collector failing",
    "scope-risk": "Risk rose past the threshold",
    "new": "New risks",
    "reopened": "Reopened",
    "regressed": "Regressed",
    "exception-expired": "Accepted risk expired",
    "exception-revoked": "Accepted risk revoked",
    "exception-expiring": "Accepted risk expiring soon",
    "baseline": "Baseline",
    "resolved": "Resolved",
}


@dataclass(frozen=True)
class Thresholds:
    #: Default minimum risk (0–100) of a finding event for a route that sets none.
    new_risk: int = 60
    #: A namespace, team, cluster, host or registry is announced when its risk (100 − score) rises past this.
    scope_risk: float = 50.0
    #: A finding whose risk rises by this much (severity unchanged) is a regression.
    regression_delta: int = 10
    #: Lines per digest section before "+M more".
    top: int = 10
    #: Warn this many days before an accepted risk expires.
    exception_warning_days: int = 7


@dataclass(frozen=True)
class Route:
    """``scope`` maps a dimension (namespace, team, registry, host, cluster) to glob patterns."""

    channel: str
    events: frozenset[str] = DEFAULT_EVENTS
    min_severity: Severity | None = None
    min_risk: int | None = None
    scope: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Subject:
    """What an event is about, as routing sees it. ``groups``: dimension → group keys it belongs to."""

    event: str
    severity: str | None = None
    risk: int | None = None
    groups: Mapping[str, Iterable[str]] = field(default_factory=dict)


def _rank(severity: str | None) -> int:
    try:
        return Severity(severity).rank if severity else -1
    except ValueError:
        return -1


def _matches(patterns: Sequence[str], keys: Iterable[str]) -> bool:
    """A pattern matches a group key or its last segment (``prod`` matches namespace ``eu-1/prod``)."""
    for key in keys:
        short = key.rsplit("/", 1)[-1]
        if any(fnmatchcase(key, p) or fnmatchcase(short, p) for p in patterns):
            return True
    return False


def route_matches(route: Route, subject: Subject, thresholds: Thresholds) -> bool:
    if subject.event not in route.events:
        return False
    if subject.event in FINDING_EVENTS:
        if route.min_severity is not None and _rank(subject.severity) < route.min_severity.rank:
            return False
        minimum = thresholds.new_risk if route.min_risk is None else route.min_risk
        if (subject.risk or 0) < minimum:
            return False
    return all(_matches(patterns, subject.groups.get(dim, ())) for dim, patterns in route.scope.items() if patterns)


def channels_for(routes: Iterable[Route], subject: Subject, thresholds: Thresholds) -> set[str]:
    """Names of the channels at least one of whose routes takes this event."""
    return {r.channel for r in routes if route_matches(r, subject, thresholds)}


# -- neutralising untrusted text -------------------------------------------------------------
_LOOKALIKE = str.maketrans({"@": "＠", "<": "‹", ">": "›", "[": "［", "]": "］", "`": "'", "|": "¦"})
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,20})://")
_DOMAIN = re.compile(r"(?i)(?<![\w.-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+)([a-z]{2,24})(?![\w-])")
_WWW = re.compile(r"(?i)\bwww\.")


def _defang_scheme(match: re.Match[str]) -> str:
    scheme = match.group(1)
    lowered = scheme.lower()
    if lowered.startswith("hxxp"):
        return match.group(0)  # already defanged: neutralising twice changes nothing
    if lowered.startswith("http"):
        return "hxxp" + scheme[4:] + "://"
    return f"{scheme}[:]//"


def _defang_domain(match: re.Match[str]) -> str:
    labels = match.group(1)
    return labels[:-1].replace(".", "[.]") + "[.]" + match.group(2)


def neutralise(text: object, limit: int | None = 200, redact: Callable[[str], str] | None = None) -> str:
    """One line of inert plain text: no control characters, mentions, markup, links or secrets."""
    value = clean(text)
    if redact is not None:
        value = redact(value)
    value = value.translate(_LOOKALIKE)
    value = _SCHEME.sub(_defang_scheme, value)
    value = _DOMAIN.sub(_defang_domain, value)
    value = _WWW.sub("www[.]", value)
    return clean(value, limit=limit)


# -- the digest ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    """One outbox row as rendering sees it."""

    event: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class Message:
    """What a channel receives. Built from untrusted text, so it passes the output gate's sanitizer
    here, whoever builds it: a channel never gets a control, bidi or zero-width character raw."""

    title: str
    body: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "title", clean(self.title))
        object.__setattr__(self, "body", clean(self.body, multiline=True))


def _risk_text(payload: Mapping[str, Any]) -> str:
    severity, risk = payload.get("severity", "?"), payload.get("risk", "?")
    before_sev, before_risk = payload.get("previous_severity"), payload.get("previous_risk")
    if before_sev and before_sev != severity:
        severity = f"{before_sev}→{severity}"
    if before_risk is not None and before_risk != risk:
        risk = f"{before_risk}→{risk}"
    return f"{severity}, risk {risk}"


def _finding_line(payload: Mapping[str, Any], text: Callable[[object], str]) -> str:
    where = text(payload.get("asset") or "?")
    teams = payload.get("groups", {}).get("team") or []
    team = f" (team {', '.join(text(t) for t in teams[:3])})" if teams else ""
    return (
        f"- [{_risk_text(payload)}] {text(payload.get('rule_id', '?'))}: {text(payload.get('title', ''))}"
        f" on {where}{team}{_exception_text(payload, text)}"
    )


def _exception_text(payload: Mapping[str, Any], text: Callable[[object], str]) -> str:
    """The exception a finding event is about: the broad one a new risk arrived accepted under, or the
    one whose end reopened it (who accepted it and why, who revoked it)."""
    exc = payload.get("exception")
    if not isinstance(exc, Mapping):
        return ""
    said = f"exception {exc.get('id')} by {text(exc.get('owner'))}: {text(exc.get('reason'))}"
    if exc.get("revoked_by"):
        said += f"; revoked by {text(exc.get('revoked_by'))}"
    if payload.get("accepted"):
        return f" (accepted under {said}; scope {text(exc.get('scope'))})"
    return f" ({said})"


def _line(item: Item, text: Callable[[object], str]) -> str:
    p = item.payload
    if item.event in FINDING_EVENTS:
        return _finding_line(p, text)
    if item.event == "scope-risk":
        return (
            f"- {text(p.get('dimension'))} {text(p.get('group'))}: risk {p.get('previous_risk')}→{p.get('risk')}"
            f" (score {p.get('score')}, grade {p.get('grade')}; threshold {p.get('threshold')})"
        )
    if item.event == "collector":
        statuses = ", ".join(str(s) for s in p.get("statuses", []))
        return f"- {text(p.get('scope'))}: last runs {statuses}: {text(p.get('error') or 'no error text')}"
    if item.event == "exception-expiring":
        return (
            f"- exception {p.get('exception_id')} ({text(p.get('covers'))}) owned by {text(p.get('owner'))}"
            f" expires {text(p.get('expires_at'))}: {text(p.get('reason'))}"
        )
    if item.event == "baseline":
        bands = ", ".join(f"{n} {b}" for b, n in p.get("bands", {}).items() if n)
        matched = p.get("matched", 0)
        return (f"- {text(p.get('scope'))}: {matched} open findings at or above this channel's threshold"
                f" ({bands or 'none'}); from now on only changes are announced")
    return f"- {text(item.event)}"


def _sort_key(item: Item) -> tuple[float, str]:
    risk = item.payload.get("risk")
    return (-(risk if isinstance(risk, (int, float)) else 0), str(item.payload.get("title", "")))


def _summary(counts: Mapping[str, int]) -> str:
    words = {
        "new": ("new risk", "new risks"),
        "reopened": ("reopened", "reopened"),
        "regressed": ("regression", "regressions"),
        "resolved": ("resolved", "resolved"),
        "collector": ("collector failing", "collectors failing"),
        "scope-risk": ("scope past its threshold", "scopes past their threshold"),
        "exception-expired": ("expired acceptance", "expired acceptances"),
        "exception-revoked": ("revoked acceptance", "revoked acceptances"),
        "exception-expiring": ("acceptance expiring", "acceptances expiring"),
        "baseline": ("first collection (baseline)", "first collections (baseline)"),
    }
    parts = [f"{n} {words[e][n != 1]}" for e, n in counts.items() if n]
    return ", ".join(parts) or "nothing new"


def render_digest(
    items: Sequence[Item],
    *,
    top: int = 10,
    run_id: int | None = None,
    scope: str | None = None,
    redact: Callable[[str], str] | None = None,
) -> Message:
    """One message for one channel and run: sections by event, top N lines each, then "+M more"."""

    def text(value: object) -> str:
        return neutralise(value, redact=redact)

    by_event: dict[str, list[Item]] = {}
    for item in items:
        by_event.setdefault(item.event, []).append(item)
    counts = {e: len(by_event.get(e, [])) for e in EVENTS}
    where = f" on {text(scope)}" if scope else ""
    title = f"Posture: {_summary(counts)}{where}"
    lines: list[str] = [f"{_summary(counts)}{where}" + (f" (run {run_id})" if run_id is not None else "")]
    for event in EVENTS:
        group = sorted(by_event.get(event, []), key=_sort_key)
        if not group:
            continue
        heading = f"{_HEADINGS[event]} ({len(group)})"
        if event == "resolved" and group[0].payload.get("coverage"):
            # A resolution is only as good as what the run looked at: the reader sees both.
            heading += f" by run {run_id}, which judged: {text(group[0].payload['coverage'])}"
        lines += ["", heading]
        shown = group if event != "baseline" else group[:1]
        lines += [_line(item, text) for item in shown[:top]]
        if event == "baseline":
            tops = [t for item in shown for t in item.payload.get("top", [])]
            lines += ["  " + _finding_line(t, text) for t in tops[:top]]
            extra = max(0, int(shown[0].payload.get("matched", 0)) - min(len(tops), top))
        else:
            extra = len(group) - min(len(group), top)
        if extra:
            lines.append(f"  +{extra} more")
    # The diff view opens on the latest run against the one before it: what this message announces.
    lines += ["", "Open it in the terminal: posture tui --view diff"
              + (f"  (or: posture diff --to {run_id})" if run_id else "")]
    return Message(clean(title, limit=250), "\n".join(lines))
