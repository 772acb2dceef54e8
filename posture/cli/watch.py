"""``posture watch``: collect, score, diff and notify on a schedule until SIGTERM.

Each source scope is collected under a lock (:mod:`posture.locks`), so two watchers (or a watcher
and a slow previous cycle on another host sharing PostgreSQL) never collect one scope at once: the
second skips it for that cycle. SIGTERM and SIGINT finish the step in progress (a collection is one
transaction; it is never cut in half) and then stop with exit code 0.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import FrameType
from typing import Any

import click

from posture.cli.collect import build_collectors, report, run_all, source_context, with_source_options
from posture.cli.context import AppContext, CommandError, db_option, pass_app
from posture.cli.delivery import (
    deliver,
    deliver_events,
    echo_queued,
    echo_report,
    echo_stream_report,
    notify_settings,
)
from posture.cli.durations import Duration
from posture.cli.exceptions import apply_exceptions, parsed_exceptions
from posture.cli.notify import notify_option
from posture.cli.output import echo
from posture.db import read_session
from posture.locks import try_lock
from posture.notify.deliver import DeliveryPolicy
from posture.pipeline import RunResult
from posture.run_stages import RunStages
from posture.store.snapshots import latest_snapshots
from posture.textsafe import clean


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    stop = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        echo(f"posture watch: {signal.Signals(signum).name} received, stopping after the current step",
                   err=True)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@click.command("watch")
@db_option
@click.option("--interval", type=Duration(), default="15m", show_default=True,
              help="Time between the starts of two cycles (30s, 15m, 1h).")
@click.option("--once", is_flag=True, help="Run one cycle and exit with posture collect's exit code.")
@notify_option
@with_source_options
@pass_app
def watch_command(app: AppContext, /, interval: timedelta, once: bool, urls: tuple[str, ...], **params: Any) -> None:
    """Collect the given sources every --interval, score, and send one digest per channel and run."""
    settings = notify_settings(app, urls)
    queued: list[str] = []
    stages = RunStages(settings, queued)
    engine = app.engine_for_write()
    exceptions_file = app.settings.exceptions_file
    with _stop_on_signals() as stop:
        while not stop.is_set():
            started = time.monotonic()
            exceptions = parsed_exceptions(app, exceptions_file)  # read each cycle: the file may have changed
            if exceptions is not None:
                apply_exceptions(app, exceptions, settings)
            collectors = build_collectors(params, source_context(engine, app.settings.source_settings()))
            if not collectors:
                raise CommandError("nothing to watch: give a source (--docker, --kube-context, --manifests, "
                                   "--registry, --report …); see posture watch --help", 2)
            results: list[RunResult] = []
            for collector in collectors:
                if stop.is_set():
                    break
                scope = collector.scope  # locked by its identity: the label (str(scope)) is for people
                with try_lock(engine, f"scope:{scope.kind.value}:{scope.name}") as held:
                    if not held:
                        echo(f"posture watch: {clean(str(scope))}: another collection is running; "
                                   "skipped this cycle", err=True)
                        continue
                    results.extend(run_all(app, [collector], stages))
            code = report(results)
            echo_queued(queued)
            with read_session(engine) as session:
                snapshot = next(iter(latest_snapshots(session, 1)), None)
            if snapshot:
                echo(f"posture {snapshot['score']:g} ({snapshot['grade']})")
            echo_report(deliver(app, settings, DeliveryPolicy()))
            echo_stream_report(deliver_events(app, settings, DeliveryPolicy()))
            if once:
                if code:
                    raise SystemExit(code)
                return
            stop.wait(max(0.0, interval.total_seconds() - (time.monotonic() - started)))
    echo("posture watch: stopped", err=True)
