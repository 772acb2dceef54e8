"""A scripted hostile HTTP server on loopback: every request gets the same misbehaviour.

The failures a real Docker engine, API server or registry never produces on demand: an endless body
(chunked, or under a huge ``Content-Length``), a trickle of one byte a second, a hang (the request is
read, no answer ever comes), endless headers, a status line and headers trickled one byte a second
(at once, or after a silence longer than any request deadline), and a redirect to itself. Raw sockets, not
``http.server``, because each of these is a violation of HTTP that a well-behaved server library
would not send. Started and stopped by the test (a context manager); every thread is a daemon that
ends when the test stops the server or the client hangs up.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

MODES = (
    "endless-chunked",
    "endless-length",
    "trickle",
    "hang",
    "huge-headers",
    "trickle-headers",
    "slow-status",
    "redirect-loop",
)
#: How long ``slow-status`` says nothing: longer than every request deadline the tests give.
SILENCE_S = 10.0
_BLOCK = b" " * 65536  # JSON whitespace: a parser that waited for the end would never see an error


class HostileServer:
    """Listens on 127.0.0.1; ``mode`` is one of :data:`MODES`."""

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        self.mode = mode
        self.requests = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name=f"hostile-{mode}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1.0)
            try:
                while not self._stop.is_set():
                    path = self._read_request(conn)
                    if path is None:
                        return
                    self.requests += 1
                    for data in self._answer(path):
                        if self._stop.is_set():
                            return
                        conn.sendall(data)
            except OSError:  # the client gave up, as it should
                return

    def _read_request(self, conn: socket.socket) -> str | None:
        """The request's path once its head has arrived (bodies are not expected), None at hang-up."""
        head = b""
        while b"\r\n\r\n" not in head:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                if self._stop.is_set():
                    return None
                continue
            if not chunk:
                return None
            head += chunk
        parts = head.split(b" ", 2)
        return parts[1].decode("latin-1") if len(parts) > 1 else "/"

    def _answer(self, path: str) -> Iterator[bytes]:
        json = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        if self.mode == "endless-chunked":
            yield json + b"Transfer-Encoding: chunked\r\n\r\n"
            chunk = b"%x\r\n" % len(_BLOCK) + _BLOCK + b"\r\n"
            yield from _forever(lambda: chunk, self._stop)
        elif self.mode == "endless-length":
            yield json + b"Content-Length: 1000000000000\r\n\r\n"
            yield from _forever(lambda: _BLOCK, self._stop)
        elif self.mode == "trickle":
            yield json + b"Content-Length: 1000\r\n\r\n"  # well under every cap: only a deadline ends it
            while not self._stop.wait(1.0):
                yield b" "
        elif self.mode == "hang":
            self._stop.wait(600)
        elif self.mode == "huge-headers":
            yield b"HTTP/1.1 200 OK\r\n"
            line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
            yield from _forever(lambda: line, self._stop)
        elif self.mode == "trickle-headers":
            yield from _trickled(_endless_head(), self._stop)
        elif self.mode == "slow-status":
            if not self._stop.wait(SILENCE_S):
                yield from _trickled(_endless_head(), self._stop)
        else:  # redirect-loop
            yield b"HTTP/1.1 302 Found\r\nLocation: " + path.encode("latin-1") + b"\r\nContent-Length: 0\r\n\r\n"


def _forever(block: Callable[[], bytes], stop: threading.Event) -> Iterator[bytes]:
    """``block()`` again and again until the server stops (the client hanging up ends it sooner)."""
    deadline = time.monotonic() + 600  # a bound on the test, should every client bound fail
    while not stop.is_set() and time.monotonic() < deadline:
        yield block()


def _endless_head() -> Iterator[bytes]:
    """A status line, then header lines without end: only a deadline on the whole head ends it."""
    yield b"HTTP/1.1 200 OK\r\n"
    while True:
        yield b"X-Pad: a\r\n"


def _trickled(blocks: Iterator[bytes], stop: threading.Event) -> Iterator[bytes]:
    """``blocks`` one byte a second: each read the client makes returns well within any read time-out."""
    for block in blocks:
        for byte in block:
            if stop.wait(1.0):
                return
            yield bytes((byte,))


@contextmanager
def hostile(mode: str) -> Iterator[HostileServer]:
    server = HostileServer(mode).start()
    try:
        yield server
    finally:
        server.stop()
