"""`posture collect` options for scanner reports: ``--report FILE`` and ``--scan IMAGE`` (both repeatable).

Each report file and each scanned image is its own collector, hence its own scope and run: one
broken file fails alone, and the other reports of the same invocation are still ingested. What a
report does not say is said here, for every report of the command: the host a bench report
describes (``--report-host``), the artifact a non-image report names ambiguously (``--report-name``),
the namespaces a ``trivy k8s`` run was limited to, and the filters the scanner ran with
(``--report-severity``, ``--report-fixed-only``, ``--report-no-resolve``). A report whose identity
is neither in it nor on the command line refuses the whole command before anything is stored.

:func:`stored_vulns` is the store side of cross-scanner deduplication: the VULN findings already
filed on a report's artifacts, so a scanner that knows a vulnerability only by its GHSA meets the
finding another scanner filed under the CVE (see :mod:`collectors.scanners.vulnids`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

import click
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from collectors.scanners import FORMATS, ReportCollector, ScanCollector
from collectors.scanners.collector import ReportHistory
from collectors.scanners.parsed import DEFAULT_CLUSTER, IdentityError, cluster_key
from collectors.scanners.vulnids import StoredVuln, StoredVulnLookup
from posture.cli.context import CommandError
from posture.cli.sources import SourceContext
from posture.coverage import FULL, Coverage, severities_at_least
from posture.db import read_session
from posture.records import AssetRef, Collector, CollectorError
from posture.rules.scanner import SCAN_MISCONFIG, SCAN_MISCONFIG_IMAGE, SCAN_RBAC, SCAN_SECRET, VULN
from posture.store.assets import lookup
from posture.store.source_state import stored_vulns_by_asset
from posture.taxonomy import Severity

OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--report",
        "report",
        multiple=True,
        metavar="FILE",
        help="Reports: scanner report to ingest (Trivy, Grype, SARIF, CycloneDX, trivy-operator, docker-bench, "
        "kube-bench); '-' reads stdin, .gz is accepted. Repeatable.",
    ),
    click.option(
        "--report-format",
        "report_format",
        type=click.Choice(FORMATS),
        default=None,
        help="Reports: skip format detection and read every --report as this format.",
    ),
    click.option(
        "--report-cluster",
        "report_cluster",
        default=None,
        metavar="NAME",
        help="Reports: the cluster that trivy-operator report files (and trivy k8s reports, instead of their "
        "ClusterName) belong to, by the name the Kubernetes source shows (its kubeconfig context) or its identity "
        "(cluster:<uid>); a live cluster collected under that name is joined by its identity.",
    ),
    click.option(
        "--report-host",
        "report_host",
        default="",
        metavar="NAME",
        help="Reports: the host or node that the kube-bench / docker-bench-security reports describe "
        "(their JSON does not name it; required for them).",
    ),
    click.option(
        "--report-name",
        "report_name",
        default="",
        metavar="NAME",
        help="Reports: a stable name for the artifact of a report that is neither an image (by digest) nor a "
        "repository URL (trivy fs/rootfs, an SBOM file, Grype directory sources; required for them).",
    ),
    click.option(
        "--report-namespace",
        "report_namespaces",
        multiple=True,
        metavar="NS",
        help="Reports: the namespaces a trivy k8s report was limited to (--include-namespaces); it judges "
        "nothing elsewhere. Repeatable.",
    ),
    click.option(
        "--report-severity",
        "report_severity",
        default=None,
        metavar="LIST",
        callback=lambda _ctx, _param, value: _severities(value),
        help="Reports: the severities the scanner was limited to, as given to its --severity (HIGH,CRITICAL); "
        "findings of other severities stay open.",
    ),
    click.option(
        "--report-scanners",
        "report_scanners",
        default=None,
        metavar="LIST",
        callback=lambda _ctx, _param, value: _scanners(value),
        help="Reports: the scanners that ran, as given to Trivy's --scanners (vuln,secret,misconfig); findings "
        "of the others stay open (a clean secret scan leaves no trace in the report).",
    ),
    click.option(
        "--report-fixed-only",
        "report_fixed_only",
        is_flag=True,
        help="Reports: the scanner listed only vulnerabilities with a fix (--ignore-unfixed, --only-fixed); "
        "unfixed ones stay open.",
    ),
    click.option(
        "--report-no-resolve",
        "report_no_resolve",
        is_flag=True,
        help="Reports: the scan was filtered some other way (--skip-dirs, --skip-files, an ignore file …): "
        "its reports add and update findings and resolve none.",
    ),
    click.option(
        "--scan",
        "scan",
        multiple=True,
        metavar="IMAGE",
        help="Reports: scan IMAGE with trivy or grype (whichever is installed) and ingest the result. Repeatable.",
    ),
]


def build(params: Mapping[str, Any], context: SourceContext) -> list[Collector]:
    report_format = params.get("report_format")
    paths = params.get("report") or ()
    live = live_clusters(context)
    # Mapped only for reports: a name two clusters share must not stop a command that files none.
    cluster = report_cluster(params.get("report_cluster") or DEFAULT_CLUSTER, live) if paths else DEFAULT_CLUSTER
    namespaces = params.get("report_namespaces") or ()
    report_collectors = [
        ReportCollector(
            path,
            secrets=context.secrets,
            report_format=report_format,
            cluster=cluster,
            live_clusters=live,
            history=context.report_history,
            stored_vulns=context.stored_vulns,
            host=params.get("report_host") or "",
            artifact_name=params.get("report_name") or "",
            namespaces=frozenset(namespaces) if namespaces else None,
            stated=stated_coverage(params),
        )
        for path in paths
    ]
    check_identities(report_collectors)
    collectors: list[Collector] = list(report_collectors)
    collectors += [
        ScanCollector(image, secrets=context.secrets, stored_vulns=context.stored_vulns)
        for image in params.get("scan") or ()
    ]
    return collectors


def live_clusters(context: SourceContext) -> dict[str, tuple[str, ...]]:
    """Cluster name → the identities of the live clusters the store knows by it."""
    return {name: found for name in context.clusters if (found := context.live_clusters_named(name))}


def report_cluster(name: str, live: Mapping[str, tuple[str, ...]]) -> str:
    """``--report-cluster``: the identity of the one live cluster known by ``name``, else ``name``
    (:func:`~collectors.scanners.parsed.cluster_key`); a name two live clusters share is refused."""
    try:
        return cluster_key(name, live, "--report-cluster")
    except IdentityError as exc:
        raise CommandError(str(exc), 2) from None


#: Reports read for their identity stay decoded for their run up to this many bytes in all; past it
#: a report is read again when its run starts (a command of many large reports must not hold them all).
KEEP_BYTES = 128 * 1024 * 1024


def check_identities(collectors: Sequence[ReportCollector]) -> None:
    """Refuse the command (exit 2, nothing collected) when a report's identity is missing, or when one
    command-line name would make two reports of one scanner one source (the second would resolve
    what the first found)."""
    named: dict[str, str] = {}
    kept = 0

    def keep(size: int) -> bool:
        nonlocal kept
        if kept + size > KEEP_BYTES:
            return False
        kept += size
        return True

    for collector in collectors:
        try:
            identity = collector.identify(keep)
        except IdentityError as exc:
            raise CommandError(str(exc), 2) from None
        if identity is None:
            continue
        if identity in named:
            raise CommandError(
                f"{collector.name}: {named[identity]} is given the same name and is the same kind of report; "
                "collect each with its own --report-name/--report-host",
                2,
            )
        named[identity] = collector.name


def _severities(value: str | None) -> frozenset[Severity] | None:
    if value is None:
        return None
    try:
        found = severities_at_least(value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of severities (CRITICAL,HIGH,MEDIUM,LOW,UNKNOWN)") from None
    if not found:
        raise click.BadParameter("names no severity")
    return found


#: Trivy's ``--scanners`` names → the rules whose findings each one states (``license`` states none here).
SCANNER_RULES: Mapping[str, frozenset[str]] = {
    "vuln": frozenset({VULN}),
    "secret": frozenset({SCAN_SECRET}),
    "misconfig": frozenset({SCAN_MISCONFIG, SCAN_MISCONFIG_IMAGE}),
    "rbac": frozenset({SCAN_RBAC}),
    "license": frozenset(),
}


def _scanners(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    names = frozenset(part.strip().lower() for part in value.split(",") if part.strip())
    unknown = sorted(names - SCANNER_RULES.keys())
    if unknown or not names:
        raise click.BadParameter(f"{value!r}: scanners are {', '.join(SCANNER_RULES)}")
    return names


def stated_coverage(params: Mapping[str, Any]) -> Coverage:
    """What the command line says every report of the command left out; each restriction with its note."""
    coverage = FULL
    scanners: frozenset[str] | None = params.get("report_scanners")
    if scanners is not None:
        ran = frozenset().union(*(SCANNER_RULES[name] for name in scanners))
        skipped = frozenset().union(*SCANNER_RULES.values()) - ran
        if skipped:
            note = f"--report-scanners {','.join(sorted(scanners))}: findings of the other scanners not judged"
            coverage = coverage.narrowed(Coverage(skipped_rules=skipped, notes=(note,)))
    severities: frozenset[Severity] | None = params.get("report_severity")
    if severities is not None:
        listed = ",".join(sorted((s.value for s in severities), key=lambda v: -Severity(v).rank))
        note = f"--report-severity {listed}: findings of other severities not judged"
        coverage = coverage.narrowed(Coverage(severities=severities, notes=(note,)))
    if params.get("report_fixed_only"):
        note = "--report-fixed-only: vulnerabilities without a fix not judged"
        coverage = coverage.narrowed(Coverage(fixed_only=True, notes=(note,)))
    if params.get("report_no_resolve"):
        note = "--report-no-resolve: filtered in a way no coverage describes; resolves nothing"
        coverage = coverage.narrowed(Coverage(resolves=False, notes=(note,)))
    return coverage


def report_history(runs: Iterable[tuple[str, str, str]]) -> dict[str, ReportHistory]:
    """Per report scope, from its runs oldest first (:func:`~posture.store.source_state.report_runs`):
    the newest report time, the hash of the report ingested last and of every one ingested."""
    newest: dict[str, str] = {}
    last: dict[str, str] = {}
    hashes: dict[str, set[str]] = {}
    for scope, time, digest in runs:
        newest[scope] = max(newest.get(scope, ""), time)
        if digest:
            last[scope] = digest
            hashes.setdefault(scope, set()).add(digest)
    return {
        scope: ReportHistory(time, last.get(scope, ""), frozenset(hashes.get(scope, ())))
        for scope, time in newest.items()
    }


def stored_vulns(engine: Engine) -> StoredVulnLookup:
    """The lookup a report collector calls once it has parsed: it reads only that report's assets,
    in its own short read session, whatever the findings' status (a resolved one reopens rather
    than being filed again under another id)."""

    def find(refs: Collection[AssetRef]) -> dict[AssetRef, list[StoredVuln]]:
        try:
            with read_session(engine) as session:
                assets = lookup(session, refs)
                found = stored_vulns_by_asset(session, sorted({asset_id for asset_id, _key in assets.values()}))
        except SQLAlchemyError as exc:  # parsing runs in the collector: the failure must be its one line
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise CollectorError(f"cannot read the findings already stored for this report: {reason}") from None
        vulns = {asset_id: [StoredVuln(*row) for row in rows] for asset_id, rows in found.items()}
        return {ref: vulns[asset_id] for ref, (asset_id, _key) in assets.items() if asset_id in vulns}

    return find
