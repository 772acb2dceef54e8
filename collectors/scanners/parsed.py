"""What every report parser produces, and the one place findings are identified and deduplicated.

Parsers translate their format into :class:`Artifact` (what was scanned), :class:`VulnEntry` (one
scanner's line about one vulnerability in one package) and plain findings; :class:`ReportBuilder`
merges them. A vulnerability's identity is (canonical id, package, installed version) on the
artifact: the canonical id is the id a stored finding of that package already uses when it shares
any id with this one, else a CVE over a GHSA over a distribution id (:mod:`collectors.scanners.vulnids`),
so Trivy's CVE line and Grype's GHSA line about the same package meet on one fingerprint whichever
report comes first, and the other ids become aliases. Nothing that moves between scans (severity,
score, description, time) is part of an identity.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from collectors.k8s.keys import asset_kind, display_name, object_key
from collectors.scanners.fields import DESCRIPTION_MAX, LIST_MAX, clean, compact, digest_of, report_time
from collectors.scanners.vulnids import (
    StoredIds,
    StoredVulnLookup,
    canonical_id,
    vuln_discriminator,
)
from collectors.vexclaim import ACCEPTED, Claim, Product, accept, too_long
from posture.acceptance import Acceptance
from posture.coverage import FULL, Coverage
from posture.facts.references import parse_image
from posture.records import (
    UNCHANGED,
    AssetKind,
    AssetRecord,
    AssetRef,
    CollectorError,
    ObservationRecord,
    Problem,
    Record,
    RelationRecord,
)
from posture.rules.scanner import VULN
from posture.secrets import SecretScanner
from posture.taxonomy import Phase, Severity
from posture.vulnids import normalize_vuln_id

#: The store keeps an asset's stored attributes when a collector marks it so (see posture.store.assets).
#: A report names images and workloads it does not own; it must not overwrite what the Docker,
#: registry or Kubernetes collectors stored about them.
_SCOPE_MAX = 500


#: The cluster a report's Kubernetes objects are filed under when neither ``--report-cluster`` nor it names one.
DEFAULT_CLUSTER = "default"


@dataclass(frozen=True, slots=True)
class ParseContext:
    """What a parser needs besides the document: the file's name for messages and the install's secrets key.

    ``stored_vulns`` finds the VULN findings already stored on the report's artifacts, so a
    vulnerability joins the one another scanner filed under a different id; without it (a parse
    outside ``posture collect``) each report chooses its ids alone.

    ``host`` (``--report-host``) names the host or node a bench report describes and ``artifact_name``
    (``--report-name``) the artifact a report names ambiguously (see :func:`other_artifact`): neither
    format says, and the file's name is no identity (every node of a DaemonSet writes the same one).
    """

    name: str
    stem: str
    secrets: SecretScanner
    cluster: str = DEFAULT_CLUSTER
    stored_vulns: StoredVulnLookup | None = None
    host: str = ""
    artifact_name: str = ""
    #: The namespaces a ``trivy k8s`` run was limited to (``--report-namespace``); None: the whole cluster.
    namespaces: frozenset[str] | None = None
    #: Cluster name (a kubeconfig context) → the identities of the live clusters the store knows by it,
    #: so a report naming its cluster by context files its objects on that cluster's own workloads.
    live_clusters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_UNPINNED = Coverage(sees_change=False)


class IdentityError(CollectorError):
    """The report does not say what it describes and the command line does not either: a usage error,
    refused before anything is collected (``posture collect`` exits 2), never guessed."""


@dataclass(frozen=True, slots=True)
class Artifact:
    """The thing a report is about: an image keyed by digest, or another artifact (a directory, a repo)."""

    kind: AssetKind
    key: str
    name: str
    aliases: tuple[str, ...] = ()
    attributes: tuple[tuple[str, Any], ...] = ()
    #: The key the previous release gave it, where that key was this artifact's alone (:func:`names`).
    legacy_keys: tuple[str, ...] = ()
    #: The name from the command line (``--report-name``/``--report-host``) that identifies it; "" when the report does.
    given: str = ""

    @property
    def ref(self) -> AssetRef:
        return AssetRef(self.kind, self.key)

    def record(self) -> AssetRecord:
        return AssetRecord(
            self.kind,
            self.key,
            self.name,
            Phase.BUILD,
            {UNCHANGED: True, **dict(self.attributes)},
            None,
            self.aliases,
            self.legacy_keys,
        )


def image_artifact(
    *,
    name: str,
    image_id: str = "",
    manifest_digests: Iterable[str] = (),
    repo_digests: Iterable[str] = (),
    repo_tags: Iterable[str] = (),
    os: str = "",
) -> Artifact | None:
    """An image keyed by its config digest when known, else a manifest digest, else its normalized tag.

    Docker and scanners know an image by its config digest (image ID), registries and kubelets by the
    manifest digest; every digest the report gives becomes an alias so the store joins them all.
    """
    config = digest_of(image_id) if image_id else None
    manifests: list[str] = []
    for ref in (*manifest_digests, *repo_digests):
        digest = digest_of(ref)
        if digest and digest != config and digest not in manifests:
            manifests.append(digest)
    tags = sorted({t for t in repo_tags if t})
    key = config or (manifests[0] if manifests else "")
    if not key:
        parsed = parse_image(name) or next((p for p in map(parse_image, tags) if p), None)
        if parsed is None:
            return None
        key = parsed.tag_key
    aliases = tuple(sorted(d for d in manifests if d != key))
    attributes = compact(
        {
            "name": name,
            "repo_tags": tags,
            "repo_digests": sorted({r for r in repo_digests if r}),
            "os": os,
            "source": "scanner-report",
        }
    )
    display = tags[0] if tags else name or key
    return Artifact(AssetKind.IMAGE, key, display, aliases, tuple(attributes.items()))


#: ``scheme://host/…`` of a remote repository (``trivy repo https://github.com/org/app``): one thing
#: wherever it is scanned from. Nothing else a report names outside an image digest is (``.``,
#: ``/src``, ``sbom.json``, Grype's ``unknown``): those are keyed by ``--report-name``.
_URL = re.compile(r"(?:https?|git|ssh)://[^/\s@]*@?[A-Za-z0-9.-]+(?::\d+)?/\S+")


def is_url(name: str) -> bool:
    """Whether an artifact name is a remote repository URL, the only non-image name that identifies one artifact."""
    return _URL.fullmatch(name) is not None


def names(old: str, given: str) -> bool:
    """Whether an old, file- or path-derived name names ``given`` (``bench-node-a`` names ``node-a``;
    ``kube-bench`` and ``.`` name nothing): only then was the old scope this source's alone, so
    the named one may adopt it."""
    if not given or old == "stdin":
        return False
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(given)}(?![A-Za-z0-9])", old) is not None


def other_artifact(name: str, artifact_type: str, context: ParseContext) -> Artifact:
    """A scanned directory, repository or file: a remote repository by its URL, anything else by the
    name given on the command line (``--report-name``), never by the scanner, so scanners agree.

    Without a given name such an artifact is refused (:class:`IdentityError`): ``trivy fs .`` of two
    repositories, two ``sbom.json`` and every Grype ``unknown`` source would otherwise be one artifact.
    """
    attributes = compact({"name": name, "artifact_type": artifact_type, "source": "scanner-report"})
    if is_url(name):
        return Artifact(AssetKind.REPORT, f"artifact:{name}", name, (), tuple(attributes.items()))
    given = context.artifact_name
    if not given:
        what = f"{artifact_type} " if artifact_type else ""
        raise IdentityError(
            f"{context.name}: the {what}artifact {clean(name, 80)!r} is not identified by an image digest or a URL; "
            "add --report-name NAME"
        )
    legacy = (f"artifact:{name}",) if names(name, given) else ()
    return Artifact(AssetKind.REPORT, f"named:{given}", given, (), tuple(attributes.items()), legacy, given)


def cluster_key(name: str, live_clusters: Mapping[str, tuple[str, ...]], given_by: str) -> str:
    """The cluster key a report's Kubernetes objects are filed under: the identity of the one live
    cluster the store knows by ``name`` (its kubeconfig context), else ``name`` itself (an identity
    given as is, a cluster never collected live, a manifest set's cluster). Two live clusters known
    by one name are refused (:class:`IdentityError`): filing under either would put one cluster's
    findings on the other's workloads. ``given_by`` says where the name came from, for that one line."""
    identities = live_clusters.get(name, ())
    if len(identities) > 1:
        raise IdentityError(
            f"{given_by} {name}: {len(identities)} collected clusters are named {name}; "
            f"give the identity of the one meant instead: --report-cluster {' or '.join(identities)}"
        )
    return identities[0] if identities else name


def bench_host(scanner: str, tool: str, context: ParseContext, attributes: dict[str, Any]) -> Artifact:
    """The host or node a benchmark report describes, named by ``--report-host`` (neither kube-bench's
    nor docker-bench-security's JSON names it); its old key, the file's stem, is adopted where it named the host."""
    if not context.host:
        raise IdentityError(f"{context.name}: a {tool} report does not name its host; add --report-host NAME")
    legacy = (f"{scanner}:{context.stem}",) if names(context.stem, context.host) else ()
    return Artifact(
        AssetKind.REPORT,
        f"{scanner}:host:{context.host}",
        f"{tool} {context.host}",
        attributes=tuple(compact({"tool": tool, "host": context.host, **attributes}).items()),
        legacy_keys=legacy,
        given=context.host,
    )


def k8s_object(cluster: str, kind: str, name: str, namespace: str | None) -> Artifact:
    """A Kubernetes object as the Kubernetes collector keys it; kinds it does not model stay report assets."""
    try:
        asset = asset_kind(kind)
    except KeyError:
        asset = AssetKind.REPORT
    attributes = compact({"kind": kind, "name": name, "namespace": namespace or "", "source": "scanner-report"})
    return Artifact(
        asset,
        object_key(cluster, kind, name, namespace),
        display_name(kind, name, namespace),
        (),
        tuple(attributes.items()),
    )


def canonical_package(name: str, purl: str = "") -> str:
    """Maven packages as ``group:artifact`` (Trivy's spelling; Grype names only the artifact)."""
    if purl.startswith("pkg:maven/"):
        path = purl[len("pkg:maven/") :].split("?", 1)[0].split("@", 1)[0]
        group, _, artifact = path.rpartition("/")
        if group and artifact:
            return f"{group}:{artifact}"
    return name


@dataclass
class VulnEntry:
    """One scanner's statement that a package version in an artifact has a vulnerability."""

    scanner: str
    vuln_id: str
    package: str
    installed: str
    severity: Severity
    related: tuple[str, ...] = ()
    fixed: str = ""
    fix_state: str = ""
    title: str = ""
    description: str = ""
    url: str = ""
    cvss: dict[str, Any] = field(default_factory=dict)
    data_source: str = ""
    location: str = ""
    vex: dict[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> set[str]:
        if not self.related:
            return {normalize_vuln_id(self.vuln_id)} if self.vuln_id else set()
        return {normalize_vuln_id(i) for i in (self.vuln_id, *self.related) if i}


_FILLABLE = ("fixed", "fix_state", "title", "description", "url", "cvss", "data_source", "vex")


def _merge_entries(kept: VulnEntry, other: VulnEntry, canonical: str) -> VulnEntry:
    """Two lines about one finding: the worse severity leads, else the line naming the canonical id
    itself (Grype's CVE match beside its GHSA match); the leader's empty fields are filled from the other."""
    if other.severity.rank > kept.severity.rank or (
        other.severity == kept.severity
        and normalize_vuln_id(other.vuln_id) == canonical
        and normalize_vuln_id(kept.vuln_id) != canonical
    ):
        kept, other = other, kept
    filled = {name: getattr(other, name) for name in _FILLABLE if not getattr(kept, name) and getattr(other, name)}
    if "fixed" in filled:
        filled["fix_state"] = other.fix_state  # "unknown" beside a fixed version would contradict it
    return replace(kept, **filled) if filled else kept


@dataclass
class _Vuln:
    artifact: AssetRef
    canonical: str
    entry: VulnEntry
    ids: set[str]
    locations: list[str]

    def absorb(self, entry: VulnEntry, ids: set[str], locations: Iterable[str]) -> None:
        """Another line about this finding: its ids and locations join, its fields fill the gaps."""
        self.ids |= ids
        for location in locations:
            if location not in self.locations and len(self.locations) < LIST_MAX:
                self.locations.append(location)
        self.entry = _merge_entries(self.entry, entry, self.canonical)


@dataclass
class _Finding:
    rule_id: str
    asset: AssetRef
    discriminator: str
    title: str
    severity: Severity
    evidence: dict[str, Any]


@dataclass
class ParsedReport:
    """Everything one report file states, ready to be yielded in order (assets before observations)."""

    scanner: str
    scope_name: str
    assets: list[AssetRecord]
    relations: list[RelationRecord]
    observations: list[ObservationRecord]
    problems: list[Problem]
    #: When the scanner made the report (:func:`~collectors.scanners.fields.report_time`); "" when it does not say.
    report_time: str = ""
    #: Scope names the previous release gave this report's source, where they were its alone.
    legacy_scopes: tuple[str, ...] = ()
    #: The command-line name that identifies the scope (``--report-name``/``--report-host``); "" when the report does.
    given: str = ""
    #: What the report judged, as far as the document itself shows (:func:`ReportBuilder.narrow`).
    coverage: Coverage = FULL
    #: The risks its VEX statements accept (:mod:`collectors.vexclaim`), exceptions of the report's scope.
    acceptances: list[Acceptance] = field(default_factory=list)

    def records(self) -> list[Record]:
        return [*self.assets, *self.relations, *self.observations, *self.acceptances, *self.problems]


class ReportBuilder:
    """Collects one report's artifacts and findings, merging duplicates as they arrive."""

    def __init__(self, scanner: str, context: ParseContext) -> None:
        self.scanner = scanner
        self.context = context
        self._assets: dict[AssetRef, AssetRecord] = {}
        self._relations: list[RelationRecord] = []
        self._vulns: dict[tuple[AssetRef, str, str, str], _Vuln] = {}
        self._findings: dict[tuple[str, AssetRef, str], _Finding] = {}
        self._skipped: dict[str, int] = {}
        self._problems: list[str] = []
        self._time = ""
        self._coverage = FULL

    # -- what the report is about ------------------------------------------------------------
    def add_artifact(self, artifact: Artifact) -> AssetRef:
        self._assets.setdefault(artifact.ref, artifact.record())
        return artifact.ref

    def add_relation(self, relation: RelationRecord) -> None:
        if relation not in self._relations:
            self._relations.append(relation)

    # -- what it found -----------------------------------------------------------------------
    def add_vuln(self, artifact: AssetRef, entry: VulnEntry) -> None:
        ids = entry.ids
        canonical = canonical_id(ids)
        if not canonical or not entry.package:
            self.skip("vulnerabilities without an id or a package")
            return
        key = (artifact, canonical, entry.package, entry.installed)
        found = self._vulns.get(key)
        if found is None:
            self._vulns[key] = _Vuln(artifact, canonical, entry, ids, [entry.location] if entry.location else [])
            return
        found.absorb(entry, ids, [entry.location] if entry.location else [])

    def add_finding(
        self,
        rule_id: str,
        asset: AssetRef,
        discriminator: str,
        title: str,
        severity: Severity,
        evidence: dict[str, Any],
        *,
        merge: tuple[str, ...] = (),
    ) -> None:
        """A non-vulnerability finding; repeats of one identity keep the worst severity and join ``merge`` lists."""
        key = (rule_id, asset, discriminator)
        found = self._findings.get(key)
        if found is None:
            self._findings[key] = _Finding(rule_id, asset, discriminator, clean(title), severity, evidence)
            return
        if severity.rank > found.severity.rank:
            found.severity = severity
        for name in merge:
            merged = list(found.evidence.get(name, []))
            for item in evidence.get(name, []):
                if item not in merged and len(merged) < LIST_MAX:
                    merged.append(item)
            if merged:
                found.evidence[name] = merged

    def stamp(self, value: Any) -> None:
        """The report's own time; of several (one per SARIF run or operator report) the newest."""
        self._time = max(self._time, report_time(value))

    def narrow(self, coverage: Coverage) -> None:
        """The document shows its scanner looked at less than everything (an SBOM without a vulnerability scan)."""
        self._coverage = self._coverage.narrowed(coverage)

    def skip(self, what: str) -> None:
        self._skipped[what] = self._skipped.get(what, 0) + 1

    def problem(self, message: str) -> None:
        self._problems.append(f"{self.context.name}: {message}")

    # -- the result --------------------------------------------------------------------------
    def build(
        self, scope_identity: str, identified_by: Artifact | None = None, legacy: tuple[str, ...] | None = None
    ) -> ParsedReport:
        """The report under scope ``<scanner>:<scope_identity>``; ``identified_by`` is the artifact whose
        command-line name made that identity, if any, and ``legacy`` the identities the previous release
        gave the scope (by default that artifact's legacy keys, as its old scope was named by its key)."""
        if legacy is None:
            legacy = identified_by.legacy_keys if identified_by else ()
        observations = [self._vuln_record(v) for v in self._settled_vulns()]
        observations += [
            ObservationRecord(f.rule_id, f.asset, f.discriminator, f.title, f.severity, compact(f.evidence))
            for f in self._findings.values()
        ]
        observations.sort(key=lambda o: (o.rule_id, o.asset.kind.value, o.asset.key, o.discriminator))
        scope = scope_name(self.scanner, scope_identity)
        acceptances = [accept(claim, self.scanner, scope) for claim in self._vex_claims()]
        problems = [Problem(p) for p in self._problems]
        problems += [Problem(f"{self.context.name}: {n} {what} skipped") for what, n in sorted(self._skipped.items())]
        return ParsedReport(
            self.scanner,
            scope,
            list(self._assets.values()),
            list(self._relations),
            observations,
            problems,
            self._time,
            tuple(scope_name(self.scanner, identity) for identity in legacy),
            identified_by.given if identified_by else "",
            # Only an image digest pins what was scanned: a directory, a repository or a host can
            # change between two reports without anything in them saying so.
            self._coverage if scope_identity.startswith("sha256:") else self._coverage.narrowed(_UNPINNED),
            acceptances,
        )

    def _vex_claims(self) -> Iterable[Claim]:
        """The report's own VEX: a CycloneDX ``analysis`` state, or Trivy's ``"Status": "not_affected"``
        (a vendor's statement), on the vulnerability's image and package."""
        for vuln in self._vulns.values():
            entry = vuln.entry
            status = entry.vex.get("state") or entry.fix_state.lower()
            if status in ACCEPTED:
                aliases = tuple(sorted(vuln.ids - {vuln.canonical}))
                product = Product(vuln.artifact.key, entry.package, entry.installed or None)
                claim = Claim(vuln.canonical, aliases, product, status,
                              entry.vex.get("justification", ""), entry.vex.get("detail", ""))
                if too_long(claim):
                    self.skip("VEX statements with an over-long id")
                else:
                    yield claim

    def _settled_vulns(self) -> Iterable[_Vuln]:
        """The vulnerabilities under their final ids: a stored finding's id wherever one shares an id,
        so lines this report filed apart may now be one finding (their views merged as in :meth:`add_vuln`)."""
        stored = self._stored_ids()
        if not stored:
            return self._vulns.values()
        settled: dict[tuple[AssetRef, str, str, str], _Vuln] = {}
        for vuln in self._vulns.values():
            package, installed = vuln.entry.package, vuln.entry.installed
            known = stored.get(vuln.artifact)
            resolved = known.resolve(vuln.ids, package, installed) if known else None
            vuln.canonical = resolved or vuln.canonical
            key = (vuln.artifact, vuln.canonical, package, installed)
            found = settled.get(key)
            if found is None:
                settled[key] = vuln
            else:
                found.absorb(vuln.entry, vuln.ids, vuln.locations)
        return settled.values()

    def _stored_ids(self) -> dict[AssetRef, StoredIds]:
        """One lookup for all artifacts with vulnerabilities; each found by key, else by alias (as the store joins)."""
        lookup = self.context.stored_vulns
        if lookup is None or not self._vulns:
            return {}
        names: dict[AssetRef, list[AssetRef]] = {}
        for artifact in {v.artifact for v in self._vulns.values()}:
            record = self._assets.get(artifact)
            aliases = record.aliases if record else ()
            names[artifact] = [artifact, *(AssetRef(artifact.kind, alias) for alias in aliases)]
        found = lookup([ref for refs in names.values() for ref in refs])
        out: dict[AssetRef, StoredIds] = {}
        for artifact, refs in names.items():
            stored = StoredIds(next((found[ref] for ref in refs if ref in found), ()))
            if stored:
                out[artifact] = stored
        return out

    def _vuln_record(self, vuln: _Vuln) -> ObservationRecord:
        entry = vuln.entry
        aliases = tuple(sorted(vuln.ids - {vuln.canonical}))
        view = compact(
            {
                "id": normalize_vuln_id(entry.vuln_id),
                "severity": entry.severity.value,
                "fixed": entry.fixed,
                "fix_state": entry.fix_state,
                "cvss": entry.cvss,
                "data_source": entry.data_source,
                "locations": vuln.locations,
            }
        )
        evidence = compact(
            {
                "vulnerability": vuln.canonical,
                "package": entry.package,
                "installed": entry.installed,
                "fixed": entry.fixed,
                "fix_available": bool(entry.fixed),
                "title": clean(entry.title),
                "description": clean(entry.description, DESCRIPTION_MAX),
                "url": clean(entry.url),
                "cvss": entry.cvss,
                "data_source": entry.data_source,
                "scanner": entry.scanner,
                "scanners": {entry.scanner: view},
                "vex": entry.vex,
            }
        )
        evidence["fix_available"] = bool(entry.fixed)  # compact() would drop an honest False
        version = f" {entry.installed}" if entry.installed else ""
        return ObservationRecord(
            VULN,
            vuln.artifact,
            vuln_discriminator(vuln.canonical, entry.package, entry.installed),
            clean(f"{vuln.canonical} in {entry.package}{version}"),
            entry.severity,
            evidence,
            aliases,
        )


def scope_name(scanner: str, identity: str) -> str:
    """``<scanner>:<artifact identity>``: stable per scanner and artifact, so a newer report replaces an older one."""
    name = f"{scanner}:{identity}"
    if len(name) <= _SCOPE_MAX:
        return name
    return f"{scanner}:sha256:{hashlib.sha256(identity.encode('utf-8', 'surrogatepass')).hexdigest()}"


def normalize_check_id(check_id: str) -> str:
    """``KSV-0001``, ``AVD-KSV-0001`` and ``KSV001`` are one Trivy check across Trivy versions: ``KSV001``."""
    text = check_id.strip().upper().removeprefix("AVD-")
    prefix, _, number = text.partition("-")
    if number.isdigit() and prefix.isalpha():
        return f"{prefix}{int(number):03d}"
    return text


def short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def cvss(source: str, vector: str, score: float | None) -> dict[str, Any]:
    """One CVSS view: where it comes from, its version (read from the vector), vector and base score."""
    version = ""
    if vector.startswith("CVSS:"):
        version = vector[5:].split("/", 1)[0]
    elif vector.startswith("AV:"):
        version = "2.0"
    return compact({"source": source, "version": version, "vector": clean(vector), "score": score})


def prefer_sources(available: Iterable[str], *first: str) -> list[str]:
    """Sources in preference order: NVD, then the ones named, then the rest alphabetically."""
    names = list(available)
    head = list(dict.fromkeys(s for s in ("nvd", *first) if s in names))
    if len(head) == len(names):
        return head
    return list(dict.fromkeys([*head, *sorted(names)]))
