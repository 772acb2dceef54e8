"""The output gate: every byte a command writes to a terminal or a file leaves through this module.

Commands never call ``print``, ``click.echo`` or ``sys.stdout`` themselves, nor open files for
writing (tests/test_architecture.py fails when one does), so a new command cannot forget the
sanitizer: text lines pass :func:`posture.textsafe.clean`, JSON passes
:func:`posture.textsafe.json_text`, and Rich output passes a render hook that cleans every text
segment after layout, so Posture's own styles survive while a source's escape sequences never do.
Cells are still cleaned up front (:func:`cell`) so tables are laid out with the visible marks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderableType, RenderHook, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

from posture.textsafe import clean, json_text

SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


class _Cleaned:
    """A renderable whose text segments are cleaned; Rich's own control segments pass as they are."""

    def __init__(self, renderable: ConsoleRenderable | RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.renderable, options):
            if segment.control:
                yield segment
            else:
                yield Segment(clean(segment.text, multiline=True), segment.style)


class CleanHook(RenderHook):
    """Wraps everything a console prints in :class:`_Cleaned`."""

    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        return [_Cleaned(r) for r in renderables]


def console(*, stderr: bool = False) -> Console:
    """A Rich console for standard output (or error) with markup off and the cleaning hook pushed."""
    out = Console(highlight=False, soft_wrap=False, markup=False, emoji=False, stderr=stderr)
    out.push_render_hook(CleanHook())
    return out


def echo(message: object = "", *, err: bool = False, nl: bool = True) -> None:
    """One or more lines of plain text, cleaned (line breaks kept)."""
    click.echo(clean(message, multiline=True), err=err, nl=nl)


def emit(text: str, output: Path | None = None) -> None:
    """A whole document (a report, an export) to standard output or to ``output``, cleaned.

    Writers already encode the characters for their format (JSON escapes, ``<U+XXXX>`` marks), so this
    changes nothing in their output; it is the net under a writer that forgot.
    """
    document = clean(text, multiline=True)
    if output is None:
        click.echo(document, nl=not document.endswith("\n"))
    else:
        output.write_text(document, encoding="utf-8")


def replace_file(text: str, path: Path) -> None:
    """``text``, cleaned, as the new content of ``path``, all at once: written to a temporary file in the
    same directory, flushed to disk, then renamed over ``path``, so a reader (node_exporter's textfile
    collector) sees the old file or the new one, never half of one. The temporary name ends in ``.tmp``,
    which such readers skip."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("w", encoding="utf-8") as out:
            out.write(clean(text, multiline=True))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise click.FileError(str(path), exc.strerror or str(exc)) from None


def write_json(data: Any) -> None:
    """``data`` as JSON on standard output, unsafe characters escaped (the data stays exact)."""
    emit(json_text(data))


def cell(value: object, style: str = "", limit: int | None = 80) -> Text:
    """A table cell from untrusted text: unsafe characters made visible, markup inert."""
    return Text(clean("" if value is None else value, limit=limit), style=style)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Text]]) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold", expand=False)
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*row)
    return out
