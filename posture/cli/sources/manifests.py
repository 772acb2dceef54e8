"""`posture collect` options for Kubernetes manifest files: all ``--manifests`` paths form one scope.

One scope for the whole set, because exposure and roll-up need every object together (a Service in
``svc.yaml`` exposes the Deployment in ``app.yaml``), and because a complete run of the set then
resolves what was removed from any of its files. The scope's identity is the cluster name the objects
are keyed under with the set's name, so one set checked as two clusters is two sources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from collectors.k8s.manifests import DEFAULT_CLUSTER, ManifestCollector, set_paths
from posture.cli.context import CommandError
from posture.cli.sources import SourceContext
from posture.filekinds import special_file
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
        help="Manifests: cluster name used in the keys of the collected objects (part of the set's identity).",
    ),
    click.option(
        "--manifests-name",
        metavar="NAME",
        default=None,
        help="Manifests: name of the set, kept when its files move (default: the resolved paths).",
    ),
]


def build(params: Mapping[str, Any], context: SourceContext) -> list[Collector]:
    paths = [Path(p) for p in params.get("manifest_paths") or ()]
    if not paths:
        return []
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise CommandError(f"manifests: {missing[0]}: no such file or directory", exit_code=2)
    for path in paths:
        if problem := special_file(path, directory_ok=True):
            raise CommandError(f"manifests: {path}: {problem}", exit_code=2)
    cluster = str(params.get("manifests_cluster") or DEFAULT_CLUSTER)
    # The previous release scoped a set by its paths alone, whatever the cluster name: its history is
    # adopted only by the cluster name it was last collected under.
    adopt = context.manifest_sets.get(set_paths(paths), cluster) == cluster
    return [
        ManifestCollector(
            paths,
            cluster=cluster,
            name=params.get("manifests_name") or None,
            adopt_legacy=adopt,
            secrets=context.secrets,
            team_label=context.team_label,
        )
    ]
