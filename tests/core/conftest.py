"""Core fixtures: an empty database on SQLite and on a real PostgreSQL server, and a fake estate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from posture.db import make_engine, resolve_url
from posture.migrations import upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'posture.db'}"
    url: str = request.getfixturevalue("fresh_postgres_db")
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    url = resolve_url(db_url)
    eng = make_engine(url)
    upgrade(eng, url)
    yield eng
    eng.dispose()

