"""Database URLs, engines and write transactions for SQLite and PostgreSQL.

Several collectors may write at once. On SQLite every write transaction starts with
``BEGIN IMMEDIATE`` (the write lock is taken up front, so two writers queue on the busy timeout
instead of one failing at commit with "database is locked"); readers use WAL and never block.
On PostgreSQL a transaction-scoped advisory lock gives writers the same one-at-a-time semantics, so
the reconcile logic (read existing rows, then insert or update) has no race on either database.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlmodel import Session, create_engine

from posture.errors import StoreFailure
from posture.filekinds import special_file
from posture.walcheckpoint import Checkpointer

_CHECKPOINTERS: WeakKeyDictionary[Engine, Checkpointer] = WeakKeyDictionary()
_CHANGES_AT_BEGIN = "posture_total_changes_at_begin"
# Arbitrary constant shared by every Posture writer of one PostgreSQL database.
_PG_WRITE_LOCK = 0x706F7374  # "post"
_SQLITE_BUSY_MS = 60_000


#: Query parameters of a database URL shown in messages; every other value (``password``,
#: ``sslpassword``, ``sslkey``, ``passfile``, whatever a driver adds next) is hidden, as the password is.
_SHOWN_PARAMETERS = frozenset(
    {"sslmode", "connect_timeout", "application_name", "target_session_attrs", "timeout", "gssencmode"}
)
_HIDDEN = "***"


class DatabaseError(StoreFailure):
    """A database problem, reported as one line.

    ``unusable``: the database given is not one Posture can use (a bad URL, a file that is not a
    SQLite database, a schema newer than the code): the operator must point elsewhere, exit 2. False
    for a usable database that failed (read-only, full, locked, unreachable): exit 1, as a failed source.
    """

    def __init__(self, message: str, *, unusable: bool = True) -> None:
        super().__init__(message)
        self.unusable = unusable


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
    except (ArgumentError, ValueError):  # their text repeats the URL, password and all
        raise DatabaseError(
            "database URL is not valid (expected sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(
            f"database URL: unsupported database {parsed.get_backend_name()!r} (use sqlite or postgresql)"
        )
    return raw


def redact_url(url: str) -> str:
    """The URL as every message shows it: the password and every query value not known to be harmless
    hidden (the one place that decides what of a database URL may be printed)."""
    parsed = make_url(url)
    query = {key: value if key in _SHOWN_PARAMETERS else _HIDDEN for key, value in parsed.query.items()}
    # render_as_string percent-encodes query values: the mask is shown as the password's is.
    return parsed.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", _HIDDEN)


def sqlite_busy_seconds(url: str) -> float:
    """How long a SQLite writer waits for another's write lock: the URL's ``?timeout=SECONDS`` (the
    sqlite3 driver's own parameter) or 60 s."""
    raw = make_url(url).query.get("timeout")
    if raw is None:
        return _SQLITE_BUSY_MS / 1000
    try:
        seconds = float(raw if isinstance(raw, str) else raw[-1])
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86_400:
        raise DatabaseError(f"timeout={raw!r} in the URL is not a number of seconds (0 to 86400)")
    return seconds


def make_engine(url: str) -> Engine:
    """An engine for a resolved URL; SQLite files get their directory, WAL and a busy timeout."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        file = parsed.database not in (None, "", ":memory:")
        if file:
            _prepare_sqlite_file(Path(str(parsed.database)))
        busy = sqlite_busy_seconds(url)
        engine = create_engine(
            url,
            connect_args={"timeout": busy, "check_same_thread": False},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        _configure_sqlite(engine, Checkpointer(str(parsed.database)) if file else None, round(busy * 1000))
        return engine
    return create_engine(url, pool_pre_ping=True, json_serializer=_json_dumps, json_deserializer=orjson.loads)


def _prepare_sqlite_file(path: Path) -> None:
    """Refuse a database path that is a FIFO, a device or a socket (SQLite would block on it or fail
    deep inside), and create the directory of a new one."""
    problem = special_file(path)
    if problem:
        raise DatabaseError(problem)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot create its directory ({exc.strerror or exc})", unusable=False) from None


def explain(exc: SQLAlchemyError, url: str) -> DatabaseError:
    """One line for a failure the database at ``url`` reported (the one place that words them):
    read-only, full, locked past the busy timeout, not a database; the driver's first line otherwise."""
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    first = (str(orig if orig is not None else exc).strip().splitlines() or [type(exc).__name__])[0]
    code = str(getattr(orig, "sqlite_errorname", "") or getattr(orig, "sqlstate", "") or "")
    if code == "SQLITE_NOTADB":
        return DatabaseError("not a SQLite database (is --db the right file?)")
    if code.startswith("SQLITE_READONLY") or code in ("25006", "42501") or _unwritable_sqlite(code, url):
        return DatabaseError(
            f"read-only: Posture cannot write to it ({first}); SQLite needs to write the file and its directory",
            unusable=False,
        )
    if code == "SQLITE_FULL" or code.startswith("53") or (code.startswith("SQLITE_IOERR") and _no_space_left(url)):
        return DatabaseError(f"the disk is full or a resource limit was reached ({first})", unusable=False)
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return DatabaseError(
            f"locked: another process held its write lock for {sqlite_busy_seconds(url):g} s, past the busy "
            "timeout (?timeout=SECONDS in the URL)",
            unusable=False,
        )
    if code.startswith("SQLITE_IOERR"):
        return DatabaseError(f"I/O error, the disk may be full or the file too large ({first})", unusable=False)
    return DatabaseError(f"cannot use it ({first})", unusable=False)


def _unwritable_sqlite(code: str, url: str) -> bool:
    """SQLite says only "unable to open database file" when it cannot create the file or its -wal
    and -shm beside it: a read-only file, directory or filesystem."""
    path = _sqlite_file(url)
    if code != "SQLITE_CANTOPEN" or path is None:
        return False
    return path.parent.is_dir() and not (
        os.access(path.parent, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
    )


def _no_space_left(url: str) -> bool:
    """SQLite reports a write into a full filesystem as SQLITE_FULL only on some paths (growing the
    -wal or -shm file is an I/O error): the filesystem's free space tells the two apart."""
    path = _sqlite_file(url)
    try:
        return path is not None and os.statvfs(path.parent).f_bavail == 0
    except OSError:
        return False


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def _json_dumps(value: Any) -> str:
    """orjson for JSON columns: the stdlib encoder was a third of the time of a 20,000-finding ingest."""
    return orjson.dumps(value, default=str).decode()


def _configure_sqlite(engine: Engine, checkpointer: Checkpointer | None, busy_ms: int) -> None:
    """Pragmas per connection, our own BEGIN, and the changes each commit makes counted for
    :mod:`posture.walcheckpoint` (a database file's log is checkpointed in the background)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
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


def _serialized(engine: Engine) -> Engine:
    """The engine whose transactions begin with SQLite's write lock (``BEGIN IMMEDIATE``)."""
    return engine.execution_options(posture_begin="IMMEDIATE") if engine.dialect.name == "sqlite" else engine


def _take_write_lock(engine: Engine, conn: Connection | Session) -> None:
    """On PostgreSQL, the transaction-scoped advisory lock every writer takes first (SQLite's is the BEGIN)."""
    if engine.dialect.name != "sqlite":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_WRITE_LOCK})


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """One serialized write transaction on a bare connection, for schema upgrades: Alembic runs in it,
    so processes starting together on an empty database migrate one after the other."""
    with _serialized(engine).begin() as conn:
        _take_write_lock(engine, conn)
        yield conn


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One serialized write transaction; commits on success, rolls back on any error."""
    with Session(_serialized(engine), expire_on_commit=False) as session:
        with session.begin():
            _take_write_lock(engine, session)
            yield session
        checkpointer = _CHECKPOINTERS.get(engine)
        if checkpointer is not None:
            checkpointer.start_if_due()


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


#: SQLite virtual-machine steps between two looks at the clock of a bounded read.
_PROGRESS_STEPS = 10_000


@contextmanager
def bounded_read_session(engine: Engine, seconds: float) -> Iterator[Session]:
    """A read session whose statements are cancelled once ``seconds`` have passed since it opened.

    For readers that must answer in time whatever the database does (a metrics scrape): PostgreSQL
    gets a transaction-local ``statement_timeout``; SQLite a progress handler that interrupts the
    statement past the deadline. Either way the statement fails with the driver's error, which the
    caller reports; the session's connection is returned to the pool without the limit.
    """
    deadline = time.monotonic() + seconds
    with read_session(engine) as session:
        if engine.dialect.name == "sqlite":
            raw = session.connection().connection.dbapi_connection
            assert raw is not None
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
            try:
                yield session
            finally:
                raw.set_progress_handler(None, 0)
        else:
            session.execute(text("SELECT set_config('statement_timeout', :ms, true)"),
                            {"ms": str(max(1, round(seconds * 1000)))})
            yield session
