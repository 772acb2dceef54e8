"""``posture notify``: flush the outbox (deliver what is due), send a test, or show what is stuck."""

from __future__ import annotations

import click

from posture.cli.context import AppContext, CommandError, db_option, pass_app
from posture.cli.delivery import deliver, deliver_events, echo_report, echo_stream_report, notify_settings
from posture.cli.output import cell, console, echo, table, write_json
from posture.notify.deliver import DeliveryPolicy, outbox_status, send_test
from posture.notify.display import display_url
from posture.textsafe import clean

notify_option = click.option(
    "--notify", "urls", multiple=True, metavar="URL",
    help="An apprise URL to notify (repeatable), besides the config file's channels and $POSTURE_NOTIFY.",
)


@click.command("notify")
@db_option
@notify_option
@click.option("--test", "test", is_flag=True, help="Send a test message to every channel and report each result.")
@click.option("--status", "status", is_flag=True, help="Show the outbox: messages per status and dead letters.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_app
def notify_command(app: AppContext, urls: tuple[str, ...], test: bool, status: bool, fmt: str) -> None:
    """Deliver pending notifications (retrying failed ones that are due), one digest per channel and run.

    Channels come from the config file ($POSTURE_CONFIG or ~/.config/posture/config.toml),
    $POSTURE_NOTIFY and --notify; they are shown as scheme://host, or scheme:// where the host is a key.
    """
    settings = notify_settings(app, urls)
    if not settings.channels and not settings.sinks:
        raise CommandError("no notification channel: add [[channels]] or [[sinks]] to the config file, set "
                           "POSTURE_NOTIFY or give --notify URL", 2)
    if test:
        failed = False
        for channel, outcome in send_test(settings):
            ok = outcome.state == "sent"
            failed = failed or not ok
            echo(f"{clean(channel.name)} ({display_url(channel.url)}): {'ok' if ok else 'failed: ' + outcome.detail}")
        if failed:
            raise SystemExit(1)
        return
    if status:
        data = outbox_status(app.engine_for_write(), settings)
        if fmt == "json":
            write_json(data)
            return
        counts = ", ".join(f"{n} {s}" for s, n in sorted(data["counts"].items())) or "empty"
        echo(f"outbox: {counts}")
        if data["dead"]:
            console().print(table("dead letters", ["channel", "event", "attempts", "error"], (
                [cell(d["channel"]), cell(d["event"]), cell(d["attempts"]), cell(d["error"], limit=100)]
                for d in data["dead"])))
        return
    report = deliver(app, settings, DeliveryPolicy())
    stream = deliver_events(app, settings, DeliveryPolicy())
    if report.busy:
        echo("posture: notify: another process is delivering; nothing to do here", err=True)
    elif fmt == "json":
        write_json({"sent": report.sent, "recovered": report.recovered, "retrying": report.retrying,
                    "dead": report.dead, "unknown_channels": report.unknown_channels, "events": stream.sent})
    else:
        echo(f"{report.sent} message(s) sent" + (f", {report.recovered} interrupted delivery resumed"
                                                        if report.recovered else "")
             + (f", {stream.sent} event(s) written to {len(settings.sinks)} sink(s)" if settings.sinks else ""))
    echo_report(report)
    echo_stream_report(stream)
    if report.failed or stream.failed:
        raise SystemExit(1)
