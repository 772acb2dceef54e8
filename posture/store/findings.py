"""Reconciling one run's findings: new, unchanged, changed, regressed, reopened, resolved.

A finding's identity is its fingerprint: rule + asset (canonical kind and key, after alias
resolution, so a Trivy and a Grype report of one image agree) + discriminator. Nothing that can
change without the risk changing identity (description, severity, score, time) is part of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlmodel import Session

from posture.model import finding_sighting_table, finding_table
from posture.records import AssetRef
from posture.rules.base import Rule
from posture.store.assets import chunks
from posture.store.exceptions import ExceptionMatcher
from posture.store.history import FindingChange, record_events
from posture.taxonomy import FindingStatus, Severity


def fingerprint(rule_id: str, asset: AssetRef, discriminator: str) -> str:
    raw = "\x00".join((rule_id, asset.kind.value, asset.key, discriminator))
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:40]


@dataclass(frozen=True)
class Produced:
    """A finding as this run states it, before it meets the store."""

    rule: Rule
    asset: AssetRef  # canonical
    asset_id: int
    asset_name: str
    asset_attributes: Mapping[str, Any]
    discriminator: str
    title: str
    severity: Severity
    evidence: Mapping[str, Any]
    accepted_reason: str | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule.id, self.asset, self.discriminator)


def _content_hash(title: str, severity: str, evidence: Mapping[str, Any]) -> str:
    blob = orjson.dumps([title, severity, evidence], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(blob).hexdigest()[:32]


def merge_evidence(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """Several sources may state one finding (two scanners): keep each one's view under ``scanners``."""
    merged = dict(new)
    if "scanners" in old or "scanners" in new:
        merged["scanners"] = {**old.get("scanners", {}), **new.get("scanners", {})}
    return merged


def reconcile_findings(
    session: Session,
    *,
    scope_id: int,
    run_id: int,
    produced: Sequence[Produced],
    complete: bool,
    now: datetime,
    base_risk: Mapping[Severity, int],
    exceptions: ExceptionMatcher,
) -> list[FindingChange]:
    by_fp: dict[str, Produced] = {}
    for item in produced:
        by_fp[item.fingerprint] = item
    fps = sorted(by_fp)
    existing: dict[str, Any] = {}
    for part in chunks(fps):
        stmt = select(
            finding_table.c.id,
            finding_table.c.fingerprint,
            finding_table.c.status,
            finding_table.c.severity,
            finding_table.c.severity_rank,
            finding_table.c.content_hash,
            finding_table.c.evidence,
            finding_table.c.risk,
            finding_table.c.exception_id,
        ).where(finding_table.c.fingerprint.in_(part))
        for found in session.execute(stmt):
            existing[found.fingerprint] = found

    changes: list[FindingChange] = []
    new_rows: list[dict[str, Any]] = []
    new_items: list[Produced] = []
    for fp in fps:
        item = by_fp[fp]
        row = existing.get(fp)
        evidence = dict(item.evidence) if row is None else merge_evidence(row.evidence, item.evidence)
        content = _content_hash(item.title, item.severity.value, evidence)
        exception_id = exceptions.match(item.rule.id, item.asset, item.asset_name, item.asset_attributes, evidence)
        status = FindingStatus.ACCEPTED if (exception_id is not None or item.accepted_reason) else FindingStatus.OPEN
        if row is None:
            new_items.append(item)
            new_rows.append(
                {
                    "fingerprint": fp,
                    "rule_id": item.rule.id,
                    "asset_id": item.asset_id,
                    "discriminator": item.discriminator,
                    "title": item.title,
                    "severity": item.severity.value,
                    "severity_rank": item.severity.rank,
                    "phase": item.rule.phase.value,
                    "category": item.rule.category.value,
                    "references": [r.as_dict() for r in item.rule.all_references],
                    "evidence": evidence,
                    "content_hash": content,
                    "status": status.value,
                    "risk": base_risk[item.severity],
                    "risk_factors": {},
                    "first_seen": now,
                    "last_seen": now,
                    "exception_id": exception_id,
                }
            )
            continue
        values: dict[str, Any] = {}
        event: str | None = None
        if content != row.content_hash:
            values.update(
                title=item.title,
                severity=item.severity.value,
                severity_rank=item.severity.rank,
                evidence=evidence,
                content_hash=content,
            )
            if item.severity.rank > row.severity_rank:
                event = "regressed"
        if row.status == FindingStatus.RESOLVED.value:
            values.update(status=status.value, resolved_at=None, exception_id=exception_id)
            event = "reopened"
        elif row.status != status.value or row.exception_id != exception_id:
            values.update(status=status.value, exception_id=exception_id)
            if status is FindingStatus.ACCEPTED:
                event = event or "accepted"
            elif row.status == FindingStatus.ACCEPTED.value:
                event = event or "unaccepted"
        if values:
            if "severity" in values:
                values["risk"] = base_risk[item.severity]
            session.execute(update(finding_table).where(finding_table.c.id == row.id).values(**values))
        if event:
            changes.append(
                FindingChange(
                    row.id,
                    fp,
                    event,
                    item.severity.value,
                    values.get("risk", row.risk),
                    item.rule.id,
                    item.title,
                    item.asset_name,
                    {"previous_severity": row.severity} if event == "regressed" else {},
                )
            )

    if new_rows:
        session.execute(insert(finding_table), new_rows)  # executemany; ids looked up after (see assets.py)
        new_ids = _ids_by_fingerprint(session, [values["fingerprint"] for values in new_rows])
        for item, values in zip(new_items, new_rows, strict=True):
            row_id = new_ids[values["fingerprint"]]
            changes.append(
                FindingChange(
                    row_id,
                    values["fingerprint"],
                    "new",
                    values["severity"],
                    values["risk"],
                    item.rule.id,
                    item.title,
                    item.asset_name,
                )
            )
            if values["status"] == FindingStatus.ACCEPTED.value:
                changes.append(
                    FindingChange(
                        row_id,
                        values["fingerprint"],
                        "accepted",
                        values["severity"],
                        values["risk"],
                        item.rule.id,
                        item.title,
                        item.asset_name,
                        {"reason": item.accepted_reason or "exception"},
                    )
                )

    seen_ids = {row.id for row in existing.values()} | {c.finding_id for c in changes if c.event == "new"}
    changes.extend(_sightings(session, scope_id, run_id, seen_ids, complete, now))
    _touch(session, seen_ids, now)
    record_events(session, run_id, changes, now)
    return changes


def _ids_by_fingerprint(session: Session, fingerprints: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(fingerprints):
        stmt = select(finding_table.c.id, finding_table.c.fingerprint).where(finding_table.c.fingerprint.in_(part))
        found.update((r.fingerprint, r.id) for r in session.execute(stmt))
    return found


def _touch(session: Session, ids: Iterable[int], now: datetime) -> None:
    for part in chunks(sorted(ids)):
        session.execute(update(finding_table).where(finding_table.c.id.in_(part)).values(last_seen=now))


def _sightings(
    session: Session, scope_id: int, run_id: int, seen: set[int], complete: bool, now: datetime
) -> list[FindingChange]:
    previous = {
        r.finding_id
        for r in session.execute(
            select(finding_sighting_table.c.finding_id).where(finding_sighting_table.c.scope_id == scope_id)
        )
    }
    session.execute(
        update(finding_sighting_table).where(finding_sighting_table.c.scope_id == scope_id).values(last_run_id=run_id)
    )
    added = sorted(seen - previous)
    if added:
        session.execute(
            insert(finding_sighting_table),
            [{"finding_id": f, "scope_id": scope_id, "last_run_id": run_id} for f in added],
        )
    if not complete:
        return []  # a partial or failed run never resolves anything
    dropped = sorted(previous - seen)
    resolved: list[FindingChange] = []
    for part in chunks(dropped):
        session.execute(
            delete(finding_sighting_table).where(
                finding_sighting_table.c.scope_id == scope_id, finding_sighting_table.c.finding_id.in_(part)
            )
        )
        still = {
            r.finding_id
            for r in session.execute(
                select(finding_sighting_table.c.finding_id).where(finding_sighting_table.c.finding_id.in_(part))
            )
        }
        orphaned = [f for f in part if f not in still]
        if not orphaned:
            continue
        rows = session.execute(
            select(
                finding_table.c.id,
                finding_table.c.fingerprint,
                finding_table.c.severity,
                finding_table.c.risk,
                finding_table.c.rule_id,
                finding_table.c.title,
            ).where(finding_table.c.id.in_(orphaned), finding_table.c.status != FindingStatus.RESOLVED.value)
        ).all()
        if rows:
            session.execute(
                update(finding_table)
                .where(finding_table.c.id.in_([r.id for r in rows]))
                .values(status=FindingStatus.RESOLVED.value, resolved_at=now)
            )
        resolved.extend(
            FindingChange(r.id, r.fingerprint, "resolved", r.severity, r.risk, r.rule_id, r.title, "") for r in rows
        )
    return resolved
