"""Summary-report fixtures: a migrated SQLite store per test (the scanner-report fixtures are in tests/scanners)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    """The store ``posture summary`` reads, at ``tmp_path/posture.db``."""
    return sqlite_engine
