"""``posture exceptions``: accepted risks from the command line and as code.

``check`` lints an exceptions file (CI), ``apply`` makes the store hold what a file states (``collect``
does it before every run when given ``--exceptions`` or ``exceptions_file``), ``add`` / ``revoke``
change one exception, ``list`` shows what each covers now and ``export`` writes the ones in force as a
file ``check`` accepts. Every change settles at once (:func:`posture.settle.settle`): the score moves
now. Owners and reasons are people's free text: they reach the terminal only through the output gate.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlmodel import Session

from posture.acceptance import Acceptance, Reach
from posture.cli.context import AppContext, CommandError, db_option, pass_app
from posture.cli.delivery import notify_settings
from posture.cli.durations import Duration, parse_duration
from posture.cli.output import cell, console, echo, emit, table, write_json
from posture.clock import utcnow
from posture.config import Settings
from posture.db import read_session, write_session
from posture.exceptions_file import SCOPE_FIELDS, Entry, ExceptionsFile, dump, expiry_of, read
from posture.settle import settle
from posture.store.exception_list import Listed, find_exception, list_exceptions
from posture.store.exceptions import (
    apply_acceptances,
    create_exception,
    expire_exceptions,
    revoke_exception,
    would_cover,
)
from posture.taxonomy import FindingStatus


@click.group("exceptions")
def exceptions_group() -> None:
    """Accepted risks: add, list, revoke, export; check and apply an exceptions file (docs/exceptions.md)."""


def parsed_or_fail(path: str) -> ExceptionsFile:
    """The file, or a usage error naming its first problem (``PATH:LINE: problem``): nothing is applied."""
    parsed = read(path)
    if parsed.errors:
        more = f" (and {len(parsed.errors) - 1} more; see posture exceptions check)" if len(parsed.errors) > 1 else ""
        raise CommandError(parsed.errors[0] + more, 2)
    return parsed


def apply_file(session: Session, parsed: ExceptionsFile, settings: Settings, now: datetime) -> str:
    """Make the store's exceptions from this file what it states, expire what is due, and settle; one
    line saying what changed."""
    try:
        applied = apply_acceptances(session, "file", parsed.document, parsed.acceptances, now, settings.team_label)
    except ValueError as exc:
        raise CommandError(f"{parsed.path}: {exc}", 2) from None
    expired = expire_exceptions(session, now, settings.team_label)
    changes = [*applied.changes, *expired]
    if applied.created or applied.updated or applied.revoked or changes:
        settle(session, settings, now, changes)
    return (f"{parsed.path}: {len(parsed.entries)} exceptions; {len(applied.created)} added, "
            f"{len(applied.updated)} changed, {len(applied.revoked)} revoked, {len(changes)} findings reopened")


def parsed_exceptions(app: AppContext, path: str | None) -> ExceptionsFile | None:
    """The exceptions file ``collect`` and ``watch`` apply before their runs (``--exceptions`` or the
    configuration's ``exceptions_file``), read before anything is stored; None when none is set."""
    path = path or app.settings.exceptions_file
    return parsed_or_fail(path) if path else None


def apply_exceptions(app: AppContext, parsed: ExceptionsFile, settings: Settings | None = None) -> None:
    """Apply ``parsed`` in its own transaction, so the runs that follow match findings against it."""
    with write_session(app.engine_for_write()) as session:
        echo(apply_file(session, parsed, settings or notify_settings(app), utcnow()), err=True)


@exceptions_group.command("check")
@db_option
@click.argument("path", metavar="FILE")
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too (expired entries, entries matching nothing).")
@pass_app
def check_command(app: AppContext, path: str, strict: bool) -> None:
    """Lint an exceptions file: every problem as FILE:LINE. With --db (or POSTURE_DB) also warn about
    entries that match no finding there. Exit 1 on errors (and on warnings with --strict)."""
    parsed = read(path)
    now = utcnow()
    warnings = [f"{e.acceptance.origin}: warning: expired on {e.acceptance.expires_at:%Y-%m-%d} (id {e.id!r})"
                for e in parsed.entries if e.acceptance.expires_at is not None and e.acceptance.expires_at <= now]
    if app.db_url or os.environ.get("POSTURE_DB"):
        try:
            warnings += _matching_nothing(app, parsed.entries)
        except CommandError as exc:  # the lint still stands; what matches is left unsaid
            echo(f"posture: {path}: not checked against the database: {exc.message}", err=True)
    for line in [*parsed.errors, *sorted(warnings, key=_line_of)]:
        echo(line)
    echo(f"{path}: {len(parsed.entries)} valid entries, {len(parsed.errors)} errors, {len(warnings)} warnings",
         err=True)
    if parsed.errors or (strict and warnings):
        raise SystemExit(1)


def _line_of(message: str) -> int:
    head = message.rsplit(": warning:", 1)[0]
    return int(head.rsplit(":", 1)[1])


def _matching_nothing(app: AppContext, entries: Sequence[Entry]) -> list[str]:
    """Entries that cover no finding still there (open or accepted): stale, or a typo in the scope."""
    statuses = (FindingStatus.OPEN, FindingStatus.ACCEPTED)
    with read_session(app.engine_for_read()) as session:
        return [f"{e.acceptance.origin}: warning: matches no finding (id {e.id!r})" for e in entries
                if not would_cover(session, e.acceptance.scope, e.acceptance.until_fix, app.settings.team_label,
                                   statuses)]


@exceptions_group.command("apply")
@db_option
@click.argument("path", metavar="FILE")
@pass_app
def apply_command(app: AppContext, path: str) -> None:
    """Make the store's exceptions from FILE what it states now: new entries added, changed ones updated
    in place, removed ones revoked (their findings reopen). posture collect --exceptions FILE does this
    before its runs."""
    parsed = parsed_or_fail(path)
    with write_session(app.engine_for_write()) as session:
        echo(apply_file(session, parsed, notify_settings(app), utcnow()))


def _scope_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """One option per scope field of the file (``--vulnerability``, ``--asset`` …), so both say the same."""
    helps = {"finding": "A finding's fingerprint.", "vulnerability": "A vulnerability id (CVE, GHSA …).",
             "pattern": "A glob over asset names and keys.",
             "version": "The package's installed version, exactly (needs --package)."}
    for name in reversed(SCOPE_FIELDS):
        func = click.option(f"--{name}", name, metavar="TEXT", help=helps.get(name, f"Only this {name}."))(func)
    return click.option("--alias", "aliases", multiple=True, metavar="ID",
                        help="Another id of the same vulnerability (repeatable; needs --vulnerability).")(func)


def _expiry(text: str, now: datetime) -> datetime:
    """``30d`` (from today) or ``YYYY-MM-DD``: the start of that day, UTC, as in the file."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            day = (now + parse_duration(text)).date()
        except ValueError:
            raise CommandError(f"--expires {text!r}: expected a duration such as 30d or a date YYYY-MM-DD", 2) from None
    return expiry_of(day)


@exceptions_group.command("add")
@db_option
@_scope_options
@click.option("--owner", required=True, help="Who answers for this risk.")
@click.option("--reason", required=True, help="Why it is accepted.")
@click.option("--expires", metavar="30d|YYYY-MM-DD", help="When it ends (at the start of that day, UTC).")
@click.option("--until-fix", is_flag=True, help="Until a fixed version exists (instead of --expires).")
@pass_app
def add_command(app: AppContext, /, owner: str, reason: str, expires: str | None, until_fix: bool,
                aliases: tuple[str, ...], **scope: str | None) -> None:
    """Accept a risk on a scope (every option given must hold); its open findings are accepted now."""
    if bool(expires) == until_fix:
        raise CommandError("give either --expires (30d or YYYY-MM-DD) or --until-fix", 2)
    now = utcnow()
    try:
        fields = {SCOPE_FIELDS[k]: v for k, v in scope.items() if v}
        acceptance = Acceptance(Reach(aliases=aliases, **fields), reason, owner, "cli",
                                expires_at=_expiry(expires, now) if expires else None, until_fix=until_fix)
        settings = notify_settings(app)
        with write_session(app.engine_for_write()) as session:
            exc_id = create_exception(session, acceptance, now, settings.team_label)
            covers = _covered(session, exc_id, now)
            fixable = len(would_cover(session, acceptance.scope, False, settings.team_label)) if until_fix else 0
            settle(session, settings, now)
    except ValueError as exc:
        raise CommandError(str(exc), 2) from None
    echo(f"exception {exc_id} accepts {covers} open findings: {acceptance.scope.describe()}")
    if fixable:  # not covered: they stay open, and the operator should know why
        echo(f"  {fixable} more in this scope already have a fixed version: until a fix exists does not cover them")


def _covered(session: Session, exc_id: int, now: datetime) -> int:
    found = find_exception(session, exc_id, now)
    return found.covers if found else 0


@exceptions_group.command("list")
@db_option
@click.option("--expiring", type=Duration(), metavar="DURATION",
              help="Only those in force that expire within this time (14d for the weekly review).")
@click.option("--all", "include_ended", is_flag=True, help="Revoked and expired ones too.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_app
def list_command(app: AppContext, expiring: timedelta | None, include_ended: bool, fmt: str) -> None:
    """The exceptions in force: scope, owner, reason, source, until when, and how many findings each
    accepts now."""
    now = utcnow()
    with read_session(app.engine_for_read()) as session:
        listed = list_exceptions(session, now, include_ended=include_ended,
                                 expiring_before=now + expiring if expiring else None)
    if fmt == "json":
        write_json([_as_json(x) for x in listed])
        return
    columns = ["ID", "Scope", "Owner", "Reason", "Source", "Until", "Covers", *(["State"] if include_ended else [])]
    rows = [[cell(x.id), cell(x.acceptance.scope.describe()), cell(x.acceptance.owner, limit=30),
             cell(x.acceptance.reason, limit=60), cell(_source(x.acceptance)), cell(_until(x.acceptance)),
             cell(x.covers), *([cell(x.state)] if include_ended else [])] for x in listed]
    console().print(table(f"{len(listed)} exceptions", columns, rows))


def _source(acceptance: Acceptance) -> str:
    return f"{acceptance.source} {acceptance.origin}" if acceptance.origin else acceptance.source


def _until(acceptance: Acceptance) -> str:
    if acceptance.until_fix:
        return "until fix"
    return f"{acceptance.expires_at:%Y-%m-%d}" if acceptance.expires_at else "-"


def _as_json(x: Listed) -> dict[str, Any]:
    a = x.acceptance
    return {"id": x.id, "scope": {name: getattr(a.scope, attr) for name, attr in SCOPE_FIELDS.items()} | {
                "aliases": list(a.scope.aliases)},
            "describe": a.scope.describe(), "owner": a.owner, "reason": a.reason, "source": a.source, "key": a.key,
            "origin": a.origin, "created_at": x.created_at.isoformat(),
            "expires_at": a.expires_at.isoformat() if a.expires_at else None, "until_fix": a.until_fix,
            "justification": a.justification, "state": x.state, "covers": x.covers, "revoked_by": x.revoked_by}


@exceptions_group.command("revoke")
@db_option
@click.argument("exc_id", metavar="ID", type=int)
@click.option("--by", default="cli", show_default=True, help="Who revokes it (kept with the exception).")
@pass_app
def revoke_command(app: AppContext, exc_id: int, by: str) -> None:
    """End an exception now: its findings reopen unless another exception covers them."""
    now = utcnow()
    settings = notify_settings(app)
    with write_session(app.engine_for_write()) as session:
        stated = find_exception(session, exc_id, now)
        if stated is None:
            raise CommandError(f"no exception {exc_id} (see posture exceptions list --all)", 2)
        changes = revoke_exception(session, exc_id, by, now, settings.team_label)
        settle(session, settings, now, changes)
    echo(f"exception {exc_id} revoked: {len(changes)} findings reopened")
    if stated.acceptance.source == "file":
        echo(f"posture: exception {exc_id} comes from {stated.acceptance.origin}: the next apply of that file "
             "states it again; remove the entry there", err=True)


@exceptions_group.command("export")
@db_option
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write here instead of standard output.")
@pass_app
def export_command(app: AppContext, output: Path | None) -> None:
    """The exceptions in force as an exceptions file (schema version 1) that check and apply accept."""
    now = utcnow()
    with read_session(app.engine_for_read()) as session:
        listed = list_exceptions(session, now)
    stated = [x for x in listed if x.acceptance.expires_at or x.acceptance.until_fix]
    if len(stated) < len(listed):
        echo(f"posture: {len(listed) - len(stated)} exceptions without an expiry (VEX statements) left out: "
             "their VEX documents state them", err=True)
    emit(dump(_entries(stated)), output)


def _entries(listed: Sequence[Listed]) -> list[Entry]:
    """Each exception as a file entry; its id is its key in its file, else ``SOURCE-ID`` (unique either way)."""
    used: set[str] = set()
    entries = []
    for x in listed:
        a = x.acceptance
        key = a.key if a.source == "file" and a.key else f"{a.source}-{x.id}"
        if key in used:
            key = f"{key}-{x.id}"
        used.add(key)
        entries.append(Entry(key, x.created_at.date(), x.acceptance))
    return entries

