"""Real receivers of the event stream for the tests: Debian's rsyslogd (started on loopback in a temp
dir, stopped by its pid) and a webhook endpoint that verifies every request's HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.chat_receiver import serving


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: rsyslog writes what it parsed of each RFC 5424 message: MSGID, structured data, then the message.
_RSYSLOG_CONF = """\
global(workDirectory="{dir}" maxMessageSize="256k" defaultNetstreamDriverCAFile="{dir}/cert.pem"
       defaultNetstreamDriverCertFile="{dir}/cert.pem" defaultNetstreamDriverKeyFile="{dir}/key.pem")
module(load="imtcp")
module(load="imudp")
input(type="imtcp" name="tcp" address="127.0.0.1" port="{tcp}")
input(type="imtcp" name="tls" address="127.0.0.1" port="{tls}" streamDriver.name="ossl" streamDriver.mode="1"
      streamDriver.authMode="anon")
input(type="imudp" name="udp" address="127.0.0.1" port="{udp}")
template(name="parsed" type="string" string="%inputname%\\t%protocol-version%\\t%msgid%\\t%structured-data%\\t%msg%\\n")
action(type="omfile" file="{out}" template="parsed")
"""


@dataclass
class Rsyslog:
    directory: Path
    tcp: int
    udp: int
    tls: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def out(self) -> Path:
        return self.directory / "received.log"

    def start(self) -> None:
        if not (self.directory / "cert.pem").exists():
            # A self-signed certificate for 127.0.0.1: the TLS sink trusts it as its ca_file.
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-keyout", str(self.directory / "key.pem"), "-out", str(self.directory / "cert.pem"),
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                           check=True, capture_output=True)
        conf = self.directory / "rsyslog.conf"
        conf.write_text(_RSYSLOG_CONF.format(dir=self.directory, tcp=self.tcp, udp=self.udp, tls=self.tls,
                                             out=self.out))
        binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        self.proc = subprocess.Popen([binary, "-n", "-f", str(conf), "-i", str(self.directory / "pid")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                for port in (self.tcp, self.tls):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"rsyslogd exited: {self.proc.stderr.read() if self.proc.stderr else ''!r}") from None
                time.sleep(0.05)
        raise RuntimeError("rsyslogd did not listen in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def pause(self, paused: bool) -> None:
        """SIGSTOP/SIGCONT: connections are still accepted by the kernel, but nothing is read or closed."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def unread_bytes(self, port: int) -> int:
        """Bytes clients sent to ``port`` that rsyslogd has not read yet (the kernel's receive queues in
        /proc/net/tcp): while it is stopped, this shows a sender is now waiting on it."""
        total = 0
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, queues = fields[1], fields[4]
                if int(local.rsplit(":", 1)[1], 16) == port:
                    total += int(queues.split(":")[1], 16)
        return total

    def messages(self, wait_for: int = 0, timeout: float = 10) -> list[tuple[str, str, str, str, dict[str, Any]]]:
        """(input: tcp, tls or udp, version, msgid, structured data, event) per message written so far
        (at least ``wait_for`` of them, unless ``timeout`` passes first)."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.out.read_text() if self.out.exists() else ""
            lines = [line.split("\t", 4) for line in text.splitlines() if line]
            if len(lines) >= wait_for or time.monotonic() > deadline:
                return [(f, v, m, sd, json.loads(msg)) for f, v, m, sd, msg in lines]
            time.sleep(0.05)


@contextmanager
def rsyslog(directory: Path) -> Iterator[Rsyslog]:
    directory.mkdir(parents=True, exist_ok=True)
    server = Rsyslog(directory, free_port(), free_port(socket.SOCK_DGRAM), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Webhook:
    """Records every request; ``verified`` holds the events whose signature checked out and that got 200."""

    port: int
    secret: bytes
    verified: list[dict[str, Any]] = field(default_factory=list)
    forged: int = 0
    refuse: bool = False  # answer 503 (an outage)
    hang: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/events"

    def check(self, headers: Any, body: bytes) -> bool:
        stamp = headers.get("X-Posture-Timestamp", "")
        given = headers.get("X-Posture-Signature", "")
        expected = "sha256=" + hmac.new(self.secret, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = stamp.isdigit() and abs(time.time() - int(stamp)) < 300
        return fresh and hmac.compare_digest(given, expected)


def _handler(hook: Webhook) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            hook.arrived.set()
            if hook.hang is not None and hook.hang.is_set():
                hook.release.wait(30)
            status = 503 if hook.refuse else 200
            with hook.lock:
                if not hook.check(self.headers, body):
                    hook.forged += 1
                    status = 401
                elif status == 200:
                    hook.verified.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    return Handler


@contextmanager
def webhook(secret: bytes) -> Iterator[Webhook]:
    hook = Webhook(0, secret)
    with serving(_handler(hook), hook.release) as port:
        hook.port = port
        yield hook
