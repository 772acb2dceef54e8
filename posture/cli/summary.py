"""``posture summary``: the manager's report (text, Markdown, one self-contained HTML file, or JSON)."""

from __future__ import annotations

from pathlib import Path

import click

from posture.cli.context import AppContext, CommandError, db_option, pass_app
from posture.cli.output import emit
from posture.clock import utcnow
from posture.db import read_session
from posture.reports.overview import load_overview
from posture.reports.summary import FORMATS, render_summary


@click.command("summary")
@db_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.option("--top", type=click.IntRange(1, 100), default=10, show_default=True, help="How many top risks.")
@pass_app
def summary_command(app: AppContext, fmt: str, output: Path | None, top: int) -> None:
    """Posture score and grade, trend, risk by team / namespace / NIST area, top risks and changes."""
    engine = app.engine_for_read()
    with read_session(engine) as session:
        overview = load_overview(session, utcnow(), groups=True, top=top)
    report = render_summary(overview, fmt)
    try:
        emit(report, output)
    except OSError as exc:
        raise CommandError(f"summary: cannot write {output or 'standard output'}: {exc.strerror}") from None
