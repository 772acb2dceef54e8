"""What the outbox enqueues: routing, once per channel, no false all-clear, derived alerts, atomicity."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from posture.acceptance import Acceptance, Reach
from posture.config import Channel, Settings
from posture.db import make_engine, resolve_url, write_session
from posture.migrations import upgrade
from posture.model import finding_table, outbox_table
from posture.notify import outbox as outbox_module
from posture.notify.deliver import Deliverer, DeliveryPolicy, Outcome
from posture.notify.outbox import OutboxWriter
from posture.notify.policy import Message, Route, Thresholds
from posture.pipeline import collect
from posture.records import CollectorError
from posture.run_stages import RunStages
from posture.scoring.formula import explain
from posture.store.exceptions import create_exception
from posture.taxonomy import Severity
from tests.notify.notify_fakes import RULES, Cluster, Workload

FAST = DeliveryPolicy(inline_attempts=1, retry_delay=0.0)


class Inbox:
    """A sender that records messages per channel URL instead of sending them."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []

    def __call__(self, url: str, message: Message, now: datetime) -> Outcome:
        self.sent.append((url, message))
        return Outcome("sent")

    def bodies(self, url: str) -> list[str]:
        return [m.body for u, m in self.sent if u == url]


def _rows(engine: Engine, event: str | None = None) -> list[Any]:
    stmt = select(outbox_table).order_by(outbox_table.c.id)
    if event:
        stmt = stmt.where(outbox_table.c.event == event)
    with engine.connect() as conn:
        return list(conn.execute(stmt))


def test_routes_send_each_team_its_own_risks_once(db: tuple[str, Engine]) -> None:
    _url, engine = db
    settings = Settings(
        channels=(Channel("payments", "json://a.example/p"), Channel("search", "json://b.example/s"),
                  Channel("all", "json://c.example/x")),
        routes=(Route("payments", scope={"team": ("pay*",)}), Route("search", scope={"namespace": ("search",)}),
                Route("all", min_severity=Severity.CRITICAL)),
    )
    stages = RunStages(settings)
    cluster = Cluster([Workload("web")])
    collect(engine, cluster, RULES, stages=stages)
    cluster.workloads += [Workload("api", privileged=True, exposed=True, team="payments"),
                          Workload("indexer", namespace="search", privileged=True, exposed=True, team="search")]
    collect(engine, cluster, RULES, stages=stages)
    inbox = Inbox()
    Deliverer(engine, settings, FAST, sender=inbox).flush()
    pay, search, everything = (inbox.bodies(u) for u in ("json://a.example/p", "json://b.example/s",
                                                           "json://c.example/x"))
    # No baseline for payments: the first run held nothing at or above its threshold in its scope.
    assert len(pay) == 1 and "shop/Deployment/api" in pay[0] and "indexer" not in pay[0]
    assert "search/Deployment/indexer" in search[-1] and "shop/Deployment/api" not in search[-1]
    assert "api" in everything[-1] and "indexer" in everything[-1] and "K8S-TEST-LIMITS" not in everything[-1]
    # Enqueuing the same changes again (another writer, a retry) adds nothing: never a repeat.
    count = len(_rows(engine))
    with write_session(engine) as session:
        OutboxWriter(settings).sweep(session, datetime.now(UTC))
        outbox_module.enqueue(session, [{k: getattr(r, k) for k in ("channel", "event", "subject", "run_id",
                                                                     "payload", "status", "attempts", "created_at")}
                                        for r in _rows(engine)])
    assert len(_rows(engine)) == count


def test_baseline_is_one_summary_per_channel_whatever_it_finds(db: tuple[str, Engine]) -> None:
    _url, engine = db
    settings = Settings((Channel("ops", "json://a.example/p"),))
    cluster = Cluster([Workload(f"w{n}", privileged=True, exposed=True) for n in range(25)])
    collect(engine, cluster, RULES, stages=RunStages(settings))
    rows = _rows(engine)
    assert [r.event for r in rows] == ["baseline"]
    inbox = Inbox()
    Deliverer(engine, replace(settings, thresholds=Thresholds(top=5)), FAST, sender=inbox).flush()
    (body,) = inbox.bodies("json://a.example/p")
    assert "25 open findings this channel would be told about (25 critical;" in body
    assert "and 20 more" in body and body.count("--rule K8S-TEST-PRIV ") == 5


def test_partial_runs_never_send_resolutions(db: tuple[str, Engine]) -> None:
    _url, engine = db
    settings = Settings((Channel("ops", "json://a.example/p"),),
                              (Route("ops", events=frozenset({"resolved", "new"}), min_risk=0),))
    stages = RunStages(settings)
    cluster = Cluster([Workload("web", privileged=True), Workload("api", privileged=True)])
    collect(engine, cluster, RULES, stages=stages)
    cluster.workloads.pop()
    cluster.problems = ("kubernetes prod-eu: 403 listing deployments",)
    collect(engine, cluster, RULES, stages=stages)
    assert _rows(engine, "resolved") == []
    cluster.problems = ()
    collect(engine, cluster, RULES, stages=stages)  # complete: now it is really gone
    resolved = _rows(engine, "resolved")
    assert resolved and all(r.payload["asset"] == "shop/Deployment/api" for r in resolved)
    assert {r.payload["coverage"] for r in resolved} == {"full"}  # what the resolving run judged


def test_a_scope_that_is_always_partial_still_announces_what_is_new(db: tuple[str, Engine]) -> None:
    """One resource type forbidden for good: every run is partial, yet only the first is a baseline."""
    _url, engine = db
    settings = Settings((Channel("ops", "json://a.example/p"),))
    stages = RunStages(settings)
    cluster = Cluster([Workload("web")], problems=("kubernetes prod-eu: 403 listing cronjobs",))
    collect(engine, cluster, RULES, stages=stages)
    assert [r.event for r in _rows(engine)] == ["baseline"]
    cluster.workloads.append(Workload("api", privileged=True, exposed=True))
    collect(engine, cluster, RULES, stages=stages)
    new = _rows(engine, "new")
    assert len(new) == 1 and new[0].payload["asset"] == "shop/Deployment/api"
    assert [r.event for r in _rows(engine, "baseline")] == ["baseline"]


def test_collector_failing_twice_in_a_row_is_announced_once(db: tuple[str, Engine]) -> None:
    _url, engine = db
    settings = Settings((Channel("ops", "json://a.example/p"),))
    stages = RunStages(settings)
    cluster = Cluster([Workload("web")])
    collect(engine, cluster, RULES, stages=stages)
    cluster.problems = ("kubernetes prod-eu: 403 listing pods",)
    collect(engine, cluster, RULES, stages=stages)
    assert _rows(engine, "collector") == []  # once is noise
    collect(engine, cluster, RULES, stages=stages)
    collect(engine, cluster, RULES, stages=stages)
    first = _rows(engine, "collector")
    assert len(first) == 1 and first[0].payload["statuses"] == ["partial", "partial"]
    cluster.problems = ()
    collect(engine, cluster, RULES, stages=stages)

    class Broken(Cluster):
        def collect(self) -> Any:
            raise CollectorError("kubernetes prod-eu: connection refused")

    broken = Broken(name=cluster.name)
    for _ in range(2):  # failed runs have no transaction to hook: the sweep before delivery finds them
        collect(engine, broken, RULES, stages=stages)
    Deliverer(engine, settings, FAST, sender=Inbox()).flush()
    with write_session(engine) as session:
        OutboxWriter(settings).sweep(session, datetime.now(UTC))
    rows = _rows(engine, "collector")
    assert len(rows) == 2 and rows[1].payload["error"] == "kubernetes prod-eu: connection refused"


def test_exception_expiring_and_expired(db: tuple[str, Engine]) -> None:
    _url, engine = db
    settings = Settings((Channel("ops", "json://a.example/p"),), (Route("ops", min_risk=0),))
    stages = RunStages(settings)
    cluster = Cluster([Workload("web", privileged=True)])
    collect(engine, cluster, RULES, stages=stages)
    now = datetime.now(UTC)
    with write_session(engine) as session:
        create_exception(session, Acceptance(Reach(rule_id="K8S-TEST-PRIV"), "migration <https://evil.example>", "ops",
                                              "cli", expires_at=now + timedelta(days=2)), now)
    inbox = Inbox()
    with write_session(engine) as session:
        OutboxWriter(settings).sweep(session, now)
        OutboxWriter(settings).sweep(session, now)
    Deliverer(engine, settings, FAST, sender=inbox).flush()
    expiring = [b for b in inbox.bodies("json://a.example/p") if "expiring soon" in b]
    assert len(expiring) == 1 and "evil[.]example" in expiring[0] and "https://" not in expiring[0]
    collect(engine, cluster, RULES, now=now + timedelta(days=3), stages=stages)
    expired = _rows(engine, "exception-expired")
    assert len(expired) == 1 and expired[0].payload["asset"] == "shop/Deployment/web"


def test_scope_risk_rising_past_the_threshold(db: tuple[str, Engine]) -> None:
    _url, engine = db
    route = Route("ops", events=frozenset({"scope-risk"}))
    settings = Settings((Channel("ops", "json://a.example/p"),), (route,), Thresholds(scope_risk=15))
    stages = RunStages(settings)
    cluster = Cluster([Workload("web"), Workload("db", namespace="data")])
    collect(engine, cluster, RULES, stages=stages)
    cluster.workloads += [Workload(f"bad{n}", namespace="data", privileged=True, exposed=True) for n in range(3)]
    collect(engine, cluster, RULES, stages=stages)
    rows = _rows(engine, "scope-risk")
    assert {(r.payload["dimension"], r.payload["group"]) for r in rows} >= {("namespace", "prod-eu/data")}
    assert all(r.payload["previous_risk"] < 15 <= r.payload["risk"] for r in rows)
    collect(engine, cluster, RULES, stages=stages)
    assert len(_rows(engine, "scope-risk")) == len(rows)  # still high: not announced again


def test_the_outbox_commits_with_the_findings_or_not_at_all(db: tuple[str, Engine],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _url, engine = db
    settings = Settings((Channel("ops", "json://a.example/p"),))
    cluster = Cluster([Workload("web", privileged=True)])
    collect(engine, cluster, RULES, stages=RunStages(settings))

    def broken(*_args: Any) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(outbox_module, "enqueue", broken)
    cluster.workloads.append(Workload("api", privileged=True))
    with pytest.raises(RuntimeError):
        collect(engine, cluster, RULES, stages=RunStages(settings))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(finding_table)).scalar() == 2  # web's two only
    assert [r.event for r in _rows(engine)] == ["baseline"]


def test_no_secret_value_reaches_a_message(db: tuple[str, Engine]) -> None:
    _url, engine = db
    settings = Settings((Channel("ops", "json://a.example/p"),))
    stages = RunStages(settings)
    cluster = Cluster([Workload("web")])
    collect(engine, cluster, RULES, stages=stages)
    token = "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8"
    cluster.workloads.append(Workload("api", privileged=True, exposed=True, team=f"owner {token}"))
    collect(engine, cluster, RULES, stages=stages)
    inbox = Inbox()
    Deliverer(engine, settings, FAST, sender=inbox).flush()
    body = inbox.bodies("json://a.example/p")[-1]
    assert "shop/Deployment/api" in body and token not in body and "gh… (sha256:" in body and "chars" not in body


def test_postgresql_scoring_outbox_and_delivery(fresh_postgres_db: str) -> None:
    """The dialect-specific parts (ON CONFLICT, factors bound as JSON text, advisory locks) on a real server."""
    url = resolve_url(fresh_postgres_db)
    engine = make_engine(url)
    upgrade(engine, url)
    try:
        settings = Settings((Channel("ops", "json://a.example/p"),))
        stages = RunStages(settings)
        cluster = Cluster([Workload("web")])
        collect(engine, cluster, RULES, stages=stages)
        cluster.workloads.append(Workload("api", privileged=True, exposed=True))
        collect(engine, cluster, RULES, stages=stages)
        collect(engine, cluster, RULES, stages=stages)
        with engine.connect() as conn:
            factors = conn.execute(select(finding_table.c.risk_factors).where(
                finding_table.c.rule_id == "K8S-TEST-PRIV")).scalar_one()
        assert explain(factors)["exposure"]["value"] == "internet-exposed"
        assert [r.event for r in _rows(engine)] == ["baseline", "new"]
        inbox = Inbox()
        assert Deliverer(engine, settings, FAST, sender=inbox).flush().sent == 2
        assert Deliverer(engine, settings, FAST, sender=inbox).flush().sent == 0
    finally:
        engine.dispose()
