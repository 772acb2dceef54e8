"""``posture vex import FILE...`` and ``posture vex export``: VEX statements in, accepted risks out.

Import reads every file completely before it touches the store: one malformed document is one line
naming it and changes nothing. Each document is then applied as a whole (its statements become its
exceptions; one it no longer states is revoked) and the estate settles, all in one transaction.
"""

from __future__ import annotations

from pathlib import Path

import click

from collectors.vex import VexDocument, read_vex
from posture.acceptance import VEX as SOURCE
from posture.cli.context import AppContext, CommandError, db_option, pass_app
from posture.cli.delivery import after_collect, notify_settings
from posture.cli.output import echo, emit
from posture.clock import utcnow
from posture.db import read_session, write_session
from posture.openvex import openvex_document
from posture.records import CollectorError
from posture.settle import settle
from posture.store.exceptions import apply_acceptances
from posture.store.history import FindingChange
from posture.store.vex import accepted_vulnerabilities, covered_by, document_exceptions
from posture.textsafe import json_text


@click.group("vex")
def vex_group() -> None:
    """Read VEX documents as accepted risks; write the accepted risks as OpenVEX (docs/vex.md)."""


@vex_group.command("import")
@db_option
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@pass_app
def import_command(app: AppContext, files: tuple[str, ...]) -> None:
    """Apply OpenVEX, CycloneDX VEX or Trivy JSON documents: each ``not_affected`` statement becomes an
    exception covering that vulnerability on that product; a document imported again replaces its own."""
    try:
        documents = [read_vex(path) for path in files]
    except CollectorError as exc:
        raise CommandError(str(exc), 2) from None
    settings = notify_settings(app)
    engine = app.engine_for_write()
    now = utcnow()
    lines: list[str] = []
    with write_session(engine) as session:
        changes: list[FindingChange] = []
        for doc in documents:
            try:
                applied = apply_acceptances(session, SOURCE, doc.document, doc.acceptances, now)
            except ValueError as exc:  # a statement the store refuses: the whole import changes nothing
                raise CommandError(f"{doc.path}: {exc}", 2) from None
            changes += applied.changes
            covered = covered_by(session, document_exceptions(session, SOURCE, doc.document))
            lines.append(_summary(doc, len(applied.created), len(applied.updated), len(applied.revoked), covered))
        outcome = settle(session, settings, now, changes)
    for line in lines:
        echo(line)
    echo(f"posture {outcome.score:g} ({outcome.grade})")
    after_collect(app)


def _summary(doc: VexDocument, created: int, updated: int, revoked: int, covered: int) -> str:
    line = (f"{doc.path}: {doc.format} {doc.document}: {doc.statements} statement(s), "
            f"{len(doc.acceptances)} not affected; exceptions {created} created, {updated} updated, "
            f"{revoked} revoked; {covered} finding(s) covered")
    if doc.skipped:
        line += f"\n  skipped {len(doc.skipped)}: " + "; ".join(doc.skipped[:5])
        line += " …" if len(doc.skipped) > 5 else ""
    return line


@vex_group.command("export")
@db_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the document to FILE (default: standard output).")
@click.option("--author", default="posture", show_default=True, help="The document's author.")
@pass_app
def export_command(app: AppContext, output: Path | None, author: str) -> None:
    """The accepted vulnerabilities in force as one OpenVEX v0.2.0 document: ``not_affected`` where the
    exception has a justification, else ``affected`` with who accepted it, why and until when."""
    engine = app.engine_for_read()
    now = utcnow()
    with read_session(engine) as session:
        accepted = accepted_vulnerabilities(session, now)
    if not accepted:
        raise CommandError("no accepted vulnerability in force: nothing to export (OpenVEX needs a statement)", 1)
    emit(json_text(openvex_document(accepted, author, now)), output)
