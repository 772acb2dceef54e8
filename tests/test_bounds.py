"""The caps every network client shares (collectors/bounds.py): each side of each limit."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import urllib3

from collectors.bounds import LimitExceeded, OverCap, PastDeadline, RunClock, read_capped, size_text, watching


class FakeResponse:
    """A streamed answer: ``chunks`` one per read, each after ``pause`` seconds."""

    connection = None

    def __init__(self, chunks: list[bytes], *, length: int | None = None, pause: float = 0.0) -> None:
        self.headers = {} if length is None else {"Content-Length": str(length)}
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pause = pause

    def read1(self, amt: int | None = None) -> bytes:
        time.sleep(self._pause)
        return next(self._chunks, b"")

    read = read1


def test_size_text_names_a_cap_in_its_own_unit() -> None:
    assert [size_text(n) for n in (64 * 1024, 4 << 20, 3 << 29, 1536 << 10, 512)] == [
        "64 KiB",
        "4 MiB",
        "1.5 GiB",
        "1.5 MiB",
        "512 bytes",
    ]


def test_an_answer_of_exactly_the_cap_is_read_and_one_byte_more_is_refused() -> None:
    deadline = RunClock(10, 10).deadline("GET /x")
    assert read_capped(FakeResponse([b"a" * 6, b"b" * 4]), 10, deadline, "GET /x") == b"a" * 6 + b"b" * 4
    with pytest.raises(OverCap, match=r"^GET /x: the answer is over the 10 bytes cap$"):
        read_capped(FakeResponse([b"a" * 6, b"b" * 5]), 10, deadline, "GET /x")


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    deadline = RunClock(10, 10).deadline("GET /x")
    assert read_capped(FakeResponse([b"a" * 10], length=10), 10, deadline, "GET /x") == b"a" * 10
    never_read = FakeResponse([], length=11)
    never_read.read1 = None  # type: ignore[assignment,method-assign]  # reading it would fail the test
    with pytest.raises(OverCap, match=r"^GET /x: the answer declares 11 bytes, over the 10 bytes cap$"):
        read_capped(never_read, 10, deadline, "GET /x")


def test_a_trickle_ends_at_the_request_deadline() -> None:
    trickle = FakeResponse([b"a"] * 100, pause=0.05)
    started = time.monotonic()
    with pytest.raises(PastDeadline, match=r"^GET /x: no complete answer within 0.3 s$"):
        read_capped(trickle, 1000, RunClock(0.3, 10).deadline("GET /x"), "GET /x")
    # Ends at its deadline, long before the 5 s the whole trickle takes (the margin is for a loaded machine).
    assert 0.3 <= time.monotonic() - started < 2.5
    assert read_capped(FakeResponse([b"a"] * 3, pause=0.05), 1000, RunClock(3, 10).deadline("GET /x"), "x")


def test_the_run_deadline_shortens_a_request_and_then_refuses_to_send() -> None:
    clock = RunClock(request_s=5, run_s=0.2)
    deadline = clock.deadline("GET /a")
    assert deadline.message == "GET /a: the run took longer than its 0.2 s deadline"
    assert deadline.left() <= 0.2
    time.sleep(0.25)
    with pytest.raises(PastDeadline, match=r"^GET /b: not sent, the run took longer than its 0.2 s deadline$"):
        clock.deadline("GET /b")
    assert RunClock(request_s=5, run_s=10).deadline("GET /a").message == "GET /a: no complete answer within 5 s"


@contextmanager
def scripted(script: list[tuple[float, bytes]]) -> Iterator[str]:
    """The URL of a one-connection server on loopback that, once the request is in, sends each block
    of ``script`` after its pause (a client that hung up ends it)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            try:
                for pause, data in script:
                    time.sleep(pause)
                    conn.sendall(data)
            except OSError:
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        thread.join(timeout=5)
        listener.close()


#: A status line and headers (about 80 bytes) sent a byte every 10 ms, then a two-byte body: every
#: read returns long before any read time-out, and the head alone takes about a second.
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: " + b"a" * 40 + b"\r\n\r\n"
TRICKLED_HEAD = [*((0.01, bytes((b,))) for b in _HEAD), (0, b"ok")]


def get(url: str, read_timeout: float) -> urllib3.BaseHTTPResponse:
    """``GET url`` as the Docker and Kubernetes clients make it: urllib3, the body left to stream."""
    return urllib3.PoolManager(retries=False).request(
        "GET", url, preload_content=False, timeout=urllib3.Timeout(connect=5, read=read_timeout)
    )


def test_a_trickled_status_line_and_headers_end_at_the_watched_deadline() -> None:
    deadline = RunClock(0.3, 10).deadline("GET /")
    started = time.monotonic()
    with scripted(TRICKLED_HEAD) as url, watching(deadline):
        with pytest.raises((urllib3.exceptions.ReadTimeoutError, LimitExceeded)):
            get(url, read_timeout=5)
        assert 0.3 <= time.monotonic() - started < 0.6 and deadline.passed()


@pytest.mark.parametrize("watched", [True, False], ids=["within-the-deadline", "unwatched"])
def test_a_trickled_head_is_read_whole_within_the_deadline_or_when_no_deadline_is_watched(watched: bool) -> None:
    with scripted(TRICKLED_HEAD) as url:
        if watched:
            with watching(RunClock(10, 10).deadline("GET /")):
                response = get(url, read_timeout=5)
        else:
            response = get(url, read_timeout=5)
        assert (response.status, response.read()) == (200, b"ok")


def test_a_read_after_the_watched_part_waits_the_clients_read_time_out_again() -> None:
    """A streamed answer (an image export) is read on by its consumer outside the watch: the wait per
    read is the client's own again, not what was left of the deadline when the watch ended."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    deadline = RunClock(0.3, 10).deadline("GET /")
    with scripted([(0, head), (0.5, b"ok")]) as url:
        with watching(deadline):
            response = get(url, read_timeout=5)
        assert response.read() == b"ok" and deadline.passed()
