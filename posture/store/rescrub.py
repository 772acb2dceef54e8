"""Text stored before the secret gate existed, scrubbed once, so an upgraded store holds no secret either.

The gate (:class:`posture.scrub.Scrubber`) guards what a collection writes from now on. A store written
by an earlier release still holds what it stored then: a private key's body in an image's history, a
token in a label, a description quoting a password, and the same text copied into finding events and
chat messages. A source collected again overwrites its own assets, but an asset that is gone, an
event or a sent message never is. So the first collection of this release walks every stored text
column through the same gate, once, under the writers' lock, and records that it did
(``meta.stored_text_scrubbed``); later runs pay one lookup.

Identities are left as they are: asset keys, finding fingerprints and discriminators (a fingerprint is
computed from its discriminator, and no detector matches a digest, a CVE id or a hash prefix).
On SQLite the pass runs with ``secure_delete``, so the old bytes are overwritten in the file, not left
in a free part of a page for a copy of the database to read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Table, select, text, update
from sqlmodel import Session

from posture.model import Asset, CollectionRun, Finding, FindingEvent, Meta, OutboxMessage, finding_sighting_table
from posture.store.assets import content_hash

_MARK = "stored_text_scrubbed"
_BATCH = 500

#: Each table's stored text from a source: ``(table, columns)``; a column holds a string or JSON.
_COLUMNS: tuple[tuple[Table, tuple[str, ...]], ...] = (
    (Asset.__table__, ("name", "attributes")),  # type: ignore[attr-defined]
    (Finding.__table__, ("title", "evidence")),  # type: ignore[attr-defined]
    (FindingEvent.__table__, ("detail",)),  # type: ignore[attr-defined]
    (OutboxMessage.__table__, ("subject", "payload", "last_error")),  # type: ignore[attr-defined]
    (CollectionRun.__table__, ("error", "stats")),  # type: ignore[attr-defined]
)
#: Columns recomputed from a scrubbed one, so change detection compares like with like.
_DERIVED: dict[tuple[str, str], tuple[str, Callable[[Any], str]]] = {
    ("asset", "attributes"): ("attributes_hash", content_hash),
}


def scrub_stored_once(session: Session, scrub: Callable[[Any], Any]) -> int:
    """Scrub every stored text column unless this store was scrubbed already; the rows changed.

    ``scrub`` is the gate's :meth:`posture.scrub.Scrubber.value` (any JSON-shaped value in, scrubbed out).
    """
    if session.get(Meta, _MARK) is not None:
        return 0
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        session.execute(text("PRAGMA secure_delete = ON"))
    try:
        changed = sum(_scrub_table(session, table, columns, scrub) for table, columns in _COLUMNS)
    finally:
        if sqlite:
            session.execute(text("PRAGMA secure_delete = OFF"))  # later deletes of this connection stay cheap
    # A sighting's stated hash vouches that what it hashed passed the gate (posture.pipeline._observed):
    # hashes made before the gate vouch for nothing, so they are cleared (the next run restates them).
    session.execute(update(finding_sighting_table).values(content_hash=""))
    session.add(Meta(key=_MARK, value="1"))
    session.flush()
    return changed


def _scrub_table(session: Session, table: Table, columns: tuple[str, ...], scrub: Callable[[Any], Any]) -> int:
    changed = 0
    for row in _rows(session, table, columns):
        values: dict[str, Any] = {}
        for column in columns:
            old = row[column]
            new = scrub(old)
            if new != old:
                values[column] = new
                derived = _DERIVED.get((table.name, column))
                if derived is not None:
                    values[derived[0]] = derived[1](new)
        if values:
            session.execute(update(table).where(table.c.id == row["id"]).values(**values))
            changed += 1
    return changed


def _rows(session: Session, table: Table, columns: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Every row's id and ``columns``, a batch at a time (keyset paging: updates do not move the cursor)."""
    last = 0
    while True:
        batch = (
            session.execute(
                select(table.c.id, *(table.c[c] for c in columns))
                .where(table.c.id > last)
                .order_by(table.c.id)
                .limit(_BATCH)
            )
            .mappings()
            .all()
        )
        if not batch:
            return
        yield from (dict(row) for row in batch)
        last = batch[-1]["id"]
