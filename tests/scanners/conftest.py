"""Scanner-report fixtures: the copied corpus, an install's secret scanner, and migrated databases.

Migrating a SQLite database takes about a second, so one migrated file is made per session and
copied for each test that needs an empty database.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from posture.db import make_engine, resolve_url
from posture.migrations import upgrade
from posture.rules.base import RuleRegistry
from posture.rules.scanner import RULES
from posture.secrets import SecretScanner
from tests import store_template
from tests.scanners.corpus import DATA


@pytest.fixture(scope="session")
def data() -> Path:
    return DATA


@pytest.fixture(scope="session")
def secrets() -> SecretScanner:
    return SecretScanner(b"posture-report-tests-key")


@pytest.fixture(scope="session")
def registry() -> RuleRegistry:
    return RuleRegistry(RULES)


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return store_template.migrated_sqlite(tmp_path_factory.mktemp("template"))


@pytest.fixture
def engine(migrated_sqlite: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "posture.db"
    shutil.copy(migrated_sqlite, path)
    eng = make_engine(resolve_url(f"sqlite:///{path}"))
    yield eng
    eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request: pytest.FixtureRequest, migrated_sqlite: Path, tmp_path: Path) -> Iterator[Engine]:
    """The same test on SQLite and on a real PostgreSQL (skipped when the service cannot start)."""
    if request.param == "sqlite":
        path = tmp_path / "posture.db"
        shutil.copy(migrated_sqlite, path)
        url = resolve_url(f"sqlite:///{path}")
    else:
        url = resolve_url(request.getfixturevalue("fresh_postgres_db"))
    eng = make_engine(url)
    upgrade(eng, url)
    yield eng
    eng.dispose()
