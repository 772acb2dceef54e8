"""The machine event stream: every finding change in the history as one ``posture.event/v1`` document.

Events are read from ``finding_event`` (written in the same transaction as the change it records), in
id order after a sink's cursor, so nothing a run changed is lost between runs or across a crash, and
nothing is enqueued twice. The schema is docs/event.schema.json; docs/events.md explains each field.

The event ``id`` is a UUID derived from the installation's secret key and the history row's id: the
same change has the same id on every retry and every sink, two installations never share one, and the
key cannot be recovered from it. Finding, asset, run and exception fields are read when the event is
written out (normally seconds after the change); the asset's groups come from the live estate, so a
resolution of an asset that is gone carries none.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Text, cast, select
from sqlmodel import Session

from posture.clock import as_utc, rfc3339
from posture.model import asset_table, finding_event_table, finding_table, run_table, scope_table
from posture.records import source_name
from posture.scoring.estate import Estate
from posture.store.estate_graph import load_estate
from posture.store.exceptions import exception_details
from posture.store.raw import json_text, run_raw
from posture.taxonomy import FindingStatus
from posture.textsafe import json_line

SCHEMA = "posture.event/v1"
#: Every event type the stream carries (the history's change names).
EVENT_TYPES = ("new", "reopened", "regressed", "resolved", "accepted", "unaccepted", "exception-expired",
               "exception-revoked")
_GROUP_KEYS = ("team", "namespace", "cluster", "host", "registry")
_EXCEPTION_FIELDS = ("id", "owner", "reason", "scope", "source", "justification", "until_fix", "created_at",
                     "expires_at", "expired_at", "revoked_at", "revoked_by")

E, F, A, R, S = finding_event_table.c, finding_table.c, asset_table.c, run_table.c, scope_table.c


@dataclass(frozen=True)
class Event:
    """One encoded event: ``seq`` (its history row id, the cursor's unit), ``id`` and the JSON text."""

    seq: int
    id: str
    type: str
    severity: str
    time: datetime
    json: str


def stream_namespace(key: bytes) -> uuid.UUID:
    """The installation's UUID namespace for event ids (a keyed hash: it reveals nothing of the key)."""
    return uuid.UUID(bytes=hmac.new(key, SCHEMA.encode(), hashlib.sha256).digest()[:16])


def event_id(namespace: uuid.UUID, seq: int) -> str:
    """The stable id of history row ``seq``: what a receiver de-duplicates by.

    ``str(uuid.uuid5(namespace, str(seq)))``, computed without building UUID objects (a second per
    100,000 events otherwise); tests/notify/test_events.py checks the two agree."""
    digest = bytearray(hashlib.sha1(namespace.bytes + str(seq).encode(), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


class EventReader:
    """Reads and encodes events in id order; the estate (for groups) is loaded once per reader."""

    def __init__(self, session: Session, key: bytes, team_label: str = "team") -> None:
        self.session = session
        self.namespace = stream_namespace(key)
        self.team_label = team_label
        self._estate: Estate | None = None

    def last_seq(self) -> int:
        """The newest history row: where a stream stands when everything is written."""
        return int(self.session.execute(select(E.id).order_by(E.id.desc()).limit(1)).scalar() or 0)

    def read(self, after: int, limit: int) -> list[Event]:
        """Up to ``limit`` events with a history id above ``after``, oldest first.

        Rows are read at the driver level and JSON columns parsed with orjson (:mod:`posture.store.raw`):
        SQLAlchemy's per-row processing would cost more than the query at 100,000 events."""
        stmt = (
            select(E.id, E.at, E.event, E.severity, E.risk, cast(E.detail, Text), E.run_id,
                   F.fingerprint, F.rule_id, F.title, F.category, F.phase, F.status, cast(F.references, Text),
                   F.exception_id, F.first_seen, A.id, A.kind, A.key, A.name,
                   R.status, cast(R.coverage, Text), S.kind, S.name, S.label)
            .join(finding_table, F.id == E.finding_id)
            .join(asset_table, A.id == F.asset_id)
            .outerjoin(run_table, R.id == E.run_id)
            .outerjoin(scope_table, S.id == R.scope_id)
            .where(E.id > after)
            .order_by(E.id)
            .limit(limit)
        )
        rows = [_Row.parse(r) for r in run_raw(self.session, stmt)]
        about = [_exception_of(r) for r in rows]
        exceptions = exception_details(self.session, {x for x in about if x is not None})
        return [self._event(row, exceptions.get(x) if x is not None else None) for row, x in zip(rows, about,
                                                                                                 strict=True)]

    def _groups(self, asset_id: int) -> dict[str, list[str]]:
        if self._estate is None:
            self._estate = load_estate(self.session, self.team_label)
        groups = self._estate.groups(asset_id)
        return {k: sorted(groups[k]) for k in _GROUP_KEYS if groups.get(k)}

    def _event(self, row: _Row, exception: Mapping[str, Any] | None) -> Event:
        detail = row.detail
        seq = row.seq
        at = _when(row.at)
        document: dict[str, Any] = {
            "schema": SCHEMA,
            "id": event_id(self.namespace, seq),
            "seq": seq,
            "time": _iso(at),
            "type": row.event,
            "finding": {
                "fingerprint": row.fingerprint, "rule": row.rule_id, "title": row.title,
                "severity": row.severity, "risk": row.risk, "category": row.category, "phase": row.phase,
                "status": row.status, "first_seen": _iso(_when(row.first_seen)), "references": row.references,
            },
            "change": {k: v for k, v in detail.items() if k != "exception"} if detail else {},
            "asset": {"kind": row.asset_kind, "key": row.asset_key, "name": row.asset_name,
                      "groups": self._groups(row.asset_id)},
            "run": None if row.run_id is None else {
                "id": row.run_id, "status": row.run_status,
                "source": {"kind": row.scope_kind,
                           "name": source_name(row.scope_kind or "", row.scope_name or "", row.scope_label or "")},
                "coverage": row.coverage,
            },
            "exception": None if exception is None else {
                k: (_iso(exception[k]) if isinstance(exception[k], datetime) else exception[k])
                for k in _EXCEPTION_FIELDS
            },
        }
        return Event(seq, document["id"], row.event, row.severity, at, json_line(document))


class _Row(NamedTuple):
    """One history row as the driver returns it (``read``'s column order); JSON columns are text."""

    seq: int
    at: datetime | str
    event: str
    severity: str
    risk: int
    detail: Any
    run_id: int | None
    fingerprint: str
    rule_id: str
    title: str
    category: str
    phase: str
    status: str
    references: Any
    exception_id: int | None
    first_seen: datetime | str
    asset_id: int
    asset_kind: str
    asset_key: str
    asset_name: str
    run_status: str | None
    coverage: Any
    scope_kind: str | None
    scope_name: str | None
    scope_label: str | None

    @classmethod
    def parse(cls, values: Any) -> _Row:
        """The driver's tuple, JSON columns parsed with orjson."""
        v = list(values)
        v[5], v[13], v[21] = json_text(v[5]) or {}, json_text(v[13]) or [], json_text(v[21]) or {}
        return cls._make(v)


def _when(value: datetime | str) -> datetime:
    """A timestamp as the driver returns it (PostgreSQL: aware datetime; SQLite: ISO text) as aware UTC."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return as_utc(when)


def _exception_of(row: _Row) -> int | None:
    """The exception an event is about: the one an ending or acceptance names, else the finding's current
    one when the event is an arrival it accepted (a new finding that arrived already accepted)."""
    named = row.detail.get("exception")
    if isinstance(named, int):
        return named
    if row.event in ("new", "reopened", "accepted") and row.status == FindingStatus.ACCEPTED.value:
        return int(row.exception_id) if row.exception_id is not None else None
    return None
