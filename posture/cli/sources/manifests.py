"""`posture collect` options for Kubernetes manifest files: all ``--manifests`` paths form one scope.

One scope for the whole set, because exposure and roll-up need every object together (a Service in
``svc.yaml`` exposes the Deployment in ``app.yaml``), and because a complete run of the set then
resolves what was removed from any of its files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from collectors.k8s.manifests import DEFAULT_CLUSTER, ManifestCollector
from posture.cli.context import PostureError
from posture.cli.sources import SourceContext
from posture.records import Collector

OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--manifests",
        "manifest_paths",
        multiple=True,
        metavar="PATH",
        help="Manifests: YAML/JSON file or directory (recursive) of Kubernetes manifests, Helm or kustomize output "
        "(repeatable; all paths form one set).",
    ),
    click.option(
        "--manifests-cluster",
        metavar="NAME",
        default=DEFAULT_CLUSTER,
        show_default=True,
        help="Manifests: cluster name used in the keys of the collected objects.",
    ),
]


def build(params: Mapping[str, Any], context: SourceContext) -> list[Collector]:
    paths = [Path(p) for p in params.get("manifest_paths") or ()]
    if not paths:
        return []
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise PostureError(f"manifests: {missing[0]}: no such file or directory", exit_code=2)
    cluster = str(params.get("manifests_cluster") or DEFAULT_CLUSTER)
    return [ManifestCollector(paths, cluster=cluster, secrets=context.secrets, team_key=context.team_key)]
