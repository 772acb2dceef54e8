"""Rendering for humans (Rich tables, untrusted text cleaned, no markup) and machines (JSON)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from posture.textsafe import clean

SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def write_json(data: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str))
    sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()


def cell(value: object, style: str = "", limit: int | None = 80) -> Text:
    """A table cell from untrusted text: control and bidi characters stripped, markup inert."""
    return Text(clean("" if value is None else value, limit=limit), style=style)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Text]]) -> Table:
    out = Table(title=title, title_justify="left", header_style="bold", expand=False)
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*row)
    return out
