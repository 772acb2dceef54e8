"""Delivering the outbox after commit, through apprise: claim, send, record; retry or dead-letter.

**Exactly what is claimed is sent.** A digest is the due rows of one (channel, run). Before sending,
the rows are marked ``sending`` with their attempt count incremented, and that is committed; after
sending they become ``sent``, ``retry`` (with ``next_attempt_at``) or ``dead``. One process delivers
at a time (:func:`posture.locks.try_lock`), so rows found ``sending`` by the lock holder belong to a
process that died mid-delivery: they are sent again, once. Delivery is therefore at least once and,
after a crash, at most once more (a receiver that got the request before the crash sees it twice).

**The HTTP status is always checked.** ``Apprise.notify()`` says only success or failure, and a
plugin may not check the status itself. Every HTTP request apprise makes goes through
``requests.adapters.HTTPAdapter.send``; :func:`_install_observer` wraps it once so that, while a
delivery is being observed (a context variable, which apprise copies into its worker threads), each
response's status and ``Retry-After`` header, or the connection error, is recorded. The outcome is
then decided from what actually happened on the wire: 2xx sent; 429 and 5xx retried (Retry-After
honoured); any other 4xx (or 3xx) dead-lettered after that one try; a connection error or a failure
without any response retried. Mail gets the same care: ``smtplib.SMTP.login`` and ``sendmail`` are
observed too, so a permanent SMTP refusal (5xx: bad credentials, unknown recipient) is dead-lettered
after one try and a transient one (4xx) retried, instead of retrying a wrong password forever.

**Sent means seen on the wire.** A plugin's ``True`` is not proof: apprise's Opsgenie (and Jira) plugin
turns an ``info`` notification into a note on an earlier alert and, having none, sends nothing and
returns success. Digests therefore go out as :data:`NOTIFY_TYPE` (``warning``), which every plugin maps
to a real message (a new alert for Opsgenie and Jira), and :func:`classify` counts a delivery as sent
only when an HTTP 2xx or an accepted SMTP message was observed. A plugin that reports success with
nothing observed (no request at all, or a transport Posture cannot observe: syslog, MQTT, XMPP …) is
*unconfirmed*: dead-lettered with that reason, never counted as sent, and not repeated blindly.
"""

from __future__ import annotations

import contextvars
import logging
import smtplib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import apprise
import requests.adapters
from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Engine

from posture.clock import utcnow
from posture.config import Channel, Settings
from posture.db import read_session, write_session
from posture.locks import try_lock
from posture.model import outbox_table
from posture.notify.display import display_url
from posture.notify.outbox import DEAD, PENDING, RETRY, SENDING, SENT
from posture.notify.policy import Item, Limit, Message, message_limit, render_digest
from posture.secretkey import installation_key
from posture.secrets import SecretScanner

OB = outbox_table.c
DELIVERY_LOCK = "outbox-delivery"


@dataclass(frozen=True)
class Observation:
    status: int | None  # HTTP status
    retry_after: str | None = None
    error: str | None = None
    smtp: int | None = None  # SMTP reply code: a refusal, or 250 for a message the server accepted


#: The apprise type of every digest and test message: one that no plugin turns into a no-op (see above).
NOTIFY_TYPE = apprise.NotifyType.WARNING

_observed: contextvars.ContextVar[list[Observation] | None] = contextvars.ContextVar("posture_http", default=None)


def _install_observer() -> None:
    adapter = requests.adapters.HTTPAdapter
    if getattr(adapter.send, "_posture_observer", False):
        return
    original = adapter.send

    def send(self: requests.adapters.HTTPAdapter, request: Any, *args: Any, **kwargs: Any) -> Any:
        sink = _observed.get()
        try:
            response = original(self, request, *args, **kwargs)
        except Exception as exc:
            if sink is not None:
                sink.append(Observation(None, error=type(exc).__name__))
            raise
        if sink is not None:
            sink.append(Observation(response.status_code, response.headers.get("Retry-After")))
        return response

    send._posture_observer = True  # type: ignore[attr-defined]
    adapter.send = send  # type: ignore[method-assign]
    smtplib.SMTP.login = _observed_smtp(smtplib.SMTP.login, delivers=False)  # type: ignore[method-assign]
    smtplib.SMTP.sendmail = _observed_smtp(smtplib.SMTP.sendmail, delivers=True)  # type: ignore[method-assign]
    # Apprise's own warnings go nowhere by default (no "last resort" stderr lines from a library).
    logging.getLogger("apprise").addHandler(logging.NullHandler())


def _observed_smtp(method: Callable[..., Any], delivers: bool) -> Callable[..., Any]:
    """``method`` recording the reply code of an SMTP refusal before apprise swallows the exception, and,
    when it ``delivers`` (``sendmail`` returns only once the server accepted the message), the acceptance."""

    def observed(self: smtplib.SMTP, *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(self, *args, **kwargs)
        except smtplib.SMTPRecipientsRefused as exc:
            sink = _observed.get()
            if sink is not None:
                codes = [code for code, _text in exc.recipients.values()]
                sink.append(Observation(None, error=type(exc).__name__, smtp=max(codes, default=None)))
            raise
        except smtplib.SMTPResponseException as exc:
            sink = _observed.get()
            if sink is not None:
                sink.append(Observation(None, error=type(exc).__name__, smtp=exc.smtp_code))
            raise
        sink = _observed.get()
        if sink is not None and delivers:
            sink.append(Observation(None, smtp=250))
        return result

    return observed


@contextmanager
def _observe() -> Iterator[list[Observation]]:
    _install_observer()
    sink: list[Observation] = []
    token = _observed.set(sink)
    try:
        yield sink
    finally:
        _observed.reset(token)


@dataclass(frozen=True)
class Outcome:
    state: str  # sent | retry | dead
    detail: str = ""
    retry_after: float | None = None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


UNCONFIRMED = "unconfirmed: the plugin reported success, but no HTTP request or accepted mail was seen"


def classify(ok: bool, observed: Sequence[Observation], now: datetime) -> Outcome:
    """Decide from the last HTTP response (apprise's own retries may precede it), or its absence.

    This is the one place where "sent" is decided: only a 2xx or an SMTP acceptance on the wire counts.
    """
    responses = [o for o in observed if o.status is not None]
    last = responses[-1] if responses else None
    if last is None:
        return _classify_without_http(ok, observed)
    status = last.status or 0
    if 200 <= status < 300:
        return Outcome("sent", f"HTTP {status}") if ok else Outcome("retry", f"HTTP {status} but the service "
                                                                              "reported a failure")
    if status == 429:
        wait = parse_retry_after(last.retry_after, now)
        return Outcome("retry", "HTTP 429" + (f" (Retry-After {wait:g}s)" if wait is not None else ""), wait)
    if status >= 500:
        return Outcome("retry", f"HTTP {status}", parse_retry_after(last.retry_after, now))
    return Outcome("dead", f"HTTP {status}: refused by the service (check the channel URL and its credentials)")


def _classify_without_http(ok: bool, observed: Sequence[Observation]) -> Outcome:
    """Mail, a connection error, or nothing at all: a plugin's success with nothing seen is unconfirmed."""
    replies = [o.smtp for o in observed if o.smtp is not None]
    if ok and replies and replies[-1] < 400:
        return Outcome("sent", f"SMTP {replies[-1]}")
    if replies and replies[-1] >= 500:
        return Outcome("dead", f"SMTP {replies[-1]}: refused by the mail server (check the addresses and "
                               "credentials)")
    if replies and replies[-1] >= 400:
        return Outcome("retry", f"SMTP {replies[-1]}")
    errors = [o.error for o in observed if o.error]
    if errors:
        return Outcome("retry", f"network error: {errors[-1]}")
    return Outcome("dead", UNCONFIRMED) if ok else Outcome("retry", "not delivered (no HTTP response)")


def send_apprise(url: str, message: Message, now: datetime) -> Outcome:
    """One delivery attempt to one apprise URL, plain text, with the HTTP status checked."""
    asset = apprise.AppriseAsset(async_mode=False, storage_mode="memory", service_timeout=60)
    client = apprise.Apprise(asset=asset)
    if not client.add(url):
        return Outcome("dead", "not a valid apprise URL")
    with _observe() as observed:
        ok = bool(client.notify(body=message.body, title=message.title, notify_type=NOTIFY_TYPE,
                                body_format=apprise.NotifyFormat.TEXT))
    return classify(ok, observed, now)


Sender = Callable[[str, Message, datetime], Outcome]


def channel_limit(url: str) -> Limit | None:
    """The size a digest for this channel is cut to (:func:`posture.notify.policy.message_limit`): the
    services Posture knows by scheme, else the ``body_maxlen`` apprise's plugin declares for its service."""
    plugin = apprise.Apprise.instantiate(url.strip(), asset=apprise.AppriseAsset(storage_mode="memory"),
                                         suppress_exceptions=True)
    declared = getattr(plugin, "body_maxlen", None) if plugin is not None else None
    return message_limit(url, declared if isinstance(declared, int) else None)


@dataclass(frozen=True)
class DeliveryPolicy:
    #: Attempts within one flush before a message waits for a later one.
    inline_attempts: int = 3
    #: First pause between attempts within a flush (doubles each time), seconds.
    inline_delay: float = 1.0
    #: Longest pause (e.g. a Retry-After) waited within a flush; longer ones are scheduled instead.
    max_inline_wait: float = 15.0
    #: Backoff between flushes: first delay and cap, seconds (doubles per attempt).
    retry_delay: float = 30.0
    retry_cap: float = 3600.0


@dataclass
class FlushReport:
    busy: bool = False
    sent: int = 0
    recovered: int = 0
    retrying: list[tuple[str, str]] = field(default_factory=list)  # (channel display, error)
    dead: list[tuple[str, str, int]] = field(default_factory=list)  # (channel display, error, rows)
    unknown_channels: int = 0

    @property
    def failed(self) -> bool:
        return bool(self.retrying or self.dead)


class Deliverer:
    """Flushes the outbox: every due digest is claimed, sent and recorded, one at a time."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        policy: DeliveryPolicy | None = None,
        sender: Sender = send_apprise,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.policy = policy or DeliveryPolicy()
        self.sender = sender
        self.clock = clock
        self.sleep = sleep

    def flush(self) -> FlushReport:
        report = FlushReport()
        with try_lock(self.engine, DELIVERY_LOCK) as held:
            if not held:
                report.busy = True
                return report
            with write_session(self.engine) as session:
                key = installation_key(session)
            channels = self.settings.channel_ids(key)
            scanner = SecretScanner(key)
            report.recovered = self._recover()
            report.unknown_channels = self._unknown(channels)
            tried: set[tuple[str, int | None]] = set()
            while (group := self._next_group(channels, tried)) is not None:
                tried.add(group)
                self._deliver(group, channels[group[0]], scanner, report)
        return report

    def _recover(self) -> int:
        """Rows left ``sending`` by a process that died mid-delivery: send them again (we hold the lock)."""
        with write_session(self.engine) as session:
            result = session.execute(
                update(outbox_table).where(OB.status == SENDING)
                .values(status=PENDING, last_error="interrupted during delivery; sending again")
            )
            return int(getattr(result, "rowcount", 0) or 0)

    def _unknown(self, channels: Mapping[str, Channel]) -> int:
        with read_session(self.engine) as session:
            rows = session.execute(select(OB.channel).where(OB.status.in_((PENDING, RETRY)))).scalars().all()
        return sum(1 for c in rows if c not in channels)

    def _due(self) -> Any:
        return (OB.status.in_((PENDING, RETRY)), or_(OB.next_attempt_at.is_(None), OB.next_attempt_at <= self.clock()))

    def _next_group(self, channels: Mapping[str, Channel], tried: set[tuple[str, int | None]]
                    ) -> tuple[str, int | None] | None:
        with read_session(self.engine) as session:
            stmt = select(OB.channel, OB.run_id).where(*self._due(), OB.channel.in_(list(channels))).order_by(OB.id)
            for row in session.execute(stmt):
                if (row.channel, row.run_id) not in tried:
                    return (row.channel, row.run_id)
        return None

    def _claim(self, group: tuple[str, int | None], ids: Sequence[int] | None) -> list[Any]:
        """Mark the group's due rows ``sending`` (attempts + 1) and commit, before anything is sent."""
        channel, run_id = group
        with write_session(self.engine) as session:
            where = [OB.channel == channel, OB.run_id.is_(None) if run_id is None else OB.run_id == run_id]
            where += [OB.id.in_(ids)] if ids is not None else list(self._due())
            rows = session.execute(select(OB.id, OB.event, OB.payload, OB.attempts).where(*where).order_by(OB.id)).all()
            if rows:
                session.execute(
                    update(outbox_table).where(OB.id.in_([r.id for r in rows]))
                    .values(status=SENDING, attempts=OB.attempts + 1)
                )
        return list(rows)

    def _finish(self, ids: Sequence[int], values: Mapping[str, Any]) -> None:
        with write_session(self.engine) as session:
            session.execute(update(outbox_table).where(OB.id.in_(list(ids))).values(**values))

    def _deliver(self, group: tuple[str, int | None], channel: Channel, scanner: SecretScanner,
                 report: FlushReport) -> None:
        rows = self._claim(group, None)
        if not rows:
            return
        ids = [r.id for r in rows]
        items = [Item(r.event, r.payload) for r in rows]
        scope = next((str(i.payload["scope"]) for i in items if i.payload.get("scope")), None)
        message = render_digest(items, top=self.settings.thresholds.top, run_id=group[1], scope=scope,
                                redact=lambda text: scanner.redact_text("notify", text)[0],
                                limit=channel_limit(channel.url))
        delay = self.policy.inline_delay
        for attempt in range(1, self.policy.inline_attempts + 1):
            if attempt > 1:
                rows = self._claim(group, ids)
            outcome = self.sender(channel.url, message, self.clock())
            if outcome.state == "sent":
                self._finish(ids, {"status": SENT, "sent_at": self.clock(), "last_error": None,
                                   "next_attempt_at": None})
                report.sent += 1
                return
            if outcome.state == "dead":
                self._finish(ids, {"status": DEAD, "last_error": outcome.detail, "next_attempt_at": None})
                report.dead.append((display_url(channel.url), outcome.detail, len(ids)))
                return
            wait = max(delay, outcome.retry_after or 0.0)
            if attempt == self.policy.inline_attempts or wait > self.policy.max_inline_wait:
                break
            self._finish(ids, {"status": RETRY, "last_error": outcome.detail})
            self.sleep(wait)
            delay *= 2
        attempts = max(r.attempts for r in rows) + 1
        doublings = max(0, attempts - self.policy.inline_attempts)
        backoff = min(self.policy.retry_cap, self.policy.retry_delay * 2**doublings)
        wait = max(backoff, outcome.retry_after or 0.0)
        self._finish(ids, {"status": RETRY, "last_error": outcome.detail,
                           "next_attempt_at": self.clock() + timedelta(seconds=wait)})
        report.retrying.append((display_url(channel.url), outcome.detail))


def send_test(settings: Settings, sender: Sender = send_apprise) -> list[tuple[Channel, Outcome]]:
    """One test message per channel, outside the outbox (nothing is recorded)."""
    message = Message("Posture: test message", "This channel is configured for Posture notifications.\n"
                      "Nothing is wrong: this is the test requested with posture notify --test.")
    return [(channel, sender(channel.url, message, utcnow())) for channel in settings.channels]


def outbox_status(engine: Engine, settings: Settings) -> dict[str, Any]:
    """Counts per status and the dead letters, for ``posture notify --status``."""
    with write_session(engine) as session:
        channels = settings.channel_ids(installation_key(session))
    with read_session(engine) as session:
        counts = {r[0]: r[1] for r in session.execute(
            select(OB.status, func.count()).group_by(OB.status))}
        dead = session.execute(
            select(OB.channel, OB.event, OB.subject, OB.last_error, OB.attempts)
            .where(OB.status == DEAD)
            .order_by(OB.id)
        ).all()
    return {
        "counts": counts,
        "dead": [
            {"channel": display_url(channels[d.channel].url) if d.channel in channels else d.channel, "event": d.event,
             "subject": d.subject, "error": d.last_error, "attempts": d.attempts}
            for d in dead
        ],
    }
