"""The TUI's read queries: keyset, offset and reverse pages agree with one full ordering; counts,
diffs, the estate tree and the lifecycle trace match the fixture estate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from posture.db import read_session, write_session
from posture.model import asset_table, finding_table, score_table
from posture.pipeline import collect
from posture.records import AssetKind, AssetRecord, ObservationRecord, Record, ScopeKind, ScopeRef
from posture.store.estate_queries import image_choices, lifecycle_trace, load_estate
from posture.store.queries import FindingFilter, latest_runs
from posture.store.sqltext import contains_ci, unindexed
from posture.store.tui_queries import ORDERS, count_matching, finding_page, run_changes
from posture.taxonomy import Phase, Severity
from tests.tui.tui_estate import IMAGE, IMAGE_A, NOW, RULES, T1, ListCollector

#: A score snapshot's ``counts`` as scoring writes them, cut to one namespace.
SNAPSHOT = {
    "groups": {
        "namespace": {
            "prod/payments": {"score": 80.0, "grade": "B", "open": 1, "max_risk": 57, "severities": {"high": 1}}
        }
    }
}
SEVERITIES = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]


@pytest.fixture
def many(engine: Engine) -> Engine:
    """1,234 more findings with many ties in risk and severity, to cross chunk boundaries."""
    records: list[Record] = [AssetRecord(IMAGE.kind, IMAGE.key, "registry.test/shop/api:1.4", Phase.BUILD, {})]
    records += [
        ObservationRecord(
            "VULN", IMAGE, f"CVE-2023-{n:05d}|pkg|1", f"CVE-2023-{n:05d} in pkg{n % 7}", SEVERITIES[n % 5]
        )
        for n in range(1234)
    ]
    collect(engine, ListCollector(ScopeRef(ScopeKind.REPORT, "bulk"), records), RULES, now=T1 + timedelta(minutes=5))
    return engine


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize(
    "flt",
    [
        FindingFilter(statuses=("open",)),
        FindingFilter(),
        FindingFilter(statuses=("open",), text="pkg3"),
        FindingFilter(min_severity=Severity.HIGH, phases=("build",)),
    ],
)
def test_keyset_offset_and_reverse_pages_agree(many: Engine, order: str, flt: FindingFilter) -> None:
    with read_session(many) as session:
        total = count_matching(session, flt)
        everything = finding_page(session, flt, order, 10_000)
        assert len(everything) == total > 0
        assert len({r.id for r in everything}) == total
        keys = [r.sort_key(order) for r in everything]
        assert keys == sorted(keys, reverse=ORDERS[order][1])
        by_keyset, after = [], None
        while True:
            page = finding_page(session, flt, order, 97, after=after)
            if not page:
                break
            by_keyset += page
            after = page[-1].sort_key(order)
        assert [r.id for r in by_keyset] == [r.id for r in everything]
        middle = finding_page(session, flt, order, 50, offset=total // 3)
        assert [r.id for r in middle] == [r.id for r in everything[total // 3 : total // 3 + 50]]
        tail = finding_page(session, flt, order, 40, offset=0, reverse=True)
        assert [r.id for r in tail] == [r.id for r in everything[-40:]]


def test_text_matches_rule_title_and_asset_case_insensitively(engine: Engine) -> None:
    with read_session(engine) as session:

        def count(text: str) -> int:
            return count_matching(session, FindingFilter(statuses=("open",), text=text))

        assert count("VULN") == count("vuln") == 2
        assert count("OpenSSL") == 2
        assert count("PAYMENTS/deployment") == 1
        assert count("API_TOKEN") == 1
        assert count("API%TOKEN") == count("secret_in") == 0, "% and _ are literal, not wildcards"


def test_source_filter_follows_current_sightings(engine: Engine) -> None:
    with read_session(engine) as session:
        rules = {r.rule_id for r in finding_page(session, FindingFilter(sources=("kubernetes",)), "risk", 50)}
        assert rules == {"K8S-T01"}
        assert count_matching(session, FindingFilter(sources=("report",), statuses=("open",))) == 4


def test_run_changes_counts_what_the_latest_runs_recorded(engine: Engine) -> None:
    with read_session(engine) as session:
        latest = [r["id"] for r in latest_runs(session)]
        counts, top = run_changes(session, latest, limit=2)
    assert counts == {"new": 1, "regressed": 1, "resolved": 1}
    assert [c.change for c in top] == ["new", "regressed"] or [c.change for c in top] == ["regressed", "new"]
    assert all(c.risk >= 0 and c.rule_id in ("VULN", "K8S-T01") for c in top)


def test_estate_tree_by_source_with_rolled_up_risk(engine: Engine) -> None:
    with read_session(engine) as session:
        index = load_estate(session)
        risk_of = {
            r.asset_id: r.risk
            for r in session.execute(
                select(finding_table.c.asset_id, finding_table.c.risk).where(finding_table.c.status == "open")
            )
        }
        ids = {r.key: r.id for r in session.execute(select(asset_table.c.key, asset_table.c.id))}
    cluster = index.roots_of("Kubernetes")[0]
    namespace = index.children_of(cluster.id)[0]
    workload = next(n for n in index.children_of(namespace.id) if n.kind == "k8s-workload")
    assert [n.kind for n in index.children_of(workload.id)] == ["k8s-pod"]
    assert index.risk(cluster.id).max_risk == risk_of[ids["prod/payments/Deployment/api"]]
    engine_node = index.roots_of("Docker")[0]
    assert index.risk(engine_node.id).count == 2
    tag = index.children_of(index.children_of(index.roots_of("Registries")[0].id)[0].id)[0]
    assert [n.key for n in index.children_of(tag.id)] == [IMAGE_A], "a tag shows the image it points to"


def test_lifecycle_trace_and_image_choices(engine: Engine) -> None:
    with read_session(engine) as session:
        choices = image_choices(session)
        assert [(c["key"], c["findings"], c["running"]) for c in choices] == [(IMAGE_A, 4, 3)]
        assert image_choices(session, "no-such-image") == []
        trace = lifecycle_trace(session, choices[0]["id"])
    assert trace is not None
    assert {f["rule_id"] for f in trace.build} == {"VULN", "IMG-T01", "IMG-T02"}
    assert [(t["registry"], t["repository"], t["name"]) for t in trace.distribute] == [
        ("registry.test", "registry.test/shop/api", "registry.test/shop/api:1.4")
    ]
    assert {a["kind"] for a in trace.run} == {"container", "k8s-workload", "k8s-pod"}
    assert trace.combined.count == 6 and trace.combined.max_severity_rank == Severity.CRITICAL.rank


def test_sql_spelling_per_database() -> None:
    cond = contains_ci(finding_table.c.title, "50%_off")
    pg = str(cond.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))
    lite = str(cond.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    assert pg.replace("%%", "%") == "finding.title ILIKE '%50\\%\\_off%' ESCAPE '\\'"  # %% is the driver's %
    assert lite == "finding.title LIKE '%50\\%\\_off%' ESCAPE '\\'"
    assert str(unindexed(finding_table.c.status).compile(dialect=sqlite.dialect())) == "+finding.status"
    assert str(unindexed(finding_table.c.status).compile(dialect=postgresql.dialect())) == "finding.status"


def test_now_is_after_the_estate() -> None:
    assert NOW > T1  # the fixture clock the app runs with
    assert AssetKind.IMAGE.value == "image"


def test_the_same_reads_on_postgresql(fresh_postgres_db: str) -> None:
    """Row-value keysets, ILIKE and the grouped counts behave the same on the shared-store database."""
    from posture.db import make_engine, resolve_url
    from posture.migrations import upgrade
    from posture.reports.overview import GroupRisk, load_overview
    from tests.tui.tui_estate import build_estate

    url = resolve_url(fresh_postgres_db)
    pg = make_engine(url)
    try:
        upgrade(pg, url)
        build_estate(pg)
        with read_session(pg) as session:
            for order in ORDERS:
                everything = finding_page(session, FindingFilter(), order, 100)
                pages, after = [], None
                while page := finding_page(session, FindingFilter(), order, 3, after=after):
                    pages += page
                    after = page[-1].sort_key(order)
                assert [r.id for r in pages] == [r.id for r in everything] and len(everything) == 9
            assert count_matching(session, FindingFilter(statuses=("open",), text="OPENSSL")) == 2
            latest = [r["id"] for r in latest_runs(session)]
            assert set(run_changes(session, latest)[0]) == {"new", "resolved", "regressed"}
        with write_session(pg) as session:  # risk by group is read back from the snapshot's JSON
            session.execute(
                insert(score_table).values(run_id=None, taken_at=NOW, score=61.0, grade="D", counts=SNAPSHOT)
            )
        with read_session(pg) as session:
            overview = load_overview(session, NOW, groups=True)
            assert overview.counts.open_total == 8 and overview.headline.score is not None
            assert overview.by_namespace == [GroupRisk("prod/payments", 80.0, "B", 1, 0, 1, 57)]
            assert load_estate(session).roots_of("Kubernetes")[0].name == "prod"
    finally:
        pg.dispose()
