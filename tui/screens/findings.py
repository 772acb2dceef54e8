"""Every finding, riskiest first, in a virtual table: ``/`` text filter, ``f`` filters, ``s`` sort, enter opens.

Filtering is live (each keystroke re-queries) but never stacks queries: one query runs at a time
and, when it ends, the latest wanted filter runs if it changed meanwhile; intermediate
keystrokes are skipped rather than queued.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Footer, Header, Static
from textual.worker import Worker, WorkerState

from posture.store.queries import FindingFilter
from posture.store.tui_queries import ORDERS, FindingRow
from posture.taxonomy import FindingStatus
from posture.textsafe import clean
from tui.render import number
from tui.screens.base import Context, FilteredScreen
from tui.screens.filters import FiltersScreen
from tui.screens.finding_detail import FindingDetailScreen
from tui.widgets.filter_bar import FilterBar
from tui.widgets.finding_table import CHUNK, FindingTable, Query

DEFAULT_FILTER = FindingFilter(statuses=(FindingStatus.OPEN.value,))
_Key = tuple[FindingFilter, str]


class FindingsScreen(FilteredScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "filters", "Filters"),
        Binding("s", "sort", "Sort"),
        Binding("r", "reload", "Reload"),
    ]

    class FirstPage(Message):
        def __init__(self, key: _Key, rows: list[FindingRow]) -> None:
            self.key = key
            self.rows = rows
            super().__init__()

    class Counted(Message):
        def __init__(self, key: _Key, total: int) -> None:
            self.key = key
            self.total = total
            super().__init__()

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.flt = DEFAULT_FILTER
        self.order = "risk"
        self._wanted: _Key | None = None
        self._busy = False
        self._total: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="findings-status")
        yield FilterBar("filter: text in rule, title or asset (enter: apply, escape: clear)", id="findings-filter")
        yield FindingTable(self.ctx.store.clock, id="findings-table")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(FindingTable).focus()
        self._requery()

    @property
    def table(self) -> FindingTable:
        return self.query_one(FindingTable)

    # -- filters --------------------------------------------------------------------------------
    def filter_target(self) -> FindingTable:
        return self.table

    def apply_filter(self, text: str | None) -> None:
        self.set_filter(replace(self.flt, text=text))

    def set_filter(self, flt: FindingFilter, order: str | None = None) -> None:
        self.flt = flt
        self.filter_text = flt.text
        self.order = order or self.order
        self._requery()

    def action_filters(self) -> None:
        def chosen(flt: FindingFilter | None) -> None:
            if flt is not None:
                self.set_filter(flt)

        self.app.push_screen(FiltersScreen(self.flt), chosen)

    def action_sort(self) -> None:
        names = list(ORDERS)
        self.set_filter(self.flt, names[(names.index(self.order) + 1) % len(names)])

    def action_reload(self) -> None:
        self._requery()

    # -- querying -------------------------------------------------------------------------------
    def _requery(self) -> None:
        self._wanted = (self.flt, self.order)
        self._total = None
        self._show_status()
        if not self._busy:
            self._busy = True
            self._query(self._wanted)

    @work(thread=True, group="findings-query", exit_on_error=False)
    def _query(self, key: _Key) -> None:
        flt, order = key
        rows = self.ctx.store.page(flt, order, CHUNK)
        self.post_message(self.FirstPage(key, rows))
        total = self.ctx.store.count(flt) if len(rows) == CHUNK else len(rows)
        self.post_message(self.Counted(key, total))

    @on(FirstPage)
    def _first_page(self, message: FirstPage) -> None:
        if message.key != self._wanted:
            return
        flt, order = message.key
        store = self.ctx.store

        def fetch(offset: int, after: tuple[object, ...] | None, limit: int, reverse: bool) -> list[FindingRow]:
            return store.page(flt, order, limit, after=after, offset=offset, reverse=reverse)

        self.table.show(Query(fetch, len(message.rows), order), first=message.rows)

    @on(Counted)
    def _counted(self, message: Counted) -> None:
        self._busy = False
        if message.key == self._wanted:
            self._total = message.total
            self.table.set_total(message.total)
            self._show_status()
        elif self._wanted is not None:
            self._busy = True
            self._query(self._wanted)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        super().on_worker_state_changed(event)
        if event.worker.group == "findings-query" and event.state in (WorkerState.ERROR, WorkerState.CANCELLED):
            self._busy = False

    def _show_status(self) -> None:
        flt = self.flt
        text = Text()
        text.append("Findings ", style="bold")
        text.append(number(self._total) if self._total is not None else "…", style="bold")
        text.append(f"  sort:{self.order}", style="dim")
        parts = [
            ("status", ",".join(flt.statuses) or "all"),
            ("severity≥", flt.min_severity.value if flt.min_severity else ""),
            ("phase", ",".join(flt.phases)),
            ("area", ",".join(flt.categories)),
            ("source", ",".join(flt.sources)),
        ]
        for label, value in parts:
            if value:
                text.append(f"  {label}:", style="dim")
                text.append(value)
        if flt.text:
            text.append("  /", style="dim")
            text.append(clean(flt.text, limit=40), style="bold yellow")
        self.query_one("#findings-status", Static).update(text)

    @on(FindingTable.Selected)
    def _open(self, message: FindingTable.Selected) -> None:
        self.app.push_screen(FindingDetailScreen(self.ctx, message.row.id))
