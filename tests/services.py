"""Real services for integration tests, reached through scripts/services.sh.

The script is the one way the services start (CI, a developer's shell, these fixtures), so this module
only asks it to start what is not running, reads the variables it writes to
`$POSTURE_SERVICES_DIR/env.sh`, and at the end of the session stops what it started itself, nothing
else. A service that cannot be had skips the tests that need it, unless POSTURE_REQUIRE_SERVICES=1
(as in CI): then it is a failure, so a broken harness can never pass as "all skipped".
"""

from __future__ import annotations

import os
import secrets
import shlex
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "services.sh"
# The first start on a fresh machine may install Debian packages before anything answers.
START_TIMEOUT_S = 600


@dataclass(frozen=True)
class Dockerd:
    url: str  # unix:///…/docker.sock: for DOCKER_HOST, `docker -H` and docker.DockerClient(base_url=...)
    busybox_image: str  # a local tag; nothing can be pulled here, so tests build on this image
    tls_url: str  # tcp://127.0.0.1:PORT: the same engine with mutual TLS (--tlsverify)
    cert_path: str  # a DOCKER_CERT_PATH directory: the engine's CA (ca.pem), a client cert.pem and key.pem

    @property
    def socket_path(self) -> str:
        return self.url.removeprefix("unix://")


@dataclass(frozen=True)
class Podman:
    url: str  # unix:///…/podman.sock, podman's Docker-compatible API (containers are created, not started)


@dataclass(frozen=True)
class SshDocker:
    url: str  # ssh://root@127.0.0.1:PORT: sshd whose sessions reach the test dockerd
    key: str  # the client's private key (authorized by that sshd)
    known_hosts: str  # the line that trusts the sshd's host key


@dataclass(frozen=True)
class PlainRegistry:
    host: str  # 127.0.0.1:PORT, as in image references

    @property
    def url(self) -> str:
        return f"http://{self.host}"


@dataclass(frozen=True)
class TlsRegistry:
    host: str
    ca_file: str  # the throw-away CA that signed the server certificate
    cert_dir: str  # a directory holding that CA as ca.crt (for skopeo --dest-cert-dir / --src-cert-dir)
    username: str
    password: str

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    def ssl_context(self) -> ssl.SSLContext:
        """Trusts the test CA only (httpx: `verify=registry_tls.ssl_context()`)."""
        return ssl.create_default_context(cafile=self.ca_file)


def services_dir() -> Path:
    return Path(os.environ.get("POSTURE_SERVICES_DIR", "/tmp/posture-services"))


def read_env_file(path: Path) -> dict[str, str]:
    """Parses the `export NAME=VALUE` lines (values shell-quoted) that services.sh writes."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            values[name] = value
    return values


class Services:
    """Starts services on demand, once per session, and stops at the end only those it started."""

    def __init__(self, *, require: bool) -> None:
        self.require = require
        self._started: list[str] = []
        # Why each service asked for is unavailable; "" once it answers. Asked once per session.
        self._problems: dict[str, str] = {}

    def dockerd(self) -> Dockerd:
        env = self._variables("dockerd", "POSTURE_TEST_DOCKER_HOST", "POSTURE_TEST_BUSYBOX_IMAGE",
                              "POSTURE_TEST_DOCKER_TLS_HOST", "POSTURE_TEST_DOCKER_CERT_PATH")
        return Dockerd(url=env["POSTURE_TEST_DOCKER_HOST"], busybox_image=env["POSTURE_TEST_BUSYBOX_IMAGE"],
                       tls_url=env["POSTURE_TEST_DOCKER_TLS_HOST"], cert_path=env["POSTURE_TEST_DOCKER_CERT_PATH"])

    def registry_plain(self) -> PlainRegistry:
        env = self._variables("registry", "POSTURE_TEST_REGISTRY_PLAIN")
        return PlainRegistry(host=env["POSTURE_TEST_REGISTRY_PLAIN"])

    def registry_tls(self) -> TlsRegistry:
        env = self._variables(
            "registry",
            "POSTURE_TEST_REGISTRY_TLS",
            "POSTURE_TEST_REGISTRY_CA",
            "POSTURE_TEST_REGISTRY_CERT_DIR",
            "POSTURE_TEST_REGISTRY_USER",
            "POSTURE_TEST_REGISTRY_PASSWORD",
        )
        return TlsRegistry(
            host=env["POSTURE_TEST_REGISTRY_TLS"],
            ca_file=env["POSTURE_TEST_REGISTRY_CA"],
            cert_dir=env["POSTURE_TEST_REGISTRY_CERT_DIR"],
            username=env["POSTURE_TEST_REGISTRY_USER"],
            password=env["POSTURE_TEST_REGISTRY_PASSWORD"],
        )

    def podman(self) -> Podman:
        return Podman(url=self._variables("podman", "POSTURE_TEST_PODMAN_HOST")["POSTURE_TEST_PODMAN_HOST"])

    def ssh_docker(self) -> SshDocker:
        env = self._variables("sshd", "POSTURE_TEST_SSH_DOCKER_HOST", "POSTURE_TEST_SSH_KEY",
                              "POSTURE_TEST_SSH_KNOWN_HOSTS")
        return SshDocker(url=env["POSTURE_TEST_SSH_DOCKER_HOST"], key=env["POSTURE_TEST_SSH_KEY"],
                         known_hosts=env["POSTURE_TEST_SSH_KNOWN_HOSTS"])

    def postgres_url(self) -> str:
        return self._variables("postgres", "POSTURE_TEST_PG_URL")["POSTURE_TEST_PG_URL"]

    def close(self) -> None:
        for service in reversed(self._started):
            self._script("stop", service)
        self._started.clear()

    def _variables(self, service: str, *names: str) -> dict[str, str]:
        """The service's variables from env.sh, after making sure the service runs and answers."""
        if service not in self._problems:
            self._problems[service] = self._ensure_running(service)
        if self._problems[service]:
            self._unavailable(self._problems[service])
        values = read_env_file(services_dir() / "env.sh")
        missing = [name for name in names if name not in values]
        if missing:
            self._unavailable(f"{service}: {services_dir() / 'env.sh'} lacks {', '.join(missing)}")
        return {name: values[name] for name in names}

    def _ensure_running(self, service: str) -> str:
        """Returns "" when the service answers, else why not (with the script's output)."""
        if self._script("status", service).returncode != 0:
            # Recorded before starting, so that a half-started service is stopped at the end too.
            self._started.append(service)
        # `start` is idempotent and also waits until an already running service answers.
        result = self._script("start", service)
        if result.returncode == 0:
            return ""
        tail = "\n".join(result.stdout.splitlines()[-40:])
        return f"{service} unavailable: `scripts/services.sh start {service}` exited {result.returncode}:\n{tail}"

    def _unavailable(self, reason: str) -> NoReturn:
        if self.require:
            pytest.fail(f"{reason}\n(POSTURE_REQUIRE_SERVICES=1: a missing service fails the run)", pytrace=False)
        pytest.skip(reason)

    @staticmethod
    def _script(action: str, service: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["bash", str(SCRIPT), action, service],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=START_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stdout if isinstance(exc.stdout, str) else ""
            return subprocess.CompletedProcess(exc.cmd, 124, output + f"\ntimed out after {START_TIMEOUT_S}s")


def with_database(url: str, database: str) -> str:
    """The same server URL with another database name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


@contextmanager
def temporary_database(server_url: str) -> Iterator[str]:
    """A new empty database on the server of `server_url`, dropped afterwards even if still in use."""
    name = f"posture_t_{secrets.token_hex(6)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
