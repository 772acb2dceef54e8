"""Scopes, collection runs and installation metadata."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from posture.model import CollectionRun, Meta, Scope, run_table, scope_table
from posture.records import ScopeRef
from posture.taxonomy import RunStatus

_HASH_KEY = "secret_hash_key"


def scope_id_of(session: Session, ref: ScopeRef) -> int | None:
    """The scope's id, or None when it was never seen."""
    stmt = select(scope_table.c.id).where(scope_table.c.kind == ref.kind.value, scope_table.c.name == ref.name)
    found = session.execute(stmt).scalar()
    return None if found is None else int(found)


def ensure_scope(session: Session, ref: ScopeRef, now: datetime) -> int:
    """The scope's id, creating it on first sight (two first runs at once both succeed)."""
    found = scope_id_of(session, ref)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            scope = Scope(kind=ref.kind.value, name=ref.name, created_at=now)
            session.add(scope)
            session.flush()
    except IntegrityError:
        raced = scope_id_of(session, ref)
        assert raced is not None  # the other writer's row
        return raced
    assert scope.id is not None
    return scope.id


def start_run(session: Session, scope_id: int, now: datetime) -> int:
    run = CollectionRun(scope_id=scope_id, started_at=now, status=RunStatus.RUNNING.value)
    session.add(run)
    session.flush()
    assert run.id is not None
    return run.id


def finish_run(
    session: Session,
    run_id: int,
    status: RunStatus,
    now: datetime,
    error: str | None = None,
    stats: dict[str, Any] | None = None,
) -> None:
    session.execute(
        update(run_table)
        .where(run_table.c.id == run_id)
        .values(status=status.value, finished_at=now, error=error, stats=stats or {})
    )


def secret_hash_key(session: Session) -> bytes:
    """The installation's key for keyed hashes of secret values, created once and shared by all writers."""
    row = session.get(Meta, _HASH_KEY)
    if row is not None:
        return bytes.fromhex(row.value)
    try:
        with session.begin_nested():
            session.add(Meta(key=_HASH_KEY, value=secrets.token_hex(32)))
            session.flush()
    except IntegrityError:
        pass
    stored = session.get(Meta, _HASH_KEY)
    assert stored is not None
    return bytes.fromhex(stored.value)
