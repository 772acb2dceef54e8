"""One collection of one source scope: collector → rules → store → the stages after reconcile
(:mod:`posture.run_stages`: held vulnerabilities, scoring, outbox), in that order and no other.

Nothing is written while the collector runs: records are gathered first, so a collector that
fails half-way leaves the store exactly as it was (the run is recorded as failed and nothing else).
The reconcile, the history events, the end of the run and the stages after it are one write transaction. Rules judge
the records as the source stated them; what is stored has passed :class:`posture.scrub.Scrubber`.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from posture.acceptance import VEX, Acceptance
from posture.attributes.contract import MissingAttributes
from posture.clock import utcnow
from posture.coverage import FULL, Coverage
from posture.db import read_session, write_session
from posture.gcpause import gc_paused
from posture.model import run_table
from posture.records import (
    UNCHANGED,
    AssetRecord,
    AssetRef,
    Collector,
    CollectorError,
    ObservationRecord,
    Problem,
    RelationRecord,
    ScopeRef,
    StatesCoverage,
)
from posture.rules.base import RuleRegistry, Snapshot, Verdict, evaluate_all
from posture.run_stages import Reconciled, RunStages
from posture.scrub import Scrubber
from posture.secretkey import installation_key
from posture.secrets import SecretScanner
from posture.store.assets import (
    AssetIndex,
    record_sightings,
    replace_relations,
    stored_attributes,
    upsert_assets,
)
from posture.store.exceptions import apply_acceptances, expire_exceptions
from posture.store.findings import Judged, Produced, Statement, reconcile_findings, sighted_statements, stated_hash
from posture.store.history import FindingChange
from posture.store.rescrub import scrub_stored_once
from posture.store.runs import ScopeState, claim_scopes, ensure_scope, finish_run, start_run
from posture.taxonomy import RunStatus

log = logging.getLogger(__name__)


@runtime_checkable
class StatesRunFacts(Protocol):
    """A collector whose source says something worth keeping with the run (a scanner report's own time)."""

    def run_facts(self) -> Mapping[str, Any]: ...


@dataclass
class RunResult:
    #: The source scope the run covered (its kind decides which stages after reconcile apply).
    source_scope: ScopeRef
    run_id: int
    status: RunStatus
    #: When the run ended, as recorded: its events and score snapshot are dated with it (inside its diff window).
    finished_at: datetime
    error: str | None = None
    problems: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    changes: list[FindingChange] = field(default_factory=list)
    first_run: bool = False
    #: One line each: why the run left findings open that it did not restate (outside its coverage,
    #: held by the guard, the first run under a new identity). Shown by ``collect`` and ``posture diff``.
    notes: list[str] = field(default_factory=list)
    #: What the run judged (:meth:`posture.coverage.Coverage.as_dict`), shown beside what it resolved.
    coverage: dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        """The scope as people see it (its label where it has one): for output, never for a decision."""
        return str(self.source_scope)


@dataclass
class _Gathered:
    assets: list[AssetRecord] = field(default_factory=list)
    relations: list[RelationRecord] = field(default_factory=list)
    observations: list[ObservationRecord] = field(default_factory=list)
    acceptances: list[Acceptance] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _gather(collector: Collector) -> _Gathered:
    out = _Gathered()
    for record in collector.collect():
        if isinstance(record, AssetRecord):
            out.assets.append(record)
        elif isinstance(record, RelationRecord):
            out.relations.append(record)
        elif isinstance(record, ObservationRecord):
            out.observations.append(record)
        elif isinstance(record, Acceptance):
            out.acceptances.append(record)
        elif isinstance(record, Problem):
            out.problems.append(record.message)
    return out


def _restore_unchanged(assets: list[AssetRecord], stored: dict[AssetRef, dict[str, Any]]) -> list[AssetRecord]:
    """Assets a collector skipped re-reading get their stored attributes back before rules run.

    An asset the store does not hold yet keeps what the collector stated, without the marker: the
    marker asks the store to keep what it has, and for a new asset that is nothing, so stored it
    would only freeze the collector's partial view (a scanner report's image name) for good.
    """
    restored: list[AssetRecord] = []
    for asset in assets:
        if asset.attributes.get(UNCHANGED):
            attributes = stored.get(asset.ref)
            if attributes is None:
                attributes = {k: v for k, v in asset.attributes.items() if k != UNCHANGED}
            asset = replace(asset, attributes=attributes)
        restored.append(asset)
    return restored


def collect(
    engine: Engine,
    collector: Collector,
    registry: RuleRegistry,
    *,
    now: datetime | None = None,
    stages: RunStages | None = None,
    confirmed: bool = False,
) -> RunResult:
    """Collect one scope and reconcile it; never raises for a source failure (the run says failed).

    ``stages``: what follows the reconcile in its transaction (``posture collect`` and ``watch`` always
    give them; without, the run stops at the store). ``confirmed``: the operator says findings that
    vanished from unchanged assets were really fixed, so the guard
    (:data:`posture.store.findings.GUARD_MIN`) does not hold them.
    """
    with gc_paused():
        return _collect(engine, collector, registry, now=now, stages=stages, confirmed=confirmed)


def _collect(
    engine: Engine,
    collector: Collector,
    registry: RuleRegistry,
    *,
    now: datetime | None = None,
    stages: RunStages | None = None,
    confirmed: bool = False,
) -> RunResult:
    started = now or utcnow()
    scope = collector.scope
    with write_session(engine) as session:
        state = ensure_scope(session, scope, started)
        scope_id = state.id
        run_id = start_run(session, scope_id, started)
        first_run = _is_first_run(session, scope_id, run_id)
        scrub = Scrubber(SecretScanner(installation_key(session)))
        scrub_stored_once(session, scrub.value)  # a store written before the gate: once, under the lock
    try:
        gathered = _gather(collector)
        _check_observations(gathered, registry)
    except CollectorError as exc:
        return _fail(engine, scope, run_id, scrub.text(str(exc)), first_run)
    except Exception as exc:  # a collector bug must still end its run, not leave it "running"
        return _fail(engine, scope, run_id, scrub.text(_crashed(scope, exc, "collector")), first_run)

    status = RunStatus.PARTIAL if gathered.problems else RunStatus.COMPLETE
    coverage = _coverage(collector, scope, state)
    assets = gathered.assets
    unchanged = [a.ref for a in assets if a.attributes.get(UNCHANGED)]
    with read_session(engine) as session:
        previous = stored_attributes(session, [a.ref for a in assets if a.kind in registry.kinds_needing_previous])
        stored = stored_attributes(session, unchanged) if unchanged else {}
    assets = _restore_unchanged(assets, stored)
    snapshot = Snapshot(assets, gathered.relations, previous)
    try:
        verdicts = list(evaluate_all(registry, snapshot, assets))
    except MissingAttributes as exc:  # a record the rules cannot judge: nothing may resolve on it
        return _fail(engine, scope, run_id, scrub.text(f"{scope}: {exc}"), first_run)
    except Exception as exc:  # a rule bug ends the run as failed too: every earlier finding stays open
        return _fail(engine, scope, run_id, scrub.text(_crashed(scope, exc, "rules")), first_run)
    # The gate: rules judged the raw records; from here on only scrubbed text goes on, to be stored
    # (the findings a source stated pass it in _observed, which knows what the scope stated before).
    assets = scrub.assets(assets)
    verdicts = scrub.verdicts(verdicts)
    problems = [scrub.text(p) for p in gathered.problems]

    finished = now or utcnow()
    result = RunResult(scope, run_id, status, finished, problems=problems, first_run=first_run)
    with write_session(engine) as session:
        expired = expire_exceptions(session, finished)
        index, asset_counts = upsert_assets(session, assets, finished, claim_scopes(session, scope, scope_id))
        complete = status is RunStatus.COMPLETE
        # The source's own VEX statements are its scope's exceptions: what it states now, before its
        # findings are matched; one it no longer states ends only when the run saw everything. Its
        # document is the scope, apart from a file imported with ``posture vex import`` (which may state more).
        stated = apply_acceptances(session, VEX, f"scope:{scope.name}", gathered.acceptances, finished,
                                   revoke_absent=complete)
        seen_all = complete and coverage.judges_presence
        sighted = record_sightings(session, scope_id, run_id, set(index.ids.values()), seen_all, finished)
        relations_added = replace_relations(session, scope_id, gathered.relations, index, seen_all)
        source_changed = not coverage.sees_change or bool(
            asset_counts["assets_new"] or asset_counts["assets_changed"] or sighted.dropped or relations_added
        )
        stated_before = sighted_statements(session, scope_id)
        attrs = {a.ref: a.attributes for a in assets}
        observed = _observed(registry, index, assets, attrs, gathered.observations, scrub, stated_before)
        produced = _produced(index, attrs, verdicts) + observed
        reconciled = reconcile_findings(
            session,
            scope_id=scope_id,
            run_id=run_id,
            produced=produced,
            complete=complete,
            now=finished,
            judged=Judged(coverage, source_changed, confirmed),
        )
        changes = reconciled.changes
        result.changes = expired + stated.changes + changes
        result.notes = _notes(coverage, reconciled.not_judged, reconciled.held)
        result.coverage = coverage.as_dict()
        result.stats = {
            "assets": len(index.ids),
            **asset_counts,
            "assets_gone": sighted.gone,
            "relations_added": relations_added,
            "findings": len(produced),
            **_count_events(changes),
            "problems": len(gathered.problems),
            **({"not_judged": reconciled.not_judged} if reconciled.not_judged else {}),
            **({"held": reconciled.held} if reconciled.held else {}),
            **({"notes": result.notes} if result.notes else {}),
            **(scrub.value(collector.run_facts()) if isinstance(collector, StatesRunFacts) else {}),
        }
        error = "; ".join(problems[:5]) if problems else None
        result.error = error
        finish_run(session, run_id, status, finished, error, result.stats, result.coverage)
        if stages is not None:
            run = Reconciled(scope=scope, run_id=run_id, status=status, first_run=first_run, finished_at=finished,
                             coverage=result.coverage, changes=tuple(result.changes))
            result.changes = [*run.changes, *stages.after_reconcile(session, run)]
    return result


def _coverage(collector: Collector, scope: ScopeRef, state: ScopeState) -> Coverage:
    """What the run judged: the collector's word, narrowed to nothing on the run that adopts an old scope
    (the previous release may have kept another source's findings in it; the next run resolves)."""
    stated = collector.coverage() if isinstance(collector, StatesCoverage) else FULL
    if state.adopted is None:
        return stated
    note = f"first run under the new identity {scope.name} (was {state.adopted}): resolves nothing this time"
    return stated.narrowed(Coverage(resolves=False, notes=(note,)))


def _notes(coverage: Coverage, not_judged: int, held: int) -> list[str]:
    """One line per reason findings stayed open, only when some did."""
    notes: list[str] = []
    if not_judged:
        why = "; ".join(coverage.notes) or "outside what this run looked at"
        notes.append(f"{not_judged} findings not seen again kept open: {why}")
    if held:
        notes.append(
            f"{held} findings vanished while nothing at the source changed (same assets, same configuration): "
            "kept open as an unusual share; if they were really fixed, collect again with --confirm-resolved"
        )
    return notes


def _check_observations(gathered: _Gathered, registry: RuleRegistry) -> None:
    stated = {a.ref for a in gathered.assets}
    for obs in gathered.observations:
        if obs.asset not in stated:
            raise CollectorError(f"finding {obs.rule_id} points at an asset the source did not state: {obs.asset.key}")
        if obs.rule_id not in registry:
            raise CollectorError(f"finding names an unknown rule {obs.rule_id}")


def _is_first_run(session: Session, scope_id: int, run_id: int) -> bool:
    """No earlier run of the scope stored findings. A partial run stores (never resolves) what it saw, so it
    ends the baseline too: a scope that is partial every time (one 403 for good) still announces what is new."""
    earlier = session.execute(
        select(run_table.c.id)
        .where(
            run_table.c.scope_id == scope_id,
            run_table.c.id != run_id,
            run_table.c.status.in_((RunStatus.COMPLETE.value, RunStatus.PARTIAL.value)),
        )
        .limit(1)
    ).first()
    return earlier is None


def _crashed(scope: ScopeRef, exc: Exception, where: str) -> str:
    """The run's error for an unexpected exception. Its text comes from the source (a value, a name): it
    is stored and shown only through the gates, never in a raw traceback; the frames, which are
    Posture's own, go to debug."""
    log.debug("%s of %s crashed:\n%s", where, scope, "".join(traceback.format_tb(exc.__traceback__)))
    return f"{scope}: unexpected error: {type(exc).__name__}: {exc}"


def _fail(engine: Engine, scope: ScopeRef, run_id: int, message: str, first_run: bool) -> RunResult:
    finished = utcnow()
    with write_session(engine) as session:
        finish_run(session, run_id, RunStatus.FAILED, finished, message)
    return RunResult(scope, run_id, RunStatus.FAILED, finished, error=message, first_run=first_run)


def _count_events(changes: Sequence[FindingChange]) -> dict[str, int]:
    counts = {"new": 0, "resolved": 0, "reopened": 0, "regressed": 0}
    for change in changes:
        if change.event in counts:
            counts[change.event] += 1
    return counts


def _produced(
    index: AssetIndex, attrs: Mapping[AssetRef, Mapping[str, Any]], verdicts: Sequence[Verdict]
) -> list[Produced]:
    return [
        Produced(
            rule=v.rule,
            asset=index.resolve(v.asset),
            asset_id=index.ids[v.asset],
            asset_name=v.asset_name,
            asset_attributes=attrs.get(v.asset, {}),
            discriminator=v.hit.discriminator,
            title=v.title,
            severity=v.severity,
            evidence=_located(v.hit.evidence, attrs.get(v.asset, {})),
        )
        for v in verdicts
    ]


def _located(evidence: Mapping[str, Any], attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """A rule's evidence, plus the manifest file and line its asset was read from (``manifest``), so a
    finding points at what to edit (SARIF, code review). Evidence, not identity: the fingerprint stays."""
    place = attributes.get("manifest")
    return {**evidence, "manifest": place} if isinstance(place, Mapping) else evidence


def _observed(
    registry: RuleRegistry,
    index: AssetIndex,
    assets: Sequence[AssetRecord],
    attrs: Mapping[AssetRef, Mapping[str, Any]],
    observations: Sequence[ObservationRecord],
    scrub: Scrubber,
    sighted: Mapping[Statement, str],
) -> list[Produced]:
    """The findings a source stated, through the gate.

    A finding this scope restates unchanged (its rule, asset and discriminator, and its stated
    hash, so its title and evidence, are what one of its sightings holds; only what passed the gate is
    ever hashed into a sighting, and :mod:`posture.store.rescrub` clears older hashes) is what the gate
    let through before, so it is not tested again: a report re-ingested unchanged costs no scan of its
    20,000 descriptions. Everything else passes the gate.
    """
    names = {a.ref: a.name for a in assets}
    out: list[Produced] = []
    for obs in observations:
        asset_id = index.ids[obs.asset]
        evidence = _stated_evidence(obs)
        before = sighted.get((obs.rule_id, asset_id, obs.discriminator))
        digest = stated_hash(obs.title, obs.severity, evidence) if before is not None else ""
        if not digest or digest != before:
            gated = scrub.observation(obs)
            if gated is not obs:  # the gate changed it: its digest, if any, is of what it replaced
                obs, evidence, digest = gated, _stated_evidence(gated), ""
        out.append(
            Produced(
                rule=registry.get(obs.rule_id),
                asset=index.resolve(obs.asset),
                asset_id=asset_id,
                asset_name=names.get(obs.asset, obs.asset.key),
                asset_attributes=attrs.get(obs.asset, {}),
                discriminator=obs.discriminator,
                title=obs.title,
                severity=obs.severity,
                evidence=evidence,
                stated=digest,
            )
        )
    return out


def _stated_evidence(obs: ObservationRecord) -> dict[str, Any]:
    evidence = dict(obs.evidence)
    if obs.aliases:
        evidence.setdefault("aliases", sorted(obs.aliases))
    return evidence
