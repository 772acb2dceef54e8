"""`posture collect` options for scanner reports: ``--report FILE`` and ``--scan IMAGE`` (both repeatable).

Each report file and each scanned image is its own collector, hence its own scope and run: one
broken file fails alone, and the other reports of the same invocation are still ingested.

:func:`stored_vulns` is the store side of cross-scanner deduplication: the VULN findings already
filed on a report's artifacts, so a scanner that knows a vulnerability only by its GHSA meets the
finding another scanner filed under the CVE (see :mod:`collectors.reports.vulnids`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

import click
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from collectors.reports import FORMATS, ReportCollector, ScanCollector
from collectors.reports.vulnids import StoredVuln, StoredVulnLookup
from posture.cli.context import PostureError
from posture.cli.sources import SourceContext
from posture.db import read_session
from posture.records import AssetRef, Collector, CollectorError
from posture.store.assets import lookup
from posture.store.source_state import stored_vulns_by_asset

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
        help="Reports: the cluster that trivy-operator report files belong to, by the name the Kubernetes source "
        "shows (its kubeconfig context); a live cluster collected under that name is joined by its identity.",
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
    cluster = report_cluster(params.get("report_cluster") or "default", context)
    collectors: list[Collector] = [
        ReportCollector(
            path,
            secrets=context.secrets,
            report_format=report_format,
            cluster=cluster,
            newest=context.report_times,
            stored_vulns=context.stored_vulns,
        )
        for path in params.get("report") or ()
    ]
    collectors += [
        ScanCollector(image, secrets=context.secrets, stored_vulns=context.stored_vulns)
        for image in params.get("scan") or ()
    ]
    return collectors


def report_cluster(name: str, context: SourceContext) -> str:
    """The cluster key report objects are filed under: the identity of the one live cluster the store
    knows by ``name``, else ``name`` itself (an identity given as is, a cluster not collected live, a
    manifest set's cluster).

    Two live clusters shown by one name are refused: filing the reports under either would put one
    cluster's findings on the other's workloads.
    """
    identities = context.live_clusters_named(name)
    if len(identities) > 1:
        raise PostureError(
            f"--report-cluster {name}: {len(identities)} collected clusters are named {name}; "
            f"give the identity of the one meant instead: --report-cluster {' or '.join(identities)}",
            2,
        )
    return identities[0] if identities else name


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


