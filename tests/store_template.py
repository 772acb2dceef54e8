"""A migrated SQLite store made once and copied for each test: migrating costs more than most tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy.engine import Engine

from posture.db import make_engine, resolve_url
from posture.migrations import upgrade


def migrated_sqlite(directory: Path) -> Path:
    """An empty store at the schema head, ``directory/posture.db``."""
    path = directory / "posture.db"
    url = resolve_url(f"sqlite:///{path}")
    engine = make_engine(url)
    upgrade(engine, url)
    engine.dispose()
    return path


def copy_store(template: Path, directory: Path) -> Engine:
    """An engine on a private copy of ``template`` (the database and any WAL beside it) in ``directory``."""
    for part in template.parent.glob(template.name + "*"):
        shutil.copy(part, directory / part.name)
    return make_engine(resolve_url(f"sqlite:///{directory / template.name}"))
