"""A loopback HTTP endpoint apprise's json:// posts to, recording every body (parsed, and raw as sent);
it can be told to answer 500, 429 or 400, or to hang. Used by the notify tests and the secret canary."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Receiver:
    """Every POST body is recorded; ``answers`` (status, headers) are consumed in order, then 200."""

    port: int
    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)  # each body exactly as sent
    accepted: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hang: threading.Event | None = None  # when set: requests wait for release before answering
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: int = 0  # requests whose answer has been written (or whose client had gone)
    done: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        """The json:// channel URL. ``rto``/``cto``: apprise's client gives up after 4 s by default, and on
        a loaded machine this loopback thread can take longer to answer; the client then retries and the
        tests count one message twice. Nothing here tests that timeout, so the client waits longer."""
        return f"json://127.0.0.1:{self.port}/hook?rto=60&cto=60"

    def answer(self, status: int, times: int = 1, **headers: str) -> None:
        with self.lock:
            self.answers.extend([(status, dict(headers))] * times)

    def messages(self) -> list[str]:
        return [b.get("message", "") for b in self.accepted]

    def wait_answered(self, timeout: float = 30) -> None:
        """Until every request received so far has been answered: a test waits on this event, not a sleep."""
        with self.done:
            if not self.done.wait_for(lambda: self.answered >= len(self.bodies), timeout):
                raise AssertionError(f"{len(self.bodies) - self.answered} request(s) still unanswered")


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw or b"{}")
            with receiver.lock:
                receiver.raw.append(raw)
                receiver.bodies.append(body)
                status, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
            receiver.arrived.set()
            if receiver.hang is not None and receiver.hang.is_set():
                receiver.release.wait(30)
            if 200 <= status < 300:
                with receiver.lock:
                    receiver.accepted.append(body)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.send_header("Content-Length", "0")
                self.end_headers()
            finally:
                with receiver.done:
                    receiver.answered += 1
                    receiver.done.notify_all()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], release: threading.Event) -> Iterator[int]:
    """A threaded HTTP server on a free loopback port (yielded) until the block ends; ``release`` is set
    first, so requests held waiting for it answer and the server can shut down."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        release.set()
        server.shutdown()
        server.server_close()


@contextmanager
def serving_receiver() -> Iterator[Receiver]:
    holder = Receiver(0)
    with serving(_handler(holder), holder.release) as port:
        holder.port = port
        yield holder
