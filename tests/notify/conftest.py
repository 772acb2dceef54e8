"""Loopback receivers for real deliveries: the json:// endpoint of tests/chat_receiver.py, and an SMTP
server (aiosmtpd) for mailto://."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine

from posture.db import make_engine, resolve_url
from posture.migrations import upgrade
from tests.chat_receiver import Receiver, serving_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serving_receiver() as holder:
        yield holder


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.refuse_recipients: str | None = None  # e.g. "550 no such user": every RCPT answered so

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse_recipients:
            return self.refuse_recipients
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Mailbox]]:
    mailbox = _Mailbox()
    with socket.socket() as probe:  # aiosmtpd checks its own readiness, so it needs a real port up front
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = resolve_url(f"sqlite:///{tmp_path / 'posture.db'}")
    engine = make_engine(url)
    upgrade(engine, url)
    yield url, engine
    engine.dispose()
