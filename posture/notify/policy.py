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
import shlex
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
    """Installation-wide defaults (``[thresholds]``). A route that sets neither ``min_severity`` nor
    ``min_risk`` announces a finding event that reaches *either* default bar (:func:`finding_bar`)."""

    #: Default minimum risk (0–100) of a finding event for a route that sets no bar of its own.
    new_risk: int = 60
    #: Default minimum severity, the other bar: risk alone cannot miss a new critical or high finding
    #: (severity stops the risk base at 60, so a critical without context scores 57).
    new_severity: Severity = Severity.HIGH
    #: A namespace, team, cluster, host or registry is announced when its risk (100 − score) rises past this.
    scope_risk: float = 50.0
    #: A finding whose risk rises by this much (severity unchanged) is a regression.
    regression_delta: int = 10
    #: Lines per digest section before "and M more".
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


def finding_bar(route: Route, thresholds: Thresholds) -> tuple[Severity | None, int | None]:
    """The (severity, risk) bars a route holds finding events to; a finding passes if it reaches either.

    A route that sets neither takes both defaults (high severity *or* risk 60: the wider of the two);
    one that sets only one of them is held to that one alone (``min_severity = "critical"`` hears only
    criticals, whatever their risk); one that sets both hears what reaches either.
    """
    if route.min_severity is None and route.min_risk is None:
        return thresholds.new_severity, thresholds.new_risk
    return route.min_severity, route.min_risk


def meets_bar(route: Route, severity: str | None, risk: int | None, thresholds: Thresholds) -> bool:
    """Whether a finding of this severity and risk reaches either of the route's bars."""
    min_severity, min_risk = finding_bar(route, thresholds)
    by_severity = min_severity is not None and _rank(severity) >= min_severity.rank
    return by_severity or (min_risk is not None and (risk or 0) >= min_risk)


def describe_bar(route: Route, thresholds: Thresholds) -> str:
    """The bar in words, for the line ``collect`` prints when nothing passed it."""
    min_severity, min_risk = finding_bar(route, thresholds)
    parts = ([f"{min_severity.value} or worse"] if min_severity is not None else []) + (
        [f"risk {min_risk} or more"] if min_risk is not None else [])
    return " or ".join(parts)


def in_scope(route: Route, groups: Mapping[str, Iterable[str]]) -> bool:
    """Whether what an event is about lies inside the route's scope filters (every dimension set must match)."""
    return all(_matches(patterns, groups.get(dim, ())) for dim, patterns in route.scope.items() if patterns)


def route_matches(route: Route, subject: Subject, thresholds: Thresholds) -> bool:
    if subject.event not in route.events:
        return False
    if subject.event in FINDING_EVENTS and not meets_bar(route, subject.severity, subject.risk, thresholds):
        return False
    return in_scope(route, subject.groups)


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


# -- what a finding line says ---------------------------------------------------------------
#: Evidence keys a scanner's vulnerability finding carries (collectors/scanners/parsed.py).
_VULN_KEYS = ("vulnerability", "package", "installed", "fixed")


def finding_detail(discriminator: str, evidence: Mapping[str, Any]) -> str:
    """What tells this finding apart from its rule's others on the same asset, from the rule's evidence:
    the field and value (``spec.hostPID = true``), the capabilities added, or the CVE and its fix.

    Computed when the outbox row is written (the evidence stays in the store); never part of a fingerprint.
    """
    if evidence.get("vulnerability"):
        vuln, package, installed, fixed = (evidence.get(k) for k in _VULN_KEYS)
        where = " ".join(str(v) for v in (package, installed) if v)
        fix = f"fixed in {fixed}" if fixed else "no fixed version yet"
        return f"{vuln}" + (f" in {where}" if where else "") + f", {fix}"
    if isinstance(evidence.get("cap_add"), list):
        return "capabilities added: " + ", ".join(str(c) for c in evidence["cap_add"])
    path = evidence.get("field")
    if isinstance(path, str) and path:
        value = evidence.get("value")
        said = path if value is None else f"{path} = {_value_text(value)}"
        container = re.match(r"spec\.(?:initContainers|containers|ephemeralContainers)\[([^\]]*)\]\.(.*)", said)
        return f"container {container.group(1)}: {container.group(2)}" if container else said.removeprefix("spec.")
    return discriminator


def _value_text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def first_step(remediation: str | None) -> str | None:
    """The remediation's first sentence: one step an on-call engineer can take now."""
    if not remediation:
        return None
    match = re.match(r"(.+?[.!?])(?:\s|$)", remediation.strip())
    return match.group(1) if match else remediation.strip()


def source_label(scope: str) -> str:
    """:func:`scope_label` of a scope as a payload stores it, shown (``kind:label``,
    :func:`posture.records.source_name`): the only form a queued message has of its run."""
    kind, _, label = scope.partition(":")
    return scope_label(kind, label) or scope


def scope_label(kind: str, label: str) -> str | None:
    """A source as its people name it: a manifest set given a cluster name (``--manifests-cluster``) is
    that cluster, a live cluster its context, not the local path the manifests were read from; None when
    the scope as shown says it already."""
    if kind == "manifests" and " @ " in label:
        return f"cluster {label.rpartition(' @ ')[2]} (manifests)"
    if kind == "kubernetes":
        return f"cluster {label}"
    return None


def _short_group(key: str) -> str:
    return key.rsplit("/", 1)[-1]


def asset_text(payload: Mapping[str, Any]) -> str:
    """The asset in human terms: cluster / namespace / Kind/name, host / container, registry / repository:tag."""
    name = str(payload.get("asset") or "?")
    kind = str(payload.get("asset_kind") or "")
    groups: Mapping[str, Sequence[str]] = payload.get("groups", {})
    parts: list[str] = []
    if kind.startswith("k8s-"):
        parts += [f"cluster {c}" for c in groups.get("cluster", [])[:1]]
        namespaces = [_short_group(n) for n in groups.get("namespace", [])[:1]]
        parts += [f"namespace {n}" for n in namespaces]
        if namespaces and name.startswith(namespaces[0] + "/"):
            name = name[len(namespaces[0]) + 1 :]
    elif kind == "container":
        parts += [f"host {h}" for h in groups.get("host", [])[:1]]
        name = f"container {name}"
    elif kind in ("image", "tag", "repository"):
        parts += [f"registry {r}" for r in groups.get("registry", [])[:1] if not name.startswith(r)]
        name = f"{kind} {name}"
    return " / ".join([*parts, name])


def open_command(rule_id: str, asset: str) -> str:
    """The command that lists this finding (its rule on its asset), each word quoted for a shell: the
    asset name is untrusted, and the line is meant to be copied into a terminal."""
    return f"posture findings --rule {shlex.quote(rule_id)} --search {shlex.quote(asset)}"


def team_of(payload: Mapping[str, Any]) -> str | None:
    teams = payload.get("groups", {}).get("team") or []
    return ", ".join(str(t) for t in teams[:3]) if teams else None


# -- the digest ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limit:
    """The most one message may hold on a service: ``size`` characters (or UTF-8 bytes), the title
    counted too where the service counts it."""

    size: int
    utf8: bool = False
    with_title: bool = False

    def measure(self, text: str) -> int:
        return len(text.encode("utf-8")) if self.utf8 else len(text)


#: Per apprise URL scheme. A digest cut to fit is never refused or split by the service.
SERVICE_LIMITS: Mapping[str, Limit | None] = {
    # The whole body goes into one Block Kit section (3,000 characters); apprise escapes & < > in it.
    "slack": Limit(2800),
    # 2,000 characters per message, the title included (apprise puts both in one message).
    "discord": Limit(1900, with_title=True),
    # Microsoft Teams refuses a message over ~28 KB, the card's JSON included.
    "msteams": Limit(24000, utf8=True),
    "workflow": Limit(24000, utf8=True),
    "workflows": Limit(24000, utf8=True),
    # Mail has no practical size limit for a digest.
    "mailto": None,
    "mailtos": None,
}


def message_limit(url: str, service_max: int | None = None) -> Limit | None:
    """The cap for a channel: the table above for the services it knows, else what apprise's plugin
    says the service takes (``body_maxlen``), else none."""
    scheme = url.partition("://")[0].lower()
    if scheme in SERVICE_LIMITS:
        return SERVICE_LIMITS[scheme]
    return Limit(service_max) if service_max else None


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
    """One finding as an on-call engineer needs it: what and which detail, where, whose, the first step,
    and the command that opens it."""
    detail = text(payload.get("detail") or "")
    team = team_of(payload)
    lines = [
        f"- [{_risk_text(payload)}] {text(payload.get('title', ''))}" + (f": {detail}" if detail else "")
        + f" ({text(payload.get('rule_id', '?'))}){_exception_text(payload, text)}",
        f"  on {text(asset_text(payload))}; owner: " + (f"team {text(team)}" if team else "no team label"),
    ]
    step = first_step(payload.get("remediation"))
    if step:  # the rule's own text, not a source's: made safe for a terminal, not defanged
        lines.append(f"  fix: {clean(step, limit=300)}")
    lines.append(f"  open: {open_command(text(payload.get('rule_id', '?')), text(payload.get('asset') or '?'))}")
    return "\n".join(lines)


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
        severities = ", ".join(f"{n} {s}" for s, n in p.get("severities", {}).items() if n)
        return (f"- {text(source_label(str(p.get('scope'))))}: {p.get('matched', 0)} open findings this channel"
                f" would be told about ({severities or 'none'}; {text(p.get('bar', 'its threshold'))});"
                " from now on only changes are announced")
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


def _team_key(item: Item) -> str:
    return team_of(item.payload) or ""


def _by_team(group: Sequence[Item]) -> list[tuple[str, list[Item]]]:
    """Findings grouped by owning team, the team with the riskiest finding first; riskiest first within."""
    teams: dict[str, list[Item]] = {}
    for item in sorted(group, key=_sort_key):
        teams.setdefault(_team_key(item), []).append(item)
    return list(teams.items())


@dataclass
class _Budget:
    """What is left of a message's size as lines are added: a line that does not fit is left out and counted."""

    limit: Limit | None
    left: int

    def take(self, text: str) -> bool:
        if self.limit is None:
            return True
        cost = self.limit.measure(text) + 1  # the line break
        if cost > self.left:
            return False
        self.left -= cost
        return True


#: Room kept for each section's "and N more" line and the closing command, so they always fit.
_MORE_ROOM = 60


def render_digest(
    items: Sequence[Item],
    *,
    top: int = 10,
    run_id: int | None = None,
    scope: str | None = None,
    redact: Callable[[str], str] | None = None,
    limit: Limit | None = None,
) -> Message:
    """One message for one channel and run: sections by event, finding sections grouped by team, top N
    lines each and as many as ``limit`` holds, then "and M more" with the command that lists them all."""

    def text(value: object) -> str:
        return neutralise(value, redact=redact)

    by_event: dict[str, list[Item]] = {}
    for item in items:
        by_event.setdefault(item.event, []).append(item)
    counts = {e: len(by_event.get(e, [])) for e in EVENTS}
    where = f" on {text(source_label(scope))}" if scope else ""
    title = clean(f"Posture: {_summary(counts)}{where}", limit=250)
    footer = ["", "Open it in the terminal: posture tui --view diff" + (f"  (or: posture diff --to {run_id})"
                                                                         if run_id else "")]
    head = f"{_summary(counts)}{where}" + (f" (run {run_id})" if run_id is not None else "")
    sections = [e for e in EVENTS if by_event.get(e)]
    size = limit.size - (limit.measure(title) + 1 if limit.with_title else 0) if limit else 0
    budget = _Budget(limit, size - limit.measure("\n".join([head, *footer])) - _MORE_ROOM * len(sections)
                     if limit else 0)
    lines = [head]
    for event in sections:
        lines += _section(event, by_event[event], top, run_id, text, budget)
    # The diff view opens on the latest run against the one before it: what this message announces.
    return Message(title, "\n".join(lines + footer))


def _section(event: str, group: Sequence[Item], top: int, run_id: int | None, text: Callable[[object], str],
             budget: _Budget) -> list[str]:
    heading = f"{_HEADINGS[event]} ({len(group)})"
    if event == "resolved" and group[0].payload.get("coverage"):
        # A resolution is only as good as what the run looked at: the reader sees both.
        heading += f" by run {run_id}, which judged: {text(group[0].payload['coverage'])}"
    lines = ["", heading]
    budget.take("\n".join(lines))
    if event == "baseline":
        first = group[0]
        lines.append(_line(first, text))
        budget.take(lines[-1])
        tops = [Item("new", t) for t in first.payload.get("top", [])]
        shown = _fill(lines, tops, top, text, budget, by_team=False)
        extra = int(first.payload.get("matched", 0)) - shown
    elif event in FINDING_EVENTS:
        extra = len(group) - _fill(lines, group, top, text, budget, by_team=True)
    else:
        ordered = sorted(group, key=_sort_key)
        shown = 0
        for item in ordered[:top]:
            line = _line(item, text)
            if not budget.take(line):
                break
            lines.append(line)
            shown += 1
        extra = len(group) - shown
    if extra > 0:
        lines.append(f"  and {extra} more")
    return lines


def _fill(lines: list[str], group: Sequence[Item], top: int, text: Callable[[object], str], budget: _Budget,
          by_team: bool) -> int:
    """Adds the riskiest findings (under a heading per team when ``by_team``) while ``top`` and the budget allow."""
    shown = 0
    teams = _by_team(group) if by_team else [("", sorted(group, key=_sort_key))]
    for team, members in teams:
        if shown >= top:
            break
        heading = [f"Team {text(team)} ({len(members)})" if team else f"No team label ({len(members)})"] \
            if by_team else []
        blocks: list[str] = []
        for item in members:
            if shown + len(blocks) >= top:
                break
            block = _line(item, text)
            if not budget.take("\n".join([*heading, block]) if not blocks else block):
                break
            blocks.append(block)
        if not blocks:
            break
        lines += [*heading, *blocks]
        shown += len(blocks)
    return shown


def queue_line(channel: str, source: str, counts: Mapping[str, int], findings: int, why: str) -> str:
    """The line ``collect`` and ``watch`` print per channel and run: one digest queued (what it holds),
    or nothing and ``why``. A run's rows for one channel always go out as one message."""
    if not counts:
        return clean(f"notify {channel}: nothing queued for {source}: {why}")
    held = _summary({e: counts.get(e, 0) for e in EVENTS})
    about = f"; {findings} finding{'s' if findings != 1 else ''}" if findings else ""
    return clean(f"notify {channel}: 1 message queued for {source} ({held}{about})")
