"""What one answer from a network source may cost: a size cap per response, a deadline per request and per run.

A socket read time-out alone bounds nothing against a hostile endpoint: an endless body keeps every
read fast while memory grows without end, and a trickle of one byte a second never trips a read
time-out at all. So every network client (Docker, Kubernetes, registry) gets, from one place:

- a **size cap** per response: a declared ``Content-Length`` over it is refused before reading, and
  a body is refused as soon as what was read passes it (chunked or not);
- a **request deadline**: the whole request, body included, ends by then; before every read the
  socket's time-out is shrunk to the time left, so a trickle ends at the deadline, not after it;
- a **run deadline**: no request starts after it and none runs past it.

One gap is left where the clients read headers themselves (Docker and Kubernetes, through
``http.client``): a status line and headers trickled a byte at a time are bounded by its limits
(100 header lines of 64 KiB) and the read time-out per byte, not by the deadline. The registry's
client (httpx, asyncio) is under the deadline from the first byte.

Hitting one raises :class:`LimitExceeded`, whose text each client prefixes with its source's name,
so the operator reads one line such as ``docker tcp://h:2375: GET /containers/json: the answer is
over the 64 MiB cap``. The caps are one constant per client, documented where it is defined.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

_READ = 64 * 1024  # bytes asked for per read: one read returns what has arrived, up to this


class LimitExceeded(Exception):
    """A response over its size cap, or a request past its deadline; the text is one line."""


class OverCap(LimitExceeded):
    """One answer was too large: other requests of the run may still be fine."""


class PastDeadline(LimitExceeded):
    """A request (or the run) took too long: the source is too slow to be read this run."""


def size_text(size: int) -> str:
    """``64 KiB``, ``4 MiB``, ``512 bytes``: a cap in the unit it was chosen in (never ``0 MiB``)."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} bytes"


@dataclass(frozen=True, slots=True)
class Bounds:
    """The caps of one client; each client defines its defaults as one constant."""

    #: Most bytes one response body may hold.
    max_bytes: int
    #: Seconds one request may take from sending to the last byte of its answer.
    request_s: float
    #: Seconds every request of one run may take together, from the client's creation.
    run_s: float


class RunClock:
    """The deadlines of one run: each request must end by its own deadline or the run's, whichever is first."""

    def __init__(self, request_s: float, run_s: float) -> None:
        self.request_s, self.run_s = request_s, run_s
        self._run_end = time.monotonic() + run_s

    def deadline(self, what: str) -> Deadline:
        """The deadline of a request starting now; raises when the run's has already passed."""
        now = time.monotonic()
        if now >= self._run_end:
            raise PastDeadline(f"{what}: not sent, the run took longer than its {self.run_s:g} s deadline")
        if now + self.request_s <= self._run_end:
            return Deadline(now + self.request_s, f"{what}: no complete answer within {self.request_s:g} s")
        return Deadline(self._run_end, f"{what}: the run took longer than its {self.run_s:g} s deadline")


@dataclass(frozen=True, slots=True)
class Deadline:
    """A moment (``time.monotonic()``) and the one line to raise once it has passed."""

    at: float
    message: str

    def left(self) -> float:
        """Seconds left; raises :class:`LimitExceeded` when none are."""
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise PastDeadline(self.message)
        return remaining

    def passed(self) -> bool:
        return time.monotonic() >= self.at


class _Connection(Protocol):
    sock: socket.socket | None


class Streamed(Protocol):
    """What :func:`read_capped` needs of a urllib3 response read without preloading."""

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def connection(self) -> _Connection | None: ...

    def read1(self, amt: int | None = None) -> bytes: ...

    def read(self, amt: int | None = None) -> bytes: ...


def check_declared(declared: str | None, cap: int, what: str) -> None:
    """Refuse an answer whose ``Content-Length`` is over the cap before reading any of it."""
    if declared and declared.strip().isdigit() and int(declared) > cap:
        raise OverCap(f"{what}: the answer declares {int(declared)} bytes, over the {size_text(cap)} cap")


def over_cap(cap: int, what: str) -> OverCap:
    return OverCap(f"{what}: the answer is over the {size_text(cap)} cap")


def read_capped(response: Streamed, cap: int, deadline: Deadline, what: str, read_timeout: float) -> bytearray:
    """The whole body of a urllib3 ``response``, or :class:`LimitExceeded` once it passes ``cap`` bytes
    or ``deadline``. Each read returns whatever has arrived (``read1``), and the socket waits at most
    the time left before it, so neither an endless body nor a trickle outlives the deadline."""
    check_declared(response.headers.get("Content-Length"), cap, what)
    body = bytearray()
    sock = getattr(response.connection, "sock", None)
    # A paramiko channel (Docker over ssh) has no read1: whole reads there, the deadline checked
    # between them (an ssh host is authenticated by its key, not any endpoint that answers).
    read = response.read1 if sock is None or isinstance(sock, socket.socket) else response.read
    while True:
        wait = min(read_timeout, deadline.left())  # raises once the deadline has passed
        if sock is not None:
            sock.settimeout(max(wait, 0.001))
        try:
            chunk = read(_READ)
        except Exception:
            if deadline.passed():  # the socket gave up because the deadline came, not the read time-out
                raise PastDeadline(deadline.message) from None
            raise
        if not chunk:
            return body
        body += chunk
        if len(body) > cap:
            raise over_cap(cap, what)
