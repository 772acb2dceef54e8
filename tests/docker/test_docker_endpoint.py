"""Finding the engine: URLs, the DOCKER_* environment, Docker CLI contexts, the CLI options, ssh host keys."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from collectors.docker.collector import DockerCollector
from collectors.docker.endpoint import (
    DEFAULT_SOCKET,
    DockerEndpoint,
    EndpointError,
    TLSFiles,
    from_context,
    from_env,
    from_url,
)
from posture.cli.context import CommandError
from posture.cli.sources import SourceContext
from posture.cli.sources import docker as docker_source
from posture.records import CollectorError
from posture.secrets import SecretScanner


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/var/run/docker.sock", DockerEndpoint("unix:///var/run/docker.sock")),
        ("unix:///run/user/1000/docker.sock", DockerEndpoint("unix:///run/user/1000/docker.sock")),
        ("tcp://10.0.0.5", DockerEndpoint("tcp://10.0.0.5:2375")),
        ("https://engine.example:2376", DockerEndpoint("tcp://engine.example:2376", TLSFiles())),
        ("tcp://[::1]:2376", DockerEndpoint("tcp://[::1]:2376")),
        ("ssh://ops@build-host", DockerEndpoint("ssh://ops@build-host")),
    ],
)
def test_urls(url: str, expected: DockerEndpoint) -> None:
    assert from_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://x", "unix://", "tcp://", "npipe:////./pipe/docker_engine"])
def test_bad_urls_are_one_line_errors(url: str) -> None:
    with pytest.raises(EndpointError, match=rf"^docker {url}: "):
        from_url(url)


def _certs(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (directory / name).write_text("-")
    return directory


def _context(config: Path, name: str, host: str, *, tls: bool = False, skip: bool = False) -> None:
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    endpoint = {"Host": host, "SkipTLSVerify": skip}
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Metadata": {}, "Endpoints": {"docker": endpoint}}))
    if tls:
        _certs(config / "contexts" / "tls" / digest / "docker")


def test_env_tls_is_verified_with_the_cert_path(tmp_path: Path) -> None:
    certs = _certs(tmp_path / "certs")
    env = {"DOCKER_HOST": "tcp://engine:2376", "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)}
    endpoint = from_env(env)
    assert endpoint == DockerEndpoint(
        "tcp://engine:2376", TLSFiles(str(certs / "ca.pem"), str(certs / "cert.pem"), str(certs / "key.pem"))
    )


def test_env_without_tls_verify_is_plain_and_default_is_the_local_socket(tmp_path: Path) -> None:
    assert from_env({"DOCKER_HOST": "tcp://engine:2375", "HOME": str(tmp_path)}).tls is None
    assert from_env({"HOME": str(tmp_path)}) == DockerEndpoint(DEFAULT_SOCKET)


def test_contexts_resolve_as_the_docker_cli_does(tmp_path: Path) -> None:
    config = tmp_path / "dockercfg"
    _context(config, "prod", "tcp://prod.example:2376", tls=True)
    _context(config, "lab", "ssh://ops@lab")
    (config / "config.json").write_text(json.dumps({"currentContext": "prod"}))
    env = {"DOCKER_CONFIG": str(config)}

    prod = from_env(env)
    assert (prod.url, prod.context, prod.label) == (
        "tcp://prod.example:2376",
        "prod",
        "docker context prod (tcp://prod.example:2376)",
    )
    assert prod.tls is not None and prod.tls.client_cert is not None
    assert from_env(env | {"DOCKER_CONTEXT": "lab"}).url == "ssh://ops@lab"
    assert from_env(env | {"DOCKER_CONTEXT": "lab", "DOCKER_HOST": "unix:///x.sock"}).url == "unix:///x.sock"
    assert from_context("default", env) == DockerEndpoint(DEFAULT_SOCKET)
    with pytest.raises(EndpointError, match=r"^docker context nope: not found in "):
        from_context("nope", env)


def test_context_skip_tls_verify_is_remembered_not_obeyed(tmp_path: Path) -> None:
    _context(tmp_path, "lax", "tcp://lax:2376", tls=True, skip=True)
    endpoint = from_context("lax", {"DOCKER_CONFIG": str(tmp_path)})
    assert endpoint.tls is not None and endpoint.tls.skip_verify_requested and endpoint.tls.ca_cert


def test_cli_source_builds_one_collector_per_engine(tmp_path: Path) -> None:
    context = SourceContext(secrets=SecretScanner(b"cli-source-test-hash-key-012345"))
    assert docker_source.build({}, context) == []
    params = {
        "docker_urls": ("unix:///a.sock", "/a.sock", "tcp://b:2375"),
        "docker_workers": 3,
        "docker_layer_scan_mb": 2,
    }
    collectors = docker_source.build(params, context)
    assert [c.endpoint.url for c in collectors] == ["unix:///a.sock", "tcp://b:2375"]  # type: ignore[attr-defined]
    with pytest.raises(CommandError, match="unsupported scheme") as info:
        docker_source.build({"docker_urls": ("ftp://x",)}, context)
    assert info.value.exit_code == 2


def test_cli_source_env_flag(tmp_path: Path) -> None:
    params = {"docker_env": True}
    endpoints = docker_source.endpoints_from(params, {"DOCKER_HOST": "tcp://envhost:2375", "HOME": str(tmp_path)})
    assert endpoints == [DockerEndpoint("tcp://envhost:2375")]


@pytest.fixture
def ssh_server() -> Iterator[int]:
    """An SSH server with a fresh host key that no known_hosts file lists."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    key = paramiko.RSAKey.generate(2048)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        transport = paramiko.Transport(conn)
        transport.add_server_key(key)
        try:
            transport.start_server(server=paramiko.ServerInterface())  # returns once the client hangs up
        except (paramiko.SSHException, EOFError, OSError):
            pass
        finally:
            transport.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(timeout=10)


def test_ssh_unknown_host_key_is_refused(ssh_server: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty ~/.ssh: the server's key is unknown
    url = f"ssh://ops@127.0.0.1:{ssh_server}"
    with pytest.raises(CollectorError) as info:
        list(DockerCollector(from_url(url), None, timeout=10).collect())
    assert str(info.value) == f"docker {url}: ssh: Server '[127.0.0.1]:{ssh_server}' not found in known_hosts"
