"""Delivery you can trust, with real apprise: "sent" only when a request reached the service, and no
channel secret in anything Posture shows, logs or stores, for every service apprise lists."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from posture.cli.delivery import echo_report
from posture.cli.main import cli
from posture.clock import utcnow
from posture.config import Channel, Settings
from posture.model import outbox_table
from posture.notify.deliver import UNCONFIRMED, Deliverer, DeliveryPolicy, Observation, classify, send_apprise
from posture.notify.display import display_url
from posture.notify.policy import Message
from posture.pipeline import collect
from posture.run_stages import RunStages
from tests.chat_receiver import Receiver
from tests.notify.apprise_schemas import ServiceURL, service_urls
from tests.notify.notify_fakes import RULES, Cluster, Workload

ONCE = DeliveryPolicy(inline_attempts=1, retry_delay=0.0)
MESSAGE = Message("Posture: 1 new risk", "shop/Deployment/api: privileged container")
#: The services the red team found showing their key as the URL's host.
HOST_IS_THE_KEY = {"opsgenie": "opsgenie://", "pbul": "pbul://", "pagerduty": "pagerduty://",
                   "prowl": "prowl://", "join": "join://", "spush": "spush://", "pover": "pover://"}


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No name resolves but loopback's: what a machine without network sees, and no canary leaves it."""
    real = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


@pytest.fixture(scope="module")
def services() -> list[ServiceURL]:
    return list(service_urls())


def _statuses(engine: Engine) -> dict[str, set[str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(outbox_table.c.channel, outbox_table.c.status)).all()
    out: dict[str, set[str]] = {}
    for channel, status in rows:
        out.setdefault(channel, set()).add(status)
    return out


def _leaks(text: str, services: list[ServiceURL]) -> list[str]:
    folded = text.lower()
    return [f"{s.service}: {c}" for s in services for c in s.canaries if c.lower() in folded]


def test_sent_is_decided_from_the_wire() -> None:
    now = utcnow()
    assert classify(True, [], now).state == "dead" and classify(True, [], now).detail == UNCONFIRMED
    assert classify(False, [], now).state == "retry"  # a failure with nothing seen: tried again
    assert classify(True, [Observation(200)], now).state == "sent"
    assert classify(True, [Observation(None, smtp=250)], now).state == "sent"  # the server accepted the mail
    assert classify(False, [Observation(None, smtp=250)], now).state == "retry"  # accepted, yet apprise failed
    assert classify(True, [Observation(None, error="ConnectionError")], now).state == "retry"


def test_a_plugin_that_sends_nothing_is_not_sent(offline: None) -> None:
    """Opsgenie turns a type mapped to ``note`` into a note on an earlier alert; with none, it sends nothing
    and reports success. Mapped that way by the URL, it is unconfirmed (dead-lettered), never sent."""
    silent = send_apprise("opsgenie://c4n4rykey?:warning=note", MESSAGE, utcnow())
    assert (silent.state, silent.detail) == ("dead", UNCONFIRMED)
    syslog = send_apprise("syslog://", MESSAGE, utcnow())  # a local transport Posture cannot observe
    assert (syslog.state, syslog.detail) == ("dead", UNCONFIRMED)


def test_opsgenie_without_network_is_not_sent_and_json_that_arrives_is(
    db: tuple[str, Engine], receiver: Receiver, offline: None
) -> None:
    url, engine = db
    opsgenie = Channel("pager", "opsgenie://rtcanaryopsgenieapikey")
    settings = Settings((opsgenie, Channel("ops", receiver.url)))
    for _ in range(3):  # the red team's three runs
        collect(engine, Cluster([Workload("api", privileged=True, exposed=True)]), RULES,
                stages=RunStages(settings))
        report = Deliverer(engine, settings, ONCE).flush()
        assert report.retrying == [("opsgenie://", "network error: ConnectionError")]
    assert len(receiver.accepted) == 1  # the json:// channel's one digest reached the receiver: sent
    assert sorted(map(sorted, _statuses(engine).values())) == [["retry"], ["sent"]]
    status = CliRunner().invoke(cli, ["notify", "--db", url, "--status", "--notify", opsgenie.url,
                                      "--notify", receiver.url], env={"POSTURE_CONFIG": "/nonexistent"})
    assert status.exit_code == 0 and "rtcanary" not in status.output
    test = CliRunner().invoke(cli, ["notify", "--db", url, "--test", "--notify", opsgenie.url],
                              env={"POSTURE_CONFIG": "/nonexistent"})
    assert test.exit_code == 1 and "cli-1 (opsgenie://): failed: network error" in test.output
    assert "rtcanary" not in test.output



def test_no_apprise_service_shows_its_secret(services: list[ServiceURL]) -> None:
    """Every service apprise lists, a canary in every private token: the display never holds one."""
    with_secrets = [s for s in services if s.canaries]
    assert len(with_secrets) > 150 and set(HOST_IS_THE_KEY) <= {s.scheme for s in services if s.parsed}
    for service in services:
        shown = display_url(service.url)
        assert not _leaks(shown, [service]), (service.service, shown)
        if not service.parsed:  # apprise cannot parse it (or the plugin is disabled here): scheme only
            assert shown == f"{service.scheme}://", (service.service, shown)
        if service.scheme in HOST_IS_THE_KEY:
            assert shown == HOST_IS_THE_KEY[service.scheme]
    assert display_url("json://127.0.0.1:9/hook") == "json://127.0.0.1"  # a host that is no secret is shown


def test_no_channel_secret_is_printed_logged_or_stored(
    db: tuple[str, Engine], tmp_path: Path, services: list[ServiceURL], offline: None,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    """One channel per apprise service: collect, deliver (nothing can be sent offline), show the outbox,
    test every channel; then look for the canaries in the output, Posture's logs and the database files."""
    url, engine = db
    urls = list(dict.fromkeys(s.url for s in services))
    settings = Settings(tuple(Channel(f"s{n}", u) for n, u in enumerate(urls)))
    collect(engine, Cluster([Workload("api", privileged=True, exposed=True)]), RULES,
            stages=RunStages(settings))
    report = Deliverer(engine, settings, ONCE).flush()
    echo_report(report)
    assert report.sent == 0 and len(report.retrying) + len(report.dead) == len(urls)
    args = [a for u in urls for a in ("--notify", u)]
    env = {"POSTURE_CONFIG": str(tmp_path / "none.toml"), "POSTURE_NOTIFY": ""}
    shown = [CliRunner().invoke(cli, ["notify", "--db", url, *flag, *args], env=env) for flag in
             (["--status"], ["--status", "--format", "json"], ["--test"])]  # (a flush waits between tries)
    assert [r.exit_code for r in shown] == [0, 0, 1] and "ok\n" not in shown[2].output
    engine.dispose()
    stored = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()).decode("latin-1")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("posture"))
    printed = capsys.readouterr().err + "".join(r.output for r in shown)
    assert _leaks(printed, services) == [] and _leaks(logged, services) == [] and _leaks(stored, services) == []
