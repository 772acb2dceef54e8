"""``posture demo``: a realistic estate, loaded through the real collectors from bundled files.

The bundle (``posture/demo/data``, made by ``scripts/make_demo_data.py``) holds what the sources
themselves would answer: one Docker engine's API responses, two registries' manifests and config
blobs (served to the registry collector by an in-process transport), a cluster's manifests, and
Trivy and Grype reports. Digests agree across them, so the demo shows the lifecycle join: one image
with its CVEs, the registries holding it and the containers and pods running it.
"""

from __future__ import annotations

from pathlib import Path

import click

from collectors.docker.snapshot import DockerSnapshotCollector
from collectors.k8s.manifests import ManifestCollector
from collectors.scanners.collector import ReportCollector
from posture.cli.collect import report, run_all, source_context
from posture.cli.context import AppContext, db_option, pass_app
from posture.cli.delivery import notify_settings
from posture.cli.demo_registry import demo_registry_collectors
from posture.cli.output import echo
from posture.db import redact_url
from posture.records import Collector
from posture.run_stages import RunStages

DATA = Path(__file__).resolve().parent.parent / "demo" / "data"
DEMO_CLUSTER = "demo-prod"


def demo_collectors(app: AppContext) -> list[Collector]:
    context = source_context(app.engine_for_write(), app.settings.source_settings())
    collectors: list[Collector] = [
        DockerSnapshotCollector(DATA / "docker-build-host-01.json", context.secrets),
        ManifestCollector([DATA / "k8s-demo-prod.yaml"], cluster=DEMO_CLUSTER, secrets=context.secrets),
    ]
    collectors += demo_registry_collectors(DATA / "registries.json", context)
    collectors += [ReportCollector(str(p), secrets=context.secrets) for p in sorted(DATA.glob("trivy-*.json"))]
    collectors += [ReportCollector(str(p), secrets=context.secrets) for p in sorted(DATA.glob("grype-*.json"))]
    return collectors


@click.command("demo")
@db_option
@pass_app
def demo_command(app: AppContext) -> None:
    """Load a bundled demo estate (Docker host, registries, cluster, scanner reports) into the database."""
    code = report(run_all(app, demo_collectors(app), RunStages(notify_settings(app))))
    echo(f"demo estate loaded into {redact_url(app.url)}; try: posture findings, posture summary, posture tui")
    if code:
        raise SystemExit(code)
