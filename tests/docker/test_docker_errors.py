"""Unreachable engines, refusals and old engines: one clear line naming the source, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.docker.collector import DockerCollector
from collectors.docker.endpoint import TLSFiles, from_url
from posture.records import CollectorError, ScopeKind, ScopeRef
from tests.docker.docker_support import fake_engine, tls_engine


def _error(url: str) -> str:
    collector = DockerCollector(from_url(url), None, timeout=5)
    with pytest.raises(CollectorError) as info:
        list(collector.collect())
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_missing_socket(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/docker.sock"
    assert _error(url) == f"docker {url}: cannot connect (No such file or directory)"


def test_unreachable_engine_is_scoped_by_its_address(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/docker.sock"
    assert DockerCollector(from_url(url), None).scope == ScopeRef(ScopeKind.DOCKER, f"endpoint:{url}")


def test_unreachable_engine_seen_before_keeps_the_engine_scope(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/docker.sock"
    collector = DockerCollector(from_url(url), None, last_engine="ABCD:EFGH")
    assert collector.scope == ScopeRef(ScopeKind.DOCKER, "engine:ABCD:EFGH")
    with pytest.raises(CollectorError, match="No such file or directory"):
        list(collector.collect())


def test_refused_tcp_port() -> None:
    assert _error("tcp://127.0.0.1:1") == "docker tcp://127.0.0.1:1: cannot connect (Connection refused)"


def test_permission_denied_by_the_engine(tmp_path: Path) -> None:
    body = {"message": "authorization denied by plugin opa: request rejected"}
    with fake_engine(tmp_path / "engine.sock", 403, body) as url:
        assert _error(url) == (
            f"docker {url}: permission denied by the engine (403: authorization denied by plugin opa: request rejected)"
        )


def test_api_too_old(tmp_path: Path) -> None:
    with fake_engine(tmp_path / "engine.sock", 200, {"ApiVersion": "1.12", "Version": "1.0.1"}) as url:
        assert _error(url) == f"docker {url}: API version 1.12 is too old (Posture needs 1.25 or newer)"


def test_tls_server_certificate_is_always_verified(tmp_path: Path) -> None:
    with tls_engine(tmp_path, 200, {"ApiVersion": "1.12"}) as (url, ca_file):
        address = url.replace("https://", "tcp://")
        unverified = _error(url)
        assert unverified.startswith(f"docker {address}: TLS verification failed (")
        assert "certificate verify failed" in unverified
        # with the CA the handshake succeeds and the engine's answer is judged (here: too old)
        trusted = DockerCollector(from_url(url, TLSFiles(ca_cert=str(ca_file))), None, timeout=5)
        with pytest.raises(CollectorError, match=r": API version 1\.12 is too old"):
            list(trusted.collect())


def test_context_asking_to_skip_verification_is_still_verified(tmp_path: Path) -> None:
    with tls_engine(tmp_path, 200, {"ApiVersion": "1.41"}) as (url, _ca):
        endpoint = from_url(url, TLSFiles(skip_verify_requested=True))
        with pytest.raises(CollectorError, match="Posture always verifies"):
            list(DockerCollector(endpoint, None, timeout=5).collect())
