"""The event sinks' transports: a JSON-lines file, a signed webhook, syslog (RFC 5424 over UDP, TCP, TLS).

Each sink sends a batch of events and calls ``ack(seq)`` for every prefix the receiver has taken
responsibility for; :mod:`posture.notify.stream` commits the cursor there. What counts as taken:

* **jsonl**: the lines are written with one ``write`` and ``fsync``-ed. A process killed between the
  fsync and the cursor's commit leaves lines the cursor has not recorded; :meth:`JsonlSink.resume` reads
  the file's last line (its ``seq`` and ``id``, checked against this installation's id) and carries
  the cursor past it, and cuts a half-written last line, so the file holds every event exactly once.
* **webhook**: a 2xx answer to the event's POST. Every body is signed (``X-Posture-Signature``).
* **syslog tcp/tls**: the batch is framed with octet counting (RFC 6587), then the connection is
  half-closed and the receiver's own close awaited: rsyslog closes only after reading everything
  before our end of stream, so the close acknowledges the batch. A receiver that dies first resets or
  times out the connection and the whole batch is sent again (receivers de-duplicate by event id).
* **syslog udp**: datagrams carry no acknowledgement; a sent datagram counts as delivered. Use tcp or
  tls where every event matters.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import requests

from posture.errors import NotifyFailure
from posture.notify.events import Event, event_id, stream_namespace
from posture.notify.sinkconfig import SinkConfig

Ack = Callable[[int], None]
#: Seconds to connect, and to wait for a receiver's answer (a webhook's status, a syslog server's close).
CONNECT_TIMEOUT, ANSWER_TIMEOUT = 10.0, 30.0
#: RFC 5424 SD-ID: ``name@<private enterprise number>``; 32473 is the number RFC 5612 reserves for documentation.
SD_ID = "posture@32473"
_SYSLOG_SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5, "info": 6}
#: Event types that are good news: informational whatever the finding's severity.
_GOOD_NEWS = ("resolved", "accepted")


class SinkError(NotifyFailure):
    """A delivery that did not complete; ``retry_after``: seconds the receiver asked for, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Sink(Protocol):
    def resume(self, cursor: int) -> int:
        """The cursor to continue from: ``cursor``, or later when the receiver itself shows more (SinkError
        when the receiver cannot be read)."""

    def send(self, events: Sequence[Event], ack: Ack) -> None:
        """Deliver ``events`` in order, calling ``ack(seq)`` as they are acknowledged; SinkError on failure."""


def open_sink(config: SinkConfig, key: bytes) -> Sink:
    """The transport for one configured sink (``key``: the installation key, for the jsonl file's check)."""
    if config.kind == "jsonl":
        return JsonlSink(Path(config.target), key)
    if config.kind == "webhook":
        return WebhookSink(config.target, config.secret_env or "")
    return SyslogSink(config)


class JsonlSink:
    """Appends one line per event to a file, fsynced before it is acknowledged."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self.namespace = stream_namespace(key)

    def resume(self, cursor: int) -> int:
        """Cut a half-written last line; carry ``cursor`` past the last line this installation wrote."""
        try:
            with self.path.open("rb+") as handle:
                size = handle.seek(0, os.SEEK_END)
                tail_start = max(0, size - (1 << 20))
                handle.seek(tail_start)
                tail = handle.read()
                if tail and not tail.endswith(b"\n"):
                    cut = tail.rfind(b"\n") + 1
                    handle.truncate(tail_start + cut)
                    tail = tail[:cut]
                    os.fsync(handle.fileno())
        except FileNotFoundError:
            return cursor
        except OSError as exc:
            raise SinkError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        lines = tail.splitlines()
        match = re.search(rb'"id":"([0-9a-f-]{36})","seq":(\d+)', lines[-1]) if lines else None
        if match and event_id(self.namespace, int(match[2])) == match[1].decode():
            return max(cursor, int(match[2]))
        return cursor

    def send(self, events: Sequence[Event], ack: Ack) -> None:
        data = "".join(e.json + "\n" for e in events).encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise SinkError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        ack(events[-1].seq)


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``X-Posture-Signature``: HMAC-SHA256 over ``<timestamp>.<body>``, so the timestamp cannot be replaced."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookSink:
    """One signed POST per event; the secret is read from the environment at send time, never stored."""

    def __init__(self, url: str, secret_env: str) -> None:
        self.url = url
        self.secret_env = secret_env
        self.http = requests.Session()

    def resume(self, cursor: int) -> int:
        return cursor

    def send(self, events: Sequence[Event], ack: Ack) -> None:
        secret = os.environ.get(self.secret_env, "")
        if not secret:
            raise SinkError(f"environment variable {self.secret_env} (the webhook's HMAC key) is not set")
        for event in events:
            body = event.json.encode()
            timestamp = str(int(time.time()))
            headers = {"Content-Type": "application/json", "X-Posture-Event-Id": event.id,
                       "X-Posture-Timestamp": timestamp,
                       "X-Posture-Signature": signature(secret.encode(), timestamp, body)}
            try:
                response = self.http.post(self.url, data=body, headers=headers, allow_redirects=False,
                                          timeout=(CONNECT_TIMEOUT, ANSWER_TIMEOUT))
            except requests.RequestException as exc:
                raise SinkError(f"network error: {type(exc).__name__}") from None
            response.close()
            if not 200 <= response.status_code < 300:
                wait = response.headers.get("Retry-After", "")
                raise SinkError(f"HTTP {response.status_code}", float(wait) if wait.isdigit() else None)
            ack(event.seq)


def syslog_line(event: Event, facility: int, hostname: str, procid: int) -> bytes:
    """One RFC 5424 message: the event id in structured data, the JSON event as the message (ASCII)."""
    severity = 6 if event.type in _GOOD_NEWS else _SYSLOG_SEVERITY.get(event.severity, 6)
    stamp = event.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    sd = f'[{SD_ID} id="{event.id}" seq="{event.seq}" type="{event.type}"]'
    return f"<{facility * 8 + severity}>1 {stamp} {hostname} posture {procid} {event.type} {sd} {event.json}".encode()


def _hostname() -> str:
    """The HOSTNAME field: printable ASCII without spaces, at most 255 characters, else the nil value."""
    name = socket.gethostname()
    return name[:255] if name and all(33 <= ord(c) <= 126 for c in name) else "-"


class SyslogSink:
    """RFC 5424 to a syslog receiver: ``udp://``, ``tcp://`` (octet counting) or ``tls://``."""

    def __init__(self, config: SinkConfig) -> None:
        parts = urlsplit(config.target)
        self.transport = parts.scheme
        self.address = (parts.hostname or "", parts.port or 0)
        self.facility = config.facility
        self.ca_file = config.ca_file
        self.hostname = _hostname()

    def resume(self, cursor: int) -> int:
        return cursor

    def send(self, events: Sequence[Event], ack: Ack) -> None:
        lines = [syslog_line(e, self.facility, self.hostname, os.getpid()) for e in events]
        try:
            if self.transport == "udp":
                self._udp(lines)
            else:
                self._stream(lines)
        except (OSError, ssl.SSLError) as exc:
            raise SinkError(f"{self.transport} {self.address[0]}:{self.address[1]}: "
                            f"{exc.strerror or type(exc).__name__ if isinstance(exc, OSError) else exc}") from None
        ack(events[-1].seq)

    def _udp(self, lines: Sequence[bytes]) -> None:
        family = socket.getaddrinfo(*self.address, type=socket.SOCK_DGRAM)[0][0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            for line in lines:
                sock.sendto(line, self.address)

    def _stream(self, lines: Sequence[bytes]) -> None:
        """Octet-counted frames, then end of stream, then the receiver's close as the acknowledgement."""
        frames = b"".join(str(len(line)).encode() + b" " + line for line in lines)
        raw = socket.create_connection(self.address, timeout=CONNECT_TIMEOUT)
        raw.settimeout(ANSWER_TIMEOUT)
        if self.transport == "tls":
            context = ssl.create_default_context(cafile=self.ca_file)
            with context.wrap_socket(raw, server_hostname=self.address[0]) as tls:
                tls.sendall(frames)
                # Our close_notify, then the receiver's; one that just closes after reading ours is fine too.
                with contextlib.suppress(ssl.SSLEOFError, ssl.SSLZeroReturnError):
                    tls.unwrap().close()
            return
        with raw:
            raw.sendall(frames)
            raw.shutdown(socket.SHUT_WR)
            while raw.recv(4096):
                pass  # a syslog receiver sends nothing; wait for its close
