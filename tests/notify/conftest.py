"""Loopback receivers for real deliveries: an HTTP endpoint apprise's json:// posts to (it can be
told to answer 500, 429 or 400, or to hang), and an SMTP server (aiosmtpd) for mailto://."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine

from posture.db import make_engine, resolve_url
from posture.migrations import upgrade


@dataclass
class Receiver:
    """Every POST body is recorded; ``answers`` (status, headers) are consumed in order, then 200."""

    port: int
    bodies: list[dict[str, Any]] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hang: threading.Event | None = None  # when set: requests wait for release before answering
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/hook"

    def answer(self, status: int, times: int = 1, **headers: str) -> None:
        with self.lock:
            self.answers.extend([(status, dict(headers))] * times)

    def messages(self) -> list[str]:
        return [b.get("message", "") for b in self.accepted]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            with receiver.lock:
                receiver.bodies.append(body)
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
            receiver.arrived.set()
            if receiver.hang is not None and receiver.hang.is_set():
                receiver.release.wait(30)
            if 200 <= status < 300:
                with receiver.lock:
                    receiver.accepted.append(body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder = Receiver(0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    server.daemon_threads = True
    holder.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield holder
    holder.release.set()
    server.shutdown()
    server.server_close()


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
