"""What a VEX export states and what a VEX import covered: accepted vulnerabilities read from the store."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlmodel import Session

from posture.model import asset_table, exception_table, finding_table
from posture.rules.scanner import VULN
from posture.store.exceptions import aliases_of, in_force
from posture.taxonomy import FindingStatus


@dataclass(frozen=True, slots=True)
class AcceptedVuln:
    """One accepted vulnerability finding with the exception that accepts it and the asset it is on."""

    exception_id: int
    owner: str
    reason: str
    justification: str | None
    created_at: datetime
    expires_at: datetime | None
    until_fix: bool
    vulnerability: str
    aliases: tuple[str, ...]
    package: str
    installed: str
    asset_kind: str
    asset_key: str
    asset_name: str
    asset_aliases: tuple[str, ...]


def accepted_vulnerabilities(session: Session, now: datetime) -> list[AcceptedVuln]:
    """Every accepted VULN finding whose exception is in force at ``now``, by exception then finding."""
    X, F, A = exception_table.c, finding_table.c, asset_table.c
    rows = session.execute(
        select(X.id, X.owner, X.reason, X.justification, X.created_at, X.expires_at, X.until_fix,
               X.vuln_id, X.aliases.label("stated_aliases"), F.evidence, A.id.label("asset_id"), A.kind, A.key, A.name)
        .join(finding_table, F.exception_id == X.id)
        .join(asset_table, A.id == F.asset_id)
        .where(in_force(now), F.status == FindingStatus.ACCEPTED.value, F.rule_id == VULN)
        .order_by(X.id, F.id)
    ).all()
    asset_aliases = aliases_of(session, {r.asset_id for r in rows})
    out: list[AcceptedVuln] = []
    for r in rows:
        evidence = r.evidence or {}
        vulnerability = evidence.get("vulnerability")
        if not isinstance(vulnerability, str) or not vulnerability:
            continue
        known = evidence.get("aliases")
        # the exception names this vulnerability (it covers the finding), so its stated aliases are the flaw's too
        stated = list(r.stated_aliases or ()) + ([r.vuln_id] if r.vuln_id else [])
        aliases = {a for a in (*(known if isinstance(known, list) else ()), *stated) if isinstance(a, str)}
        out.append(AcceptedVuln(
            r.id, r.owner, r.reason, r.justification, r.created_at, r.expires_at, bool(r.until_fix), vulnerability,
            tuple(sorted(aliases - {vulnerability})),
            str(evidence.get("package") or ""), str(evidence.get("installed") or ""),
            r.kind, r.key, r.name, asset_aliases.get(r.asset_id, ()),
        ))
    return out


def covered_by(session: Session, exception_ids: Collection[int]) -> int:
    """How many findings the given exceptions hold accepted now."""
    if not exception_ids:
        return 0
    F = finding_table.c
    count = session.execute(
        select(func.count()).where(F.exception_id.in_(sorted(exception_ids)), F.status == FindingStatus.ACCEPTED.value)
    ).scalar_one()
    return int(count)


def document_exceptions(session: Session, source: str, document: str) -> list[int]:
    """The ids of the exceptions in force that one applied document (a VEX document, a file) states."""
    X = exception_table.c
    return list(session.execute(
        select(X.id).where(X.source == source, X.source_key.startswith(f"{document}#", autoescape=True),
                           X.revoked_at.is_(None))
    ).scalars())
