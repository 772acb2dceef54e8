"""Fixtures every test area may use: the real services of scripts/services.sh (see tests/services.py).

Area-specific fixtures belong in tests/<area>/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from posture.db import make_engine, resolve_url
from posture.migrations import upgrade
from tests.services import Dockerd, PlainRegistry, Podman, Services, SshDocker, TlsRegistry, temporary_database

SERVICE_FIXTURES = frozenset(
    {"dockerd", "registry_plain", "registry_tls", "postgres_url", "fresh_postgres_db", "podman", "ssh_docker"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test that uses a real service, so `-m "not services"` gives the fast subset."""
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session", autouse=True)
def own_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The test session's own ``$XDG_CONFIG_HOME`` (inherited by the CLI processes tests start), so the
    secret key file a collection creates (posture.secretkey) is never the machine's. One for the whole
    session, set before any fixture runs: stores built once per session (the TUI estate) are collected
    into by many tests, and a store refuses a second key. Tests about the key file's creation take
    :func:`fresh_config_dir`."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield _use_config_dir(tmp_path_factory.mktemp("xdg-config"), monkeypatch)


@pytest.fixture
def fresh_config_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``$XDG_CONFIG_HOME`` holding no key yet, for tests of the key file's creation."""
    return _use_config_dir(tmp_path_factory.mktemp("xdg-config"), monkeypatch)


def _use_config_dir(config: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    for name in ("POSTURE_SECRET_KEY", "POSTURE_SECRET_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    return config


@pytest.fixture(scope="session")
def posture_services() -> Iterator[Services]:
    manager = Services(require=os.environ.get("POSTURE_REQUIRE_SERVICES") == "1")
    yield manager
    manager.close()


@pytest.fixture(scope="session")
def dockerd(posture_services: Services) -> Dockerd:
    return posture_services.dockerd()


@pytest.fixture(scope="session")
def registry_plain(posture_services: Services) -> PlainRegistry:
    return posture_services.registry_plain()


@pytest.fixture(scope="session")
def registry_tls(posture_services: Services) -> TlsRegistry:
    return posture_services.registry_tls()


@pytest.fixture(scope="session")
def podman(posture_services: Services) -> Podman:
    """Optional engine: started only when a test asks for it (not by `services.sh start all`)."""
    return posture_services.podman()


@pytest.fixture(scope="session")
def ssh_docker(posture_services: Services) -> SshDocker:
    """Optional: sshd in front of the test dockerd, started only when a test asks for it."""
    return posture_services.ssh_docker()


@pytest.fixture(scope="session")
def postgres_url(posture_services: Services) -> str:
    """postgresql://posture@127.0.0.1:PORT/posture_test (trust auth); shared by the whole session."""
    return posture_services.postgres_url()


@pytest.fixture
def fresh_postgres_db(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database of its own, dropped after the test (for migrations)."""
    with temporary_database(postgres_url) as url:
        yield url


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite store at ``tmp_path/posture.db`` (tests that scan the store's bytes read that file)."""
    url = resolve_url(f"sqlite:///{tmp_path / 'posture.db'}")
    engine = make_engine(url)
    upgrade(engine, url)
    yield engine
    engine.dispose()
