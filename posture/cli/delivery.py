"""What runs after a command's collections commit: the notification outbox's sweep, then delivery to
chat channels and event sinks, and the lines that tell the operator how it went. (What runs inside each
collection's transaction, scoring and the outbox, is :mod:`posture.run_stages`.)"""

from __future__ import annotations

from collections.abc import Sequence

from posture.cli.context import AppContext
from posture.cli.output import echo
from posture.clock import utcnow
from posture.config import Settings
from posture.db import write_session
from posture.notify.deliver import Deliverer, DeliveryPolicy, FlushReport
from posture.notify.outbox import OutboxWriter
from posture.notify.stream import StreamDeliverer, StreamReport


def notify_settings(app: AppContext, urls: Sequence[str] = ()) -> Settings:
    """The configuration file and ``POSTURE_NOTIFY`` (:attr:`AppContext.settings`), plus ``--notify`` URLs."""
    return app.settings.with_urls(urls, "cli")


def echo_queued(queued: list[str]) -> None:
    """What each channel will be told of the runs just made, or why nothing; then forgotten (watch reuses the list)."""
    for line in queued:
        echo(line)
    queued.clear()


#: After a collection, one quick pass: failures are scheduled for the next flush, never waited for.
QUICK = DeliveryPolicy(inline_attempts=1)


def deliver(app: AppContext, settings: Settings | None = None, policy: DeliveryPolicy = QUICK) -> FlushReport:
    """Enqueue what the store's state calls for (failed collectors, expiring exceptions), then deliver."""
    settings = settings or notify_settings(app)
    report = FlushReport()
    if not settings.channels:
        return report
    engine = app.engine_for_write()
    with write_session(engine) as session:
        OutboxWriter(settings).sweep(session, utcnow())
    return Deliverer(engine, settings, policy).flush()


def deliver_events(app: AppContext, settings: Settings | None = None,
                   policy: DeliveryPolicy = QUICK) -> StreamReport:
    """Bring every event sink up to the newest change in the history (docs/events.md)."""
    settings = settings or notify_settings(app)
    if not settings.sinks:
        return StreamReport()
    return StreamDeliverer(app.engine_for_write(), settings, policy).flush()


def echo_stream_report(report: StreamReport) -> None:
    """Event sinks that could not take the stream, one line each on stderr (no URL path or secret)."""
    for sink, error in report.retrying:
        echo(f"posture: events {sink}: {error}; will retry (nothing is skipped)", err=True)


def echo_report(report: FlushReport) -> None:
    """Delivery problems on stderr, one line each; channels shown by display_url (no secret)."""
    for channel, error in report.retrying:
        echo(f"posture: notify {channel}: {error}; will retry", err=True)
    for channel, error, rows in report.dead:
        echo(f"posture: notify {channel}: {error}; {rows} notification(s) dead-lettered", err=True)
    if report.unknown_channels:
        echo(f"posture: notify: {report.unknown_channels} notification(s) wait for a channel that is no longer "
                   "configured", err=True)


def after_collect(app: AppContext) -> None:
    """Delivery after the collections committed (``posture collect``)."""
    echo_report(deliver(app))
    echo_stream_report(deliver_events(app))
