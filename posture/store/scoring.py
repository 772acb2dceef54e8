"""Scoring the whole estate in bulk: load what the formula needs, write risks, keep a snapshot.

Every finding that is not resolved is re-scored after each run, not only the ones the run saw:
scores join across scopes (a Docker run that starts a privileged container raises the risk of the
CVEs a scanner report found in its image), so a per-scope re-score would leave stale risks.

Budget: 100,000 findings in well under 3 s on SQLite, so

* evidence is never loaded whole (a CVE's description is kilobytes): the four values the formula
  reads are extracted by the database as text;
* a finding's factors are serialized once per distinct (facts, context) pair and compared as text
  with what is stored, so an unchanged finding costs no JSON work and no UPDATE;
* the estate graph and every asset's context are built once (``posture.scoring.estate``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Table,
    Text,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.types import JSON
from sqlmodel import Session

from posture.model import (
    EpssScore,
    KevEntry,
    alias_table,
    asset_table,
    finding_event_table,
    finding_table,
    relation_table,
    score_table,
)
from posture.records import AssetKind
from posture.scoring.estate import DIMENSIONS, OWNED_BY, POINTS_TO, RUNS, AssetNode, Edge, Estate
from posture.scoring.formula import Context, FindingFacts, score_json
from posture.scoring.rollup import Tally, band_of, merge_tallies
from posture.store.assets import chunks
from posture.store.history import FindingChange, record_events
from posture.store.raw import run_raw
from posture.taxonomy import FindingStatus, Severity

F = finding_table.c
kev_table: Table = KevEntry.__table__  # type: ignore[attr-defined]
epss_table: Table = EpssScore.__table__  # type: ignore[attr-defined]

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


@dataclass(frozen=True)
class ScoringSettings:
    team_key: str = "team"
    #: A finding whose risk rises by at least this much (without a severity change) is "regressed".
    regression_delta: int = 10


@dataclass
class ScoringOutcome:
    """What one scoring pass found: the snapshot, risk regressions, and each finding's asset and groups."""

    snapshot: dict[str, Any]
    score: float
    grade: str
    regressions: list[FindingChange]
    estate: Estate
    finding_asset: dict[int, int] = field(default_factory=dict)
    risks: dict[int, int] = field(default_factory=dict)

    def groups_of(self, finding_id: int) -> dict[str, frozenset[str]]:
        asset_id = self.finding_asset.get(finding_id)
        return dict(self.estate.groups(asset_id)) if asset_id is not None else {}


# -- loading ---------------------------------------------------------------------------------
def load_estate(session: Session, team_key: str = "team") -> Estate:
    """Live assets and their ``runs``/``owned-by``/``points-to`` edges, targets resolved through aliases."""
    A = asset_table.c
    head = (A.id, A.kind, A.key, A.name, A.parent_kind, A.parent_key)
    live = A.gone_at.is_(None)
    nodes: list[AssetNode] = []
    full = select(*head, cast(A.attributes, Text)).where(live, A.kind.in_(_FULL_ATTRIBUTES))
    for r in run_raw(session, full):
        attributes = _json_text(r[6])
        nodes.append(AssetNode(r[0], r[1], r[2], r[3], r[4], r[5], attributes if isinstance(attributes, dict) else {}))
    image_user = A.attributes["user"].as_string()
    image_labels = A.attributes["labels"].as_string()
    for r in run_raw(session, select(*head, image_user, image_labels).where(live, A.kind == AssetKind.IMAGE.value)):
        attrs: dict[str, Any] = {}
        if r[6] is not None:
            attrs["user"] = r[6]
        labels = _json_text(r[7])
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
    return Estate(nodes, edges, team_key)


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


def _json_text(text: str | None) -> Any:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None




#: The four evidence values the formula reads, as one JSON array, parsed once per row by the database.
_FACTS_SQL = {
    "sqlite": "json_extract(finding.evidence, '$.cvss.score', '$.fix_available', '$.vulnerability', '$.aliases')",
    "postgresql": "json_build_array(finding.evidence #> '{cvss,score}', finding.evidence -> 'fix_available', "
                  "finding.evidence -> 'vulnerability', finding.evidence -> 'aliases')::text",
}


def _finding_rows(session: Session) -> list[Any]:
    """(id, asset, severity, status, risk, factors text, [CVSS, fix, vulnerability, aliases], area, phase)
    of every unresolved finding."""
    facts: ColumnElement[str] = literal_column(_FACTS_SQL[session.get_bind().dialect.name])
    stmt = select(F.id, F.asset_id, F.severity, F.status, F.risk, cast(F.risk_factors, Text), facts, F.category,
                  F.phase).where(
        F.status != FindingStatus.RESOLVED.value
    )
    return run_raw(session, stmt)


def _evidence_facts(text: str | None) -> tuple[float | None, bool | None, str | None, Any]:
    """CVSS score, fix available, vulnerability id and aliases, each None unless of the expected type."""
    values = _json_text(text)
    if not isinstance(values, list) or len(values) != 4:
        return None, None, None, None
    cvss, fix, vuln, aliases = values
    return (
        float(cvss) if isinstance(cvss, (int, float)) and not isinstance(cvss, bool) else None,
        fix if isinstance(fix, bool) else None,
        vuln if isinstance(vuln, str) else None,
        aliases if isinstance(aliases, list) else None,
    )


def _exploitability(session: Session, cves: set[str]) -> tuple[set[str], dict[str, float]]:
    """The KEV catalogue (small) and the EPSS scores of the named vulnerabilities, rounded as documented."""
    kev = set(session.execute(select(kev_table.c.cve)).scalars())
    epss: dict[str, float] = {}
    for part in chunks(sorted(cves), 900):
        stmt = select(epss_table.c.cve, epss_table.c.epss).where(epss_table.c.cve.in_(part))
        epss.update((cve, round(value, 3)) for cve, value in session.execute(stmt).all())
    return kev, epss


def _in_kev(kev: set[str], vuln: str | None, aliases: list[Any] | None) -> bool:
    if vuln in kev:
        return True
    return bool(aliases and kev) and any(isinstance(a, str) and a in kev for a in aliases or ())


# -- writing ---------------------------------------------------------------------------------
def _write(session: Session, updates: Sequence[tuple[int, str, int]]) -> None:
    """(risk, factors JSON text, id) per changed finding, one driver-level executemany.

    The factors are bound as the exact text they were compared with (orjson output), not
    re-serialized; PostgreSQL casts that text to JSON.
    """
    if not updates:
        return
    dialect = session.get_bind().dialect
    factors: ColumnElement[Any] = bindparam("b_factors", type_=Text)
    if dialect.name != "sqlite":
        factors = cast(factors, JSON)
    stmt = update(finding_table).where(F.id == bindparam("b_id")).values(risk=bindparam("b_risk"),
                                                                           risk_factors=factors)
    compiled = stmt.compile(dialect=dialect)
    names = {"b_risk": 0, "b_factors": 1, "b_id": 2}
    if compiled.positional:
        order = [names[n] for n in compiled.positiontup or ()]
        params: Any = [tuple(u[i] for i in order) for u in updates]
    else:
        params = [{"b_risk": u[0], "b_factors": u[1], "b_id": u[2]} for u in updates]
    session.connection().exec_driver_sql(compiled.string, params)


def score_estate(
    session: Session,
    *,
    run_id: int | None,
    now: datetime,
    settings: ScoringSettings,
    changes: Iterable[FindingChange] = (),
) -> ScoringOutcome:
    """Re-score every unresolved finding, record risk regressions, write the run's score snapshot.

    ``changes`` are the run's own state changes: their findings are not also reported as risk
    regressions (a new finding is new, not regressed), and their in-memory risk is brought up to date
    for the notification outbox that reads them next.
    """
    changes = list(changes)
    estate = load_estate(session, settings.team_key)
    rows = [(*r[:6], *_evidence_facts(r[6]), r[7], r[8]) for r in _finding_rows(session)]
    kev, epss = _exploitability(session, {r[8] for r in rows if r[8]})
    changed_ids = {c.finding_id for c in changes}
    # Each asset's context, and a small number per distinct context: memo keys hash ints, not dataclasses.
    contexts: dict[int, tuple[Context, int]] = {}
    numbers: dict[Context, int] = {}
    memo: dict[tuple[Any, ...], tuple[int, str]] = {}
    updates: list[tuple[int, str, int]] = []
    risks: dict[int, int] = {}
    finding_asset: dict[int, int] = {}
    regressed: list[tuple[int, int, int]] = []
    open_status = FindingStatus.OPEN.value
    counted: dict[tuple[int, str, str, str, int], int] = {}  # open findings per (asset, area, phase, severity, risk)
    accepted = 0
    for fid, asset_id, severity, status, old_risk, old_text, cvss, fix, vuln, aliases, category, phase in rows:
        known = contexts.get(asset_id)
        if known is None:
            context = estate.context(asset_id)
            known = contexts[asset_id] = (context, numbers.setdefault(context, len(numbers)))
        in_kev = _in_kev(kev, vuln, aliases) if (vuln or aliases) else False
        probability = epss.get(vuln) if vuln else None
        key = (severity, cvss, fix, in_kev, probability, known[1])
        found = memo.get(key)
        if found is None:
            facts = FindingFacts(Severity(severity), cvss, in_kev, probability, fix)
            found = memo[key] = score_json(facts, known[0])
        risk, text = found
        risks[fid] = risk
        finding_asset[fid] = asset_id
        if status == open_status:
            tally_key = (asset_id, category, phase, severity, risk)
            counted[tally_key] = counted.get(tally_key, 0) + 1
        else:
            accepted += 1
        if risk != old_risk or text != old_text:
            updates.append((risk, text, fid))
            if (status == open_status and old_text not in (None, "{}") and fid not in changed_ids
                    and risk >= old_risk + settings.regression_delta):
                regressed.append((fid, old_risk, risk))
    _write(session, updates)
    for change in changes:
        change.risk = risks.get(change.finding_id, change.risk)
    if run_id is not None:
        _refresh_event_risks(session, run_id)
    regressions = _record_regressions(session, run_id, regressed, now)
    snapshot = rollups(estate, counted, accepted)
    estate_summary = snapshot["estate"]
    session.execute(
        insert(score_table).values(
            run_id=run_id, taken_at=now, score=estate_summary["score"], grade=estate_summary["grade"], counts=snapshot
        )
    )
    return ScoringOutcome(snapshot, estate_summary["score"], estate_summary["grade"], regressions, estate,
                          finding_asset, risks)


def _refresh_event_risks(session: Session, run_id: int) -> None:
    """The pipeline records a run's events with the base risk; give them the scored one."""
    E = finding_event_table.c
    scored = select(F.risk).where(F.id == E.finding_id).scalar_subquery()
    session.execute(update(finding_event_table).where(E.run_id == run_id).values(risk=scored))


def _record_regressions(
    session: Session, run_id: int | None, regressed: Sequence[tuple[int, int, int]], now: datetime
) -> list[FindingChange]:
    if not regressed:
        return []
    labels: dict[int, Any] = {}
    for part in chunks([fid for fid, _old, _new in regressed]):
        stmt = (
            select(F.id, F.fingerprint, F.severity, F.rule_id, F.title, asset_table.c.name)
            .join(asset_table, asset_table.c.id == F.asset_id)
            .where(F.id.in_(part))
        )
        labels.update((r.id, r) for r in session.execute(stmt))
    out = [
        FindingChange(fid, labels[fid].fingerprint, "regressed", labels[fid].severity, new, labels[fid].rule_id,
                      labels[fid].title, labels[fid].name, {"cause": "risk", "previous_risk": old})
        for fid, old, new in regressed
        if fid in labels
    ]
    record_events(session, run_id, out, now)
    return out


# -- roll-ups --------------------------------------------------------------------------------
def rollups(estate: Estate, counted: Mapping[tuple[int, str, str, str, int], int], accepted: int) -> dict[str, Any]:
    """Estate, NIST area, phase and structural groups (namespace, cluster, host, registry, team).

    ``counted`` holds the open findings per (asset, area, phase, severity, risk), counted while
    scoring; each asset's tally is then spread over the asset's groups.
    """
    by_asset: dict[int, Tally] = defaultdict(Tally)
    by_category: dict[str, Tally] = defaultdict(Tally)
    by_phase: dict[str, Tally] = defaultdict(Tally)
    for (asset_id, category, phase, severity, risk), count in counted.items():
        band = band_of(risk)
        for tally in (by_asset[asset_id], by_category[category], by_phase[phase]):
            tally.add_group(band, severity, count, risk, risk * count)
    assets = estate.asset_count
    groups: dict[str, dict[str, Tally]] = {dim: defaultdict(Tally) for dim in DIMENSIONS}
    for asset_id, tally in by_asset.items():
        for dim, keys in estate.groups(asset_id).items():
            for key in keys:
                groups[dim][key].absorb(tally)
    members = estate.members()
    estate_tally = merge_tallies(by_asset.values())
    return {
        "formula": 1,
        "estate": {**estate_tally.summary(assets), "accepted": accepted},
        "groups": {
            "category": {k: t.summary(assets) for k, t in sorted(by_category.items())},
            "phase": {k: t.summary(assets) for k, t in sorted(by_phase.items())},
            **{
                dim: {k: t.summary(members.get((dim, k), 1)) for k, t in sorted(groups[dim].items())}
                for dim in DIMENSIONS
            },
        },
    }


def asset_rollup(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Per-asset roll-up (open findings, worst and total risk), riskiest first: the one dimension too
    large to keep in every snapshot, so it is computed on demand."""
    stmt = (
        select(asset_table.c.kind, asset_table.c.name, func.count().label("open"), func.max(F.risk).label("max_risk"),
               func.sum(F.risk).label("risk_sum"))
        .join(asset_table, asset_table.c.id == F.asset_id)
        .where(F.status == FindingStatus.OPEN.value)
        .group_by(asset_table.c.id, asset_table.c.kind, asset_table.c.name)
        .order_by(func.max(F.risk).desc(), func.sum(F.risk).desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in session.execute(stmt)]


def latest_snapshots(session: Session, limit: int = 2) -> list[dict[str, Any]]:
    """The newest score snapshots, newest first (trend, and "did a scope cross a threshold")."""
    S = score_table.c
    stmt = select(S.id, S.run_id, S.taken_at, S.score, S.grade, S.counts).order_by(S.taken_at.desc(), S.id.desc())
    return [dict(r._mapping) for r in session.execute(stmt.limit(limit))]
