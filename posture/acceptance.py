"""What an accepted risk covers (its *reach*), decided here and nowhere else.

The class is :class:`Reach`, not "scope": a *source scope* is what one collection run reads
(``posture.records.ScopeRef``, the ``scope`` table), a different thing. An acceptance's field and the
exceptions file still say ``scope`` for its reach, as the files users write always have.

A person (in the TUI, on the command line or in an exceptions file) or a VEX document accepts a
risk on a :class:`Reach`. Every field that is set must hold for a finding to be covered; a field
left unset does not restrict. So "CVE-2021-44228 on this image" is ``Reach(vuln_id=..., asset=...)``
and covers that vulnerability (under any of its aliases: a GHSA or distribution id of the same flaw)
on that image, and never another vulnerability of the same rule ``VULN`` on the same image: the
exception names what was accepted, not the rule that happened to report it.

An "until a fix exists" acceptance stops covering a finding as soon as its evidence shows a fixed
version, whatever the scope.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from fnmatch import fnmatchcase
from functools import cached_property, lru_cache
from typing import Any

from posture.taxonomy import Severity
from posture.vulnids import normalize_vuln_id, normalize_vuln_ids

#: Where an acceptance was decided: a person in the TUI or on the command line, an exceptions file
#: (exceptions as code), or a VEX statement (a document imported, or a scanner report's own).
TUI, CLI, FILE, VEX = "tui", "cli", "file", "vex"

#: The dimensions an estate groups assets by that an acceptance may name; their value comes from
#: the estate graph (a pod's team label, a container's host), so they are looked up only on demand.
GROUP_FIELDS: tuple[str, ...] = ("cluster", "host", "team")


@dataclass(frozen=True)  # no slots: its derived values are cached (a run checks a scope many times)
class Reach:
    """What one acceptance covers: the conjunction of the fields that are set (at least one)."""

    fingerprint: str | None = None  # exactly one finding
    vuln_id: str | None = None  # one vulnerability, under any of its ids (``aliases`` too)
    aliases: tuple[str, ...] = ()
    package: str | None = None  # the vulnerable package's name (a VEX subcomponent)
    version: str | None = None  # the package's installed version, exactly as scanners report it
    rule_id: str | None = None
    asset: str | None = None  # an asset's key, name or one of its aliases (an image's digests)
    namespace: str | None = None
    cluster: str | None = None
    host: str | None = None
    team: str | None = None
    pattern: str | None = None  # a glob over the asset's name or key

    def __post_init__(self) -> None:
        if self.vuln_id:  # stored and shown as every scanner spells it (CVE upper case, GHSA lower case)
            main = normalize_vuln_id(self.vuln_id)
            object.__setattr__(self, "vuln_id", main)
            object.__setattr__(self, "aliases", tuple(sorted(normalize_vuln_ids(self.aliases) - {main})))
        if self.version and not self.package:
            raise ValueError("a version needs a package")
        if self.aliases and not self.vuln_id:
            raise ValueError("aliases need a vulnerability id")
        if not any(getattr(self, name) for name in _SCOPE_FIELDS):
            raise ValueError("an exception needs a scope: a finding, vulnerability, package, rule, asset, "
                             "namespace, cluster, host, team or pattern")

    @cached_property
    def vuln_ids(self) -> frozenset[str]:
        """The vulnerability's ids, normalized (CVE upper case, GHSA lower case), or empty."""
        return frozenset(normalize_vuln_ids([self.vuln_id, *self.aliases])) if self.vuln_id else frozenset()

    @cached_property
    def specificity(self) -> int:
        """Higher is narrower: when several acceptances cover one finding, the narrowest one is its
        exception (so revoking a broad one never disturbs a finding a narrower one names)."""
        return sum(_WEIGHTS.get(name, 2) for name in _SCOPE_FIELDS if getattr(self, name))

    def describe(self) -> str:
        """One line for lists and messages: ``vulnerability CVE-x (aliases GHSA-y) · asset nginx``."""
        names = {"vuln_id": "vulnerability", "rule_id": "rule", "fingerprint": "finding"}
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "aliases" or not value:
                continue
            text = f"{names.get(f.name, f.name)} {value}"
            if f.name == "vuln_id" and self.aliases:
                text += f" (aliases {', '.join(self.aliases)})"
            parts.append(text)
        return " · ".join(parts)


#: How much each field narrows a scope (:attr:`Reach.specificity`); a group or pattern counts 2.
_WEIGHTS = {"fingerprint": 64, "vuln_id": 16, "package": 8, "asset": 8, "rule_id": 4}
#: The fields of a scope that restrict what it covers (``aliases`` only widens ``vuln_id``).
_SCOPE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Reach) if f.name != "aliases")


@dataclass(frozen=True)  # no slots: ``vuln_ids`` is cached (every exception of the vulnerability reads it)
class Candidate:
    """A finding as an acceptance sees it (what the store holds, no database types)."""

    fingerprint: str
    rule_id: str
    asset_key: str
    asset_name: str
    asset_aliases: tuple[str, ...]
    attributes: Mapping[str, Any]
    evidence: Mapping[str, Any]
    asset_id: int | None = None  # the store's id, for looking up the asset's groups

    @cached_property
    def vuln_ids(self) -> frozenset[str]:
        """Every id the finding's vulnerability is known by (its stated id and its aliases)."""
        aliases = self.evidence.get("aliases")
        stated = self.evidence.get("vulnerability")
        return _known_ids(stated, tuple(aliases) if isinstance(aliases, list | tuple) else ())

    @property
    def fix_available(self) -> bool:
        return bool(self.evidence.get("fix_available"))


@lru_cache(maxsize=65536)
def _known_ids(stated: object, aliases: tuple[object, ...]) -> frozenset[str]:
    """A vulnerability's ids normalized; cached, as one CVE is stated on many images."""
    return frozenset(normalize_vuln_ids(i for i in (stated, *aliases) if isinstance(i, str) and i))


#: The groups of a finding's asset (``{"team": {"payments"}, "host": {"web-1"}}``), looked up only
#: when an acceptance names a group.
GroupsOf = Callable[[Candidate], Mapping[str, Iterable[str]]]


def covers(scope: Reach, until_fix: bool, finding: Candidate, groups_of: GroupsOf | None = None) -> bool:
    """Whether an acceptance of ``scope`` covers ``finding`` (every field set holds)."""
    if until_fix and finding.fix_available:
        return False
    if scope.fingerprint and scope.fingerprint != finding.fingerprint:
        return False
    if scope.rule_id and scope.rule_id != finding.rule_id:
        return False
    if scope.vuln_id and not scope.vuln_ids & finding.vuln_ids:
        return False
    if scope.package and scope.package != finding.evidence.get("package"):
        return False
    if scope.version and scope.version != finding.evidence.get("installed"):
        return False
    if scope.asset and scope.asset not in (finding.asset_key, finding.asset_name, *finding.asset_aliases):
        return False
    if scope.namespace and finding.attributes.get("namespace") != scope.namespace:
        return False
    if scope.pattern and not (fnmatchcase(finding.asset_name, scope.pattern)
                              or fnmatchcase(finding.asset_key, scope.pattern)):
        return False
    named = [(dim, getattr(scope, dim)) for dim in GROUP_FIELDS if getattr(scope, dim)]
    if named:
        groups = groups_of(finding) if groups_of else {}
        return all(_in_group(value, frozenset(groups.get(dim, ()))) for dim, value in named)
    return True


def silences_new(scope: Reach, severity: Severity) -> bool:
    """Whether a finding that arrives already accepted under ``scope`` may go unannounced.

    An acceptance that names the finding or its vulnerability was made knowing this very risk: a new
    sighting of it (the accepted CVE on the next image of the scope) is what was accepted. One that
    names neither (a rule, an asset, a namespace, a package, a pattern) was made before this risk
    existed, so a new high or critical finding under it is still announced, marked as accepted: new
    risk is never silent. Below high, a broad acceptance keeps it quiet (that is what it is for).
    """
    return bool(scope.fingerprint or scope.vuln_id) or severity.rank < Severity.HIGH.rank


def _in_group(value: str, members: Collection[str]) -> bool:
    """A cluster, host or team is matched whole (a name, never a prefix of one)."""
    return value in members


@dataclass(frozen=True, slots=True)
class Acceptance:
    """One accepted risk as its source states it (a person, an exceptions file, a VEX document).

    ``source`` is where it was decided (``tui``, ``cli``, ``file``, ``vex``) and ``key`` its identity
    there (an exceptions file entry's id, a VEX statement's document and number), so applying the
    same file or document again updates the same exception instead of adding one. ``origin`` says
    where to read it (``exceptions.yaml:12``, a VEX document's id). Either ``expires_at`` or
    ``until_fix`` should be set; a VEX ``not_affected`` statement may have neither (it is true until
    the document says otherwise).
    """

    scope: Reach
    reason: str
    owner: str
    source: str
    key: str = ""
    origin: str = ""
    expires_at: datetime | None = None
    until_fix: bool = False
    justification: str | None = None  # a VEX justification (``vulnerable_code_not_present`` ...)
    created_at: datetime | None = None  # when its source says it was decided (an exceptions file's ``created``)
