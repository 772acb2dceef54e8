"""`posture collect` options for OCI registries: one collector per ``--registry`` URL.

Credentials are never options: they come from the Docker client configuration (``docker login``,
``$DOCKER_CONFIG``), so they stay out of shell history, process lists and Posture's own settings.
Everything that lowers trust (plain HTTP, unverified TLS, a token service on another host) must be
named explicitly per host, and the registry checks report it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import click
from sqlmodel import Session

from collectors.registry import Policy, RegistryCollector, RegistryTarget, TargetError, parse_registry_url
from collectors.registry.oci_manifests import INDEX_TYPES
from posture.cli.context import CommandError
from posture.cli.sources import SourceContext
from posture.records import Collector
from posture.store import source_state

DEFAULT_STALE_DAYS = 180

OPTIONS: list[Callable[[Any], Any]] = [
    click.option(
        "--registry",
        "registry_urls",
        multiple=True,
        metavar="URL",
        help="Registry: collect https://host[:port][/repository-prefix] (repeatable; credentials: the Docker config).",
    ),
    click.option(
        "--registry-ca",
        type=click.Path(exists=True, dir_okay=False),
        metavar="PATH",
        help="Registry: also trust this CA certificate (PEM) for registry TLS.",
    ),
    click.option(
        "--insecure-registry",
        "insecure_registries",
        multiple=True,
        metavar="HOST",
        help="Registry: allow plain HTTP or unverified TLS for HOST[:PORT] (reported as a finding; repeatable).",
    ),
    click.option(
        "--registry-token-realm",
        "registry_token_realms",
        multiple=True,
        metavar="HOST",
        help="Registry: a token service host besides the registry allowed to receive credentials "
        "(e.g. auth.docker.io; repeatable).",
    ),
    click.option(
        "--include-repo",
        "include_repos",
        multiple=True,
        metavar="PATTERN",
        help="Registry: only repositories matching this glob, e.g. 'team/*' (repeatable).",
    ),
    click.option(
        "--exclude-repo",
        "exclude_repos",
        multiple=True,
        metavar="PATTERN",
        help="Registry: skip repositories matching this glob (repeatable).",
    ),
    click.option(
        "--newest-tags",
        type=click.IntRange(1),
        metavar="N",
        help="Registry: only the N newest tags of each repository (by version order, latest first).",
    ),
    click.option(
        "--require-signatures",
        is_flag=True,
        help="Registry: report images without a cosign signature or signature referrer.",
    ),
    click.option(
        "--stale-days",
        type=click.IntRange(1),
        default=DEFAULT_STALE_DAYS,
        show_default=True,
        metavar="N",
        help="Registry: report tags whose image was built more than N days ago.",
    ),
    click.option(
        "--allowed-base-registry",
        "allowed_base_registries",
        multiple=True,
        metavar="HOST",
        help="Registry: report images whose base image comes from another registry (repeatable).",
    ),
]


def targets_from(params: Mapping[str, Any]) -> list[RegistryTarget]:
    """One target per ``--registry`` URL, each scope once, in the order given."""
    insecure = tuple(params.get("insecure_registries") or ())
    policy = Policy(
        stale_days=int(params.get("stale_days") or DEFAULT_STALE_DAYS),
        require_signatures=bool(params.get("require_signatures")),
        allowed_base_registries=tuple(h.lower() for h in params.get("allowed_base_registries") or ()),
    )
    targets: dict[str, RegistryTarget] = {}
    for url in params.get("registry_urls") or ():
        target = dataclasses.replace(
            parse_registry_url(url, insecure_hosts=insecure),
            ca_file=params.get("registry_ca"),
            include=tuple(params.get("include_repos") or ()),
            exclude=tuple(params.get("exclude_repos") or ()),
            newest_tags=params.get("newest_tags"),
            token_realms=frozenset(h.lower() for h in params.get("registry_token_realms") or ()),
            policy=policy,
        )
        targets.setdefault(target.scope_name, target)
    return list(targets.values())


def known_tags(session: Session) -> dict[str, Mapping[str, Any]]:
    """Live multi-arch tags → their stored attributes (see :func:`posture.store.source_state.known_tags`)."""
    return source_state.known_tags(session, INDEX_TYPES)


def build(params: Mapping[str, Any], context: SourceContext) -> list[Collector]:
    try:
        targets = targets_from(params)
    except TargetError as exc:
        raise CommandError(str(exc), 2) from None
    return [
        RegistryCollector(t, context.secrets, known_digests=context.known_digests, known_tags=context.known_tags)
        for t in targets
    ]
