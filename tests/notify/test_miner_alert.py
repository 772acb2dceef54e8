"""Issue 15's done-when, over real deliveries: a crypto-miner DaemonSet (privileged, hostPID) appearing in
a cluster is announced by the default policy in exactly one message per channel (json:// to a loopback
receiver, mailto:// to a real SMTP server) that names the DaemonSet, its namespace, both findings and the
team; a quiet re-run sends nothing; a receiver outage loses nothing."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from sqlalchemy import update
from sqlalchemy.engine import Engine

from posture.cli.main import cli
from posture.model import outbox_table
from tests.chat_receiver import Receiver

APP = """apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: web, labels: {team: storefront}}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop, team: storefront}}
    spec:
      containers:
      - name: shop
        image: registry.example/shop@sha256:0000000000000000000000000000000000000000000000000000000000000000
"""
MINER = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: miner, namespace: mining, labels: {team: payments}}
spec:
  selector: {matchLabels: {app: miner}}
  template:
    metadata: {labels: {app: miner, team: payments}}
    spec:
      hostPID: true
      containers:
      - name: miner
        image: example/miner:latest
        securityContext: {privileged: true}
"""
SNIFFER = MINER.replace("name: miner", "name: sniffer").replace("hostPID", "hostNetwork")


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default)
        body = message.get_body(("plain",))
        self.messages.append(f"{message['subject']}\n{body.get_content() if body else ''}")
        return "250 OK"


class Mail:
    """An SMTP server that can be stopped and started again on the same port (an outage)."""

    def __init__(self) -> None:
        self.box = Mailbox()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def mail() -> Iterator[Mail]:
    server = Mail()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_the_miner_daemonset_is_announced_once_per_channel(db: tuple[str, Engine], receiver: Receiver, mail: Mail,
                                                           tmp_path: Path) -> None:
    url, engine = db
    config = tmp_path / "config.toml"
    config.write_text(f'[[channels]]\nname = "chat"\nurl = "{receiver.url}"\n\n[[channels]]\nname = "mail"\n'
                      f'url = "mailto://127.0.0.1:{mail.port}?from=posture@example.com&to=ops@example.com'
                      '&mode=insecure"\n', encoding="utf-8")
    manifests = tmp_path / "deploy"
    manifests.mkdir()
    (manifests / "app.yaml").write_text(APP, encoding="utf-8")
    runner = CliRunner()
    env = {"POSTURE_CONFIG": str(config), "POSTURE_NOTIFY": ""}

    def collect() -> str:
        result = runner.invoke(cli, ["collect", "--db", url, "--manifests", str(manifests),
                                     "--manifests-cluster", "prod-eu"], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    first = collect()  # the baseline: one summary per channel
    assert "notify chat: 1 message queued for cluster prod-eu (manifests) (1 first collection (baseline)" in first
    assert len(receiver.messages()) == len(mail.box.messages) == 1

    (manifests / "miner.yaml").write_text(MINER, encoding="utf-8")
    out = collect()
    assert "notify chat: 1 message queued for cluster prod-eu (manifests) (2 new risks; 2 findings)" in out
    assert "notify mail: 1 message queued for cluster prod-eu (manifests) (2 new risks; 2 findings)" in out
    chat, mailed = receiver.messages()[1:], mail.box.messages[1:]
    assert len(chat) == len(mailed) == 1  # exactly one message per channel
    for text in (chat[0], mailed[0]):
        assert "on cluster prod-eu / namespace mining / DaemonSet/miner; owner: team payments" in text
        assert "Privileged container: container miner: securityContext[.]privileged = true" in text
        assert "Pod shares a host namespace: hostPID = true" in text
        assert "open: posture findings --rule K8S-PSS-PRIVILEGED --search mining/DaemonSet/miner" in text
        assert "fix: Remove securityContext.privileged" in text
        assert str(manifests) not in text and "storefront" not in text  # the source by its cluster name

    quiet = collect()  # nothing changed: nothing sent
    assert "notify chat: nothing queued for cluster prod-eu (manifests): no change it listens for" in quiet
    assert len(receiver.messages()) == len(mail.box.messages) == 2

    # Outage: the mail server is down and the chat receiver fails; the next collection's message waits.
    mail.stop()
    receiver.answer(503, times=10)
    (manifests / "sniffer.yaml").write_text(SNIFFER, encoding="utf-8")
    down = collect()
    assert "notify mail: 1 message queued" in down
    assert len(receiver.messages()) == 2 and len(mail.box.messages) == 2
    mail.start()
    receiver.answers.clear()
    with engine.begin() as conn:  # the retry's backoff has passed
        conn.execute(update(outbox_table).values(next_attempt_at=None))
    again = runner.invoke(cli, ["notify", "--db", url], env=env)
    assert again.exit_code == 0 and "2 message(s) sent" in again.output, again.output
    for text in (receiver.messages()[2], mail.box.messages[2]):
        assert "DaemonSet/sniffer" in text and "hostNetwork = true" in text
    assert len(receiver.messages()) == len(mail.box.messages) == 3
