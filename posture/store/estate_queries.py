"""The estate as a reader walks it: asset trees by source, one asset in full, an image's lifecycle.

Trees come from :class:`EstateIndex`, loaded once per view: every present asset's identity and
parent, the two edges that refine the hierarchy (a pod ``owned-by`` its workload, a tag
``points-to`` its image) and each asset's open-finding figures, rolled up so every node shows
the worst risk beneath it. On 20,000 assets and 100,000 findings that is two scans and a few MB,
after which expanding any node is a dictionary lookup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, or_, select, tuple_
from sqlmodel import Session

from posture.model import alias_table, asset_sighting_table, asset_table, finding_table, relation_table, scope_table
from posture.store.detail_models import (
    AssetDetail,
    AssetFinding,
    AssetRow,
    ExposureStep,
    FindingBrief,
    ImageChoice,
    IncomingRelation,
    OutgoingRelation,
    SourceSeeing,
    TraceAsset,
    TraceTag,
)
from posture.store.sqltext import contains_ci, unindexed
from posture.taxonomy import FindingStatus

A = asset_table.c
F = finding_table.c
R = relation_table.c

#: The tree's top level: a source and the asset kinds that start a branch under it.
SOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Kubernetes", ("k8s-cluster",)),
    ("Docker", ("docker-engine",)),
    ("Registries", ("registry",)),
    ("Images", ("image",)),
    ("Other", ("manifest-set", "report")),
)
_OPEN = FindingStatus.OPEN.value
#: An asset's (kind, key); a parent's may be unset.
_Ref = tuple[str | None, str | None]


@dataclass(frozen=True, slots=True)
class Risk:
    """Open findings on an asset (or beneath it): how many, the worst risk, the worst severity."""

    count: int = 0
    max_risk: int = 0
    max_severity_rank: int = -1

    def __add__(self, other: Risk) -> Risk:
        return Risk(
            self.count + other.count,
            max(self.max_risk, other.max_risk),
            max(self.max_severity_rank, other.max_severity_rank),
        )


@dataclass(frozen=True, slots=True)
class Node:
    id: int
    kind: str
    key: str
    name: str


@dataclass
class EstateIndex:
    nodes: dict[int, Node]
    children: dict[int, list[int]]
    roots: dict[str, list[int]]
    own: dict[int, Risk]
    rollup: dict[int, Risk]

    def children_of(self, asset_id: int) -> list[Node]:
        """Children riskiest first, then by name."""
        return self._sorted(self.children.get(asset_id, []))

    def roots_of(self, source: str) -> list[Node]:
        return self._sorted(self.roots.get(source, []))

    def risk(self, asset_id: int) -> Risk:
        return self.rollup.get(asset_id) or self.own.get(asset_id, Risk())

    def _sorted(self, ids: list[int]) -> list[Node]:
        return sorted((self.nodes[i] for i in ids), key=lambda n: (-self.risk(n.id).max_risk, n.name))


def load_estate(session: Session) -> EstateIndex:
    nodes: dict[int, Node] = {}
    parent_of: dict[int, tuple[str, str]] = {}
    by_key: dict[tuple[str, str], int] = {}
    present = select(A.id, A.kind, A.key, A.name, A.parent_kind, A.parent_key).where(unindexed(A.gone_at).is_(None))
    for r in session.execute(present):
        nodes[r.id] = Node(r.id, r.kind, r.key, r.name)
        by_key[(r.kind, r.key)] = r.id
        if r.parent_kind and r.parent_key:
            parent_of[r.id] = (r.parent_kind, r.parent_key)
    for r in session.execute(select(alias_table.c.kind, alias_table.c.alias, alias_table.c.asset_id)):
        if r.asset_id in nodes:
            by_key.setdefault((r.kind, r.alias), r.asset_id)

    parent: dict[int, int] = {i: by_key[p] for i, p in parent_of.items() if p in by_key}
    edges = select(R.source_id, R.relation, R.target_kind, R.target_key).where(
        R.relation.in_(("owned-by", "points-to"))
    )
    extra_children: dict[int, set[int]] = defaultdict(set)
    for r in session.execute(edges):
        target = by_key.get((r.target_kind, r.target_key))
        if target is None or r.source_id not in nodes:
            continue
        if r.relation == "owned-by":
            parent[r.source_id] = target  # a pod hangs under its workload, not its namespace
        else:
            extra_children[r.source_id].add(target)  # an image under each tag pointing to it

    owned: dict[int, list[int]] = defaultdict(list)
    for child, par in parent.items():
        if child != par:
            owned[par].append(child)
    children = {node: list(kids) for node, kids in owned.items()}
    for tag, images in extra_children.items():
        children.setdefault(tag, []).extend(sorted(images))
    roots: dict[str, list[int]] = defaultdict(list)
    starts = {kind: source for source, kinds in SOURCES for kind in kinds}
    for node in nodes.values():
        if node.id not in parent:
            roots[starts.get(node.kind, "Other")].append(node.id)
    own = _open_risk(session)
    return EstateIndex(nodes, children, dict(roots), own, _rollup(nodes, owned, own, parent))


def _open_risk(session: Session) -> dict[int, Risk]:
    asset_id = unindexed(F.asset_id)  # a scan and a sort: walking ix_finding_asset_id reads rows at random
    stmt = (
        select(asset_id, func.count(), func.max(F.risk), func.max(F.severity_rank))
        .where(unindexed(F.status) == _OPEN)
        .group_by(asset_id)
    )
    return {r[0]: Risk(r[1], r[2] or 0, r[3] if r[3] is not None else -1) for r in session.execute(stmt)}


def _rollup(
    nodes: dict[int, Node], owned: dict[int, list[int]], own: dict[int, Risk], parent: dict[int, int]
) -> dict[int, Risk]:
    """Each node's own figures plus those of everything under it by parent (not by points-to)."""
    rollup: dict[int, Risk] = {}
    for root in (n for n in nodes if n not in parent):
        stack: list[tuple[int, bool]] = [(root, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                total = own.get(node, Risk())
                for child in owned.get(node, []):
                    total = total + rollup.get(child, Risk())
                rollup[node] = total
            elif node not in rollup:
                stack.append((node, True))
                stack.extend((child, False) for child in owned.get(node, []))
    return rollup


# -- one asset ------------------------------------------------------------------------------------


def _asset_row(row: Row[Any]) -> AssetRow:
    return {
        "id": row.id,
        "kind": row.kind,
        "key": row.key,
        "name": row.name,
        "phase": row.phase,
        "parent_kind": row.parent_kind,
        "parent_key": row.parent_key,
        "attributes": row.attributes,
        "attributes_hash": row.attributes_hash,
        "first_seen": row.first_seen,
        "last_seen": row.last_seen,
        "gone_at": row.gone_at,
    }


def asset_detail(session: Session, asset_id: int) -> AssetDetail | None:
    """The asset, its open findings, its related assets both ways, and how it is exposed."""
    row = session.execute(select(asset_table).where(A.id == asset_id)).first()
    if row is None:
        return None
    aliases = list(session.execute(select(alias_table.c.alias).where(alias_table.c.asset_id == asset_id)).scalars())
    findings: list[AssetFinding] = [
        {"id": r.id, "risk": r.risk, "severity": r.severity, "status": r.status, "rule_id": r.rule_id, "title": r.title}
        for r in session.execute(
            select(F.id, F.risk, F.severity, F.status, F.rule_id, F.title)
            .where(F.asset_id == asset_id, F.status != FindingStatus.RESOLVED.value)
            .order_by(F.risk.desc(), F.id)
        )
    ]
    keys = [row.key, *aliases]
    return {
        **_asset_row(row),
        "aliases": aliases,
        "findings": findings,
        "sources": _sources(session, asset_id),
        "outgoing": _outgoing(session, asset_id),
        "incoming": _incoming(session, row.kind, keys),
        "exposure": exposure_paths(session, row.kind, keys),
    }


def _sources(session: Session, asset_id: int) -> list[SourceSeeing]:
    """The sources that see the asset now: the name people know each by and its identity."""
    S = scope_table.c
    stmt = (
        select(S.kind, S.name, S.label)
        .join(asset_sighting_table, asset_sighting_table.c.scope_id == S.id)
        .where(asset_sighting_table.c.asset_id == asset_id)
        .order_by(S.kind, S.label, S.name)
    )
    return [{"kind": kind, "identity": name, "label": label or name} for kind, name, label in session.execute(stmt)]


def _outgoing(session: Session, asset_id: int) -> list[OutgoingRelation]:
    rows = session.execute(
        select(R.relation, R.target_kind, R.target_key)
        .where(R.source_id == asset_id)
        .distinct()
        .order_by(R.relation, R.target_kind, R.target_key)
    ).all()
    found = _resolve(session, {(r.target_kind, r.target_key) for r in rows})
    relations: list[OutgoingRelation] = []
    for r in rows:
        relation: OutgoingRelation = {"relation": r.relation, "kind": r.target_kind, "key": r.target_key}
        known = found.get((r.target_kind, r.target_key))
        if known is not None:
            relation["id"], relation["name"] = known["id"], known["name"]
        relations.append(relation)
    return relations


def _incoming(session: Session, kind: str, keys: list[str]) -> list[IncomingRelation]:
    stmt = (
        select(R.relation, A.id, A.kind, A.key, A.name)
        .join(asset_table, A.id == R.source_id)
        .where(R.target_kind == kind, R.target_key.in_(keys), A.gone_at.is_(None))
        .distinct()
        .order_by(R.relation, A.kind, A.name)
    )
    return [
        {"relation": r.relation, "id": r.id, "kind": r.kind, "key": r.key, "name": r.name}
        for r in session.execute(stmt)
    ]


def _resolve(session: Session, refs: Collection[_Ref]) -> dict[_Ref, dict[str, Any]]:
    """Natural keys (or aliases) → the asset's id and name, where the asset is known."""
    out: dict[_Ref, dict[str, Any]] = {}
    items = sorted(refs)
    for start in range(0, len(items), 400):
        part = items[start : start + 400]
        for r in session.execute(select(A.id, A.kind, A.key, A.name).where(tuple_(A.kind, A.key).in_(part))):
            out[(r.kind, r.key)] = {"id": r.id, "name": r.name}
        aliased = select(alias_table.c.kind, alias_table.c.alias, A.id, A.name).join(
            asset_table, A.id == alias_table.c.asset_id
        )
        for r in session.execute(aliased.where(tuple_(alias_table.c.kind, alias_table.c.alias).in_(part))):
            out.setdefault((r.kind, r.alias), {"id": r.id, "name": r.name})
    return out


def exposure_paths(session: Session, kind: str, keys: list[str], depth: int = 3) -> list[list[ExposureStep]]:
    """Chains of ``exposes``/``routes-to`` edges ending at this asset (Ingress → Service → workload)."""
    paths: list[list[ExposureStep]] = []
    frontier: list[tuple[list[ExposureStep], str, list[str]]] = [([], kind, keys)]
    for _ in range(depth):
        next_frontier = []
        for path, target_kind, target_keys in frontier:
            stmt = (
                select(R.relation, A.id, A.kind, A.key, A.name, A.attributes)
                .join(asset_table, A.id == R.source_id)
                .where(
                    R.relation.in_(("exposes", "routes-to")),
                    R.target_kind == target_kind,
                    R.target_key.in_(target_keys),
                    A.gone_at.is_(None),
                )
                .distinct()
            )
            for r in session.execute(stmt):
                if any(step["id"] == r.id for step in path):
                    continue
                step: ExposureStep = {
                    "relation": r.relation,
                    "id": r.id,
                    "kind": r.kind,
                    "name": r.name,
                    "type": r.attributes.get("type"),
                    "exposed": bool(r.attributes.get("exposed")),
                }
                longer = [step, *path]
                paths.append(longer)
                next_frontier.append((longer, r.kind, [r.key]))
        frontier = next_frontier
    # Keep only maximal chains: a chain that a longer one extends adds nothing.
    ids = [tuple(s["id"] for s in p) for p in paths]
    return [p for p, i in zip(paths, ids, strict=True) if not any(o != i and o[-len(i) :] == i for o in ids)]


# -- an image across the lifecycle ----------------------------------------------------------------


def image_choices(session: Session, text: str | None = None, limit: int = 300) -> list[ImageChoice]:
    """Images to trace, riskiest (own findings, then how many things run them) first."""
    stmt = select(A.id, A.key, A.name).where(A.kind == "image", A.gone_at.is_(None))
    if text:
        stmt = stmt.where(or_(contains_ci(A.name, text), contains_ci(A.key, text)))
    images: dict[int, ImageChoice] = {
        r.id: {"id": r.id, "key": r.key, "name": r.name, "risk": 0, "findings": 0, "running": 0}
        for r in session.execute(stmt)
    }
    if not images:
        return []
    ids = sorted(images)
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        stats = (
            select(F.asset_id, func.count(), func.max(F.risk))
            .where(F.asset_id.in_(part), unindexed(F.status) == _OPEN)
            .group_by(F.asset_id)
        )
        for asset_id, count, risk in session.execute(stats):
            images[asset_id]["findings"], images[asset_id]["risk"] = count, risk or 0
    keys = {r["key"]: r["id"] for r in images.values()}
    for r in session.execute(select(alias_table.c.alias, alias_table.c.asset_id).where(alias_table.c.kind == "image")):
        if r.asset_id in images:
            keys[r.alias] = r.asset_id
    running = (
        select(R.target_key, func.count(func.distinct(R.source_id)))
        .where(R.relation == "runs", R.target_kind == "image")
        .group_by(R.target_key)
    )
    for target_key, count in session.execute(running):
        if target_key in keys:
            images[keys[target_key]]["running"] += count
    ordered = sorted(images.values(), key=lambda i: (-i["risk"], -i["running"], i["name"]))
    return ordered[:limit]


@dataclass
class Trace:
    """One image digest from build to run, with the findings of every asset on the way."""

    image: AssetRow
    build: list[FindingBrief]  # findings on the image
    distribute: list[TraceTag]  # tags (with repository/registry) pointing to it
    run: list[TraceAsset]  # containers, pods and workloads running it
    combined: Risk


def lifecycle_trace(session: Session, image_id: int) -> Trace | None:
    image = session.execute(select(asset_table).where(A.id == image_id, A.kind == "image")).first()
    if image is None:
        return None
    keys = [
        image.key,
        *session.execute(select(alias_table.c.alias).where(alias_table.c.asset_id == image_id)).scalars(),
    ]
    pointing_rows = _sources_of(session, "points-to", keys)
    running_rows = _sources_of(session, "runs", keys)
    findings = _open_findings(session, [image_id, *(a.id for a in pointing_rows), *(a.id for a in running_rows)])
    build = findings.get(image_id, [])
    pointing = _with_registry_path(session, [_traced(a, findings) for a in pointing_rows])
    running = [_traced(a, findings) for a in running_rows]
    combined = Risk()
    for group in ([build], [a["findings"] for a in pointing], [a["findings"] for a in running]):
        for items in group:
            for f in items:
                combined = combined + Risk(1, f["risk"], f["severity_rank"])
    return Trace(_asset_row(image), build, pointing, running, combined)


def _traced(row: Row[Any], findings: dict[int, list[FindingBrief]]) -> TraceAsset:
    """An asset on the image's way with its open findings and their top risk."""
    own = findings.get(row.id, [])
    return {
        "id": row.id,
        "kind": row.kind,
        "key": row.key,
        "name": row.name,
        "attributes": row.attributes,
        "parent_kind": row.parent_kind,
        "parent_key": row.parent_key,
        "findings": own,
        "risk": max((f["risk"] for f in own), default=0),
    }


def _sources_of(session: Session, relation: str, keys: list[str]) -> list[Row[Any]]:
    stmt = (
        select(A.id, A.kind, A.key, A.name, A.attributes, A.parent_kind, A.parent_key)
        .join(relation_table, R.source_id == A.id)
        .where(R.relation == relation, R.target_kind == "image", R.target_key.in_(keys), A.gone_at.is_(None))
        .distinct()
        .order_by(A.kind, A.name)
    )
    return list(session.execute(stmt))


def _open_findings(session: Session, asset_ids: list[int]) -> dict[int, list[FindingBrief]]:
    out: dict[int, list[FindingBrief]] = defaultdict(list)
    ids = sorted(set(asset_ids))
    for start in range(0, len(ids), 500):
        stmt = (
            select(F.id, F.asset_id, F.risk, F.severity, F.severity_rank, F.rule_id, F.title, F.references, F.evidence)
            .where(F.asset_id.in_(ids[start : start + 500]), F.status == _OPEN)
            .order_by(F.risk.desc(), F.id)
        )
        for r in session.execute(stmt):
            out[r.asset_id].append(
                {
                    "id": r.id,
                    "asset_id": r.asset_id,
                    "risk": r.risk,
                    "severity": r.severity,
                    "severity_rank": r.severity_rank,
                    "rule_id": r.rule_id,
                    "title": r.title,
                    "references": r.references,
                    "evidence": r.evidence,
                }
            )
    return out


def _with_registry_path(session: Session, tags: list[TraceAsset]) -> list[TraceTag]:
    """Each tag with its repository and registry names, for "registry → repository → tag"."""
    parents = _resolve(session, {(t["parent_kind"], t["parent_key"]) for t in tags if t["parent_kind"]})
    repo_keys = {(t["parent_kind"], t["parent_key"]) for t in tags if t["parent_kind"]}
    repos = {}
    if repo_keys:
        for r in session.execute(
            select(A.kind, A.key, A.parent_kind, A.parent_key).where(tuple_(A.kind, A.key).in_(sorted(repo_keys)))
        ):
            repos[(r.kind, r.key)] = (r.parent_kind, r.parent_key)
    registries = _resolve(session, {p for p in repos.values() if p[0]})
    paths: list[TraceTag] = []
    for tag in tags:
        repo = (tag["parent_kind"], tag["parent_key"])
        registry = repos.get(repo)
        paths.append(
            {
                **tag,
                "repository": parents.get(repo, {}).get("name") or tag["parent_key"],
                "registry": registries.get(registry, {}).get("name") if registry else None,
            }
        )
    return paths
