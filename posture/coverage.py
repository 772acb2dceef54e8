"""What a collection run was able to judge, and the one rule that decides what it may resolve.

A complete run resolves a finding its scope stated before only when the run looked where that
finding lives: an SBOM without a vulnerability scan says nothing about vulnerabilities, a Trivy
report made with ``--severity HIGH,CRITICAL`` says nothing about a medium CVE, a Docker collection
without ``--docker-layer-scan`` says nothing about a secret in a deleted layer, and ``trivy k8s``
limited to one namespace says nothing about another. Collectors state their run's coverage (from
the source where it leaves a trace, from the command line where it does not); the store asks
:meth:`Coverage.covers` for every finding the run did not restate. A finding outside the coverage
stays open, still sighted by its scope, and the run counts it as ``not_judged``.

Pure: no I/O, so the rule is tested on each side of each condition without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from posture.taxonomy import Severity

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Coverage:
    """A run's coverage; the default judged everything its source can state.

    ``skipped_rules``: rules the run did not evaluate (the layer-secret rule without a layer scan,
    every vulnerability rule for an SBOM without a vulnerability section). ``skipped_locations``:
    where the run did not look for secrets (``layer`` and ``layer-deleted`` without a layer scan);
    a secret finding seen in any of them is not judged. ``severities``: the
    severities the source looked for (None: all). ``fixed_only``: only vulnerabilities with a fix
    were looked for (``--ignore-unfixed``). ``namespaces``: the Kubernetes namespaces looked at
    (None: all). ``resolves`` False: the source looked at a subset nobody can describe
    (``--skip-dirs``), so it adds and never resolves. ``sees_change`` False: what the source
    describes can change without any record of it changing (a directory or a host a report
    names, unlike an image digest), so findings vanishing from it in bulk are no sign of a narrower
    scan and the store's guard does not hold them. ``notes``: one line each, why it narrowed.
    """

    skipped_rules: frozenset[str] = frozenset()
    skipped_locations: frozenset[str] = frozenset()
    severities: frozenset[Severity] | None = None
    fixed_only: bool = False
    namespaces: frozenset[str] | None = None
    resolves: bool = True
    sees_change: bool = True
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def is_full(self) -> bool:
        return self == FULL

    @property
    def judges_presence(self) -> bool:
        """Whether the run saw every asset its source holds, so an asset it did not state is gone.
        Rule, severity and location limits do not narrow what was seen; namespaces and ``resolves`` do."""
        return self.resolves and self.namespaces is None

    def covers(self, rule_id: str, severity: Severity, evidence: Mapping[str, Any], namespace: str | None) -> bool:
        """Whether a finding the run did not restate was looked for, so its absence means it is gone.

        ``evidence`` is read for ``fixed_only`` (a vulnerability whose evidence says no fix is
        available was not looked for) and for ``skipped_locations`` (where a secret was found).
        ``namespace`` is the finding's asset's namespace (None for cluster-wide assets, which a
        namespace-limited run does not judge either).
        """
        if not self.resolves or rule_id in self.skipped_rules:
            return False
        if self.skipped_locations and any(
            isinstance(place, Mapping) and place.get("location") in self.skipped_locations
            for place in evidence.get("found_in") or ()
        ):
            return False
        if self.severities is not None and severity not in self.severities:
            return False
        if self.fixed_only and evidence.get("fix_available") is False:
            return False
        return self.namespaces is None or (namespace is not None and namespace in self.namespaces)

    def narrowed(self, other: Coverage) -> Coverage:
        """Both restrictions at once (a report filtered by severity *and* stated fix-only on the command line)."""
        return Coverage(
            self.skipped_rules | other.skipped_rules,
            self.skipped_locations | other.skipped_locations,
            _meet(self.severities, other.severities),
            self.fixed_only or other.fixed_only,
            _meet(self.namespaces, other.namespaces),
            self.resolves and other.resolves,
            self.sees_change and other.sees_change,
            tuple(dict.fromkeys((*self.notes, *other.notes))),
        )

    def as_dict(self) -> dict[str, Any]:
        """What the run row keeps (``collection_run.coverage``) and ``posture diff`` shows; {} for full."""
        out: dict[str, Any] = {}
        if self.skipped_rules:
            out["skipped_rules"] = sorted(self.skipped_rules)
        if self.skipped_locations:
            out["skipped_locations"] = sorted(self.skipped_locations)
        if self.severities is not None:
            out["severities"] = sorted((s.value for s in self.severities), key=lambda v: -Severity(v).rank)
        if self.fixed_only:
            out["fixed_only"] = True
        if self.namespaces is not None:
            out["namespaces"] = sorted(self.namespaces)
        if not self.resolves:
            out["resolves"] = False
        if not self.sees_change:
            out["sees_change"] = False
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Coverage:
        severities = data.get("severities")
        namespaces = data.get("namespaces")
        return cls(
            frozenset(str(r) for r in data.get("skipped_rules") or ()),
            frozenset(str(r) for r in data.get("skipped_locations") or ()),
            None if severities is None else frozenset(Severity(str(s)) for s in severities),
            bool(data.get("fixed_only")),
            None if namespaces is None else frozenset(str(n) for n in namespaces),
            data.get("resolves", True) is not False,
            data.get("sees_change", True) is not False,
            tuple(str(n) for n in data.get("notes") or ()),
        )


FULL = Coverage()


def _meet(a: frozenset[T] | None, b: frozenset[T] | None) -> frozenset[T] | None:
    """Both limits at once; None is no limit."""
    if a is None:
        return b
    return a if b is None else a & b


def describe(coverage: Mapping[str, Any]) -> str:
    """One line for people: ``full`` or what the run left out (``posture diff``, the TUI, the digest)."""
    if not coverage:
        return "full"
    parts: list[str] = []
    if coverage.get("resolves") is False:
        parts.append("resolves nothing")
    if coverage.get("severities") is not None:
        parts.append("severities " + ",".join(coverage["severities"]))
    if coverage.get("fixed_only"):
        parts.append("fixable only")
    if coverage.get("namespaces") is not None:
        parts.append("namespaces " + ",".join(coverage["namespaces"]))
    if coverage.get("skipped_rules"):
        parts.append("not judged " + ",".join(coverage["skipped_rules"]))
    if coverage.get("skipped_locations"):
        parts.append("secrets not looked for in " + ",".join(coverage["skipped_locations"]))
    return "; ".join(parts) or "full"


def severities_at_least(names: Iterable[str]) -> frozenset[Severity]:
    """``HIGH,CRITICAL`` as a scanner's ``--severity`` spells it → the severities looked for."""
    return frozenset(Severity.parse(name) for name in names if name.strip())
