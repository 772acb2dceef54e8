"""NIST SP 800-190 3.2.2: registry tags whose image has fixable critical vulnerabilities.

A tag comes from a registry run and a CVE from a scanner report run, so no rule sees both (rules see
one run's assets). The check is derived from the store instead, inside the write transaction of
every registry, scanner report or cluster run, after that run's findings are reconciled: one
``REG-HELD-FIXABLE-CRITICAL`` finding per live tag that ``points-to`` an image with an open,
critical ``VULN`` finding whose scanner names a fixed version.

The findings are stated by a scope of their own (:data:`HELD_SCOPE`), re-stated in full on every
evaluation, so the store's usual reconcile applies: a finding resolves when the vulnerability is
resolved, the tag moves to a clean image or the tag is gone, and only when the triggering run was
complete (a partial or failed run never resolves anything).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from posture.model import alias_table, asset_table, finding_table, relation_table
from posture.records import AssetKind, AssetRef, ScopeKind, ScopeRef
from posture.rules.registry import HELD_FIXABLE_CRITICAL, POINTS_TO
from posture.rules.scanner import VULN
from posture.store.assets import chunks
from posture.store.findings import Produced, reconcile_findings
from posture.store.history import FindingChange
from posture.store.runs import ensure_scope, scope_id_of
from posture.taxonomy import FindingStatus, Severity

#: The derived scope; its name cannot be a registry's ``host[:port]``.
HELD_SCOPE = ScopeRef(ScopeKind.REGISTRY, "derived:held-fixable-critical")
#: The kinds of source scope whose runs re-evaluate the check: the sources of its two inputs (a cluster's
#: run carries trivy-operator's vulnerability reports where the operator is installed).
TRIGGERS = frozenset({ScopeKind.REGISTRY, ScopeKind.REPORT, ScopeKind.KUBERNETES})
#: Vulnerability ids kept in a finding's evidence (the image's VULN findings hold the rest).
IDS_MAX = 20


def reconcile_held(session: Session, *, run_id: int, complete: bool, now: datetime) -> list[FindingChange]:
    """Re-derive every held-vulnerability finding; the changes are the triggering run's."""
    produced = held_findings(session)
    if not produced and scope_id_of(session, HELD_SCOPE) is None:
        return []  # never held anything: no scope row for an estate without scanner data
    return reconcile_findings(
        session,
        scope_id=ensure_scope(session, HELD_SCOPE, now).id,
        run_id=run_id,
        produced=produced,
        complete=complete,
        now=now,
    ).changes


def held_findings(session: Session) -> list[Produced]:
    vulnerable = _fixable_criticals(session)
    if not vulnerable:
        return []
    keys = _image_keys(session, sorted(vulnerable))
    out: list[Produced] = []
    for tag_id, key, name, attributes, images in _holding_tags(session, keys):
        ids = sorted({v for image in images for v in vulnerable[image]})
        count = len(ids)
        out.append(
            Produced(
                rule=HELD_FIXABLE_CRITICAL,
                asset=AssetRef(AssetKind.TAG, key),
                asset_id=tag_id,
                asset_name=name,
                asset_attributes=attributes,
                discriminator="",
                title=f"{name} holds an image with {count} fixable critical vulnerabilit{'y' if count == 1 else 'ies'}",
                severity=HELD_FIXABLE_CRITICAL.severity,
                evidence={"digest": attributes.get("digest", ""), "vulnerabilities": ids[:IDS_MAX], "count": count},
            )
        )
    return out


def _fixable_criticals(session: Session) -> dict[int, set[str]]:
    """Image asset id → ids of its open critical vulnerabilities that have a fix."""
    F = finding_table.c
    stmt = select(F.asset_id, F.discriminator, F.evidence["fix_available"].as_boolean()).where(
        F.rule_id == VULN, F.status == FindingStatus.OPEN.value, F.severity == Severity.CRITICAL.value
    )
    found: dict[int, set[str]] = defaultdict(set)
    for asset_id, discriminator, fixable in session.execute(stmt):
        if fixable:
            found[asset_id].add(str(discriminator).split("|", 1)[0])  # VULN discriminators: id|package|version
    return found


def _image_keys(session: Session, image_ids: Sequence[int]) -> dict[str, int]:
    """Every key and alias of these images → the image's id (a points-to edge names either)."""
    out: dict[str, int] = {}
    for part in chunks(image_ids):
        A, L = asset_table.c, alias_table.c
        out.update((r.key, r.id) for r in session.execute(select(A.key, A.id).where(A.id.in_(part))))
        stmt = select(L.alias, L.asset_id).where(L.kind == AssetKind.IMAGE.value, L.asset_id.in_(part))
        out.update((r.alias, r.asset_id) for r in session.execute(stmt))
    return out


def _holding_tags(
    session: Session, keys: Mapping[str, int]
) -> Iterable[tuple[int, str, str, Mapping[str, Any], set[int]]]:
    """(tag id, key, name, attributes, vulnerable image ids) of every live tag pointing at one of ``keys``."""
    R, A = relation_table.c, asset_table.c
    images_of: dict[int, set[int]] = defaultdict(set)
    for keys_part in chunks(sorted(keys)):
        stmt = select(R.source_id, R.target_key).where(
            R.relation == POINTS_TO, R.target_kind == AssetKind.IMAGE.value, R.target_key.in_(keys_part)
        )
        for source_id, target_key in session.execute(stmt):
            images_of[source_id].add(keys[target_key])
    for part in chunks(sorted(images_of)):
        stmt = select(A.id, A.key, A.name, A.attributes).where(
            A.id.in_(part), A.kind == AssetKind.TAG.value, A.gone_at.is_(None)
        )
        for r in session.execute(stmt):
            yield r.id, r.key, r.name, r.attributes if isinstance(r.attributes, dict) else {}, images_of[r.id]
