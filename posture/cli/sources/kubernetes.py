"""`posture collect` options for live Kubernetes clusters: one collector per kubeconfig context.

The source is active when any of ``--kubeconfig``, ``--kube-context``, ``--all-contexts`` or
``--in-cluster`` is given (a ``KUBECONFIG`` in the environment alone does not start a collection).
Exec credential plugins are allowed by ``--allow-exec-plugin`` or by the settings key
``kubernetes.allow_exec_plugins`` (a list of names or paths).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import click

from collectors.k8s.kubeconfig import (
    IN_CLUSTER,
    ClusterTarget,
    InCluster,
    KubeconfigContext,
    KubeconfigError,
    kubeconfig_path,
    list_contexts,
)
from collectors.k8s.live import DEFAULT_TIMEOUT, LiveCollector
from posture.cli.context import CommandError
from posture.cli.sources import SourceContext
from posture.records import Collector

OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--kubeconfig",
        metavar="PATH",
        help="Kubernetes: kubeconfig file(s), ':'-separated (default: $KUBECONFIG, then ~/.kube/config).",
    ),
    click.option(
        "--kube-context",
        "kube_contexts",
        multiple=True,
        metavar="NAME",
        help="Kubernetes: collect this kubeconfig context (repeatable; default: the current context).",
    ),
    click.option("--all-contexts", is_flag=True, help="Kubernetes: collect every context of the kubeconfig."),
    click.option(
        "--in-cluster", is_flag=True, help="Kubernetes: collect the cluster this pod runs in (its service account)."
    ),
    click.option(
        "--in-cluster-name",
        metavar="NAME",
        default=IN_CLUSTER,
        show_default=True,
        help="Kubernetes: the name the --in-cluster run's cluster is shown by (its identity is its kube-system UID).",
    ),
    click.option(
        "--allow-exec-plugin",
        "allow_exec_plugins",
        multiple=True,
        metavar="NAME",
        help="Kubernetes: let the kubeconfig run this exec credential plugin (a name on PATH or a path; repeatable).",
    ),
    click.option(
        "--kube-timeout",
        type=click.FloatRange(min=0.1),
        default=DEFAULT_TIMEOUT,
        show_default=True,
        metavar="SECONDS",
        help="Kubernetes: time-out of each API request.",
    ),
]


def build(params: Mapping[str, Any], context: SourceContext) -> list[Collector]:
    contexts: tuple[str, ...] = tuple(params.get("kube_contexts") or ())
    all_contexts = bool(params.get("all_contexts"))
    explicit_path: str | None = params.get("kubeconfig")
    timeout = float(params.get("kube_timeout") or DEFAULT_TIMEOUT)
    collectors: list[Collector] = []
    if contexts or all_contexts or explicit_path:
        path = kubeconfig_path(explicit_path)
        allowed = (*(params.get("allow_exec_plugins") or ()), *_configured_plugins(context.settings))
        for name in _selected_contexts(path, contexts, all_contexts):
            collectors.append(_collector(KubeconfigContext(path, name, tuple(allowed)), context, timeout))
    if params.get("in_cluster"):
        collectors.append(_collector(InCluster(str(params.get("in_cluster_name") or IN_CLUSTER)), context, timeout))
    return collectors


def _collector(target: ClusterTarget, context: SourceContext, timeout: float) -> LiveCollector:
    """The collector of one cluster; a run that cannot reach it is recorded in the history of the one
    cluster the store knows by this name, if there is exactly one."""
    known = context.live_clusters_named(target.name)
    return LiveCollector(
        target,
        secrets=context.secrets,
        timeout=timeout,
        stored_vulns=context.stored_vulns,
        team_label=context.team_label,
        known_identity=known[0] if len(known) == 1 else None,
    )


def _selected_contexts(path: str, contexts: tuple[str, ...], all_contexts: bool) -> list[str]:
    try:
        names, current = list_contexts(path)
    except KubeconfigError as exc:
        raise CommandError(str(exc), 2) from None
    if all_contexts:
        if not names:
            raise CommandError(f"kubeconfig {path}: no contexts", 2)
        return names
    if contexts:
        unknown = [c for c in contexts if c not in names]
        if unknown:
            raise CommandError(f"kubeconfig {path}: no context named {', '.join(unknown)}", 2)
        return list(dict.fromkeys(contexts))
    if current is None or current not in names:
        raise CommandError(f"kubeconfig {path}: no current context; name one with --kube-context", 2)
    return [current]


def _configured_plugins(settings: Mapping[str, Any]) -> tuple[str, ...]:
    section = settings.get("kubernetes")
    plugins = section.get("allow_exec_plugins") if isinstance(section, Mapping) else None
    return tuple(str(p) for p in plugins) if isinstance(plugins, list | tuple) else ()
