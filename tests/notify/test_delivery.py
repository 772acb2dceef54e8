"""Delivery over real loopback services: HTTP status handling, Retry-After, dead letters, e-mail."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from posture.cli.main import cli
from posture.config import Channel, Settings
from posture.locks import try_lock
from posture.model import outbox_table
from posture.notify.deliver import DELIVERY_LOCK, Deliverer, DeliveryPolicy, Observation, classify, parse_retry_after
from posture.notify.outbox import DEAD, RETRY
from posture.pipeline import collect
from posture.run_stages import RunStages
from tests.chat_receiver import Receiver
from tests.notify.notify_fakes import RULES, Cluster, Workload

FAST = DeliveryPolicy(inline_attempts=2, inline_delay=0.01, retry_delay=0.0)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(outbox_table).order_by(outbox_table.c.id)))


def _one_new_risk(engine: Engine, settings: Settings) -> None:
    """A baseline (delivered) then one new privileged workload waiting in the outbox."""
    stages = RunStages(settings)
    cluster = Cluster([Workload("web")])
    collect(engine, cluster, RULES, stages=stages)
    Deliverer(engine, settings, FAST).flush()
    cluster.workloads.append(Workload("api", privileged=True, exposed=True))
    collect(engine, cluster, RULES, stages=stages)


def test_429_waits_for_retry_after(db: tuple[str, Engine], receiver: Receiver) -> None:
    _url, engine = db
    settings = Settings((Channel("ops", receiver.url),))
    _one_new_risk(engine, settings)
    clock = Clock()
    slept: list[float] = []
    deliverer = Deliverer(engine, settings, FAST, clock=clock, sleep=slept.append)
    receiver.answer(429, Retry_After="120")
    report = deliverer.flush()
    assert report.retrying == [("json://127.0.0.1", "HTTP 429 (Retry-After 120s)")]
    assert slept == []  # 120 s is longer than a flush waits: scheduled instead
    row = _rows(engine)[-1]
    assert row.status == "retry" and row.next_attempt_at >= clock.now + timedelta(seconds=119)
    assert deliverer.flush().sent == 0 and len(receiver.bodies) == 2  # not due yet: not even tried
    clock.now += timedelta(seconds=121)
    assert deliverer.flush().sent == 1
    assert "shop/Deployment/api" in receiver.messages()[-1] and len(receiver.accepted) == 2


def test_short_retry_after_is_waited_within_the_flush(db: tuple[str, Engine], receiver: Receiver) -> None:
    _url, engine = db
    settings = Settings((Channel("ops", receiver.url),))
    _one_new_risk(engine, settings)
    slept: list[float] = []
    receiver.answer(429, Retry_After="2")
    report = Deliverer(engine, settings, FAST, sleep=slept.append).flush()
    assert report.sent == 1 and slept == [2.0]


def test_4xx_is_dead_lettered_after_one_try_and_reported(db: tuple[str, Engine], receiver: Receiver) -> None:
    url, engine = db
    settings = Settings((Channel("ops", receiver.url),))
    _one_new_risk(engine, settings)
    assert [r.status for r in _rows(engine)] == ["sent", "pending"]  # the baseline is out of the way
    before = len(receiver.bodies)
    receiver.answer(400)
    report = Deliverer(engine, settings, FAST).flush()
    assert report.dead and report.dead[0][1].startswith("HTTP 400") and len(receiver.bodies) == before + 1
    assert _rows(engine)[-1].status == "dead" and _rows(engine)[-1].attempts == 1
    assert Deliverer(engine, settings, FAST).flush().sent == 0 and len(receiver.bodies) == before + 1  # never retried
    status = CliRunner().invoke(cli, ["notify", "--db", url, "--status", "--notify", receiver.url],
                                env={"POSTURE_CONFIG": "/nonexistent"})
    assert status.exit_code == 0 and "1 dead" in status.output and "HTTP 400" in status.output
    assert "/hook" not in status.output  # the channel is shown without its path


def test_network_error_is_retried_and_nothing_is_lost(db: tuple[str, Engine], receiver: Receiver) -> None:
    _url, engine = db
    down = Settings((Channel("ops", "json://127.0.0.1:9/hook"),))  # discard port: refused
    _one_new_risk(engine, down)
    report = Deliverer(engine, down, FAST).flush()
    assert report.retrying and "network error" in report.retrying[0][1]
    assert all(r.status == "retry" for r in _rows(engine))


def test_classification_of_http_outcomes() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert classify(True, [Observation(500), Observation(200)], now).state == "sent"  # apprise's own retry won
    assert classify(True, [Observation(404)], now).state == "dead"  # a plugin that did not check the status
    assert classify(False, [Observation(503, "7")], now).retry_after == 7.0
    assert classify(False, [Observation(None, error="ReadTimeout")], now).state == "retry"
    assert classify(False, [], now).state == "retry"  # SMTP and other non-HTTP failures
    assert classify(False, [Observation(301)], now).state == "dead"
    assert parse_retry_after("Wed, 01 Jan 2025 00:01:00 GMT", now) == 60.0
    assert parse_retry_after("soon", now) is None


def test_mailto_to_a_local_smtp_server(db: tuple[str, Engine], smtp_server: tuple[int, Any]) -> None:
    _url, engine = db
    port, mailbox = smtp_server
    channel = Channel("mail", f"mailto://127.0.0.1:{port}?from=posture@example.com&to=ops@example.com&mode=insecure")
    settings = Settings((channel,))
    stages = RunStages(settings)
    cluster = Cluster([Workload("web")])
    collect(engine, cluster, RULES, stages=stages)
    cluster.workloads.append(Workload("api", privileged=True, exposed=True, team="<b>ops</b> @here"))
    collect(engine, cluster, RULES, stages=stages)
    report = Deliverer(engine, settings, FAST).flush()
    assert report.sent == 2 and len(mailbox.messages) == 2
    mail = email.message_from_bytes(mailbox.messages[-1], policy=default)
    body = mail.get_content()
    assert mail["Subject"].startswith("Posture: 1 new risk") and mail.get_content_type() == "text/plain"
    assert "shop/Deployment/api" in body and "<b>" not in body and "@here" not in body


@pytest.mark.parametrize(("reply", "state"), [("550 5.1.1 no such user", DEAD), ("451 4.3.0 try later", RETRY)])
def test_a_mail_server_refusal_is_dead_lettered_only_when_permanent(
    db: tuple[str, Engine], smtp_server: tuple[int, Any], reply: str, state: str
) -> None:
    _url, engine = db
    port, mailbox = smtp_server
    mailbox.refuse_recipients = reply
    channel = Channel("mail", f"mailto://127.0.0.1:{port}?from=posture@example.com&to=ops@example.com&mode=insecure")
    settings = Settings((channel,))
    collect(engine, Cluster([Workload("api", privileged=True, exposed=True)]), RULES,
            stages=RunStages(settings))
    report = Deliverer(engine, settings, FAST).flush()
    rows = _rows(engine)
    assert report.sent == 0 and mailbox.messages == [] and rows and all(r.status == state for r in rows)
    tries = 1 if state == DEAD else FAST.inline_attempts  # a permanent refusal is not tried again
    assert all(r.attempts == tries and f"SMTP {reply[:3]}" in r.last_error for r in rows)


def test_notify_test_and_missing_channels(receiver: Receiver, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"POSTURE_CONFIG": str(tmp_path / "none.toml"), "POSTURE_NOTIFY": ""}
    db = f"sqlite:///{tmp_path / 'p.db'}"
    ok = runner.invoke(cli, ["notify", "--db", db, "--test", "--notify", receiver.url], env=env)
    assert ok.exit_code == 0 and "json://127.0.0.1): ok" in ok.output
    assert receiver.messages() == ["This channel is configured for Posture notifications.\n"
                                   "Nothing is wrong: this is the test requested with posture notify --test."]
    receiver.answer(403)
    refused = runner.invoke(cli, ["notify", "--db", db, "--test", "--notify", receiver.url], env=env)
    assert refused.exit_code == 1 and "failed: HTTP 403" in refused.output and "/hook" not in refused.output
    none = runner.invoke(cli, ["notify", "--db", db], env=env)
    assert none.exit_code == 2 and "no notification channel" in none.output


def test_a_second_deliverer_backs_off_while_one_is_busy(db: tuple[str, Engine]) -> None:
    _url, engine = db
    settings = Settings((Channel("ops", "json://127.0.0.1:9/hook"),))
    with try_lock(engine, DELIVERY_LOCK) as held:
        assert held
        assert Deliverer(engine, settings, FAST).flush().busy
    assert not Deliverer(engine, settings, FAST).flush().busy
