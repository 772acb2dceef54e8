"""Delivering the event stream to each sink: a cursor over history ids, committed after acknowledgement.

The history (``finding_event``) is the transactional outbox of the stream: its rows commit with the
changes they record. Every writer is serialized (:func:`posture.db.write_session`: SQLite's write
lock, PostgreSQL's advisory lock), so ids become visible in ascending order and a cursor at id N has
seen every change up to N. Each sink keeps one ``sink_cursor`` row: the last id its receiver
acknowledged (:mod:`posture.notify.sinks` says what acknowledges), committed only after that
acknowledgement, and its retry state (the chat outbox's backoff, :class:`DeliveryPolicy`).

**Guarantee.** No event is skipped: the cursor moves only past acknowledged events, through receiver
outages and crashes. A process killed between an acknowledgement and the cursor's commit sends the
unrecorded events again on its next flush: the jsonl sink recognises them in its file and writes each
event exactly once; a webhook or syslog receiver may see an event twice (at most the one request, or
the one syslog batch, in flight at the kill) and de-duplicates by the event's ``id``: at least once,
with idempotent ids. One process delivers to a sink at a time (:func:`posture.locks.try_lock`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from posture.clock import utcnow
from posture.config import Settings
from posture.db import read_session, write_session
from posture.locks import try_lock
from posture.model import sink_cursor_table
from posture.notify.deliver import DeliveryPolicy
from posture.notify.events import Event, EventReader
from posture.notify.sinkconfig import SinkConfig
from posture.notify.sinks import Sink, SinkError, open_sink
from posture.secretkey import installation_key

C = sink_cursor_table.c
#: Events read and sent per batch: one jsonl write or one syslog connection.
BATCH = 2000


@dataclass
class StreamReport:
    sent: int = 0
    busy: list[str] = field(default_factory=list)  # sinks another process is delivering to
    retrying: list[tuple[str, str]] = field(default_factory=list)  # (sink display, error)

    @property
    def failed(self) -> bool:
        return bool(self.retrying)


class StreamDeliverer:
    """Brings every configured sink up to the newest event, or schedules its retry."""

    def __init__(self, engine: Engine, settings: Settings, policy: DeliveryPolicy | None = None,
                 open_: Callable[[SinkConfig, bytes], Sink] = open_sink,
                 clock: Callable[[], datetime] = utcnow, sleep: Callable[[float], None] = time.sleep) -> None:
        self.engine = engine
        self.settings = settings
        self.policy = policy or DeliveryPolicy()
        self.open = open_
        self.clock = clock
        self.sleep = sleep

    def flush(self) -> StreamReport:
        report = StreamReport()
        if not self.settings.sinks:
            return report
        with write_session(self.engine) as session:
            key = installation_key(session)
        for config in self.settings.sinks:
            sink_id = config.id(key)
            with try_lock(self.engine, f"event-sink:{sink_id}") as held:
                if not held:
                    report.busy.append(config.display())
                    continue
                self._flush_sink(sink_id, config, self.open(config, key), key, report)
        return report

    def _cursor(self, sink_id: str) -> tuple[int, int, datetime | None]:
        """(last acknowledged id, attempts, next attempt); a new sink starts at the beginning of history."""
        with write_session(self.engine) as session:
            row = session.execute(select(C.last_event_id, C.attempts, C.next_attempt_at)
                                  .where(C.sink == sink_id)).first()
            if row is None:
                session.execute(sink_cursor_table.insert().values(sink=sink_id, last_event_id=0, attempts=0,
                                                                  updated_at=self.clock()))
                return 0, 0, None
        return int(row.last_event_id), int(row.attempts), row.next_attempt_at

    def _commit(self, sink_id: str, seq: int) -> None:
        """Record an acknowledgement: the cursor moves forward (never back) and the retry state clears."""
        with write_session(self.engine) as session:
            session.execute(update(sink_cursor_table).where(C.sink == sink_id, C.last_event_id < seq).values(
                last_event_id=seq, attempts=0, last_error=None, next_attempt_at=None, updated_at=self.clock()))

    def _flush_sink(self, sink_id: str, config: SinkConfig, sink: Sink, key: bytes, report: StreamReport) -> None:
        cursor, attempts, due = self._cursor(sink_id)
        if due is not None and due > self.clock():
            return
        try:
            resumed = sink.resume(cursor)
        except SinkError as exc:
            self._fail(sink_id, config, attempts, exc, report)
            return
        if resumed > cursor:
            self._commit(sink_id, resumed)
            cursor = resumed
        with read_session(self.engine) as session:
            reader = EventReader(session, key, self.settings.team_label)
            while events := reader.read(cursor, BATCH):
                error = self._send(sink_id, sink, events)
                if error is not None:
                    self._fail(sink_id, config, attempts, error, report)
                    return
                report.sent += len(events)
                cursor = events[-1].seq

    def _fail(self, sink_id: str, config: SinkConfig, attempts: int, error: SinkError, report: StreamReport) -> None:
        self._schedule(sink_id, attempts, error)
        report.retrying.append((config.display(), str(error)))

    def _send(self, sink_id: str, sink: Sink, events: Sequence[Event]) -> SinkError | None:
        """One batch, tried up to ``inline_attempts`` times; each retry resends only what is unacknowledged."""
        pending = list(events)
        delay = self.policy.inline_delay
        acked: list[int] = []

        def ack(seq: int) -> None:
            self._commit(sink_id, seq)
            acked.append(seq)

        for attempt in range(1, self.policy.inline_attempts + 1):
            try:
                sink.send(pending, ack)
                return None
            except SinkError as exc:
                if acked:
                    pending = [e for e in pending if e.seq > acked[-1]]
                    if not pending:
                        return None  # acknowledged in full before the error: nothing left to resend
                wait = max(delay, exc.retry_after or 0.0)
                if attempt == self.policy.inline_attempts or wait > self.policy.max_inline_wait:
                    return exc
                self.sleep(wait)
                delay *= 2
        return None  # pragma: no cover - the loop returns on its last attempt

    def _schedule(self, sink_id: str, attempts: int, error: SinkError) -> None:
        """The chat outbox's backoff between flushes, doubling per failed flush up to the cap."""
        attempts += 1
        wait = max(min(self.policy.retry_cap, self.policy.retry_delay * 2 ** (attempts - 1)), error.retry_after or 0)
        with write_session(self.engine) as session:
            session.execute(update(sink_cursor_table).where(C.sink == sink_id).values(
                attempts=attempts, last_error=str(error)[:500], updated_at=self.clock(),
                next_attempt_at=self.clock() + timedelta(seconds=wait)))
