"""The caps every network client shares (collectors/bounds.py): each side of each limit."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from collectors.bounds import OverCap, PastDeadline, RunClock, read_capped, size_text


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
    assert read_capped(FakeResponse([b"a" * 6, b"b" * 4]), 10, deadline, "GET /x", 5) == b"a" * 6 + b"b" * 4
    with pytest.raises(OverCap, match=r"^GET /x: the answer is over the 10 bytes cap$"):
        read_capped(FakeResponse([b"a" * 6, b"b" * 5]), 10, deadline, "GET /x", 5)


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    deadline = RunClock(10, 10).deadline("GET /x")
    assert read_capped(FakeResponse([b"a" * 10], length=10), 10, deadline, "GET /x", 5) == b"a" * 10
    never_read = FakeResponse([], length=11)
    never_read.read1 = None  # type: ignore[assignment,method-assign]  # reading it would fail the test
    with pytest.raises(OverCap, match=r"^GET /x: the answer declares 11 bytes, over the 10 bytes cap$"):
        read_capped(never_read, 10, deadline, "GET /x", 5)


def test_a_trickle_ends_at_the_request_deadline() -> None:
    trickle = FakeResponse([b"a"] * 100, pause=0.05)
    started = time.monotonic()
    with pytest.raises(PastDeadline, match=r"^GET /x: no complete answer within 0.3 s$"):
        read_capped(trickle, 1000, RunClock(0.3, 10).deadline("GET /x"), "GET /x", 5)
    assert 0.3 <= time.monotonic() - started < 0.5
    assert read_capped(FakeResponse([b"a"] * 3, pause=0.05), 1000, RunClock(0.3, 10).deadline("GET /x"), "x", 5)


def test_the_run_deadline_shortens_a_request_and_then_refuses_to_send() -> None:
    clock = RunClock(request_s=5, run_s=0.2)
    deadline = clock.deadline("GET /a")
    assert deadline.message == "GET /a: the run took longer than its 0.2 s deadline"
    assert deadline.left() <= 0.2
    time.sleep(0.25)
    with pytest.raises(PastDeadline, match=r"^GET /b: not sent, the run took longer than its 0.2 s deadline$"):
        clock.deadline("GET /b")
    assert RunClock(request_s=5, run_s=10).deadline("GET /a").message == "GET /a: no complete answer within 5 s"
