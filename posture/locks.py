"""Named, non-blocking, crash-safe locks shared by every Posture process on one database.

Used so that ``posture watch`` never runs two collections of one scope at once and so that one
process at a time delivers the outbox. Both kinds die with their holder, so a process killed with
SIGKILL never leaves a lock behind:

* SQLite: an ``flock`` on a file beside the database (``<db>.locks/<hash>.lock``); the kernel
  releases it when the process dies.
* PostgreSQL: a session-level ``pg_try_advisory_lock`` on a dedicated connection, keyed by a hash
  of the name; the server releases it when the connection drops.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_GUARD = threading.Lock()


def lock_key(name: str) -> int:
    """A signed 64-bit key for PostgreSQL advisory locks, stable across processes and versions."""
    digest = hashlib.sha256(f"posture:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def try_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Yields True while holding the lock ``name``, False (at once) when another process holds it."""
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, name) as held:
            yield held
        return
    database = engine.url.database
    if not database or database == ":memory:":
        with _memory_lock(name) as held:
            yield held
        return
    with _file_lock(Path(database), name) as held:
        yield held


@contextmanager
def _pg_lock(engine: Engine, name: str) -> Iterator[bool]:
    key = lock_key(name)
    with engine.connect() as conn:
        held = bool(conn.execute(select(func.pg_try_advisory_lock(key))).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(select(func.pg_advisory_unlock(key)))
                conn.commit()


@contextmanager
def _file_lock(database: Path, name: str) -> Iterator[bool]:
    directory = database.parent / f"{database.name}.locks"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _memory_lock(name: str) -> Iterator[bool]:
    with _MEMORY_GUARD:
        lock = _MEMORY_LOCKS.setdefault(name, threading.Lock())
    held = lock.acquire(blocking=False)
    try:
        yield held
    finally:
        if held:
            lock.release()
