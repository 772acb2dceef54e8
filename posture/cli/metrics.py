"""``posture metrics``: the Prometheus exposition, printed, written for node_exporter, or served.

* plain: the exposition on standard output (a cron job can pipe it anywhere);
* ``--textfile PATH.prom``: written atomically (a temporary file beside it, then renamed) for
  node_exporter's textfile collector, which must never read half a file;
* ``--serve HOST:PORT``: an HTTP endpoint (``/metrics``) whose every scrape reads the store afresh,
  within ``--timeout`` seconds; the address actually bound is printed first (port 0 picks a free one).

The one-shot forms fail with one line and a non-zero exit when the store cannot be read (the textfile
keeps its previous content, so node_exporter's file timestamp shows it is stale); the endpoint keeps
serving and reports ``posture_metrics_read_success 0``, with the reason on standard error.
"""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path

import click
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from posture.cli.context import AppContext, CommandError, db_option, pass_app
from posture.cli.output import echo, emit, replace_file
from posture.clock import utcnow
from posture.db import DatabaseError, bounded_read_session
from posture.reports.prometheus import PostureCollector, ReadFailed, exposition, registry_of
from posture.store.metric_readings import Readings, read_metrics

#: node_exporter's textfile collector reads only files with this suffix.
TEXTFILE_SUFFIX = ".prom"


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPV6]:PORT`` (port 0: any free one); a bad address is a usage error."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or int(port) > 65_535:
        raise click.BadParameter(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9464 or [::1]:9464)")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise click.BadParameter(f"{text!r}: the host must be an IP address or localhost") from None
    return host, int(port)


def _address(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[str, int] | None:
    return None if value is None else parse_address(value)


def _textfile(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and value.suffix != TEXTFILE_SUFFIX:
        raise click.BadParameter(f"{value}: node_exporter reads only files ending in {TEXTFILE_SUFFIX}")
    return value


def store_reader(app: AppContext, engine: Engine, timeout: float) -> Readings:
    """One bounded read of the store; any database failure becomes :class:`ReadFailed` with one line."""
    try:
        with bounded_read_session(engine, timeout) as session:
            return read_metrics(session, utcnow())
    except (DatabaseError, SQLAlchemyError) as exc:
        raise ReadFailed(app.database_error(exc).message) from None


@click.command("metrics")
@db_option
@click.option("--serve", "serve", metavar="HOST:PORT", callback=_address,
              help="Serve /metrics over HTTP on this address (e.g. 127.0.0.1:9464), each scrape read afresh.")
@click.option("--textfile", type=click.Path(dir_okay=False, path_type=Path), callback=_textfile,
              help="Write the exposition atomically to this .prom file (node_exporter's textfile collector).")
@click.option("--timeout", type=click.FloatRange(min=0.1, max=300), default=5.0, show_default=True,
              help="Seconds one read of the store may take before it is cancelled.")
@pass_app
def metrics_command(app: AppContext, serve: tuple[str, int] | None, textfile: Path | None, timeout: float) -> None:
    """Prometheus metrics: open findings, posture score, source health and notification backlog."""
    if serve is not None and textfile is not None:
        raise CommandError("--serve and --textfile are two ways out: give one", 2)
    engine = app.engine_for_read()
    if serve is not None:
        _serve(app, engine, serve, timeout)
        return
    failures: list[str] = []
    text = exposition(registry_of(PostureCollector(lambda: store_reader(app, engine, timeout), failures.append)))
    if failures:
        raise CommandError(failures[0])
    if textfile is None:
        emit(text)
    else:
        replace_file(text, textfile)


def _serve(app: AppContext, engine: Engine, address: tuple[str, int], timeout: float) -> None:
    """Serve until interrupted; each scrape runs in its own thread of prometheus-client's server."""
    from prometheus_client import start_http_server

    def failed(reason: str) -> None:
        echo(f"posture metrics: scrape: {reason}", err=True)

    registry = registry_of(PostureCollector(lambda: store_reader(app, engine, timeout), failed))
    host, port = address
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    bound_host, bound_port = server.socket.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    echo(f"posture metrics: serving http://{shown}:{bound_port}/metrics")
    try:
        threading.Event().wait()
    finally:
        server.shutdown()
        thread.join(timeout=5)
