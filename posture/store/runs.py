"""Scopes, collection runs and installation metadata."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from posture.model import CollectionRun, Meta, Scope, run_table, scope_table
from posture.records import ScopeRef
from posture.taxonomy import RunStatus

#: The previous release kept the secret hash key itself in ``meta``; it moves to a key file on first use.
_LEGACY_KEY = "secret_hash_key"
#: What the store keeps instead: a check id of the key (posture.secretkey.check_id).
_KEY_CHECK = "secret_key_check"


def scope_id_of(session: Session, ref: ScopeRef) -> int | None:
    """The scope's id, or None when it was never seen."""
    return _scope_named(session, ref.kind.value, ref.name)


def _scope_named(session: Session, kind: str, name: str) -> int | None:
    stmt = select(scope_table.c.id).where(scope_table.c.kind == kind, scope_table.c.name == name)
    found = session.execute(stmt).scalar()
    return None if found is None else int(found)


@dataclass(frozen=True, slots=True)
class ScopeState:
    """The scope a run writes to; ``adopted`` names the old scope it took over on this run, if any."""

    id: int
    adopted: str | None = None


def ensure_scope(session: Session, ref: ScopeRef, now: datetime) -> ScopeState:
    """The scope's row, created on first sight (two first runs at once both succeed), its label refreshed.

    A source that a previous release stored under another name (``ref.legacy``) takes that scope
    over on its first run under the new identity: its runs, sightings and history carry on. Only a
    scope nobody else has adopted yet can be taken (the rename is one conditional UPDATE), so two
    sources that once shared one legacy scope (two engines with one key file) end up in two scopes.
    """
    found = scope_id_of(session, ref)
    if found is not None:
        _relabel(session, found, ref.label)
        return ScopeState(found)
    for legacy in ref.legacy:
        old = _scope_named(session, ref.kind.value, legacy)
        if old is None or legacy == ref.name:
            continue
        try:
            with session.begin_nested():
                result = session.execute(
                    update(scope_table)
                    .where(scope_table.c.id == old, scope_table.c.name == legacy)
                    .values(name=ref.name, label=ref.label, adopted=legacy)
                )
                renamed = cast(CursorResult[Any], result).rowcount
        except IntegrityError:  # another writer created the new identity meanwhile
            break
        if renamed:
            return ScopeState(old, adopted=legacy)
    try:
        with session.begin_nested():
            scope = Scope(kind=ref.kind.value, name=ref.name, label=ref.label, created_at=now)
            session.add(scope)
            session.flush()
    except IntegrityError:
        raced = scope_id_of(session, ref)
        assert raced is not None  # the other writer's row
        return ScopeState(raced)
    assert scope.id is not None
    return ScopeState(scope.id)


def claim_scopes(session: Session, ref: ScopeRef, scope_id: int) -> list[int]:
    """The scopes whose assets a run of ``ref`` may claim by legacy key: its own, and any scope that
    took over one of ``ref``'s legacy names. A previous release could keep two sources in one scope
    (two engines with one key file); the first to upgrade adopts it, and the other still finds its
    own rows there, once, by keys no other source states."""
    found = [scope_id]
    if ref.legacy:
        stmt = select(scope_table.c.id).where(
            scope_table.c.kind == ref.kind.value, scope_table.c.adopted.in_(ref.legacy), scope_table.c.id != scope_id
        )
        found += [int(i) for i in session.execute(stmt).scalars()]
    return found


def _relabel(session: Session, scope_id: int, label: str) -> None:
    """The name people know the source by follows the source (a renamed context); the identity stays."""
    if label:
        session.execute(
            update(scope_table).where(scope_table.c.id == scope_id, scope_table.c.label != label).values(label=label)
        )


def start_run(session: Session, scope_id: int, now: datetime) -> int:
    run = CollectionRun(scope_id=scope_id, started_at=now, status=RunStatus.RUNNING.value, coverage={})
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
    coverage: dict[str, Any] | None = None,
) -> None:
    session.execute(
        update(run_table)
        .where(run_table.c.id == run_id)
        .values(status=status.value, finished_at=now, error=error, stats=stats or {}, coverage=coverage or {})
    )


def legacy_secret_key(session: Session) -> bytes | None:
    """The hash key a store of the previous release kept in ``meta`` (None once it has moved out)."""
    row = session.get(Meta, _LEGACY_KEY)
    return None if row is None else bytes.fromhex(row.value)


def forget_legacy_secret_key(session: Session) -> None:
    """Delete the legacy key, its bytes overwritten (:func:`_delete_meta`)."""
    _delete_meta(session, _LEGACY_KEY)


def forget_secret_key(session: Session) -> bool:
    """Forget which key the store's hashes were made with (the key was lost); True if there was one."""
    known = session.get(Meta, _KEY_CHECK) is not None or session.get(Meta, _LEGACY_KEY) is not None
    _delete_meta(session, _KEY_CHECK)
    _delete_meta(session, _LEGACY_KEY)
    return known


def _delete_meta(session: Session, key: str) -> None:
    """Delete a ``meta`` row; on SQLite with ``secure_delete``, so its bytes are overwritten in the file,
    not left in a free page for a copy of the database to read."""
    row = session.get(Meta, key)
    if row is None:
        return
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        session.execute(text("PRAGMA secure_delete = ON"))
    session.delete(row)
    session.flush()
    if sqlite:
        session.execute(text("PRAGMA secure_delete = OFF"))  # the pooled connection's later deletes stay cheap


def record_secret_key_check(session: Session, check: str) -> str:
    """The store's secret key check id: ``check`` if the store had none (the first writer's wins)."""
    if session.get(Meta, _KEY_CHECK) is None:
        try:
            with session.begin_nested():
                session.add(Meta(key=_KEY_CHECK, value=check))
                session.flush()
        except IntegrityError:
            pass
    stored = session.get(Meta, _KEY_CHECK)
    assert stored is not None
    return stored.value


def secret_key_check(session: Session) -> str | None:
    """The check id of the key this store's secrets are hashed with, if any was recorded."""
    row = session.get(Meta, _KEY_CHECK)
    return None if row is None else row.value
