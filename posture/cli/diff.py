"""``posture diff``: what changed between two runs or over a period, from the history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from posture.cli.context import AppContext, CommandError, db_option, pass_app
from posture.cli.durations import Duration
from posture.cli.output import SEVERITY_STYLE, cell, console, table, write_json
from posture.clock import utcnow
from posture.db import read_session
from posture.diff import CATEGORIES, counts
from posture.records import source_name
from posture.store.diff import (
    EXCEPTION_CHANGES,
    DiffRow,
    Window,
    WindowError,
    diff_entries,
    label,
    recent_runs,
    run_window,
    top,
    window_notes,
)


def _severity(row: DiffRow) -> str:
    e = row.entry
    if e.previous_severity and e.previous_severity != e.severity:
        return f"{e.previous_severity}→{e.severity}"
    return e.severity


def _risk(row: DiffRow) -> str:
    e = row.entry
    if e.previous_risk is not None and e.previous_risk != e.risk and e.change == "regressed":
        return f"{e.previous_risk}→{e.risk}"
    return str(e.risk)


@click.command("diff")
@db_option
@click.option("--from", "from_run", type=int, metavar="RUN", help="Start after this run (default: the run before --to "
              "of the same source).")
@click.option("--to", "to_run", type=int, metavar="RUN", help="End with this run (default: the latest run).")
@click.option("--since", type=Duration(), metavar="AGE", help="Everything in the last AGE (7d, 12h) instead of runs.")
@click.option("--runs", "list_runs", is_flag=True, help="List recent runs to choose --from/--to.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="Rows per category in the table (JSON lists everything).")
@pass_app
def diff_command(app: AppContext, from_run: int | None, to_run: int | None, since: timedelta | None,
                 list_runs: bool, fmt: str, limit: int) -> None:
    """New, reopened, regressed (risk or severity up), resolved, newly accepted and expired-exception findings."""
    engine = app.engine_for_read()
    with read_session(engine) as session:
        if list_runs:
            _print_runs(list(recent_runs(session)), fmt)
            return
        if since is not None and (from_run is not None or to_run is not None):
            raise CommandError("give either --since or --from/--to, not both", 2)
        try:
            if since is not None:
                now = utcnow()
                window = Window(now - since, now, f"last {_human(since)}")
            else:
                window = run_window(session, from_run, to_run)
        except WindowError as exc:
            raise CommandError(str(exc), 2) from None
        entries = diff_entries(session, window)
        # JSON lists every change; the table only the riskiest of each category, so only those are labelled.
        rows = label(session, entries if fmt == "json" else top(entries, limit), window)
        notes = window_notes(session, window)
    totals = counts(entries)
    if fmt == "json":
        write_json({
            "window": {"label": window.label, "since": window.since, "until": window.until,
                       "from_run": window.from_run, "to_run": window.to_run},
            "counts": totals,
            "changes": [r.as_json() for r in rows],
            "kept_open": notes,
        })
        return
    out = console()
    summary = ", ".join(f"{n} {c}" for c, n in totals.items() if n) or "no change"
    out.print(cell(f"{window.label}: {summary}", limit=None))
    for note in notes:
        out.print(cell(f"kept open: {note}", "yellow", limit=None))
    for category in CATEGORIES:
        chosen = [r for r in rows if r.entry.change == category]
        if not chosen:
            continue
        title = f"{category} ({totals[category]})" + (f", riskiest {limit}" if totals[category] > limit else "")
        why = {"resolved": "resolved by", **dict.fromkeys(EXCEPTION_CHANGES, "exception")}.get(category)
        out.print(table(title, ["risk", "severity", "rule", "title", "asset", *([why] if why else [])], (
            [cell(_risk(r)), cell(_severity(r), SEVERITY_STYLE.get(r.entry.severity, "")), cell(r.rule_id),
             cell(r.title, limit=60), cell(r.asset_name, limit=60), *([cell(r.why(), limit=80)] if why else [])]
            for r in chosen[:limit])))


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _print_runs(runs: list[Any], fmt: str) -> None:
    if fmt == "json":
        write_json([dict(r._mapping) for r in runs])
        return
    console().print(table(f"{len(runs)} recent runs", ["run", "status", "finished", "source"], (
        [cell(r.id), cell(r.status), cell(r.finished_at.strftime("%Y-%m-%d %H:%M:%S")),
         cell(source_name(r.kind, r.name, r.label))]
        for r in runs)))
