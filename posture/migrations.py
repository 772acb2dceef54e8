"""Schema upgrades through Alembic, and the refusal to touch a database newer than this code.

Alembic is imported only when the schema is not already at :data:`SCHEMA_HEAD`: importing it (and
reading the migration scripts) costs a tenth of a second that ``posture tui`` would pay before its
first paint on every start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from posture.db import DatabaseError, write_connection

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

_ROOT = Path(__file__).resolve().parent.parent
#: The newest revision under alembic/versions; tests/core/test_migrations.py checks it against Alembic's own
#: view of the scripts, so a new migration without this bump fails the suite.
SCHEMA_HEAD = "0007"


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    ini = _ROOT / "alembic.ini"
    if not ini.exists():
        raise DatabaseError(
            f"migrations not found at {_ROOT / 'alembic'}: install Posture from its source tree (pip install -e .)"
        )
    cfg = Config(str(ini))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def _scripts(url: str) -> ScriptDirectory:
    """The migration scripts (Alembic imported only when they are needed: see ``SCHEMA_HEAD``)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url))


def script_heads(url: str) -> set[str]:
    """The head revisions as Alembic reads them from the migration scripts."""
    return set(_scripts(url).get_heads())


def current_revisions(engine: Engine) -> set[str]:
    """The database's revisions (Alembic's ``alembic_version`` table; none on an empty database)."""
    with engine.connect() as conn:
        return _revisions(conn)


def _revisions(conn: Connection) -> set[str]:
    if not inspect(conn).has_table("alembic_version"):
        return set()
    return {str(row[0]) for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def schema_state(engine: Engine, url: str) -> str:
    """``"current"``, ``"behind"`` (includes empty) or raises for a schema newer than the code."""
    return _state(current_revisions(engine), url)


def _state(current: set[str], url: str) -> str:
    if current == {SCHEMA_HEAD}:  # the scripts' head, as a test checks
        return "current"
    known = {rev.revision for rev in _scripts(url).walk_revisions()}
    unknown = current - known
    if unknown:
        raise DatabaseError(
            f"database schema {', '.join(sorted(unknown))} is newer than this Posture knows; upgrade Posture"
        )
    return "behind"


def upgrade(engine: Engine, url: str) -> None:
    """Bring the schema to head (refusing a newer one); idempotent.

    Safe when several processes start on one empty database at once: Alembic runs inside one write
    transaction holding the writers' lock (``BEGIN IMMEDIATE`` on SQLite, the advisory lock on
    PostgreSQL; :func:`posture.db.write_connection`), and the schema is read again once the lock is
    held, so the processes that waited find it at head and migrate nothing. A schema already at head
    takes neither the lock nor Alembic's import.
    """
    if schema_state(engine, url) == "current":
        return
    from alembic import command

    with write_connection(engine) as conn:
        if _state(_revisions(conn), url) == "current":
            return
        config = alembic_config(url)
        config.attributes["connection"] = conn  # alembic/env.py migrates in this transaction, under the lock
        command.upgrade(config, "head")


def require_current(engine: Engine, url: str) -> None:
    """For read-only commands: the schema must already be at head."""
    if schema_state(engine, url) != "current":
        raise DatabaseError("database is empty or at an older schema: run `posture db upgrade` (or collect) first")
