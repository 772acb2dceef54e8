"""Database URLs, engines and write transactions for SQLite and PostgreSQL.

Several collectors may write at once. On SQLite every write transaction starts with
``BEGIN IMMEDIATE`` (the write lock is taken up front, so two writers queue on the busy timeout
instead of one failing at commit with "database is locked"); readers use WAL and never block.
On PostgreSQL a transaction-scoped advisory lock gives writers the same one-at-a-time semantics, so
the reconcile logic (read existing rows, then insert or update) has no race on either database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session, create_engine

from posture.walcheckpoint import Checkpointer

_CHECKPOINTERS: WeakKeyDictionary[Engine, Checkpointer] = WeakKeyDictionary()
_CHANGES_AT_BEGIN = "posture_total_changes_at_begin"
# Arbitrary constant shared by every Posture writer of one PostgreSQL database.
_PG_WRITE_LOCK = 0x706F7374  # "post"
_SQLITE_BUSY_MS = 60_000


class DatabaseError(Exception):
    """A database URL or schema problem, reported as one line."""


def default_url() -> str:
    """SQLite under ``$XDG_DATA_HOME/posture`` (``~/.local/share/posture``)."""
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{data_home / 'posture' / 'posture.db'}"


def resolve_url(url: str | None) -> str:
    """Accept what users paste: ``postgresql://user@host/db``, ``postgres://…``, a file path."""
    raw = (url or os.environ.get("POSTURE_DB") or default_url()).strip()
    if "://" not in raw:
        raw = f"sqlite:///{Path(raw).expanduser().resolve()}"
    for prefix in ("postgresql://", "postgres://"):
        if raw.startswith(prefix):
            raw = "postgresql+psycopg://" + raw[len(prefix) :]
    try:
        parsed = make_url(raw)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseError(f"database URL is not valid: {exc}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(
            f"database URL: unsupported database {parsed.get_backend_name()!r} (use sqlite or postgresql)"
        )
    return raw


def redact_url(url: str) -> str:
    """The URL with any password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    """An engine for a resolved URL; SQLite files get their directory, WAL and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": _SQLITE_BUSY_MS / 1000, "check_same_thread": False},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        file = parsed.database not in (None, "", ":memory:")
        _configure_sqlite(engine, Checkpointer(str(parsed.database)) if file else None)
        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_json_dumps, json_deserializer=orjson.loads)


def _json_dumps(value: Any) -> str:
    """orjson for JSON columns: the stdlib encoder was a third of the time of a 20,000-finding ingest."""
    return orjson.dumps(value, default=str).decode()


def _configure_sqlite(engine: Engine, checkpointer: Checkpointer | None) -> None:
    """Pragmas per connection, our own BEGIN, and the changes each commit makes counted for
    :mod:`posture.walcheckpoint` (a database file's log is checkpointed in the background)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        if checkpointer is not None:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("posture_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
        conn.info[_CHANGES_AT_BEGIN] = conn.connection.dbapi_connection.total_changes

    if checkpointer is None:
        return
    _CHECKPOINTERS[engine] = checkpointer

    @event.listens_for(engine, "commit")
    def _on_commit(conn: Any) -> None:
        checkpointer.count(conn.connection.dbapi_connection.total_changes - conn.info.pop(_CHANGES_AT_BEGIN, 0))


def settle(engine: Engine) -> None:
    """Wait for the engine's background WAL checkpoint, if one is running (benchmarks time work without it)."""
    checkpointer = _CHECKPOINTERS.get(engine)
    if checkpointer is not None:
        checkpointer.wait()


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One serialized write transaction; commits on success, rolls back on any error."""
    is_sqlite = engine.dialect.name == "sqlite"
    bound = engine.execution_options(posture_begin="IMMEDIATE") if is_sqlite else engine
    with Session(bound, expire_on_commit=False) as session:
        with session.begin():
            if not is_sqlite:
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK})
            yield session
        checkpointer = _CHECKPOINTERS.get(engine)
        if checkpointer is not None:
            checkpointer.start_if_due()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session
