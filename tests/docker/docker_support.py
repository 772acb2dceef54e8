"""Helpers for the Docker tests: the docker CLI against the test engine, and a fake engine socket.

The fake engine is a tiny HTTP server on a unix socket that answers every request with one canned
status and body: an engine behind an authorization plugin (403) or an engine too old for Posture.
"""

from __future__ import annotations

import io
import json
import os
import socketserver
import ssl
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[2]
#: Every object the Docker tests create carries this label, so cleanup removes exactly those.
TEST_LABEL = "posture.test=docker-collector"
BUILD_ENV = {"DOCKER_BUILDKIT": "0", "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/tmp"}


def run_posture(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``posture ARGS`` in a subprocess, with no Docker or Posture variable of this shell leaking in."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "POSTURE_"))}
    return subprocess.run(
        [sys.executable, "-m", "posture.cli.main", *args],
        cwd=ROOT,
        env=environ | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def run_posture_at(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """:func:`run_posture` on the SQLite store in ``root``, with ``root`` as home (Docker and Posture
    config); ``env`` may set any of these otherwise."""
    home = str(root)
    return run_posture(
        *args, **{"POSTURE_DB": f"sqlite:///{root / 'posture.db'}", "HOME": home, "XDG_CONFIG_HOME": home, **env}
    )


def _one_file_tarball() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("etc/podman-test")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"x\n"))
    return buffer.getvalue()


@contextmanager
def podman_container(url: str, name: str, image: str = "posture-test/podman-img:latest") -> Iterator[str]:
    """A privileged container sharing the host PID namespace, created (never started) on the Podman
    service from an image imported through the API (nothing can be pulled); removed afterwards."""
    import docker

    client = docker.APIClient(base_url=url, version="auto", timeout=60)
    repository, _, tag = image.rpartition(":")
    client.import_image_from_data(_one_file_tarball(), repository=repository, tag=tag, changes=['CMD ["/x"]'])
    host = client.create_host_config(privileged=True, pid_mode="host")
    created = client.create_container(image, name=name, host_config=host)
    try:
        yield str(created["Id"])
    finally:
        client.remove_container(created["Id"], force=True)
        client.remove_image(image, force=True)
        client.close()


def store_scopes(root: Path) -> list[str]:
    """``kind:name`` of every scope in the SQLite store in ``root``: the identity, where the output line
    of ``posture collect`` shows the scope's label."""
    from sqlalchemy import select

    from posture.db import make_engine, read_session
    from posture.model import scope_table

    engine = make_engine(f"sqlite:///{root / 'posture.db'}")
    try:
        with read_session(engine) as session:
            names = session.execute(select(scope_table.c.kind + ":" + scope_table.c.name)).scalars()
            return sorted(str(name) for name in names)
    finally:
        engine.dispose()


class DockerCli:
    """``docker -H <url> …`` with the legacy builder, failing loudly with the CLI's stderr."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run(
            ["docker", "-H", self.url, *args], capture_output=True, text=True, env=BUILD_ENV, timeout=120
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def build(self, tag: str, context: Path, dockerfile: str, build_args: dict[str, str] | None = None) -> str:
        (context / "Dockerfile").write_text(dockerfile)
        args = [arg for key, value in (build_args or {}).items() for arg in ("--build-arg", f"{key}={value}")]
        self("build", "--network", "none", "-q", "--label", TEST_LABEL, *args, "-t", tag, str(context))
        return self("image", "inspect", "--format", "{{.Id}}", tag)

    def cleanup(self) -> None:
        ids = self("ps", "-aq", "--filter", f"label={TEST_LABEL}").split()
        if ids:
            self("rm", "-f", "-v", *ids, check=False)
        images = self("images", "-q", "--filter", f"label={TEST_LABEL}").split()
        if images:
            self("rmi", "-f", *sorted(set(images)), check=False)


class _Canned(BaseHTTPRequestHandler):
    status = 200
    body: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        payload = json.dumps(self.body).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[Any, Any]:
        request, _ = super().get_request()
        return request, ("local", 0)  # BaseHTTPRequestHandler wants a (host, port) client address


@contextmanager
def fake_engine(socket_path: Path, status: int, body: dict[str, Any]) -> Iterator[str]:
    """A unix-socket "engine" answering ``status`` + ``body`` to everything; yields its URL."""
    handler = type("Handler", (_Canned,), {"status": status, "body": body})
    server = _UnixHTTPServer(str(socket_path), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"unix://{socket_path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _TcpHTTPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1 (it is its own CA) and its key."""
    cert, key = directory / "server.pem", directory / "server-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


@contextmanager
def tls_engine(directory: Path, status: int, body: dict[str, Any]) -> Iterator[tuple[str, Path]]:
    """Like :func:`fake_engine` but on 127.0.0.1 over TLS; yields ``(https URL, CA file)``."""
    cert, key = self_signed(directory)
    handler = type("Handler", (_Canned,), {"status": status, "body": body})
    server = _TcpHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", cert
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
