"""Scoring the whole estate in bulk: what changed is re-scored, risks are written, a snapshot kept.

Every unresolved finding is considered after each run, not only the ones the run saw: scores join
across scopes (a Docker run that starts a privileged container raises the risk of the CVEs a
scanner report found in its image), so a per-scope re-score would leave stale risks.

Budget: 100,000 findings well under 3 s on SQLite, so

* a finding whose inputs are unchanged (its ``scored`` entry, :mod:`posture.store.scoring_inputs`)
  is skipped after reading a few columns; only new and changed findings have their evidence facts
  extracted (by the database, four values per finding, never the whole evidence);
* a finding found new by the run (every finding of a baseline) has its facts read in the same
  scan as the rest, so a baseline scans the table once;
* what is stored is the risk's inputs, a few dozen bytes, built once per distinct (facts, context)
  pair (:func:`posture.scoring.formula.scored_inputs`); the explanation is recomputed from them
  when a finding is shown;
* the estate graph and every asset's context are built once (:mod:`posture.scoring.estate`), and
  roll-ups are counted in the same pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Text, bindparam, cast, insert, select, update
from sqlalchemy.types import JSON
from sqlmodel import Session

from posture.config import Settings
from posture.gcpause import gc_paused
from posture.model import asset_table, finding_event_table, finding_table, score_table
from posture.scoring.estate import Estate
from posture.scoring.formula import Context, FindingFacts, scored_inputs
from posture.scoring.rollup import BAND_OF_RISK, snapshot_counts
from posture.store.assets import chunks
from posture.store.estate_graph import load_estate
from posture.store.history import FindingChange, record_events
from posture.store.scoring_inputs import (
    NO_FACTS,
    Facts,
    context_signature,
    evidence_facts,
    exploitability,
    exploitability_version,
    finding_rows,
    header,
    in_kev,
    inputs_hash,
    parse_facts,
    parse_header,
)
from posture.taxonomy import FindingStatus, Severity

F = finding_table.c
_OPEN = FindingStatus.OPEN.value
#: The indexes a risk update moves entries in (the findings views' risk and severity orders).
_RISK_INDEXES = tuple(i for i in finding_table.indexes if any(c.name == "risk" for c in i.columns))


@dataclass(frozen=True)
class ScoringSettings:
    team_label: str = "team"
    #: A finding whose risk rises by at least this much (without a severity change) is "regressed".
    regression_delta: int = 10

    @classmethod
    def of(cls, settings: Settings) -> ScoringSettings:
        """What scoring reads of the configuration (a run's stages and changes settled outside a run alike)."""
        return cls(settings.team_label, settings.thresholds.regression_delta)


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
    rescored: int = 0

    def groups_of(self, finding_id: int) -> dict[str, frozenset[str]]:
        asset_id = self.finding_asset.get(finding_id)
        return dict(self.estate.groups(asset_id)) if asset_id is not None else {}


class _Stale(NamedTuple):
    """A finding whose inputs changed since it was scored (or that was never scored)."""

    id: int
    asset_id: int
    severity: str
    status: str
    category: str
    phase: str
    context: Context
    context_number: int
    inputs: str
    previous: int | None  # the risk it was last scored at
    facts: Facts | None  # its evidence facts when read in the first scan (a finding never scored)


class _Tallies:
    """Open findings per (asset, area, phase, severity, band): [count, max risk, risk sum]."""

    def __init__(self) -> None:
        self.counted: dict[tuple[int, str, str, str, str], list[int]] = {}
        self.accepted = 0

    def add(self, asset_id: int, category: str, phase: str, severity: str, status: str, risk: int) -> None:
        if status != _OPEN:
            self.accepted += 1
            return
        key = (asset_id, category, phase, severity, BAND_OF_RISK[risk])
        tally = self.counted.get(key)
        if tally is None:
            self.counted[key] = [1, risk, risk]
        else:
            tally[0] += 1
            tally[2] += risk
            if risk > tally[1]:
                tally[1] = risk


def score_estate(
    session: Session,
    *,
    run_id: int | None,
    now: datetime,
    settings: ScoringSettings,
    changes: Iterable[FindingChange] = (),
) -> ScoringOutcome:
    """Re-score what changed, record risk regressions, write the run's score snapshot.

    ``changes`` are the run's own state changes: their findings are not also reported as risk
    regressions (a new finding is new, not regressed), and their in-memory risk is brought up to date
    for the notification outbox that reads them next.
    """
    with gc_paused():  # bulk work: see posture.gcpause (a run's stages after reconcile are already inside one)
        return _score_estate(session, run_id=run_id, now=now, settings=settings, changes=list(changes))


def _score_estate(
    session: Session, *, run_id: int | None, now: datetime, settings: ScoringSettings, changes: list[FindingChange]
) -> ScoringOutcome:
    estate = load_estate(session, settings.team_label)
    exploit_version = exploitability_version(session)
    contexts: dict[int, tuple[Context, int, str]] = {}
    numbers: dict[Context, int] = {}
    risks: dict[int, int] = {}
    finding_asset: dict[int, int] = {}
    stale: list[_Stale] = []
    tallies = _Tallies()
    rows = finding_rows(session)
    for fid, asset_id, severity, status, risk, content, category, phase, prefix, facts in rows:
        known = contexts.get(asset_id)
        if known is None:
            context = estate.context(asset_id)
            known = contexts[asset_id] = (context, numbers.setdefault(context, len(numbers)),
                                          context_signature(context, exploit_version))
        finding_asset[fid] = asset_id
        inputs = inputs_hash(content, known[2])
        scored = parse_header(prefix)
        if scored is not None and scored == (inputs, risk):
            risks[fid] = risk
            tallies.add(asset_id, category, phase, severity, status, risk)
        else:
            stale.append(_Stale(fid, asset_id, severity, status, category, phase, known[0], known[1], inputs,
                                scored[1] if scored else None, None if facts is None else parse_facts(facts)))
    changed_ids = {c.finding_id for c in changes}
    regressed = _rescore(session, stale, risks, changed_ids, settings.regression_delta, len(rows))
    for item in stale:
        tallies.add(item.asset_id, item.category, item.phase, item.severity, item.status, risks[item.id])
    for change in changes:
        change.risk = risks.get(change.finding_id, change.risk)
    if run_id is not None:
        _refresh_event_risks(session, run_id)
    regressions = _record_regressions(session, run_id, regressed, now)
    snapshot = snapshot_counts(estate, tallies.counted, tallies.accepted)
    estate_summary = snapshot["estate"]
    session.execute(
        insert(score_table).values(
            run_id=run_id, taken_at=now, score=estate_summary["score"], grade=estate_summary["grade"], counts=snapshot
        )
    )
    return ScoringOutcome(snapshot, estate_summary["score"], estate_summary["grade"], regressions, estate,
                          finding_asset, risks, len(stale))


def _rescore(session: Session, stale: Sequence[_Stale], risks: dict[int, int], changed_ids: set[int],
             regression_delta: int, total: int) -> list[tuple[int, int, int]]:
    """Score the stale findings, write them, and return (id, previous risk, risk) of the regressions."""
    if not stale:
        return []
    unread = [s.id for s in stale if s.facts is None]
    facts_of = evidence_facts(session, unread, everything=len(unread) * 2 > total) if unread else {}
    facts_of.update((s.id, s.facts) for s in stale if s.facts is not None)
    kev, epss = exploitability(session, {f[2] for f in facts_of.values() if f[2]})
    memo: dict[tuple[Any, ...], tuple[int, str]] = {}
    updates: list[tuple[int, str, int]] = []
    regressed: list[tuple[int, int, int]] = []
    for item in stale:
        cvss, fix, vuln, aliases = facts_of.get(item.id, NO_FACTS)
        listed = in_kev(kev, vuln, aliases) if (vuln or aliases) else False
        probability = epss.get(vuln) if vuln else None
        key = (item.severity, cvss, fix, listed, probability, item.context_number)
        found = memo.get(key)
        if found is None:
            facts = FindingFacts(Severity(item.severity), cvss, listed, probability, fix)
            risk, inputs = scored_inputs(facts, item.context)
            found = memo[key] = (risk, inputs + "}")
        risk, rest = found
        risks[item.id] = risk
        updates.append((risk, header(item.inputs, risk) + rest, item.id))
        previous = item.previous
        if (previous is not None and item.status == _OPEN and item.id not in changed_ids
                and risk >= previous + regression_delta):
            regressed.append((item.id, previous, risk))
    _write(session, updates, most=len(stale) * 2 > total)
    return regressed


def _write(session: Session, updates: Sequence[tuple[int, str, int]], *, most: bool) -> None:
    """(risk, ``risk_factors`` JSON text, id) per re-scored finding, one driver-level executemany.

    The JSON is bound as text (built by the formula and :func:`header`), not
    re-serialized; PostgreSQL casts it to JSON. When ``most`` findings change on SQLite (a baseline,
    a formula or KEV/EPSS update), the indexes holding ``risk`` are dropped and rebuilt around the
    update: sorting 100,000 entries once costs a third of moving each entry in two B-trees.
    """
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
        params: Any = updates if order == [0, 1, 2] else [tuple(u[i] for i in order) for u in updates]
    else:
        params = [{"b_risk": u[0], "b_factors": u[1], "b_id": u[2]} for u in updates]
    connection = session.connection()
    rebuilt = _RISK_INDEXES if most and dialect.name == "sqlite" else ()
    for index in rebuilt:
        index.drop(connection)  # transactional on SQLite: a failure below restores them
    connection.exec_driver_sql(compiled.string, params)
    for index in rebuilt:
        index.create(connection)


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


