"""``posture db``: schema management."""

from __future__ import annotations

import click

from posture.cli.context import AppContext, db_option, pass_app
from posture.cli.output import echo
from posture.db import redact_url, write_session
from posture.migrations import current_revisions
from posture.store.runs import forget_secret_key


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


@db_group.command("forget-secret-key")
@db_option
@pass_app
def forget_secret_key_command(app: AppContext) -> None:
    """Forget which secret key this database's hashes were made with, when that key is lost.

    The next collection then uses the configured key (or makes a new key file) and records it; secret
    findings get new fingerprints, so each is resolved and filed again once.
    """
    engine = app.engine_for_write()
    with write_session(engine) as session:
        known = forget_secret_key(session)
    echo(f"{redact_url(app.url)}: " + ("secret key forgotten" if known else "no secret key recorded"))
