"""A virtual table of findings: renders only the visible lines, fetching rows from the store by chunk.

Textual's DataTable holds every row as widgets-worth of state: 100,000 rows took 12 s to first
paint. This table knows only the row count; each line it paints comes from a chunk cache filled
by thread workers (a missing chunk paints as ``…`` until it arrives, so scrolling never waits on
the database). Chunks are fetched by keyset from the previous chunk when it is cached (constant
cost however deep), from the far end in reverse near the bottom, and by offset otherwise.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from posture.store.tui_queries import FindingRow
from posture.textsafe import clean
from tui.render import SEVERITY_SHORT, SEVERITY_STYLE, age, risk_style

CHUNK = 400
_PREFETCH_SCREENS = 3
_MAX_CHUNKS = 25  # 10,000 rows cached at most: a few MB however far the operator scrolls

#: Fetch one chunk: (offset, after-keyset, limit, reverse) → rows in display order.
Fetch = Callable[[int, tuple[Any, ...] | None, int, bool], list[FindingRow]]


@dataclass(frozen=True)
class Query:
    """One result set to show: how to fetch it, how many rows it has, in which order."""

    fetch: Fetch
    total: int
    order: str


@dataclass(frozen=True)
class _Column:
    title: str
    width: int  # 0: shares the remaining width
    share: int = 0


@dataclass(frozen=True)
class _Frame:
    """What every line of one repaint shares."""

    width: int
    columns: list[_Column]
    base: Style
    header: Style
    cursor: Style
    now: datetime


class FindingTable(ScrollView, can_focus=True):
    """Findings, one per line; ``enter`` posts :class:`FindingTable.Selected`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("pagedown,ctrl+f,space", "page(1)", "Page down", show=False),
        Binding("home,g", "edge(0)", "First", show=False),
        Binding("end,G", "edge(1)", "Last", show=False),
        Binding("enter", "select", "Open", show=True),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"finding-table--header", "finding-table--cursor"}
    DEFAULT_CSS = """
    FindingTable { height: 1fr; scrollbar-size-vertical: 1; overflow-x: hidden; }
    FindingTable > .finding-table--header { text-style: bold; background: $panel; }
    FindingTable > .finding-table--cursor { background: $accent 40%; text-style: bold; }
    FindingTable:focus > .finding-table--cursor { background: $accent; }
    """

    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class Selected(Message):
        def __init__(self, row: FindingRow) -> None:
            self.row = row
            super().__init__()

    class ChunkLoaded(Message):
        def __init__(self, generation: int, chunk: int, rows: list[FindingRow]) -> None:
            self.generation = generation
            self.chunk = chunk
            self.rows = rows
            super().__init__()

    class Painted(Message):
        """The visible rows are all on screen (benchmarks and tests wait for this)."""

        def __init__(self, generation: int) -> None:
            self.generation = generation
            super().__init__()

    def __init__(self, clock: Callable[[], datetime], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self._query: Query | None = None
        self._generation = 0
        self._chunks: OrderedDict[int, list[FindingRow]] = OrderedDict()
        self._pending: set[int] = set()
        self._painted = -1
        self._frame: _Frame | None = None

    # -- data -----------------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return self._query.total if self._query else 0

    @property
    def generation(self) -> int:
        return self._generation

    def show(self, query: Query, first: list[FindingRow] | None = None) -> None:
        """Replace the result set; ``first`` is its first chunk when the caller already has it."""
        self._generation += 1
        self._query = query
        self._chunks.clear()
        self._pending.clear()
        if first is not None:
            self._chunks[0] = first
        self.virtual_size = Size(self.size.width, query.total + 1)
        self.cursor = 0
        self.scroll_to(y=0, animate=False)
        self._painted = -1
        self.refresh()
        self._request_visible()

    def set_total(self, total: int) -> None:
        """The count arrived after the first chunk (counting is the slower query)."""
        if self._query is not None:
            self._query = Query(self._query.fetch, total, self._query.order)
            self.virtual_size = Size(self.size.width, total + 1)
            self.refresh()

    def row_at(self, index: int) -> FindingRow | None:
        chunk = self._chunks.get(index // CHUNK)
        if chunk is None or index % CHUNK >= len(chunk):
            return None
        return chunk[index % CHUNK]

    @property
    def current(self) -> FindingRow | None:
        return self.row_at(self.cursor)

    def _request_visible(self) -> None:
        """Fetch the chunks on screen and those within three screens below (paging then hits the cache)."""
        if self._query is None or self._query.total == 0:
            self._note_painted()
            return
        height = max(self.size.height, 1)
        first = int(self.scroll_offset.y)
        last = min(self._query.total - 1, first + height + _PREFETCH_SCREENS * height)
        for chunk in range(first // CHUNK, last // CHUNK + 1):
            if chunk in self._chunks or chunk in self._pending:
                continue
            if chunk - 1 in self._pending:
                continue  # fetched by keyset once its predecessor arrives, rather than by a deep offset
            self._pending.add(chunk)
            self._fetch(self._generation, self._query, chunk, self._keyset_before(chunk))
        self._note_painted()

    def _keyset_before(self, chunk: int) -> tuple[Any, ...] | None:
        previous = self._chunks.get(chunk - 1)
        if self._query is None or not previous or len(previous) < CHUNK:
            return None
        return previous[-1].sort_key(self._query.order)

    @work(thread=True, exit_on_error=False, group="finding-chunks")
    def _fetch(self, generation: int, query: Query, chunk: int, after: tuple[Any, ...] | None) -> None:
        start = chunk * CHUNK
        end = min(start + CHUNK, query.total)
        if after is not None:
            rows = query.fetch(0, after, CHUNK, False)
        elif start > query.total // 2:
            rows = query.fetch(query.total - end, None, end - start, True)
        else:
            rows = query.fetch(start, None, CHUNK, False)
        self.post_message(self.ChunkLoaded(generation, chunk, rows))

    def on_finding_table_chunk_loaded(self, message: FindingTable.ChunkLoaded) -> None:
        if message.generation != self._generation:
            return
        self._pending.discard(message.chunk)
        self._chunks[message.chunk] = message.rows
        while len(self._chunks) > _MAX_CHUNKS:
            self._chunks.popitem(last=False)
        self.refresh()
        self._request_visible()

    def _note_painted(self) -> None:
        visible = range(int(self.scroll_offset.y), min(self.total, int(self.scroll_offset.y) + self.size.height - 1))
        if self._painted != self._generation and all(self.row_at(i) is not None for i in visible):
            self._painted = self._generation
            self.post_message(self.Painted(self._generation))

    # -- keys -----------------------------------------------------------------------------------
    def action_cursor(self, delta: int) -> None:
        self._move(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move(self.cursor + direction * max(self.size.height - 2, 1))

    def action_edge(self, end: int) -> None:
        self._move(self.total - 1 if end else 0)

    def action_select(self) -> None:
        row = self.current
        if row is not None:
            self.post_message(self.Selected(row))

    def _move(self, index: int) -> None:
        if self.total == 0:
            return
        self.cursor = max(0, min(self.total - 1, index))
        rows_visible = max(self.size.height - 1, 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows_visible:
            self.scroll_to(y=self.cursor - rows_visible + 1, animate=False, immediate=True)
        self.refresh()
        self._request_visible()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._request_visible()

    def on_resize(self) -> None:
        if self._query is not None:
            self.virtual_size = Size(self.size.width, self._query.total + 1)
        self._request_visible()

    # -- painting -------------------------------------------------------------------------------
    def _columns(self, width: int) -> list[_Column]:
        wide = width >= 110
        fixed = [_Column("RISK", 4), _Column("SEV", 8 if wide else 4)]
        if wide:
            fixed.append(_Column("STATUS", 8))
        fixed += [_Column("RULE", 14 if wide else 10), _Column("AGE", 5)]
        rest = width - sum(c.width + 1 for c in fixed) - 1
        title, asset = max(rest * 3 // 5, 8), max(rest - rest * 3 // 5, 6)
        return [*fixed[:-1], _Column("TITLE", title), _Column("ASSET", asset), fixed[-1]]

    def render_lines(self, crop: Region) -> list[Strip]:
        """Styles and column layout are worked out once per frame, not once per line (~0.3 ms a line)."""
        width = self.scrollable_content_region.width
        base = self.rich_style
        self._frame = _Frame(
            width,
            self._columns(width),
            base,
            base + self.get_component_rich_style("finding-table--header"),
            base + self.get_component_rich_style("finding-table--cursor"),
            self._clock(),
        )
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        frame = self._frame
        if frame is None or frame.width != self.scrollable_content_region.width:
            self.render_lines(Region(0, y, self.size.width, 1))
            frame = self._frame
            assert frame is not None
        if y == 0:
            return self._strip([(c.title, c.width, Style()) for c in frame.columns], frame.width, frame.header)
        index = int(self.scroll_offset.y) + y - 1
        if index >= self.total:
            return Strip.blank(frame.width, frame.base)
        row = self.row_at(index)
        style = frame.cursor if index == self.cursor else frame.base
        if row is None:
            return self._strip([("…", frame.width, Style(dim=True))], frame.width, style)
        return self._strip(self._cells(row, frame), frame.width, style)

    @staticmethod
    def _cells(row: FindingRow, frame: _Frame) -> list[tuple[str, int, Style]]:
        by_title = {c.title: c.width for c in frame.columns}
        severity = row.severity if by_title["SEV"] > 4 else SEVERITY_SHORT.get(row.severity, row.severity)
        cells = [
            (f"{row.risk:>3}", 4, Style.parse(risk_style(row.risk))),
            (severity, by_title["SEV"], Style.parse(SEVERITY_STYLE.get(row.severity, ""))),
        ]
        if "STATUS" in by_title:
            cells.append((row.status, by_title["STATUS"], Style(dim=row.status != "open")))
        cells += [
            (clean(row.rule_id), by_title["RULE"], Style()),
            (clean(row.title), by_title["TITLE"], Style()),
            (clean(row.asset_name), by_title["ASSET"], Style(dim=True)),
            (age(row.first_seen, frame.now).rjust(5), 5, Style()),
        ]
        return cells

    @staticmethod
    def _strip(cells: list[tuple[str, int, Style]], width: int, style: Style) -> Strip:
        segments = [Segment(" ", style)]
        for text, cell_width, cell_style in cells:
            segments.append(Segment(set_cell_size(text, cell_width), style + cell_style))
            segments.append(Segment(" ", style))
        return Strip(segments).adjust_cell_length(width, style)
