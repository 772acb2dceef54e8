"""What the formula reads from the store, and how a finding is known to be scored already.

Every stored ``risk_factors`` starts with a ``scored`` entry: a hash of everything its risk was computed
from (the formula version, the finding's content hash, the exploitability data loaded, the asset's
context) and the risk that gave. A finding whose inputs hash the same is skipped without reading
its evidence, so a quiet re-run over 100,000 findings reads a few columns per finding and parses
no JSON; only new and changed findings have their evidence facts extracted.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, Text, case, cast, func, literal_column, null, select
from sqlmodel import Session

from posture.model import EpssScore, KevEntry, Meta, finding_table
from posture.scoring.formula import Context, json_number
from posture.store.assets import chunks
from posture.store.raw import json_text, run_raw
from posture.taxonomy import FindingStatus

F = finding_table.c
kev_table: Table = KevEntry.__table__  # type: ignore[attr-defined]
epss_table: Table = EpssScore.__table__  # type: ignore[attr-defined]

#: Bumped whenever the formula or the explanation changes: every finding is then re-scored once.
FORMULA_VERSION = "3"
_EXPLOITABILITY_KEY = "exploitability_version"
#: ``{"scored":"`` is 11 characters; the entry's value is 16 hex digits, "/", the risk.
_HEADER_AT, _HEADER_LEN = 12, 24


# -- the "scored" entry ------------------------------------------------------------------------
def context_signature(context: Context, exploitability: str) -> str:
    """Eight hex digits for everything but the finding's own content: formula, exploitability data, context."""
    raw = (f"{FORMULA_VERSION}|{exploitability}|{context.use.value}|{int(context.exposed)}|"
           f"{','.join(sorted(context.privileges))}|{context.prevalence}")
    return hashlib.blake2b(raw.encode(), digest_size=4).hexdigest()


def inputs_hash(content_hash: str, context_sig: str) -> str:
    """16 hex digits: 32 bits of the finding's content hash (its evidence, severity, title) and 32 of
    the context's; concatenated rather than hashed, because it runs once per finding and run."""
    return content_hash[:8] + context_sig


def header(inputs: str, risk: int) -> str:
    return f'{{"scored":"{inputs}/{risk}",'


def parse_header(prefix: str | None) -> tuple[str, int] | None:
    """``(inputs hash, risk)`` from the first characters of a stored explanation, if it has them."""
    if not prefix or len(prefix) < 18 or prefix[16] != "/":
        return None
    digits = prefix[17:].split('"', 1)[0]
    return (prefix[:16], int(digits)) if digits.isdigit() else None


# -- exploitability data -----------------------------------------------------------------------
def exploitability_version(session: Session) -> str:
    row = session.get(Meta, _EXPLOITABILITY_KEY)
    return row.value if row is not None else "none"


def bump_exploitability_version(session: Session) -> None:
    """Called when KEV or EPSS data is replaced: every finding's inputs change, so all are re-scored."""
    row = session.get(Meta, _EXPLOITABILITY_KEY)
    if row is None:
        session.add(Meta(key=_EXPLOITABILITY_KEY, value=secrets.token_hex(6)))
    else:
        row.value = secrets.token_hex(6)
    session.flush()


def exploitability(session: Session, cves: set[str]) -> tuple[set[str], dict[str, float]]:
    """The KEV catalogue (small) and the EPSS scores of the named vulnerabilities, rounded as documented."""
    kev = set(session.execute(select(kev_table.c.cve)).scalars())
    epss: dict[str, float] = {}
    for part in chunks(sorted(cves), 900):
        stmt = select(epss_table.c.cve, epss_table.c.epss).where(epss_table.c.cve.in_(part))
        epss.update((cve, round(value, 3)) for cve, value in session.execute(stmt).all())
    return kev, epss


def in_kev(kev: set[str], vuln: str | None, aliases: list[Any] | None) -> bool:
    if vuln in kev:
        return True
    return bool(aliases and kev) and any(isinstance(a, str) and a in kev for a in aliases or ())


# -- findings ----------------------------------------------------------------------------------
#: The four evidence values the formula reads, as one JSON array, parsed once per row by the database.
_FACTS_SQL = {
    "sqlite": "json_extract(finding.evidence, '$.cvss.score', '$.fix_available', '$.vulnerability', '$.aliases')",
    "postgresql": "json_build_array(finding.evidence #> '{cvss,score}', finding.evidence -> 'fix_available', "
                  "finding.evidence -> 'vulnerability', finding.evidence -> 'aliases')::text",
}
_NULL_FACTS = frozenset({"[null,null,null,null]", "[null, null, null, null]"})  # SQLite's and PostgreSQL's spelling
Facts = tuple[float | None, bool | None, str | None, Any]
NO_FACTS: Facts = (None, None, None, None)


def _facts_column(session: Session) -> ColumnElement[str]:
    return literal_column(_FACTS_SQL[session.get_bind().dialect.name])


def finding_rows(session: Session) -> list[Any]:
    """(id, asset, severity, status, risk, content hash, area, phase, ``scored`` prefix, facts) of every
    unresolved finding: no evidence, no explanation beyond its first characters.

    ``facts`` (for :func:`parse_facts`) is read in the same scan only for findings never scored: new
    ones, all of them in a baseline run, so that run scans the table once; it is None for the others,
    whose evidence :func:`evidence_facts` reads only if their inputs changed.
    """
    stored = cast(F.risk_factors, Text)
    prefix = func.substr(stored, _HEADER_AT, _HEADER_LEN)
    unscored = func.substr(stored, 1, _HEADER_AT - 1) != '{"scored":"'
    facts = case((unscored, _facts_column(session)), else_=null())
    stmt = select(F.id, F.asset_id, F.severity, F.status, F.risk, F.content_hash, F.category, F.phase, prefix,
                  facts).where(F.status != FindingStatus.RESOLVED.value)
    return run_raw(session, stmt)


def evidence_facts(session: Session, ids: Sequence[int], everything: bool) -> dict[int, Facts]:
    """CVSS score, fix available, vulnerability id and aliases of the given findings (or of every
    unresolved one when most are wanted: one scan beats thousands of lookups)."""
    extract = _facts_column(session)
    out: dict[int, Facts] = {}
    if everything:
        stmt = select(F.id, extract).where(F.status != FindingStatus.RESOLVED.value)
        out.update((fid, parse_facts(text)) for fid, text in run_raw(session, stmt))
        return out
    for part in chunks(sorted(ids), 900):
        stmt = select(F.id, extract).where(F.id.in_(part))
        out.update((fid, parse_facts(text)) for fid, text in run_raw(session, stmt))
    return out


def parse_facts(text: str | None) -> Facts:
    """Each value None unless of the expected type: evidence comes from scanners' reports."""
    if text is None or text in _NULL_FACTS:
        return NO_FACTS
    values = json_text(text)
    if not isinstance(values, list) or len(values) != 4:
        return NO_FACTS
    cvss, fix, vuln, aliases = values
    return (
        json_number(cvss),
        fix if isinstance(fix, bool) else None,
        vuln if isinstance(vuln, str) else None,
        aliases if isinstance(aliases, list) else None,
    )
