"""Registry-area fixtures: a migrated SQLite store per test."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    """The real pipeline's store, at ``tmp_path/posture.db`` (tests read its bytes for secrets)."""
    return sqlite_engine
