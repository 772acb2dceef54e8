"""Filling a (small) DataTable in one go, with column widths measured up front.

With auto-width columns DataTable measures cells when idle and, now and then, keeps drawing its
header at the widths of the empty table (the header line stays cached). Columns given their
width when they are added are laid out once, header and rows alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.widgets import DataTable

Row = tuple[Sequence[Text], str | None]

#: No column grows past this; longer cells are cropped (the detail views show them whole).
MAX_WIDTH = 80


def fill(table: DataTable[Text], columns: Sequence[str], rows: Iterable[Row]) -> None:
    """Replace ``table``'s columns and rows; each row is (cells, key or None)."""
    materialised = list(rows)
    widths = [len(title) for title in columns]
    for cells, _ in materialised:
        for n, cell in enumerate(cells):
            widths[n] = max(widths[n], cell.cell_len)
    table.clear(columns=True)
    for title, width in zip(columns, widths, strict=True):
        table.add_column(title, width=min(width, MAX_WIDTH))
    for cells, key in materialised:
        table.add_row(*cells, key=key)
