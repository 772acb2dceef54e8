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

from sqlalchemy import Select, delete, insert, select, update
from sqlmodel import Session

from posture.acceptance import Candidate
from posture.coverage import FULL, Coverage
from posture.model import asset_table, finding_sighting_table, finding_table
from posture.records import AssetKind, AssetRef
from posture.rules.base import Rule
from posture.scoring import BASE_RISK
from posture.store.assets import chunks, content_hash
from posture.store.evidence import merge_evidence, worst_severity
from posture.store.exceptions import ExceptionMatcher, aliases_of
from posture.store.history import FindingChange, changes_for, record_events
from posture.store.raw import run_raw
from posture.taxonomy import FindingStatus, Severity


def fingerprint(rule_id: str, asset: AssetRef, discriminator: str) -> str:
    raw = "\x00".join((rule_id, asset.kind.value, asset.key, discriminator))
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def stated_hash(title: str, severity: Severity, evidence: Mapping[str, Any]) -> str:
    """What one scope states of a finding, hashed; kept per sighting, so a restatement is recognised."""
    return content_hash([title, severity.value, evidence])


#: A finding as a scope states it: rule, asset row, discriminator (what its fingerprint is made of).
Statement = tuple[str, int, str]


def sighted_statements(session: Session, scope_id: int) -> dict[Statement, str]:
    """Every finding this scope's sightings hold a stated hash for → that hash."""
    sighting, finding = finding_sighting_table.c, finding_table.c
    query = (
        select(finding.rule_id, finding.asset_id, finding.discriminator, sighting.content_hash)
        .join(finding_table, finding.id == sighting.finding_id)
        .where(sighting.scope_id == scope_id, sighting.content_hash != "")
    )
    return {(rule, asset, disc): digest for rule, asset, disc, digest in session.execute(query)}


@dataclass(frozen=True, kw_only=True)
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
    #: Its :func:`stated_hash`, when the caller has computed it already ("" when not).
    stated: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule.id, self.asset, self.discriminator)


#: The guard: a complete run of a source that did not visibly change, which would resolve at least
#: this many findings and more than this share of its scope's sighted findings, has them held open.
GUARD_MIN = 3
GUARD_SHARE = 0.2


@dataclass(frozen=True)
class Judged:
    """What a complete run may resolve.

    ``coverage``: what it looked at (:mod:`posture.coverage`). ``source_changed``: the run found
    an asset new, changed or no longer there, or a new relation. Findings that vanish in bulk from
    a source that did not change at all (the same image digest, the same engine and containers) are
    unusual: a narrower scan taken for the whole truth looks exactly like that. Past the guard
    (:data:`GUARD_MIN`, :data:`GUARD_SHARE`) they are held open, unless ``confirmed`` (the
    operator said they were really fixed).
    """

    coverage: Coverage = FULL
    source_changed: bool = True
    confirmed: bool = False


@dataclass
class Reconciled:
    """A run's finding changes, and what it did not resolve: outside its coverage, or held by the guard."""

    changes: list[FindingChange]
    not_judged: int = 0
    held: int = 0


def reconcile_findings(
    session: Session,
    *,
    scope_id: int,
    run_id: int,
    produced: Sequence[Produced],
    complete: bool,
    now: datetime,
    exceptions: ExceptionMatcher | None = None,
    judged: Judged | None = None,
) -> Reconciled:
    """``exceptions``: the active risk exceptions, loaded at ``now`` when not given; ``judged``:
    what a complete run may resolve (everything it could, with the guard, when not given)."""
    if exceptions is None:
        exceptions = ExceptionMatcher.load(session, now)
    by_fp: dict[str, Produced] = {item.fingerprint: item for item in produced}
    stated = {fp: item.stated or stated_hash(item.title, item.severity, item.evidence) for fp, item in by_fp.items()}
    existing = _existing(session, scope_id, sorted(by_fp))
    aliases = aliases_of(session, {i.asset_id for i in produced}) if exceptions.names_assets else {}
    # Only findings whose content this scope changed need their merged evidence read back.
    stale = [row.id for fp, row in existing.items() if row.scope_hash != stated[fp]]
    evidence_of = _evidence(session, stale)

    changes: list[FindingChange] = []
    new_rows: list[dict[str, Any]] = []
    new_items: list[Produced] = []
    for fp, item in by_fp.items():
        row = existing.get(fp)
        exception_id = None if exceptions.empty else exceptions.match(_candidate(item, fp, aliases))
        status = FindingStatus.OPEN if exception_id is None else FindingStatus.ACCEPTED
        if row is None:
            new_items.append(item)
            new_rows.append(_new_row(item, fp, status, exception_id, now, stated[fp]))
            continue
        values: dict[str, Any] = {}
        event: str | None = None
        if row.id in evidence_of:
            evidence = merge_evidence(evidence_of[row.id], item.evidence)
            severity = worst_severity(evidence, item.severity)
            merged = stated_hash(item.title, severity, evidence)
            if merged != row.content_hash:
                values.update(
                    title=item.title,
                    severity=severity.value,
                    severity_rank=severity.rank,
                    evidence=evidence,
                    content_hash=merged,
                    risk=BASE_RISK[severity],
                )
                if severity.rank > row.severity_rank:
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
            session.execute(update(finding_table).where(finding_table.c.id == row.id).values(**values))
        if event:
            detail = _detail(event, row.severity, exception_id)
            changes.append(
                FindingChange(
                    row.id,
                    fp,
                    event,
                    values.get("severity", row.severity),
                    values.get("risk", row.risk),
                    item.rule.id,
                    item.title,
                    item.asset_name,
                    detail,
                )
            )

    if new_rows:
        session.execute(insert(finding_table), new_rows)  # executemany; ids looked up after (see assets.py)
        new_ids = _ids_by_fingerprint(session, [values["fingerprint"] for values in new_rows])
        for item, values in zip(new_items, new_rows, strict=True):
            row_id = new_ids[values["fingerprint"]]
            for event, detail in (("new", {}), ("accepted", {"exception": values["exception_id"]})):
                if event == "accepted" and values["status"] != FindingStatus.ACCEPTED.value:
                    continue
                changes.append(
                    FindingChange(
                        row_id,
                        values["fingerprint"],
                        event,
                        values["severity"],
                        values["risk"],
                        item.rule.id,
                        item.title,
                        item.asset_name,
                        detail,
                    )
                )
            existing[values["fingerprint"]] = _Existing(row_id, "", values["content_hash"], "", 0, 0, None, None)

    seen = {existing[fp].id: stated[fp] for fp in by_fp}
    changed_hashes = {existing[fp].id: stated[fp] for fp in by_fp if existing[fp].scope_hash not in (None, stated[fp])}
    dropped = _sightings(session, scope_id, run_id, seen, changed_hashes)
    result = Reconciled(changes)
    if complete:
        result = _resolve(session, scope_id, dropped, judged or Judged(), now, result)
    _touch(session, seen, now)
    record_events(session, run_id, result.changes, now)
    return result


def _detail(event: str, previous_severity: str, exception_id: int | None) -> dict[str, Any]:
    """What a history event records besides its name: the severity before a regression; for an
    acceptance, the exception that accepts it (the diff and the announcements name it)."""
    if event == "regressed":
        return {"previous_severity": previous_severity}
    if event == "accepted" and exception_id is not None:
        return {"exception": exception_id}
    return {}


def _candidate(item: Produced, fingerprint: str, aliases: Mapping[int, tuple[str, ...]]) -> Candidate:
    return Candidate(fingerprint, item.rule.id, item.asset.key, item.asset_name, aliases.get(item.asset_id, ()),
                     item.asset_attributes, item.evidence, item.asset_id)


@dataclass(frozen=True, slots=True)
class _Existing:
    id: int
    status: str
    content_hash: str
    severity: str
    severity_rank: int
    risk: int
    exception_id: int | None
    scope_hash: str | None  # what this scope stated last time; None when it never stated it


def _existing(session: Session, scope_id: int, fingerprints: Sequence[str]) -> dict[str, _Existing]:
    """The stored findings among ``fingerprints``, with what this scope stated of each last time.

    First everything the scope stated before, in one indexed join (on a re-run that is all of it),
    then the rest by fingerprint: findings new to this scope, stored by another scope or not at all.
    """
    sighting = finding_sighting_table.alias("mine")
    F = finding_table.c
    columns = (
        F.id,
        F.fingerprint,
        F.status,
        F.content_hash,
        F.severity,
        F.severity_rank,
        F.risk,
        F.exception_id,
        sighting.c.content_hash.label("scope_hash"),
    )
    wanted = set(fingerprints)
    found: dict[str, _Existing] = {}

    def read(stmt: Select[Any]) -> None:
        for fid, fp, status, content, severity, rank, risk, exception_id, scope_hash in run_raw(session, stmt):
            if fp in wanted:
                found[fp] = _Existing(fid, status, content, severity, rank, risk, exception_id, scope_hash)

    read(select(*columns).join(sighting, sighting.c.finding_id == F.id).where(sighting.c.scope_id == scope_id))
    joined = (sighting.c.finding_id == F.id) & (sighting.c.scope_id == scope_id)
    for part in chunks([fp for fp in fingerprints if fp not in found]):
        read(select(*columns).outerjoin(sighting, joined).where(F.fingerprint.in_(part)))
    return found


def _evidence(session: Session, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for part in chunks(sorted(ids)):
        stmt = select(finding_table.c.id, finding_table.c.evidence).where(finding_table.c.id.in_(part))
        out.update((r.id, r.evidence) for r in session.execute(stmt))
    return out


def _new_row(
    item: Produced,
    fp: str,
    status: FindingStatus,
    exception_id: int | None,
    now: datetime,
    digest: str,
) -> dict[str, Any]:
    """``digest``: its stated hash, which is its content hash while this scope alone states it."""
    references = [r.as_dict() for r in item.rule.all_references]
    extra = item.evidence.get("references", ())  # a scanner's own check ids (CIS, Trivy AVD)
    for ref in extra:  # each once: a report may cite one check id twice
        if isinstance(ref, dict) and ref not in references:
            references.append(ref)
    return {
        "fingerprint": fp,
        "rule_id": item.rule.id,
        "asset_id": item.asset_id,
        "discriminator": item.discriminator,
        "title": item.title,
        "severity": item.severity.value,
        "severity_rank": item.severity.rank,
        "phase": item.rule.phase.value,
        "category": item.rule.category.value,
        "references": references,
        "evidence": dict(item.evidence),
        "content_hash": digest,
        "status": status.value,
        "risk": BASE_RISK[item.severity],
        "risk_factors": {},
        "first_seen": now,
        "last_seen": now,
        "exception_id": exception_id,
    }


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
    session: Session,
    scope_id: int,
    run_id: int,
    seen: dict[int, str],
    changed: dict[int, str],
) -> _Dropped:
    """Record what the scope states now; returns what it stated before and no longer does."""
    previous = {
        r.finding_id
        for r in session.execute(
            select(finding_sighting_table.c.finding_id).where(finding_sighting_table.c.scope_id == scope_id)
        )
    }
    session.execute(
        update(finding_sighting_table).where(finding_sighting_table.c.scope_id == scope_id).values(last_run_id=run_id)
    )
    added = sorted(seen.keys() - previous)
    if added:
        session.execute(
            insert(finding_sighting_table),
            [{"finding_id": f, "scope_id": scope_id, "last_run_id": run_id, "content_hash": seen[f]} for f in added],
        )
    for finding_id, digest in changed.items():
        session.execute(
            update(finding_sighting_table)
            .where(finding_sighting_table.c.scope_id == scope_id, finding_sighting_table.c.finding_id == finding_id)
            .values(content_hash=digest)
        )
    return _Dropped(sorted(previous - seen.keys()), len(previous))


@dataclass(frozen=True, slots=True)
class _Dropped:
    ids: list[int]  # findings the scope stated before and not in this run
    sighted: int  # how many the scope stated before: the guard's share is of these


def _resolve(
    session: Session, scope_id: int, dropped: _Dropped, judged: Judged, now: datetime, out: Reconciled
) -> Reconciled:
    """A complete run forgets what it no longer states, within its coverage; a finding no scope still
    states is resolved, unless the guard holds it. What stays keeps its sighting, so it stays open."""
    covered = _covered(session, dropped.ids, judged.coverage)
    out.not_judged = len(dropped.ids) - len(covered)
    others = _sighted_elsewhere(session, scope_id, covered)
    would_resolve = _still_open(session, [f for f in covered if f not in others])
    held: set[int] = set()
    if (
        not (judged.confirmed or judged.source_changed)
        and len(would_resolve) >= GUARD_MIN
        and len(would_resolve) > GUARD_SHARE * dropped.sighted
    ):
        held = would_resolve
    out.held = len(held)
    forget = [f for f in covered if f not in held]
    for part in chunks(forget):
        session.execute(
            delete(finding_sighting_table).where(
                finding_sighting_table.c.scope_id == scope_id, finding_sighting_table.c.finding_id.in_(part)
            )
        )
    resolved = sorted(would_resolve - held)
    for part in chunks(resolved):
        session.execute(
            update(finding_table)
            .where(finding_table.c.id.in_(part))
            .values(status=FindingStatus.RESOLVED.value, resolved_at=now)
        )
    if resolved:
        out.changes.extend(changes_for(session, resolved, "resolved"))
    return out


def _covered(session: Session, ids: Sequence[int], coverage: Coverage) -> list[int]:
    """The dropped findings the run's coverage includes: only those can be forgotten by it."""
    if coverage.is_full or not ids:
        return list(ids)
    if not coverage.resolves:
        return []
    F, A = finding_table.c, asset_table.c
    covered: list[int] = []
    for part in chunks(ids):
        stmt = (
            select(F.id, F.rule_id, F.severity, F.evidence, A.kind, A.attributes)
            .join(asset_table, A.id == F.asset_id)
            .where(F.id.in_(part))
        )
        for fid, rule_id, severity, evidence, kind, attributes in session.execute(stmt):
            namespace = _namespace(kind, attributes)
            if coverage.covers(rule_id, Severity(severity), evidence or {}, namespace):
                covered.append(fid)
    return covered


def _namespace(kind: str, attributes: Mapping[str, Any] | None) -> str | None:
    """The Kubernetes namespace an asset lives in (a Namespace is in itself); None for everything else."""
    attrs = attributes or {}
    if kind == AssetKind.NAMESPACE.value:
        return str(attrs.get("name") or "") or None
    return str(attrs.get("namespace") or "") or None


def _sighted_elsewhere(session: Session, scope_id: int, ids: Sequence[int]) -> set[int]:
    """Findings another scope still states: they stay open whatever this run says."""
    found: set[int] = set()
    for part in chunks(ids):
        found.update(
            session.execute(
                select(finding_sighting_table.c.finding_id).where(
                    finding_sighting_table.c.finding_id.in_(part), finding_sighting_table.c.scope_id != scope_id
                )
            ).scalars()
        )
    return found


def _still_open(session: Session, ids: Sequence[int]) -> set[int]:
    """Those of ``ids`` not already resolved."""
    found: set[int] = set()
    for part in chunks(ids):
        stmt = select(finding_table.c.id).where(
            finding_table.c.id.in_(part), finding_table.c.status != FindingStatus.RESOLVED.value
        )
        found.update(int(fid) for fid in session.execute(stmt).scalars())
    return found
