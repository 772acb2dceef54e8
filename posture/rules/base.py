"""Rule metadata and the pure evaluation contract.

A rule is data (id, title, severity, phase, NIST section, references, remediation) plus a pure
function from one collected asset to zero or more hits. Rules never import an I/O library; what a
rule needs beyond its asset (the namespace's network policies, the tag's digest in the previous
run) comes through the :class:`Snapshot` the pipeline builds.

Rule ids are stable, upper-case, prefixed by source: ``DKR-`` Docker runtime and daemon,
``IMG-`` image configuration, ``K8S-`` Kubernetes, ``REG-`` registries, ``VULN``/``SCAN-``
scanner observations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from posture.records import AssetKind, AssetRecord, AssetRef, RelationRecord
from posture.taxonomy import CIS_DOCKER, CIS_K8S, KUBESCAPE, NIST, NIST_SECTIONS, PSS, TRIVY, Category, Phase, Severity


@dataclass(frozen=True, slots=True)
class Reference:
    """A citation such as ``{"framework": "CIS Docker Benchmark 1.6.0", "id": "5.5"}``."""

    framework: str
    id: str

    def as_dict(self) -> dict[str, str]:
        return {"framework": self.framework, "id": self.id}


# One citation builder per framework a rule may cite, so a declaration reads ``cis_docker("5.4")``.
cis_docker = partial(Reference, CIS_DOCKER)
cis_k8s = partial(Reference, CIS_K8S)
pss = partial(Reference, PSS)
trivy = partial(Reference, TRIVY)
kubescape = partial(Reference, KUBESCAPE)


@dataclass(frozen=True, slots=True)
class Hit:
    """One failed check on one asset.

    ``discriminator`` separates several hits of a rule on one asset (a container name, a port); it
    is part of the fingerprint, so it must be an identity, never a message or a number that moves.
    ``severity`` overrides the rule's default where the danger depends on the evidence. ``dormant``
    says the asset is not running (a created or exited container): the finding is then one severity
    lower than it would be, and still reported, since a dormant asset is one start away from running.
    """

    discriminator: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    title: str | None = None
    severity: Severity | None = None
    dormant: bool = False


class Snapshot:
    """What one collection produced, indexed for rules that look across assets."""

    def __init__(
        self,
        assets: Iterable[AssetRecord],
        relations: Iterable[RelationRecord] = (),
        previous: Mapping[AssetRef, Mapping[str, Any]] | None = None,
    ) -> None:
        self._by_kind: dict[AssetKind, list[AssetRecord]] = {}
        self._by_ref: dict[AssetRef, AssetRecord] = {}
        for asset in assets:
            self._by_kind.setdefault(asset.kind, []).append(asset)
            self._by_ref[asset.ref] = asset
        self._outgoing: dict[AssetRef, list[RelationRecord]] = {}
        self._incoming: dict[AssetRef, list[RelationRecord]] = {}
        for rel in relations:
            self._outgoing.setdefault(rel.source, []).append(rel)
            self._incoming.setdefault(rel.target, []).append(rel)
        self._previous = previous or {}

    def of_kind(self, kind: AssetKind) -> list[AssetRecord]:
        return self._by_kind.get(kind, [])

    def get(self, ref: AssetRef) -> AssetRecord | None:
        return self._by_ref.get(ref)

    def outgoing(self, ref: AssetRef, relation: str | None = None) -> list[RelationRecord]:
        return [r for r in self._outgoing.get(ref, []) if relation is None or r.relation == relation]

    def incoming(self, ref: AssetRef, relation: str | None = None) -> list[RelationRecord]:
        return [r for r in self._incoming.get(ref, []) if relation is None or r.relation == relation]

    def previous_attributes(self, ref: AssetRef) -> Mapping[str, Any] | None:
        """The asset's attributes as stored before this run (only for rules with ``needs_previous``)."""
        return self._previous.get(ref)


Evaluate = Callable[[AssetRecord, Snapshot], Iterable[Hit]]


@dataclass(frozen=True, kw_only=True)
class Rule:
    """A check with its standard references. ``evaluate`` is None for observation rules,
    whose findings a source states itself (a scanner's CVE) and whose metadata still applies.

    Every rule module declares its rules the same way, by keyword; what differs per family is the
    evaluate adapter that turns the family's checks into this contract (``on_container``,
    ``on_engine``, ``on_pod``, ...), and the citations come from :func:`cis_docker` and its peers.
    """

    id: str
    title: str
    severity: Severity
    phase: Phase
    nist: str
    remediation: str
    references: tuple[Reference, ...] = ()
    kinds: frozenset[AssetKind] = frozenset()
    evaluate: Evaluate | None = None
    needs_previous: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        if self.nist not in NIST_SECTIONS:
            raise ValueError(f"rule {self.id}: unknown NIST SP 800-190 section {self.nist!r}")
        if self.evaluate is not None and not self.kinds:
            raise ValueError(f"rule {self.id}: an evaluated rule must name the asset kinds it checks")

    @property
    def category(self) -> Category:
        return NIST_SECTIONS[self.nist][0]

    @property
    def all_references(self) -> tuple[Reference, ...]:
        """The NIST section first, then the rule's own references (every finding cites NIST)."""
        return (Reference(NIST, self.nist), *self.references)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.value,
            "phase": self.phase.value,
            "category": self.category.value,
            "references": [r.as_dict() for r in self.all_references],
            "remediation": self.remediation,
            "kinds": sorted(k.value for k in self.kinds),
        }


class RuleRegistry:
    """An explicit, immutable set of rules; built by :func:`posture.rules.default_registry`."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules: dict[str, Rule] = {}
        for rule in rules:
            if rule.id in self._rules:
                raise ValueError(f"duplicate rule id {rule.id}")
            self._rules[rule.id] = rule
        self._by_kind: dict[AssetKind, list[Rule]] = {}
        for rule in self._rules.values():
            for kind in rule.kinds:
                self._by_kind.setdefault(kind, []).append(rule)

    def __iter__(self) -> Iterator[Rule]:
        return iter(sorted(self._rules.values(), key=lambda r: r.id))

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def get(self, rule_id: str) -> Rule:
        try:
            return self._rules[rule_id]
        except KeyError:
            raise KeyError(f"unknown rule {rule_id}") from None

    def for_kind(self, kind: AssetKind) -> list[Rule]:
        return self._by_kind.get(kind, [])

    @property
    def kinds_needing_previous(self) -> frozenset[AssetKind]:
        return frozenset(k for r in self._rules.values() if r.needs_previous for k in r.kinds)


_ONE_LOWER = {
    Severity.CRITICAL: Severity.HIGH,
    Severity.HIGH: Severity.MEDIUM,
    Severity.MEDIUM: Severity.LOW,
    Severity.LOW: Severity.INFO,
    Severity.INFO: Severity.INFO,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """A hit bound to its rule and asset: what the store turns into a finding."""

    rule: Rule
    asset: AssetRef
    asset_name: str
    hit: Hit

    @property
    def severity(self) -> Severity:
        severity = self.hit.severity or self.rule.severity
        return _ONE_LOWER[severity] if self.hit.dormant else severity

    @property
    def title(self) -> str:
        return self.hit.title or self.rule.title


def evaluate_all(registry: RuleRegistry, snapshot: Snapshot, assets: Iterable[AssetRecord]) -> Iterator[Verdict]:
    """Run every rule that applies to each asset; pure, so it can run anywhere."""
    for asset in assets:
        for rule in registry.for_kind(asset.kind):
            assert rule.evaluate is not None
            for hit in rule.evaluate(asset, snapshot):
                yield Verdict(rule, asset.ref, asset.name, hit)
