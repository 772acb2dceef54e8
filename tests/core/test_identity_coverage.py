"""What a complete run may resolve, against a real database: coverage, the guard, and adopting the
scope and asset keys a previous release stored (issue 13: no false all-clear in a fleet)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from posture.coverage import Coverage
from posture.db import read_session
from posture.model import alias_table, asset_table, finding_table, run_table, scope_table
from posture.pipeline import collect
from posture.store.findings import GUARD_MIN
from posture.taxonomy import RunStatus, Severity
from tests.core.fakes import RULES, FakeCollector

CVES = tuple(f"CVE-2024-{n}" for n in range(10))


def _status(engine: Engine) -> dict[str, str]:
    with read_session(engine) as s:
        rows = s.execute(
            select(finding_table.c.rule_id, finding_table.c.discriminator, finding_table.c.status, asset_table.c.key)
            .join(asset_table, asset_table.c.id == finding_table.c.asset_id)
        )
        return {f"{r.rule_id}:{r.key}:{r.discriminator.split('|')[0]}": r.status for r in rows}


def _open(engine: Engine) -> int:
    return sum(status == "open" for status in _status(engine).values())


def _scopes(engine: Engine) -> list[tuple[str, str]]:
    with read_session(engine) as s:
        return [(r.name, r.label) for r in s.execute(select(scope_table.c.name, scope_table.c.label))]


# --- coverage ---------------------------------------------------------------------------------


def test_a_run_that_skipped_a_rule_keeps_its_findings_open_and_says_so(engine: Engine) -> None:
    collect(engine, FakeCollector(cves=CVES[:2]), RULES)
    sbom = FakeCollector(cves=(), stated_coverage=Coverage(skipped_rules=frozenset({"VULN"}), notes=("no scan",)))
    result = collect(engine, sbom, RULES)
    assert result.status is RunStatus.COMPLETE
    assert result.stats["resolved"] == 0 and result.stats["not_judged"] == 2
    assert result.notes == ["2 findings not seen again kept open: no scan"]
    assert _open(engine) == 3
    with read_session(engine) as s:
        stored = s.execute(select(run_table.c.coverage).where(run_table.c.id == result.run_id)).scalar_one()
    assert stored == {"skipped_rules": ["VULN"], "notes": ["no scan"]}
    # The findings stay sighted by the scope, so a later full run that really misses them resolves them.
    full = collect(engine, FakeCollector(cves=(), containers=2), RULES)
    assert full.stats["resolved"] == 2


def test_a_severity_limited_run_resolves_only_the_severities_it_looked_for(engine: Engine) -> None:
    collect(engine, FakeCollector(privileged=frozenset({0}), cves=CVES[:1], containers=2), RULES)
    # The VULN finding is high, the privileged one critical: a run looking only for critical ones
    # judges the privileged container (now fixed) and not the CVE (not stated, not looked for).
    narrow = Coverage(severities=frozenset({Severity.CRITICAL}))
    result = collect(engine, FakeCollector(privileged=frozenset(), cves=(), containers=2, stated_coverage=narrow),
                     RULES)
    assert result.stats["resolved"] == 1 and result.stats["not_judged"] == 1
    status = _status(engine)
    assert status["TEST-PRIV:engine-1/c0:"] == "resolved"
    assert status[f"VULN:sha256:{'a' * 64}:CVE-2024-0"] == "open"


def test_a_run_that_resolves_nothing_keeps_assets_too(engine: Engine) -> None:
    collect(engine, FakeCollector(containers=3, privileged=frozenset({2})), RULES)
    additive = Coverage(resolves=False, notes=("--report-no-resolve",))
    result = collect(engine, FakeCollector(containers=1, privileged=frozenset(), stated_coverage=additive), RULES)
    assert result.stats["resolved"] == 0 and result.stats["assets_gone"] == 0
    assert _status(engine)["TEST-PRIV:engine-1/c2:"] == "open"


# --- the guard --------------------------------------------------------------------------------


def test_findings_vanishing_in_bulk_from_an_unchanged_source_are_held(engine: Engine) -> None:
    collect(engine, FakeCollector(cves=CVES), RULES)
    result = collect(engine, FakeCollector(cves=CVES[:5]), RULES)
    assert result.stats["resolved"] == 0 and result.stats["held"] == 5
    assert "5 findings vanished while nothing at the source changed" in result.notes[0]
    assert "--confirm-resolved" in result.notes[0]
    assert _open(engine) == 11
    # Held findings stay sighted: the operator's confirmation resolves exactly them.
    confirmed = collect(engine, FakeCollector(cves=CVES[:5]), RULES, confirmed=True)
    assert confirmed.stats["resolved"] == 5 and "held" not in confirmed.stats


def test_the_guard_spares_a_few_and_a_small_share(engine: Engine) -> None:
    collect(engine, FakeCollector(cves=CVES), RULES)
    few = collect(engine, FakeCollector(cves=CVES[: 10 - (GUARD_MIN - 1)]), RULES)
    assert few.stats["resolved"] == GUARD_MIN - 1 and "held" not in few.stats
    # Of a scope with 17 sighted findings, 3 vanishing is under a fifth: resolved.
    many = [f"CVE-2025-{n}" for n in range(8)]
    collect(engine, FakeCollector(cves=(*CVES[:8], *many)), RULES)
    small = collect(engine, FakeCollector(cves=(*CVES[:8], *many[3:])), RULES)
    assert small.stats["resolved"] == 3 and "held" not in small.stats


def test_the_guard_stays_out_of_the_way_when_the_source_changed(engine: Engine) -> None:
    collect(engine, FakeCollector(cves=CVES), RULES)
    rebuilt = FakeCollector(cves=CVES[:5], containers=4)  # a new container: the source visibly changed
    result = collect(engine, rebuilt, RULES)
    assert result.stats["resolved"] == 5 and "held" not in result.stats


def test_the_guard_stays_out_of_the_way_where_a_change_cannot_be_seen(engine: Engine) -> None:
    """A directory or host a report names can be fixed without any record changing: its clean-up resolves."""
    unpinned = Coverage(sees_change=False)
    collect(engine, FakeCollector(cves=CVES, stated_coverage=unpinned), RULES)
    result = collect(engine, FakeCollector(cves=CVES[:5], stated_coverage=unpinned), RULES)
    assert result.stats["resolved"] == 5 and "held" not in result.stats


# --- identity: labels and adoption ------------------------------------------------------------


def test_the_label_follows_the_source_and_the_identity_keeps_the_history(engine: Engine) -> None:
    collect(engine, FakeCollector(scope_name="cluster:uid-1", label="prod-eu", privileged=frozenset({0})), RULES)
    renamed = collect(engine, FakeCollector(scope_name="cluster:uid-1", label="prod-eu-1",
                                            privileged=frozenset({0})), RULES)
    assert renamed.changes == [] and not renamed.first_run
    assert _scopes(engine) == [("cluster:uid-1", "prod-eu-1")]


def test_the_first_run_under_a_new_identity_adopts_the_old_scope_and_resolves_nothing(engine: Engine) -> None:
    old = FakeCollector(scope_name="engine-1", privileged=frozenset({0, 1}), cves=CVES[:2])
    collect(engine, old, RULES)
    new = FakeCollector(
        scope_name="engine:id@host:/var/lib/docker", label="host", legacy=("engine-1",),
        container_prefix="new-engine", legacy_prefix="engine-1", privileged=frozenset({0}), cves=CVES[:2],
    )
    adopted = collect(engine, new, RULES)
    assert not adopted.first_run
    assert adopted.stats["new"] == 0 and adopted.stats["resolved"] == 0
    assert adopted.notes == [
        "1 findings not seen again kept open: first run under the new identity engine:id@host:/var/lib/docker "
        "(was engine-1): resolves nothing this time"
    ]
    assert _scopes(engine) == [("engine:id@host:/var/lib/docker", "host")]
    # The rows kept their keys (so their findings their fingerprints); the new keys are aliases.
    with read_session(engine) as s:
        aliases = {r.alias for r in s.execute(select(alias_table.c.alias))}
    assert {"new-engine/c0", "new-engine/c1", "new-engine/c2"} <= aliases
    after = collect(engine, new, RULES)
    assert after.stats["resolved"] == 1 and after.stats["new"] == 0
    assert _status(engine)["TEST-PRIV:engine-1/c1:"] == "resolved"
    assert _status(engine)["TEST-PRIV:engine-1/c0:"] == "open"


def test_a_legacy_scope_and_its_rows_are_adopted_once(engine: Engine) -> None:
    """Two engines the previous release kept as one (one key file): the first adopts the scope and
    claims the rows it states; the second starts its own scope and cannot claim the first's rows."""
    collect(engine, FakeCollector(scope_name="engine-1", privileged=frozenset({0})), RULES)
    first = FakeCollector(scope_name="engine:a", legacy=("engine-1",), container_prefix="a",
                          legacy_prefix="engine-1", privileged=frozenset({0}))
    second = FakeCollector(scope_name="engine:b", legacy=("engine-1",), container_prefix="b",
                           legacy_prefix="engine-1", privileged=frozenset({0}))
    collect(engine, first, RULES)
    result = collect(engine, second, RULES)
    assert result.first_run and result.stats["new"] == 1
    assert sorted(name for name, _ in _scopes(engine)) == ["engine:a", "engine:b"]
    status = _status(engine)
    assert status["TEST-PRIV:engine-1/c0:"] == "open" and status["TEST-PRIV:b/c0:"] == "open"


def test_two_sources_the_previous_release_kept_in_one_scope_each_claim_their_own(engine: Engine) -> None:
    both = frozenset({0, 1, 2, 3})
    collect(engine, FakeCollector(scope_name="engine-1", containers=4, privileged=both), RULES)
    a = FakeCollector(scope_name="engine:a", legacy=("engine-1",), container_prefix="a", legacy_prefix="engine-1",
                      containers=2, privileged=both)
    b = FakeCollector(scope_name="engine:b", legacy=("engine-1",), container_prefix="b", legacy_prefix="engine-1",
                      containers=2, first_container=2, privileged=both)
    collect(engine, a, RULES)  # adopts the old scope, which still sights b's containers
    claimed = collect(engine, b, RULES)
    assert claimed.first_run and claimed.stats["new"] == 0  # its rows, claimed from the scope a adopted
    again = collect(engine, a, RULES)
    assert again.stats["resolved"] == 0  # b's findings are b's now
    assert set(_status(engine).values()) == {"open"} and len(_status(engine)) == 4


def test_a_legacy_key_is_claimed_only_from_the_adopted_scope(engine: Engine) -> None:
    """A manifest set keyed by the same name as a cluster's old keys is another source: not claimable."""
    collect(engine, FakeCollector(scope_name="manifests:x", privileged=frozenset({0})), RULES)
    cluster = FakeCollector(scope_name="cluster:uid", legacy=("engine-1",), container_prefix="uid",
                            legacy_prefix="engine-1", privileged=frozenset({0}))
    result = collect(engine, cluster, RULES)
    assert result.first_run and result.stats["new"] == 1
    with read_session(engine) as s:
        assert s.execute(select(alias_table.c.alias).where(alias_table.c.alias.like("uid/%"))).first() is None


# --- visible: the diff names the resolving run and what the window's runs kept open ------------


def test_the_diff_names_the_run_that_resolved_and_the_runs_that_kept_findings_open(engine: Engine) -> None:
    from posture.store.diff import load_diff, run_window, window_notes

    collect(engine, FakeCollector(scope_name="uid-1", label="prod", cves=CVES, privileged=frozenset({0, 1})), RULES)
    narrow = Coverage(severities=frozenset({Severity.CRITICAL}), notes=("--report-severity CRITICAL",))
    second = collect(engine, FakeCollector(scope_name="uid-1", label="prod", cves=(), privileged=frozenset({0}),
                                           stated_coverage=narrow), RULES)
    with read_session(engine) as s:
        window = run_window(s, None, second.run_id)
        rows = load_diff(s, window)
        notes = window_notes(s, window)
    assert window.label.endswith("(docker:prod)")
    resolved = [r for r in rows if r.entry.change == "resolved"]
    assert [r.asset_name for r in resolved] == ["c1"]
    assert resolved[0].resolver is not None
    assert resolved[0].resolver.describe() == f"run {second.run_id} (severities critical)"
    assert resolved[0].as_json()["resolved_by"] == {
        "run": second.run_id, "source": "docker:prod",
        "coverage": {"severities": ["critical"], "notes": ["--report-severity CRITICAL"]},
    }
    assert notes == [f"run {second.run_id} (docker:prod): 10 findings not seen again kept open: "
                     "--report-severity CRITICAL"]
