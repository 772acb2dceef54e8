"""`posture collect` options for Docker (and Podman-compatible) engines: one collector per engine.

The source is active only when asked: ``--docker URL`` (repeatable), ``--docker-context NAME``
(repeatable, read from the Docker CLI config) or ``--docker-env`` (``DOCKER_HOST``,
``DOCKER_TLS_VERIFY``, ``DOCKER_CERT_PATH``, else the CLI's current context, exactly as ``docker``
resolves them). ``DOCKER_HOST`` is followed on its own only when ``posture collect`` names no source at
all (:func:`from_docker_host`), so a cron job collecting a cluster never also collects whatever
engine its shell happens to point at.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from collectors.docker.collector import DockerCollector
from collectors.docker.endpoint import DockerEndpoint, EndpointError, from_context, from_env, from_url
from collectors.docker.snapshot import DockerSnapshotCollector
from posture.cli.context import CommandError
from posture.cli.sources import SourceContext
from posture.records import Collector, CollectorError

DEFAULT_WORKERS = 8

OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--docker",
        "docker_urls",
        multiple=True,
        metavar="URL",
        help="Docker: engine to collect (unix:///var/run/docker.sock, tcp://host:2376, ssh://user@host; repeatable).",
    ),
    click.option(
        "--docker-context",
        "docker_contexts",
        multiple=True,
        metavar="NAME",
        help="Docker: collect this Docker CLI context ($DOCKER_CONFIG or ~/.docker; repeatable).",
    ),
    click.option(
        "--docker-env",
        is_flag=True,
        help="Docker: collect the engine DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH (or the current context) name.",
    ),
    click.option(
        "--docker-snapshot",
        "docker_snapshots",
        multiple=True,
        metavar="FILE",
        type=click.Path(path_type=Path),
        help="Docker: an engine captured as a JSON file of its API responses (offline hosts; repeatable).",
    ),
    click.option(
        "--docker-workers",
        type=click.IntRange(1, 64),
        default=DEFAULT_WORKERS,
        show_default=True,
        help="Docker: concurrent inspect calls per engine.",
    ),
    click.option(
        "--docker-layer-scan",
        "docker_layer_scan_mb",
        type=click.IntRange(0),
        default=0,
        show_default=True,
        metavar="MB",
        help="Docker: also scan the layers of images up to MB megabytes for secret files, deleted ones too; 0 = off.",
    ),
]


def build(params: Mapping[str, Any], context: SourceContext) -> list[Collector]:
    try:
        endpoints = endpoints_from(params, os.environ)
    except EndpointError as exc:
        raise CommandError(str(exc), 2) from None
    workers = int(params.get("docker_workers") or DEFAULT_WORKERS)
    layer_bytes = int(params.get("docker_layer_scan_mb") or 0) * 1024 * 1024
    live: list[Collector] = [
        DockerCollector(
            endpoint,
            context.secrets,
            workers=workers,
            layer_scan_bytes=layer_bytes,
            last_engine=context.docker_engines.get(endpoint.url),
        )
        for endpoint in endpoints
    ]
    return live + [snapshot(path, context) for path in params.get("docker_snapshots") or ()]


def snapshot(path: Path, context: SourceContext) -> Collector:
    """A snapshot that cannot be read or identified is bad input: refused (exit 2) before anything is stored."""
    collector = DockerSnapshotCollector(path, context.secrets)
    try:
        collector.check()
    except CollectorError as exc:
        raise CommandError(str(exc), 2) from None
    return collector


def from_docker_host(params: Mapping[str, Any], context: SourceContext) -> list[Collector]:
    """``posture collect`` with no source option and ``DOCKER_HOST`` set: that engine, as ``docker`` would
    reach it (with ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``); nothing when ``DOCKER_HOST`` is unset."""
    if not os.environ.get("DOCKER_HOST", "").strip():
        return []
    return build({**params, "docker_env": True}, context)


def endpoints_from(params: Mapping[str, Any], environ: Mapping[str, str]) -> list[DockerEndpoint]:
    """The endpoints the options name, each once, in the order given."""
    endpoints = [from_url(url) for url in params.get("docker_urls") or ()]
    endpoints += [from_context(name, environ) for name in params.get("docker_contexts") or ()]
    if params.get("docker_env"):
        endpoints.append(from_env(environ))
    return list(dict.fromkeys(endpoints))


