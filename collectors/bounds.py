"""What one answer from a network source may cost: a size cap per response, a deadline per request and per run.

A socket read time-out alone bounds nothing against a hostile endpoint: an endless body keeps every
read fast while memory grows without end, and a trickle of one byte a second never trips a read
time-out at all. So every network client (Docker, Kubernetes, registry) gets, from one place:

- a **size cap** per response: a declared ``Content-Length`` over it is refused before reading, and
  a body is refused as soon as what was read passes it (chunked or not);
- a **request deadline**: the whole request, status line and headers included, ends by then;
  while a client watches a deadline (:func:`watching`), every read of an HTTP answer first shrinks
  the socket's time-out to the time left, so a trickle ends at the deadline, not after it;
- a **run deadline**: no request starts after it and none runs past it.

The Docker SDK (requests) and the Kubernetes client read the status line and headers themselves,
through ``http.client`` over urllib3, where a read time-out is all there is. Both are reached
through one hook: urllib3's connections build their ``http.client`` response with
:class:`_WatchedResponse`, whose file waits no longer than the deadline the calling thread watches.
Outside :func:`watching` (apprise, a streamed image export) it reads exactly as ``http.client`` does.
The registry's client (httpx, asyncio) is under the deadline from the first byte by ``asyncio.timeout``.

Hitting one raises :class:`LimitExceeded`, whose text each client prefixes with its source's name,
so the operator reads one line such as ``docker tcp://h:2375: GET /containers/json: the answer is
over the 64 MiB cap``. The caps are one constant per client, documented where it is defined.
"""

from __future__ import annotations

import http.client
import io
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import urllib3.connection

from posture.errors import SourceFailure

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_READ = 64 * 1024  # bytes asked for per read: one read returns what has arrived, up to this


class LimitExceeded(SourceFailure):
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


#: The deadline of the request this thread is making, while its client watches one.
_WATCHED: ContextVar[Deadline | None] = ContextVar("posture_request_deadline", default=None)


@contextmanager
def watching(deadline: Deadline) -> Iterator[None]:
    """Every HTTP answer this thread reads inside the block, from its status line to its last byte,
    waits no longer than ``deadline``: a client makes the whole of one request inside it."""
    token = _WATCHED.set(deadline)
    try:
        yield
    finally:
        _WATCHED.reset(token)


class _DeadlineReader(io.RawIOBase):
    """A socket's file that, while the reading thread watches a deadline, shrinks the socket's
    time-out to the time left before each read (a read time-out alone lets a trickle last forever).

    It reads through the socket's own unbuffered file, so closing is counted as ``socket.makefile``
    counts it: a connection closed while its answer is being read keeps the socket until the answer
    is done with it (``http.client`` relies on that). Like that file it has ``fileno()`` and ``_sock``,
    which the Docker SDK's attach and exec streams take from ``response.raw._fp.fp.raw``."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self._file = sock.makefile("rb", buffering=0)
        self._read_timeout = sock.gettimeout()  # the wait per read the client asked for this answer
        self._shrunk = False

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._sock.fileno()

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        deadline = _WATCHED.get()
        if deadline is not None:
            left = deadline.left()  # raises once the deadline has passed
            self._sock.settimeout(left if self._read_timeout is None else min(self._read_timeout, left))
            self._shrunk = True
        elif self._shrunk:  # read on past the watched part (a streamed export): the client's own wait again
            self._sock.settimeout(self._read_timeout)
            self._shrunk = False
        return self._file.readinto(buffer)

    def close(self) -> None:
        self._file.close()
        super().close()


class _WatchedResponse(http.client.HTTPResponse):
    """``http.client``'s response, read through a :class:`_DeadlineReader` in place of the socket's own
    file. Only a socket's: over a paramiko channel (Docker over ssh, whose host is authenticated by
    its key) reads are as before, with :func:`read_capped` checking the deadline between them."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        if isinstance(sock, socket.socket):
            self.fp.close()  # nothing was read from it: the socket's file count is back where it was
            self.fp = io.BufferedReader(_DeadlineReader(sock))


# The one hook both the Docker SDK (requests) and the Kubernetes client (urllib3) pass through:
# every urllib3 connection, unix-socket and TLS ones included, builds its response from this class.
# It changes nothing for a thread that watches no deadline (apprise's requests, for one).
urllib3.connection.HTTPConnection.response_class = _WatchedResponse


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


def read_capped(response: Streamed, cap: int, deadline: Deadline, what: str) -> bytearray:
    """The whole body of a urllib3 ``response``, or :class:`LimitExceeded` once it passes ``cap`` bytes
    or ``deadline``. Each read returns whatever has arrived (``read1``), so an endless body is refused
    at the cap; the caller reads inside :func:`watching` ``deadline``, so a trickle ends by it."""
    check_declared(response.headers.get("Content-Length"), cap, what)
    body = bytearray()
    sock = getattr(response.connection, "sock", None)
    # A paramiko channel (Docker over ssh) has no read1: whole reads there, the deadline checked
    # between them (an ssh host is authenticated by its key, not any endpoint that answers).
    read = response.read1 if sock is None or isinstance(sock, socket.socket) else response.read
    while True:
        deadline.left()  # raises once the deadline has passed
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
