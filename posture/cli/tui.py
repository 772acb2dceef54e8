"""``posture tui`` (and ``posture`` alone when a database exists): the terminal UI over the store."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import click
from sqlalchemy.engine import make_url

from posture.cli.context import AppContext, db_option, pass_app
from posture.cli.delivery import notify_settings


def database_exists(url: str) -> bool:
    """A SQLite file that is there and not empty; any server database is assumed to exist."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return True
    path = parsed.database
    if not path or path == ":memory:":
        return False
    return Path(path).is_file() and Path(path).stat().st_size > 0


#: The views ``--view`` opens (the UI's number keys 1-6, in that order).
VIEW_NAMES = ("overview", "findings", "assets", "trace", "diff", "exceptions")


def run_tui(app: AppContext, *, read_only: bool, view: str = "overview", filter_text: str | None = None) -> None:
    """Run the UI until the operator quits; a non-zero return code from the UI becomes the exit code."""
    engine = app.engine_for_read()
    from tui.app import make_app  # Textual is loaded only when the UI runs

    ui = make_app(engine, read_only=read_only, registry=app.registry, start=view, filter_text=filter_text,
                  notify=None if read_only else notify_settings(app))
    # Everything alive now (modules, rules, the engine) lives as long as the UI. Freezing it out of
    # the collector's view cuts full collections from ~100 ms to ~25 ms on 100,000 findings, so
    # paging never stalls on garbage collection (benchmarks/bench_tui.py measures both).
    gc.freeze()
    ui.run()
    if ui.return_code:
        raise SystemExit(ui.return_code)


def open_tui_by_default(app: AppContext) -> bool:
    """``posture`` alone in a terminal with a database opens the UI (in a pipe it prints help)."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()) or not database_exists(app.url):
        return False
    run_tui(app, read_only=False)
    return True


@click.command("tui")
@db_option
@click.option("--read-only", is_flag=True, help="Browse only: accepting risks is disabled.")
@click.option("--view", type=click.Choice(VIEW_NAMES), default="overview", show_default=True,
              help="The view to open first (what a notification's command names).")
@click.option("--filter", "filter_text", metavar="TEXT",
              help="Open the open findings filtered by TEXT (rule, title or asset), as / would.")
@pass_app
def tui_command(app: AppContext, read_only: bool, view: str, filter_text: str | None) -> None:
    """Browse the estate in the terminal: overview, findings, assets, lifecycle trace, diff, exceptions.

    Keys: 1-6 views, / filter, enter open, escape back, ? help, q quit, ctrl+p command palette.
    """
    run_tui(app, read_only=read_only, view=view, filter_text=filter_text)
