"""Reconciling findings, called directly on SQLite: the fingerprint's exact value, two scopes that see
one finding, regressions, the resolve guard's edges, and status transitions with and without an
exception. Each is a verdict a silent slip would change (a finding resolved while a source still
sees it, every finding re-opened as new after an upgrade, a same-severity restatement announced)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.engine import Engine

from posture.acceptance import Acceptance, Reach
from posture.coverage import Coverage
from posture.db import make_engine, read_session, resolve_url, write_session
from posture.model import asset_table, finding_sighting_table, finding_table
from posture.records import AssetKind, AssetRecord, AssetRef, ScopeKind, ScopeRef
from posture.store.assets import content_hash, upsert_assets
from posture.store.exceptions import Active, ExceptionMatcher, create_exception
from posture.store.findings import (
    GUARD_MIN,
    Judged,
    Produced,
    Reconciled,
    fingerprint,
    reconcile_findings,
    sighted_statements,
    stated_hash,
)
from posture.store.runs import ensure_scope, start_run
from posture.taxonomy import Phase, Severity
from tests.core.fakes import RULES
from tests.store_template import copy_store, migrated_sqlite

IMAGE = AssetRef(AssetKind.IMAGE, "sha256:" + "a" * 64)
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_the_fingerprint_value_is_pinned() -> None:
    """Rule, canonical kind and key, discriminator, NUL-separated, UTF-8 (lone surrogates passed through),
    SHA-256, 40 hex digits. Any change re-opens every stored finding as new and resolves the old ones:
    it needs a migration of ``finding.fingerprint``, not a silent edit."""
    assert fingerprint("VULN", IMAGE, "CVE-7|openssl|3.0.2") == "cbed01c945ced35bc218a1431191b532c872c9b1"
    workload = AssetRef(AssetKind.WORKLOAD, "eu-1/shop/Deployment/wéb")
    assert fingerprint("K8S-PSS-PRIV", workload, "c\udcff") == "a8009c18526af9196e3f06eac3684cb7571d3a0f"


def test_the_stated_hash_is_title_severity_and_evidence() -> None:
    """Kept per sighting and as the finding's content hash: a restated title, severity or evidence is a change."""
    assert stated_hash("t", Severity.HIGH, {"a": 1}) == content_hash(["t", "high", {"a": 1}])


def test_each_part_of_the_fingerprint_counts_and_parts_do_not_run_into_each_other() -> None:
    base = fingerprint("VULN", IMAGE, "x")
    assert fingerprint("VULN2", IMAGE, "x") != base
    assert fingerprint("VULN", AssetRef(AssetKind.CONTAINER, IMAGE.key), "x") != base
    assert fingerprint("VULN", AssetRef(AssetKind.IMAGE, IMAGE.key + "b"), "x") != base
    assert fingerprint("VULN", IMAGE, "y") != base
    assert fingerprint("ab", IMAGE, "") != fingerprint("a", IMAGE, "b")


# -- a small store ----------------------------------------------------------------------------------
@dataclass
class Store:
    """One SQLite store with an image asset and named scopes; ``run`` reconciles one scope's statements."""

    engine: Engine
    asset_id: int
    scopes: dict[str, int] = field(default_factory=dict)
    clock: datetime = T0

    def scope(self, name: str) -> int:
        if name not in self.scopes:
            with write_session(self.engine) as s:
                self.scopes[name] = ensure_scope(s, ScopeRef(ScopeKind.REPORT, name), T0).id
        return self.scopes[name]

    def run(self, scope: str, items: Sequence[Produced], *, complete: bool = True,
            exceptions: Sequence[Active] = (), judged: Judged | None = None) -> Reconciled:
        scope_id = self.scope(scope)
        self.clock += timedelta(minutes=1)
        with write_session(self.engine) as s:
            run_id = start_run(s, scope_id, self.clock)
            return reconcile_findings(s, scope_id=scope_id, run_id=run_id, produced=items, complete=complete,
                                      now=self.clock, exceptions=ExceptionMatcher(exceptions), judged=judged)

    def finding(self, fp: str) -> Any:
        with read_session(self.engine) as s:
            return s.execute(select(finding_table).where(finding_table.c.fingerprint == fp)).one()

    def sightings(self, fp: str) -> dict[str, int]:
        """Scope name → the run that last sighted the finding there."""
        names = {v: k for k, v in self.scopes.items()}
        F, S = finding_table.c, finding_sighting_table.c
        with read_session(self.engine) as s:
            rows = s.execute(select(S.scope_id, S.last_run_id).join(finding_table, F.id == S.finding_id)
                             .where(F.fingerprint == fp))
            return {names[scope]: run for scope, run in rows}

    def exception(self, name: str) -> int:
        """A stored exception row that covers nothing yet (the test says when it is in force)."""
        with write_session(self.engine) as s:
            return create_exception(s, Acceptance(Reach(rule_id=f"NO-SUCH-RULE-{name}"), name, "sec", "cli"), T0)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated store per module, with the image every finding is on, copied for each test."""
    path = migrated_sqlite(tmp_path_factory.mktemp("reconcile"))
    engine = make_engine(resolve_url(f"sqlite:///{path}"))
    with write_session(engine) as s:
        upsert_assets(s, [AssetRecord(IMAGE.kind, IMAGE.key, "app:1.0", Phase.BUILD)], T0)
    engine.dispose()
    return path


@pytest.fixture
def store(migrated: Path, tmp_path: Path) -> Iterator[Store]:
    engine = copy_store(migrated, tmp_path)
    with read_session(engine) as s:
        asset_id = s.execute(select(asset_table.c.id).where(asset_table.c.key == IMAGE.key)).scalar_one()
    yield Store(engine, asset_id)
    engine.dispose()


def vuln(store: Store, cve: str = "CVE-1", severity: Severity = Severity.HIGH, **evidence: Any) -> Produced:
    return Produced(rule=RULES.get("VULN"), asset=IMAGE, asset_id=store.asset_id, asset_name="app:1.0",
                    asset_attributes={}, discriminator=cve, title=f"{cve} in openssl", severity=severity,
                    evidence={"vulnerability": cve, "package": "openssl", **evidence})


def events(result: Reconciled) -> list[tuple[str, str]]:
    return sorted((c.event, c.fingerprint) for c in result.changes)


# -- two scopes, one finding -------------------------------------------------------------------------
def test_a_scope_that_stops_stating_a_finding_does_not_resolve_it_while_another_still_does(store: Store) -> None:
    item = vuln(store)
    store.run("a", [item])
    store.run("b", [item])
    dropped = store.run("a", [])
    assert events(dropped) == [] and dropped.held == 0
    assert store.finding(item.fingerprint).status == "open"
    assert set(store.sightings(item.fingerprint)) == {"b"}  # a forgot it; b's sighting is untouched
    assert events(store.run("b", [])) == [("resolved", item.fingerprint)]
    assert store.finding(item.fingerprint).status == "resolved"


def test_a_run_updates_only_its_own_scopes_sightings(store: Store) -> None:
    item = vuln(store)
    store.run("a", [item])
    store.run("b", [item])
    before = store.sightings(item.fingerprint)
    store.run("a", [item])
    after = store.sightings(item.fingerprint)
    assert after["b"] == before["b"] and after["a"] > before["a"]


def test_each_scope_keeps_what_it_stated_itself(store: Store) -> None:
    """a states X, b states Y, then a states Y: a's sighting now holds Y (a restatement by a is
    recognised by a's own hash, not by b's)."""
    x, y = vuln(store, fixed="1.1"), vuln(store, fixed="1.2")
    store.run("a", [x])
    store.run("b", [y])
    statement = ("VULN", store.asset_id, "CVE-1")
    hash_x, hash_y = (stated_hash(i.title, i.severity, i.evidence) for i in (x, y))
    assert sighted_statements_of(store, "a")[statement] == hash_x
    assert sighted_statements_of(store, "b")[statement] == hash_y
    store.run("a", [y])
    assert sighted_statements_of(store, "a")[statement] == hash_y
    assert sighted_statements_of(store, "b")[statement] == hash_y
    store.run("b", [x])
    assert sighted_statements_of(store, "b")[statement] == hash_x
    assert sighted_statements_of(store, "a")[statement] == hash_y


def sighted_statements_of(store: Store, scope: str) -> dict[tuple[str, int, str], str]:
    with read_session(store.engine) as s:
        return sighted_statements(s, store.scope(scope))


def test_a_partial_run_resolves_nothing_and_keeps_its_sightings(store: Store) -> None:
    item = vuln(store)
    store.run("a", [item])
    partial = store.run("a", [], complete=False)
    assert (events(partial), partial.not_judged, partial.held) == ([], 0, 0)
    assert store.finding(item.fingerprint).status == "open" and set(store.sightings(item.fingerprint)) == {"a"}


# -- regressions -----------------------------------------------------------------------------------
def test_a_regression_is_a_strictly_higher_severity(store: Store) -> None:
    store.run("a", [vuln(store, severity=Severity.MEDIUM)])
    same = store.run("a", [vuln(store, severity=Severity.MEDIUM, fixed="2.0")])  # content changed, severity not
    assert events(same) == []
    assert store.finding(vuln(store).fingerprint).evidence["fixed"] == "2.0"
    rose = store.run("a", [vuln(store, severity=Severity.HIGH, fixed="2.0")])
    assert [(c.event, c.severity, c.risk, c.detail) for c in rose.changes] == [
        ("regressed", "high", 45, {"previous_severity": "medium"})]
    row = store.finding(vuln(store).fingerprint)
    assert (row.severity, row.severity_rank, row.risk) == ("high", Severity.HIGH.rank, 45)
    fell = store.run("a", [vuln(store, severity=Severity.LOW, fixed="2.0")])
    assert events(fell) == [] and store.finding(vuln(store).fingerprint).severity == "low"


# -- the resolve guard ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("sighted", "dropped", "held"), [
    (GUARD_MIN - 1, GUARD_MIN - 1, False),  # too few to look like a narrower scan
    (GUARD_MIN, GUARD_MIN, True),
    (15, 3, False),  # 3 of 15 is 20 %: not more than the share
    (14, 3, True),  # 3 of 14 is more
])
def test_the_guard_holds_bulk_resolutions_from_an_unchanged_source(store: Store, sighted: int, dropped: int,
                                                                   held: bool) -> None:
    items = [vuln(store, f"CVE-{n}") for n in range(sighted)]
    store.run("a", items)
    unchanged = Judged(source_changed=False)
    result = store.run("a", items[dropped:], judged=unchanged)
    assert (result.held, len(result.changes)) == ((dropped, 0) if held else (0, dropped))
    statuses = {store.finding(i.fingerprint).status for i in items[:dropped]}
    assert statuses == ({"open"} if held else {"resolved"})


def test_the_guard_yields_to_a_changed_source_or_a_confirmation(store: Store) -> None:
    """The default judgement (nothing given) is a changed source: no guard."""
    items = [vuln(store, f"CVE-{n}") for n in range(GUARD_MIN)]
    for judged in (None, Judged(), Judged(source_changed=True), Judged(source_changed=False, confirmed=True)):
        store.run("a", items)
        result = store.run("a", [], judged=judged)
        assert result.held == 0 and len(result.changes) == GUARD_MIN


# -- status transitions ----------------------------------------------------------------------------
def test_resolved_then_stated_again_is_reopened_open(store: Store) -> None:
    item = vuln(store)
    assert events(store.run("a", [item])) == [("new", item.fingerprint)]
    store.run("a", [])
    assert store.finding(item.fingerprint).resolved_at is not None
    assert events(store.run("a", [item])) == [("reopened", item.fingerprint)]
    row = store.finding(item.fingerprint)
    assert (row.status, row.resolved_at, row.exception_id) == ("open", None, None)
    assert events(store.run("a", [item])) == []


def test_a_new_finding_under_an_exception_is_new_and_accepted(store: Store) -> None:
    item = vuln(store)
    exc = store.exception("x")
    result = store.run("a", [item], exceptions=[Active(exc, Reach(fingerprint=item.fingerprint), False)])
    assert [(c.event, c.detail) for c in result.changes] == [("new", {}), ("accepted", {"exception": exc})]
    row = store.finding(item.fingerprint)
    assert (row.status, row.exception_id) == ("accepted", exc)


def test_an_open_finding_is_accepted_moved_between_exceptions_and_unaccepted(store: Store) -> None:
    item = vuln(store)
    first, second = store.exception("first"), store.exception("second")
    covers = Reach(fingerprint=item.fingerprint)
    store.run("a", [item])
    accepted = store.run("a", [item], exceptions=[Active(first, covers, False)])
    assert [(c.event, c.detail) for c in accepted.changes] == [("accepted", {"exception": first})]
    assert events(store.run("a", [item], exceptions=[Active(first, covers, False)])) == []
    moved = store.run("a", [item], exceptions=[Active(second, covers, False)])  # still accepted, by another one
    assert [(c.event, c.detail) for c in moved.changes] == [("accepted", {"exception": second})]
    assert store.finding(item.fingerprint).exception_id == second
    ended = store.run("a", [item])
    assert [(c.event, c.detail) for c in ended.changes] == [("unaccepted", {})]
    row = store.finding(item.fingerprint)
    assert (row.status, row.exception_id) == ("open", None)


def test_a_resolved_finding_stated_again_under_an_exception_reopens_accepted(store: Store) -> None:
    item = vuln(store)
    exc = store.exception("x")
    store.run("a", [item])
    store.run("a", [])
    result = store.run("a", [item], exceptions=[Active(exc, Reach(fingerprint=item.fingerprint), False)])
    assert [(c.event, c.detail) for c in result.changes] == [("reopened", {})]
    row = store.finding(item.fingerprint)
    assert (row.status, row.exception_id, row.resolved_at) == ("accepted", exc, None)


def test_an_exception_for_another_finding_changes_nothing(store: Store) -> None:
    item, other = vuln(store, "CVE-1"), vuln(store, "CVE-2")
    exc = store.exception("x")
    result = store.run("a", [item, other], exceptions=[Active(exc, Reach(fingerprint=other.fingerprint), False)])
    assert events(result) == sorted([("new", item.fingerprint), ("new", other.fingerprint),
                                     ("accepted", other.fingerprint)])
    assert store.finding(item.fingerprint).status == "open"
    # accepting a stored finding updates its row and no other
    both = [vuln(store, "CVE-3"), vuln(store, "CVE-4")]
    store.run("a", both)
    later = store.run("a", both, exceptions=[Active(exc, Reach(fingerprint=both[1].fingerprint), False)])
    assert events(later) == [("accepted", both[1].fingerprint)]
    assert [store.finding(i.fingerprint).status for i in both] == ["open", "accepted"]


def test_an_accepted_row_without_an_exception_is_unaccepted(store: Store) -> None:
    """A row accepted by no exception (written by a release that accepted findings itself) opens
    on the next statement: only an exception in force accepts."""
    item = vuln(store)
    store.run("a", [item])
    with write_session(store.engine) as s:
        s.execute(update(finding_table).where(finding_table.c.fingerprint == item.fingerprint)
                  .values(status="accepted"))
    assert [c.event for c in store.run("a", [item]).changes] == ["unaccepted"]
    assert store.finding(item.fingerprint).status == "open"


def test_a_scopes_first_statement_of_a_stored_finding_updates_its_content(store: Store) -> None:
    """b stored X, c restated it as Y and then stopped: a's first statement X is compared with the
    stored content (Y), not with what another scope stated (b's X), so the store holds X again."""
    x, y = vuln(store, fixed="1.1"), vuln(store, fixed="1.2")
    store.run("b", [x])
    store.run("c", [y])
    store.run("c", [])
    assert store.finding(x.fingerprint).evidence["fixed"] == "1.2"
    assert events(store.run("a", [x])) == []
    assert store.finding(x.fingerprint).evidence["fixed"] == "1.1"


def test_a_narrower_run_resolves_only_what_it_looked_for(store: Store) -> None:
    high, critical = vuln(store, "CVE-H"), vuln(store, "CVE-C", Severity.CRITICAL)
    store.run("a", [high, critical])
    only_critical = Judged(Coverage(severities=frozenset({Severity.CRITICAL})))
    result = store.run("a", [], judged=only_critical)
    assert events(result) == [("resolved", critical.fingerprint)] and result.not_judged == 1
    assert store.finding(high.fingerprint).status == "open" and set(store.sightings(high.fingerprint)) == {"a"}


def test_a_run_that_cannot_say_what_it_skipped_resolves_nothing(store: Store) -> None:
    item = vuln(store)
    store.run("a", [item])
    result = store.run("a", [], judged=Judged(Coverage(resolves=False)))
    assert events(result) == [] and result.not_judged == 1
    assert store.finding(item.fingerprint).status == "open" and set(store.sightings(item.fingerprint)) == {"a"}


# -- what an exception sees of a finding ----------------------------------------------------------
MANIFEST = "sha256:" + "m" * 64


@pytest.mark.parametrize(("scope", "accepted"), [
    (Reach(rule_id="VULN"), True),
    (Reach(rule_id="TEST-PRIV"), False),
    (Reach(asset=IMAGE.key), True),  # the asset's key
    (Reach(asset="app:1.0"), True),  # its name
    (Reach(asset=MANIFEST), True),  # one of its aliases (read from the store only when an exception names an asset)
    (Reach(asset="sha256:" + "f" * 64), False),
    (Reach(package="openssl"), True),  # the evidence
    (Reach(package="zlib"), False),
    (Reach(namespace="shop"), True),  # the asset's attributes
    (Reach(namespace="kube-system"), False),
    (Reach(vuln_id="CVE-1"), True),
])
def test_an_exception_sees_each_part_of_the_finding(store: Store, scope: Reach, accepted: bool) -> None:
    with write_session(store.engine) as s:
        upsert_assets(s, [AssetRecord(IMAGE.kind, IMAGE.key, "app:1.0", Phase.BUILD, aliases=(MANIFEST,))], T0)
    item = Produced(rule=RULES.get("VULN"), asset=IMAGE, asset_id=store.asset_id, asset_name="app:1.0",
                    asset_attributes={"namespace": "shop"}, discriminator="CVE-1", title="CVE-1 in openssl",
                    severity=Severity.HIGH, evidence={"vulnerability": "CVE-1", "package": "openssl"})
    exc = store.exception("x")
    store.run("a", [item], exceptions=[Active(exc, scope, False)])
    row = store.finding(item.fingerprint)
    assert (row.status, row.exception_id) == (("accepted", exc) if accepted else ("open", None))


def test_without_exceptions_given_the_ones_in_force_are_loaded(store: Store) -> None:
    item = vuln(store)
    with write_session(store.engine) as s:
        exc = create_exception(s, Acceptance(Reach(fingerprint=item.fingerprint), "known", "sec", "cli"), T0)
        scope_id = ensure_scope(s, ScopeRef(ScopeKind.REPORT, "a"), T0).id
        run_id = start_run(s, scope_id, T0)
        result = reconcile_findings(s, scope_id=scope_id, run_id=run_id, produced=[item], complete=True, now=T0)
    assert [(c.event, c.detail) for c in result.changes] == [("new", {}), ("accepted", {"exception": exc})]
    assert store.finding(item.fingerprint).status == "accepted"


# -- what is stored ---------------------------------------------------------------------------------
def test_a_new_finding_row_holds_every_column(store: Store) -> None:
    """References: the rule's (NIST first) and then the scanner's own check ids, each once, dicts only."""
    rule = RULES.get("VULN")
    extra = [{"framework": "Trivy", "id": "AVD-1"}, rule.all_references[0].as_dict(), "not-a-reference",
             {"framework": "Trivy", "id": "AVD-1"}]
    item = vuln(store, references=extra)
    store.run("a", [item])
    row = store.finding(item.fingerprint)
    assert row.references == [r.as_dict() for r in rule.all_references] + [{"framework": "Trivy", "id": "AVD-1"}]
    assert (row.rule_id, row.asset_id, row.discriminator, row.title) == ("VULN", store.asset_id, "CVE-1",
                                                                          "CVE-1 in openssl")
    assert (row.severity, row.severity_rank, row.risk, row.risk_factors) == ("high", Severity.HIGH.rank, 45, {})
    assert (row.phase, row.category) == (rule.phase.value, rule.category.value)
    assert row.evidence == dict(item.evidence) and row.content_hash == stated_hash(item.title, item.severity,
                                                                                   item.evidence)
    assert (row.first_seen, row.last_seen, row.resolved_at, row.status) == (store.clock, store.clock, None, "open")
    store.run("a", [item])
    row = store.finding(item.fingerprint)
    assert (row.first_seen, row.last_seen) == (store.clock - timedelta(minutes=1), store.clock)
    store.run("a", [])
    row = store.finding(item.fingerprint)
    assert (row.status, row.resolved_at, row.last_seen) == ("resolved", store.clock,
                                                             store.clock - timedelta(minutes=1))


def test_a_precomputed_stated_hash_is_the_one_kept(store: Store) -> None:
    item = vuln(store)
    given = replace(item, stated="given")
    store.run("a", [given])
    assert store.finding(item.fingerprint).content_hash == "given"
    assert sighted_statements_of(store, "a") == {("VULN", store.asset_id, "CVE-1"): "given"}


def test_a_sighting_without_a_stated_hash_is_not_a_statement(store: Store) -> None:
    """Sightings a previous release wrote carry no hash: nothing was stated that a restatement matches."""
    one, two = vuln(store, "CVE-1"), vuln(store, "CVE-2")
    store.run("a", [one, two])
    with write_session(store.engine) as s:
        fid = s.execute(select(finding_table.c.id).where(finding_table.c.fingerprint == one.fingerprint)).scalar_one()
        s.execute(update(finding_sighting_table).where(finding_sighting_table.c.finding_id == fid)
                  .values(content_hash=""))
    assert set(sighted_statements_of(store, "a")) == {("VULN", store.asset_id, "CVE-2")}
    assert events(store.run("a", [one, two])) == []  # restated: its hash is written again, nothing announced
    assert set(sighted_statements_of(store, "a")) == {("VULN", store.asset_id, "CVE-1"), ("VULN", store.asset_id,
                                                                                           "CVE-2")}


def test_the_worst_severity_any_scanner_stated_stays(store: Store) -> None:
    """Trivy (scope a) says critical, Grype (scope b) high: the finding stays critical, no regression
    is announced when a's statement meets b's, and none when b restates high."""
    trivy = vuln(store, severity=Severity.CRITICAL, scanner="trivy", scanners={"trivy": {"severity": "critical"}})
    grype = vuln(store, severity=Severity.HIGH, scanner="grype", scanners={"grype": {"severity": "high"}})
    store.run("a", [trivy])
    assert events(store.run("b", [grype])) == []
    row = store.finding(trivy.fingerprint)
    assert (row.severity, set(row.evidence["scanners"])) == ("critical", {"trivy", "grype"})
    assert events(store.run("b", [vuln(store, severity=Severity.HIGH, scanner="grype",
                                       scanners={"grype": {"severity": "high", "fixed": "3.0.3"}})])) == []
    assert store.finding(trivy.fingerprint).severity == "critical"


def test_a_finding_already_resolved_is_not_resolved_again(store: Store) -> None:
    item, other = vuln(store, "CVE-1"), vuln(store, "CVE-2")
    store.run("a", [item, other])
    with write_session(store.engine) as s:  # resolved while a sighting was left behind (an older release)
        s.execute(update(finding_table).where(finding_table.c.fingerprint == item.fingerprint)
                  .values(status="resolved"))
    result = store.run("a", [])
    assert events(result) == [("resolved", other.fingerprint)]
    assert store.sightings(item.fingerprint) == {}


# -- namespaces ----------------------------------------------------------------------------------
def test_a_run_limited_to_namespaces_resolves_only_findings_in_them(store: Store) -> None:
    """A workload is in its ``namespace`` attribute, a Namespace in itself (its ``name``); a cluster-wide
    asset in none, so a namespace-limited run does not judge it."""
    workloads = {
        AssetRef(AssetKind.WORKLOAD, "c/shop/Deployment/web"): {"namespace": "shop"},
        AssetRef(AssetKind.WORKLOAD, "c/ops/Deployment/web"): {"namespace": "ops"},
        AssetRef(AssetKind.NAMESPACE, "c/shop"): {"name": "shop"},
        AssetRef(AssetKind.NAMESPACE, "c/ops"): {"name": "ops", "namespace": "shop"},
        AssetRef(AssetKind.NODE, "c/node-1"): {},
        AssetRef(AssetKind.WORKLOAD, "c/x/Deployment/blank"): {"namespace": ""},
        AssetRef(AssetKind.NAMESPACE, "c/unnamed"): {"namespace": "shop"},
    }
    with write_session(store.engine) as s:
        index, _ = upsert_assets(s, [AssetRecord(ref.kind, ref.key, ref.key, Phase.RUN, attributes=attrs)
                                     for ref, attrs in workloads.items()], T0)
    items = {ref.key: Produced(rule=RULES.get("VULN"), asset=ref, asset_id=index.ids[ref], asset_name=ref.key,
                               asset_attributes=attrs, discriminator="CVE-1", title="t", severity=Severity.HIGH,
                               evidence={"vulnerability": "CVE-1"}) for ref, attrs in workloads.items()}
    store.run("a", list(items.values()))
    # "" and "x" listed too: a blank or missing namespace is none, never one of those
    result = store.run("a", [], judged=Judged(Coverage(namespaces=frozenset({"shop", "", "x"}))))
    assert {c.fingerprint for c in result.changes} == {items["c/shop/Deployment/web"].fingerprint,
                                                       items["c/shop"].fingerprint}
    assert result.not_judged == 5


def test_an_unchanged_rerun_of_several_findings_rewrites_no_statement(store: Store) -> None:
    """Each finding is matched with this scope's own sighting of it: a rerun that states the same
    findings, each with its own content, rewrites no stated hash and no evidence (the unchanged second
    run writes nothing new, README "Performance"), only when they were last seen."""
    items = [vuln(store, "CVE-1", fixed="1.1"), vuln(store, "CVE-2", fixed="2.1"), vuln(store, "CVE-3")]
    store.run("a", items)
    written: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")):
            written.append(" ".join(statement.split()))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        assert events(store.run("a", items)) == []
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    rewrites = [w for w in written if "content_hash" in w or "evidence" in w]
    assert rewrites == [] and written, written
