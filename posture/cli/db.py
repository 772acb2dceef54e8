"""``posture db``: schema management."""

from __future__ import annotations

import click

from posture.cli.context import AppContext, db_option, pass_app
from posture.cli.output import echo
from posture.db import redact_url
from posture.migrations import current_revisions


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@db_option
@pass_app
def upgrade_command(app: AppContext) -> None:
    """Create or upgrade the schema to this version of Posture."""
    engine = app.engine_for_write()
    echo(f"{redact_url(app.url)}: schema at {', '.join(sorted(current_revisions(engine)))}")


@db_group.command("current")
@db_option
@pass_app
def current_command(app: AppContext) -> None:
    """Show the schema revision of the database."""
    engine = app.engine_for_read()
    echo(", ".join(sorted(current_revisions(engine))))
