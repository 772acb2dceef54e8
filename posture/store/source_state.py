"""What the store already knows that a collection can use: read once per command (or per report) by
the CLI and handed to collectors as plain values, since collectors never touch the database."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from posture.model import alias_table, asset_table, finding_table, run_table, scope_table
from posture.records import AssetKind, ScopeKind
from posture.rules.scanner import VULN
from posture.store.assets import chunks
from posture.store.raw import json_text, run_raw
from posture.taxonomy import RunStatus


def known_digests(session: Session) -> frozenset[str]:
    """Keys and aliases of the images whose config the store holds: what a registry walk may skip.

    An image only a scanner report has named has no config yet; it must not count as known, or
    the registry would never fetch the config that the image rules judge.
    """
    A = asset_table.c
    read = (A.kind == AssetKind.IMAGE.value) & A.attributes["config"].as_string().is_not(None)
    aliases = select(alias_table.c.alias).join(asset_table, A.id == alias_table.c.asset_id).where(read)
    return frozenset([*session.execute(select(A.key).where(read)).scalars(), *session.execute(aliases).scalars()])


def report_runs(session: Session) -> list[tuple[str, str, str]]:
    """(scope name, report time, report hash) of every run that ingested a report, oldest run first:
    what tells a later report that is older, or a repeat of an earlier one (``""`` where a run kept none)."""
    stats = run_table.c.stats
    stmt = (
        select(scope_table.c.name, stats["report_time"].as_string(), stats["report_hash"].as_string())
        .join(run_table, run_table.c.scope_id == scope_table.c.id)
        .where(
            scope_table.c.kind == ScopeKind.REPORT.value,
            run_table.c.status.in_((RunStatus.COMPLETE.value, RunStatus.PARTIAL.value)),
        )
        .order_by(run_table.c.id)
    )
    return [(name, time or "", digest or "") for name, time, digest in session.execute(stmt)]


def engines_by_url(session: Session) -> dict[str, str]:
    """Engine URL → the key of the engine last collected there (engines are few: read them all).

    The key its scope is named after (attribute ``engine_key``) where the engine states one: a row
    claimed from a legacy key keeps that key, so the row's own key would name the old scope."""
    rows = session.execute(
        select(asset_table.c.key, asset_table.c.attributes)
        .where(asset_table.c.kind == AssetKind.DOCKER_ENGINE.value)
        .order_by(asset_table.c.last_seen)
    )
    found: dict[str, str] = {}
    for key, attributes in rows:
        url = (attributes or {}).get("transport", {}).get("url")
        if isinstance(url, str) and url:
            # ordered by last_seen: the latest engine at a URL wins
            found[url] = str((attributes or {}).get("engine_key") or key)
    return found


def clusters_by_name(session: Session) -> dict[str, tuple[str, ...]]:
    """Cluster name (a kubeconfig context, a ``--manifests-cluster``) → the keys of the clusters
    stored under it, so a name on the command line can be mapped to the one cluster it stands for,
    or refused when several share it. Clusters are few: read them all."""
    rows = session.execute(
        select(asset_table.c.name, asset_table.c.key)
        .where(asset_table.c.kind == AssetKind.CLUSTER.value)
        .order_by(asset_table.c.key)
    )
    found: dict[str, tuple[str, ...]] = {}
    for name, key in rows:
        found[name] = (*found.get(name, ()), key)
    return found


def manifest_sets(session: Session) -> dict[str, str]:
    """Manifest-set key → the cluster name its objects were last keyed under: a set a previous
    release keyed by its paths alone is adopted only by a collection under that same cluster name."""
    rows = session.execute(
        select(asset_table.c.key, asset_table.c.attributes).where(asset_table.c.kind == AssetKind.MANIFEST_SET.value)
    )
    return {
        key: cluster
        for key, attributes in rows
        if isinstance(attributes, dict) and isinstance(cluster := attributes.get("cluster"), str)
    }


def known_tags(session: Session, index_media_types: Iterable[str]) -> dict[str, Mapping[str, Any]]:
    """Live multi-arch tags → their stored attributes: an index digest is no image's alias, so only the
    stored tag can tell a second run which platform images an unchanged index holds."""
    A = asset_table.c
    index = A.attributes["media_type"].as_string().in_(sorted(index_media_types))
    rows = session.execute(select(A.key, A.attributes).where(A.kind == AssetKind.TAG.value, A.gone_at.is_(None), index))
    return {key: attributes for key, attributes in rows if isinstance(attributes, dict)}


def stored_vulns_by_asset(
    session: Session, asset_ids: Sequence[int]
) -> dict[int, list[tuple[str, str, frozenset[str]]]]:
    """(discriminator, vulnerability id, aliases) of every VULN finding, whatever its status, per asset."""
    F = finding_table.c
    found: dict[int, list[tuple[str, str, frozenset[str]]]] = {}
    for part in chunks(asset_ids):
        # Driver rows and the aliases as JSON text: a 20,000-CVE image's re-ingest reads them all.
        stmt = select(
            F.asset_id, F.discriminator, F.evidence["vulnerability"].as_string(), F.evidence["aliases"].as_string()
        ).where(F.rule_id == VULN, F.asset_id.in_(part))
        for asset_id, discriminator, vulnerability, text in run_raw(session, stmt):
            aliases = json_text(text)
            names = frozenset(a for a in aliases if isinstance(a, str)) if isinstance(aliases, list) else frozenset()
            found.setdefault(asset_id, []).append((discriminator, vulnerability or "", names))
    return found
