"""The machine event stream (docs/events.md) to real receivers: a JSON-lines file, a webhook that checks
every HMAC, and Debian's rsyslogd over UDP, TCP and TLS, through a receiver outage and two kill -9s.

Counting: every change in the history must reach every sink; the jsonl file holds each event once;
webhook and syslog receivers may hold the event in flight at a kill twice, never more, and the test
counts distinct ids and duplicates separately (docs/events.md, "Delivery guarantee")."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from posture.acceptance import Acceptance, Reach
from posture.clock import utcnow
from posture.config import ConfigError, load_settings
from posture.db import make_engine, resolve_url, write_session
from posture.migrations import upgrade
from posture.model import finding_event_table, sink_cursor_table
from posture.notify.deliver import DeliveryPolicy
from posture.notify.events import Event, EventReader, event_id, stream_namespace
from posture.notify.sinks import JsonlSink, SinkError, signature, syslog_line
from posture.notify.stream import StreamDeliverer
from posture.pipeline import collect
from posture.secretkey import installation_key
from posture.store.exceptions import create_exception, revoke_exception
from posture.textsafe import json_line
from tests.notify.event_receivers import Rsyslog, Webhook, rsyslog, webhook
from tests.notify.notify_fakes import RULES, Cluster, Workload

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "event.schema.json").read_text())
FAST = DeliveryPolicy(inline_attempts=2, inline_delay=0.01, retry_delay=0.0)
SECRET = "hook-secret-5f1c0a"  # a test key, checked to never reach the database or output


@pytest.fixture(scope="module")
def syslog_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    with rsyslog(tmp_path_factory.mktemp("rsyslog")) as server:
        yield server


def _config(tmp_path: Path, hook: Webhook, server: Rsyslog, udp: bool = False) -> Path:
    path = tmp_path / "config.toml"
    sinks = [
        '[[sinks]]\nname = "file"\nkind = "jsonl"\npath = "events.jsonl"',
        f'[[sinks]]\nname = "siem"\nkind = "webhook"\nurl = "{hook.url}?token=abc"\nsecret_env = "HOOK_SECRET"',
        f'[[sinks]]\nname = "tcp"\nkind = "syslog"\nurl = "tcp://127.0.0.1:{server.tcp}"',
        f'[[sinks]]\nname = "tls"\nkind = "syslog"\nurl = "tls://127.0.0.1:{server.tls}"\n'
        f'ca_file = "{server.directory / "cert.pem"}"',
    ]
    if udp:
        sinks.append(f'[[sinks]]\nname = "udp"\nkind = "syslog"\nurl = "udp://127.0.0.1:{server.udp}"\n'
                     'facility = "authpriv"')
    path.write_text("\n".join(sinks) + "\n")
    return path


def _history(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(finding_event_table.c.id).order_by(finding_event_table.c.id)).scalars())


def _counts(ids: list[str]) -> tuple[int, int]:
    """(distinct ids, duplicates)."""
    counter = Counter(ids)
    return len(counter), sum(n - 1 for n in counter.values())


def _posture(url: str, config: Path, **popen: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "POSTURE_CONFIG": str(config), "HOOK_SECRET": SECRET, "PYTHONPATH": str(ROOT)}
    env.pop("POSTURE_NOTIFY", None)
    return subprocess.Popen([sys.executable, "-m", "posture.cli.main", "notify", "--db", url], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def test_every_event_reaches_every_sink_across_an_outage_and_kill_9(
    db: tuple[str, Engine], syslog_server: Rsyslog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, engine = db
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    server = syslog_server
    with webhook(SECRET.encode()) as hook:
        config = _config(tmp_path, hook, server, udp=True)
        settings = load_settings(config, {})
        cluster = Cluster([Workload("web"), Workload("batch", privileged=True, exposed=True)])

        # 1. A first collection: every event to every sink (UDP included), each valid against the schema.
        collect(engine, cluster, RULES)
        report = StreamDeliverer(engine, settings, FAST).flush()
        first = _history(engine)
        assert report.sent == 5 * len(first) and not report.failed
        lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
        for event in lines:
            jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(event)
        batch = next(e for e in lines if e["finding"]["rule"] == "K8S-TEST-PRIV")
        assert batch["type"] == "new" and batch["finding"]["severity"] == "critical"
        assert batch["asset"]["name"] == "shop/Deployment/batch"
        assert batch["asset"]["groups"] == {"cluster": ["prod-eu"], "namespace": ["prod-eu/shop"],
                                            "team": ["payments"]}
        assert batch["run"]["source"] == {"kind": "kubernetes", "name": "kubernetes:prod-eu"}
        assert batch["run"]["status"] == "complete" and batch["run"]["coverage"] == {}
        received = server.messages(wait_for=3 * len(first))
        assert {m[1] for m in received} == {"1"}  # rsyslog parsed each as RFC 5424
        by_sd = [m for m in received if f'id="{batch["id"]}"' in m[3]]
        assert len(by_sd) == 3 and all(m[4] == batch and m[2] == "new" for m in by_sd)  # tcp, tls, udp
        assert sorted(m[0] for m in by_sd) == ["tcp", "tls", "udp"]
        settings = load_settings(_config(tmp_path, hook, server), {})  # UDP has no acknowledgement: out now
        # 2. Receivers down (webhook 503, rsyslog stopped) while findings appear, resolve and get accepted.
        hook.refuse = True
        server.stop()
        cluster.workloads.append(Workload("ledger", privileged=True))
        cluster.workloads[0].privileged = True
        cluster.workloads.remove(cluster.workloads[1])
        collect(engine, cluster, RULES)
        _accept_then_revoke(engine)
        report = StreamDeliverer(engine, settings, FAST).flush()
        assert {sink.split()[0] for sink, _error in report.retrying} == {"siem", "tcp", "tls"}
        assert any("HTTP 503" in error for _sink, error in report.retrying)
        # 3. Receivers back: the backlog arrives, in order.
        server.start()
        hook.refuse = False
        report = StreamDeliverer(engine, settings, FAST).flush()
        assert not report.failed
        kinds = [json.loads(line)["type"] for line in (tmp_path / "events.jsonl").read_text().splitlines()]
        assert {"new", "resolved", "accepted", "exception-revoked"} <= set(kinds)
        revoked = [e for e in hook.verified if e["type"] == "exception-revoked"]
        assert revoked and revoked[0]["exception"]["revoked_by"] == "bob" and revoked[0]["run"] is None
        # 4. kill -9 while the webhook holds a request: the in-flight event is sent once more, nothing lost.
        cluster.workloads.append(Workload("vault", privileged=True))
        collect(engine, cluster, RULES)
        hook.hang = threading.Event()
        hook.hang.set()
        hook.arrived.clear()
        proc = _posture(url, config.parent / "config.toml")
        assert hook.arrived.wait(30), "posture notify never reached the webhook"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        hook.hang.clear()
        hook.release.set()
        done = _posture(url, config)
        out, err = done.communicate(timeout=60)
        assert done.returncode == 0, err
        before_fifth = len(_history(engine))
        # 5. kill -9 while rsyslog (stopped with SIGSTOP) has not closed the TCP batch: the batch is sent again.
        cluster.workloads.append(Workload("cache", privileged=True))
        collect(engine, cluster, RULES)
        total = len(_history(engine))
        server.pause(True)
        proc = _posture(url, config)
        deadline = time.monotonic() + 30
        while len({e["id"] for e in hook.verified}) < total and time.monotonic() < deadline:
            time.sleep(0.05)
        while server.unread_bytes(server.tcp) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # past the webhook: the TCP batch waits in rsyslog's queue for its close
        assert server.unread_bytes(server.tcp) > 0, "posture never sent the TCP batch to the stopped rsyslog"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        server.pause(False)
        done = _posture(url, config)
        out2, err2 = done.communicate(timeout=60)
        assert done.returncode == 0, err2

    # Count: every change in the history, in every sink; duplicates only where the design allows them.
    history = _history(engine)
    file_ids = [json.loads(line)["id"] for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert _counts(file_ids) == (len(history), 0)
    assert [json.loads(line)["seq"] for line in (tmp_path / "events.jsonl").read_text().splitlines()] == history
    assert _counts([e["id"] for e in hook.verified]) == (len(history), 1)  # the request in flight at the kill
    assert hook.forged == 0
    received = server.messages(wait_for=2 * len(history) + len(first))
    fifth = len(history) - before_fifth
    # TCP: the batch in flight at the second kill (step 5's events), sent again; TLS was not reached.
    assert _counts([m[4]["id"] for m in received if m[0] == "tcp"]) == (len(history), fifth)
    assert _counts([m[4]["id"] for m in received if m[0] == "tls"]) == (len(history), 0)

    # The webhook's secret and URL query never reach the database or the output.
    assert SECRET.encode() not in Path(url.removeprefix("sqlite:///")).read_bytes()
    assert b"token=abc" not in Path(url.removeprefix("sqlite:///")).read_bytes()
    assert SECRET not in out + err + out2 + err2 and "token=abc" not in out + err + out2 + err2


def test_sink_configuration_errors_name_the_sink(tmp_path: Path) -> None:
    cases = {
        'kind = "kafka"': "kind must be one of jsonl, webhook, syslog",
        'kind = "webhook"\nurl = "http://h/x"': "secret_env must name",
        'kind = "webhook"\nurl = "ftp://h/x"\nsecret_env = "S"': "http:// or https://",
        'kind = "syslog"\nurl = "tcp://h"': "with a host and a port",
        'kind = "syslog"\nurl = "udp://h:514"\nfacility = "kern"': "facility must be one of",
        'kind = "syslog"\nurl = "tcp://h:514"\nca_file = "ca.pem"': "ca_file is a path, for a tls:// sink only",
        'kind = "jsonl"': "needs a path",
        'kind = "jsonl"\npath = "x"\nsecret = "S"': "unknown key 'secret'",
    }
    for body, message in cases.items():
        path = tmp_path / "config.toml"
        path.write_text(f"[[sinks]]\n{body}\n")
        with pytest.raises(ConfigError, match=re.escape(f"{path}: sink 1: ") + ".*" + re.escape(message)):
            load_settings(path, {})
    path.write_text('[[sinks]]\nkind = "syslog"\nurl = "tls://h:6514"\nca_file = "ca.pem"\n')
    assert load_settings(path, {}).sinks[0].ca_file == str(tmp_path / "ca.pem")


def test_jsonl_resume_skips_only_this_installations_lines_and_cuts_a_torn_one(
    db: tuple[str, Engine], tmp_path: Path
) -> None:
    """The file is the jsonl sink's acknowledgement: a line it holds is never written twice."""
    _url, engine = db
    collect(engine, Cluster([Workload("web", privileged=True)]), RULES)
    with write_session(engine) as session:
        key = installation_key(session)
        events = EventReader(session, key).read(0, 10)
    path = tmp_path / "events.jsonl"
    path.write_text(events[0].json + "\n" + events[1].json[:20])  # a kill in the middle of a write
    sink = JsonlSink(path, key)
    assert sink.resume(0) == events[0].seq
    assert path.read_text() == events[0].json + "\n"
    assert sink.resume(events[1].seq) == events[1].seq  # never moves a cursor back
    assert JsonlSink(path, b"another installation key....xxxx").resume(0) == 0  # a foreign line: not ours
    assert JsonlSink(tmp_path / "absent.jsonl", key).resume(3) == 3


class _Flaky:
    """A receiver that acknowledges the first event of every batch, then fails."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def resume(self, cursor: int) -> int:
        return cursor

    def send(self, events: Sequence[Event], ack: Callable[[int], None]) -> None:
        self.batches.append([e.seq for e in events])
        ack(events[0].seq)
        raise SinkError("HTTP 503")


def test_cursor_moves_only_past_acknowledged_events(db: tuple[str, Engine], tmp_path: Path) -> None:
    _url, engine = db
    collect(engine, Cluster([Workload("web", privileged=True), Workload("api")]), RULES)
    config = tmp_path / "config.toml"
    config.write_text('[[sinks]]\nkind = "jsonl"\npath = "events.jsonl"\n')
    flaky = _Flaky()
    policy = DeliveryPolicy(inline_attempts=2, inline_delay=0.01, retry_delay=30)
    report = StreamDeliverer(engine, load_settings(config, {}), policy, open_=lambda _c, _k: flaky).flush()
    assert report.retrying == [(f"sink-1 ({tmp_path / 'events.jsonl'})", "HTTP 503")]
    history = _history(engine)
    # Two attempts within the flush; the second resends only what the first left unacknowledged.
    assert flaky.batches == [history, history[1:]]
    with engine.connect() as conn:
        cursor = conn.execute(select(sink_cursor_table)).one()
    assert cursor.last_event_id == history[1] and cursor.attempts == 1 and cursor.last_error == "HTTP 503"
    assert cursor.next_attempt_at > utcnow() + timedelta(seconds=20)
    assert StreamDeliverer(engine, load_settings(config, {}), policy,
                           open_=lambda _c, _k: flaky).flush().sent == 0  # not due yet: the backoff holds
    assert len(flaky.batches) == 2
    later = StreamDeliverer(engine, load_settings(config, {}), policy, open_=lambda _c, _k: flaky,
                            clock=lambda: utcnow() + timedelta(seconds=31))
    assert later.flush().sent == len(history) - 2 and flaky.batches[2:] == [history[2:]]  # acknowledged in full


def test_signature_covers_the_timestamp_and_syslog_severity_follows_the_change() -> None:
    assert signature(b"k", "100", b"{}") != signature(b"k", "101", b"{}")
    assert signature(b"k", "100", b"{}") != signature(b"k", "100", b"{ }")
    at = datetime(2026, 1, 2, 3, 4, 5, 600, tzinfo=UTC)
    new = syslog_line(Event(7, "u-1", "new", "critical", at, "{}"), 16, "h", 9)
    assert new == b'<130>1 2026-01-02T03:04:05.000600Z h posture 9 new [posture@32473 id="u-1" seq="7" type="new"] {}'
    resolved = syslog_line(Event(8, "u-2", "resolved", "critical", at, "{}"), 16, "h", 9)
    assert resolved.startswith(b"<134>1 ")  # informational: good news is never an alarm


def test_event_ids_are_uuid5_of_the_history_row_in_the_installations_namespace() -> None:
    namespace = stream_namespace(b"k" * 32)
    assert [event_id(namespace, seq) for seq in (1, 99_999)] == [str(uuid.uuid5(namespace, s)) for s in ("1", "99999")]
    assert stream_namespace(b"j" * 32) != namespace  # another installation: other ids


def _accept_then_revoke(engine: Engine) -> None:
    now = utcnow()
    with write_session(engine) as session:
        exc = create_exception(session, Acceptance(Reach(rule_id="K8S-TEST-LIMITS"), "batch jobs", "alice", "cli",
                                                   expires_at=now + timedelta(days=3)), now)
    with write_session(engine) as session:
        revoke_exception(session, exc, "bob", utcnow())  # records its own history rows


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_the_same_stream_on_both_databases(store: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Driver-level reads differ (SQLite returns text timestamps, PostgreSQL datetimes): the documents may not."""
    url = resolve_url(f"sqlite:///{tmp_path / 'posture.db'}" if store == "sqlite"
                      else request.getfixturevalue("fresh_postgres_db"))
    engine = make_engine(url)
    try:
        upgrade(engine, url)
        collect(engine, Cluster([Workload("web", privileged=True)]), RULES)
        _accept_then_revoke(engine)
        config = tmp_path / "config.toml"
        config.write_text('[[sinks]]\nkind = "jsonl"\npath = "events.jsonl"\n')
        assert not StreamDeliverer(engine, load_settings(config, {}), FAST).flush().failed
        events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
        validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
        for event in events:
            validator.validate(event)
        assert [e["seq"] for e in events] == _history(engine)
        assert [e["type"] for e in events] == ["new", "new", "accepted", "exception-revoked"]
        accepted, revoked = events[2], events[3]
        assert accepted["exception"]["owner"] == "alice" and accepted["exception"]["reason"] == "batch jobs"
        assert revoked["exception"]["revoked_by"] == "bob" and revoked["exception"]["revoked_at"].endswith("Z")
        assert events[0]["time"].endswith("Z") and events[0]["run"]["source"]["kind"] == "kubernetes"
    finally:
        engine.dispose()


def test_event_text_is_exact_for_a_parser_and_inert_in_a_file_or_terminal() -> None:
    hostile = {"name": "web\u202egnp.exe\x9b31m\x1b]52;c;eA==\x07", "team": "ops\U000e0041"}
    line = json_line(hostile)
    assert json.loads(line) == hostile
    assert line.isascii() and "\n" not in line
    assert json_line({"a": "x\x7fy"}) == '{"a":"x\\u007fy"}'  # the one unsafe ASCII character orjson leaves raw
