"""`posture collect` options for scanner reports: ``--report FILE`` and ``--scan IMAGE`` (both repeatable).

Each report file and each scanned image is its own collector, hence its own scope and run: one
broken file fails alone, and the other reports of the same invocation are still ingested.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from collectors.reports import FORMATS, ReportCollector, ScanCollector
from posture.cli.sources import SourceContext
from posture.records import Collector

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
        help="Reports: the cluster that trivy-operator report files belong to (as the kubernetes source names it).",
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
    cluster = params.get("report_cluster") or "default"
    collectors: list[Collector] = [
        ReportCollector(
            path, secrets=context.secrets, report_format=report_format, cluster=cluster, newest=context.report_times
        )
        for path in params.get("report") or ()
    ]
    collectors += [ScanCollector(image, secrets=context.secrets) for image in params.get("scan") or ()]
    return collectors
