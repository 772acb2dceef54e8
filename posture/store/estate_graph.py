"""Loading the estate graph scoring needs: live assets, and their ``runs``, ``owned-by`` and
``points-to`` edges with targets resolved to asset ids through aliases (a kubelet names an image by
its manifest digest, Docker by its config digest; both reach one asset).

Attributes are read as text and parsed with orjson, and only for the kinds whose attributes the
scoring reads (images: their config's USER and labels only), so 20,000 assets load in a fraction of a second.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import Text, cast, select
from sqlmodel import Session

from posture.model import alias_table, asset_table, relation_table
from posture.records import AssetKind
from posture.scoring.estate import OWNED_BY, POINTS_TO, RUNS, AssetNode, Edge, Estate
from posture.store.assets import chunks
from posture.store.raw import json_text, run_raw

#: Kinds whose whole attributes the scoring reads (privilege, exposure, phase, labels, team).
_FULL_ATTRIBUTES = (
    AssetKind.CONTAINER.value,
    AssetKind.POD.value,
    AssetKind.WORKLOAD.value,
    AssetKind.NAMESPACE.value,
    AssetKind.SERVICE.value,
    AssetKind.INGRESS.value,
)
_EDGES = (RUNS, OWNED_BY, POINTS_TO)


def load_estate(session: Session, team_label: str = "team") -> Estate:
    """Live assets and their ``runs``/``owned-by``/``points-to`` edges, targets resolved through aliases."""
    A = asset_table.c
    head = (A.id, A.kind, A.key, A.name, A.parent_kind, A.parent_key)
    live = A.gone_at.is_(None)
    nodes: list[AssetNode] = []
    full = select(*head, cast(A.attributes, Text)).where(live, A.kind.in_(_FULL_ATTRIBUTES))
    for r in run_raw(session, full):
        attributes = json_text(r[6])
        nodes.append(AssetNode(r[0], r[1], r[2], r[3], r[4], r[5], attributes if isinstance(attributes, dict) else {}))
    # An image's USER and labels are in its config (collectors/docker/imageconfig.py, for every collector).
    image_user = A.attributes[("config", "user")].as_string()
    image_labels = A.attributes[("config", "labels")].as_string()
    for r in run_raw(session, select(*head, image_user, image_labels).where(live, A.kind == AssetKind.IMAGE.value)):
        attrs: dict[str, Any] = {}
        if r[6] is not None:
            attrs["user"] = r[6]
        labels = json_text(r[7])
        if isinstance(labels, dict):
            attrs["labels"] = labels
        nodes.append(AssetNode(r[0], r[1], r[2], r[3], r[4], r[5], attrs))
    rest = select(*head).where(live, A.kind.not_in((*_FULL_ATTRIBUTES, AssetKind.IMAGE.value)))
    nodes.extend(AssetNode(*r) for r in run_raw(session, rest))

    ids = {(n.kind, n.key): n.id for n in nodes}
    R = relation_table.c
    raw = run_raw(session, select(R.source_id, R.relation, R.target_kind, R.target_key).where(R.relation.in_(_EDGES)))
    pending: list[tuple[int, str, str, str]] = []
    edges: list[Edge] = []
    for source, relation, kind, key in raw:
        target = ids.get((kind, key))
        if target is None:
            pending.append((source, relation, kind, key))
        else:
            edges.append(Edge(source, relation, target))
    if pending:
        aliases = _aliases(session, {(kind, key) for _s, _r, kind, key in pending})
        edges.extend(
            Edge(source, relation, aliases[(kind, key)])
            for source, relation, kind, key in pending
            if (kind, key) in aliases
        )
    return Estate(nodes, edges, team_label)


def _aliases(session: Session, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, key in wanted:
        by_kind[kind].append(key)
    found: dict[tuple[str, str], int] = {}
    for kind, keys in by_kind.items():
        for part in chunks(sorted(keys)):
            stmt = select(alias_table.c.alias, alias_table.c.asset_id).where(
                alias_table.c.kind == kind, alias_table.c.alias.in_(part)
            )
            found.update(((kind, r.alias), r.asset_id) for r in session.execute(stmt))
    return found
