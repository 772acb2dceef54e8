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
import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from posture.model import asset_table, finding_event_table, finding_table, run_table, scope_table
from posture.records import source_name
from posture.scoring.estate import Estate
from posture.store.estate_graph import load_estate
from posture.store.exceptions import exception_details
from posture.taxonomy import FindingStatus

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
    """The stable id of history row ``seq``: what a receiver de-duplicates by."""
    return str(uuid.uuid5(namespace, str(seq)))


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class EventReader:
    """Reads and encodes events in id order; the estate (for groups) is loaded once per reader."""

    def __init__(self, session: Session, key: bytes, team_key: str = "team") -> None:
        self.session = session
        self.namespace = stream_namespace(key)
        self.team_key = team_key
        self._estate: Estate | None = None

    def last_seq(self) -> int:
        """The newest history row: where a stream stands when everything is written."""
        return int(self.session.execute(select(E.id).order_by(E.id.desc()).limit(1)).scalar() or 0)

    def read(self, after: int, limit: int) -> list[Event]:
        """Up to ``limit`` events with a history id above ``after``, oldest first."""
        stmt = (
            select(E.id, E.at, E.event, E.severity, E.risk, E.detail, E.run_id,
                   F.fingerprint, F.rule_id, F.title, F.category, F.phase, F.status, F.references, F.exception_id,
                   F.first_seen, A.id.label("asset_id"), A.kind, A.key, A.name,
                   R.status.label("run_status"), R.coverage, S.kind.label("scope_kind"),
                   S.name.label("scope_name"), S.label.label("scope_label"))
            .join(finding_table, F.id == E.finding_id)
            .join(asset_table, A.id == F.asset_id)
            .outerjoin(run_table, R.id == E.run_id)
            .outerjoin(scope_table, S.id == R.scope_id)
            .where(E.id > after)
            .order_by(E.id)
            .limit(limit)
        )
        rows = self.session.execute(stmt).all()
        exceptions = exception_details(self.session, _exception_ids(rows))
        return [self._event(row, exceptions) for row in rows]

    def _groups(self, asset_id: int) -> dict[str, list[str]]:
        if self._estate is None:
            self._estate = load_estate(self.session, self.team_key)
        groups = self._estate.groups(asset_id)
        return {k: sorted(groups[k]) for k in _GROUP_KEYS if groups.get(k)}

    def _event(self, row: Any, exceptions: Mapping[int, Mapping[str, Any]]) -> Event:
        detail = dict(row.detail or {})
        exc_id = _exception_of(row)
        exception = exceptions.get(exc_id) if exc_id is not None else None
        document: dict[str, Any] = {
            "schema": SCHEMA,
            "id": event_id(self.namespace, row.id),
            "seq": row.id,
            "time": _iso(row.at),
            "type": row.event,
            "finding": {
                "fingerprint": row.fingerprint, "rule": row.rule_id, "title": row.title,
                "severity": row.severity, "risk": row.risk, "category": row.category, "phase": row.phase,
                "status": row.status, "first_seen": _iso(row.first_seen), "references": list(row.references or []),
            },
            "change": {k: v for k, v in detail.items() if k != "exception"},
            "asset": {"kind": row.kind, "key": row.key, "name": row.name, "groups": self._groups(row.asset_id)},
            "run": None if row.run_id is None else {
                "id": row.run_id, "status": row.run_status,
                "source": {"kind": row.scope_kind, "name": source_name(row.scope_kind, row.scope_name,
                                                                       row.scope_label)},
                "coverage": dict(row.coverage or {}),
            },
            "exception": None if exception is None else {
                k: (_iso(exception[k]) if isinstance(exception[k], datetime) else exception[k])
                for k in _EXCEPTION_FIELDS
            },
        }
        text = json.dumps(document, separators=(",", ":"), default=str)
        return Event(row.id, document["id"], row.event, row.severity, row.at, text)


def _exception_of(row: Any) -> int | None:
    """The exception an event is about: the one an ending or acceptance names, else the finding's current
    one when the event is an arrival it accepted (a new finding that arrived already accepted)."""
    named = (row.detail or {}).get("exception")
    if isinstance(named, int):
        return named
    if row.event in ("new", "reopened", "accepted") and row.status == FindingStatus.ACCEPTED.value:
        return int(row.exception_id) if row.exception_id is not None else None
    return None


def _exception_ids(rows: Sequence[Any]) -> Collection[int]:
    return {exc for exc in (_exception_of(r) for r in rows) if exc is not None}
