"""New, reopened, regressed, accepted and resolved findings between a chosen earlier run and the newest.

The window and its net changes come from :mod:`posture.store.diff` (the same diff ``posture diff``
prints); by default it starts at the run before the newest run of the same source.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Select, Static

from posture.diff import CATEGORIES
from posture.records import source_name
from posture.store.diff import DiffRow, Window, WindowError
from posture.textsafe import clean
from tui.render import CHANGE_STYLE, number, risk, safe, severity, stamp
from tui.screens.base import Context, FilteredScreen
from tui.screens.finding_detail import FindingDetailScreen
from tui.widgets.filter_bar import FilterBar
from tui.widgets.tables import Row, fill

#: Rows the table holds: a DataTable is built on the UI thread, and a diff can hold 10,000 changes.
MAX_ROWS = 500


class DiffScreen(FilteredScreen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Reload")]

    class RunsLoaded(Message):
        def __init__(self, runs: list[Any]) -> None:
            self.runs = runs
            super().__init__()

    class DiffLoaded(Message):
        def __init__(
            self, window: Window | None, rows: list[DiffRow], notes: list[str], error: str | None = None
        ) -> None:
            self.window = window
            self.rows = rows
            self.notes = notes
            self.error = error
            super().__init__()

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.window: Window | None = None
        self.rows: list[DiffRow] = []
        self.notes: list[str] = []
        self._choosing = False
        self._listed: set[int] = set()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Select[int]([], prompt="compare with run…", id="diff-run")
        yield Static(Text("comparing the newest run with the one before…", style="dim"), id="diff-status")
        yield Static("", id="diff-notes")
        yield FilterBar("filter changes by rule, title or asset (enter: apply, escape: clear)", id="diff-filter")
        yield DataTable[Text](id="diff-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#diff-table", DataTable).focus()
        self.action_reload()

    def action_reload(self) -> None:
        self._load_runs()
        self._load_diff(self.window.from_run if self.window else None)

    @work(thread=True, exclusive=True, group="diff-runs", exit_on_error=False)
    def _load_runs(self) -> None:
        self.post_message(self.RunsLoaded(self.ctx.store.runs()))

    @work(thread=True, exclusive=True, group="diff", exit_on_error=False)
    def _load_diff(self, from_run: int | None) -> None:
        try:
            window, rows, notes = self.ctx.store.diff(from_run)
        except WindowError as exc:
            self.post_message(self.DiffLoaded(None, [], [], str(exc)))
            return
        self.post_message(self.DiffLoaded(window, rows, notes))

    @on(RunsLoaded)
    def _runs(self, message: RunsLoaded) -> None:
        select = self.query_one("#diff-run", Select)
        self._choosing = True
        select.set_options([(self._run_label(r), r.id) for r in message.runs])
        self._listed = {r.id for r in message.runs}
        self._choosing = False
        self._select_from_run()

    def _select_from_run(self) -> None:
        """Show the window's start in the run picker (once both the runs and the diff are loaded)."""
        if self.window is None or self.window.from_run not in self._listed:
            return
        self._choosing = True
        self.query_one("#diff-run", Select).value = self.window.from_run
        self._choosing = False

    @staticmethod
    def _run_label(run: Any) -> Text:
        label = Text(f"{stamp(run.finished_at)}  #{run.id}  ")
        label.append(clean(source_name(run.kind, run.name, run.label), limit=50))
        label.append(f"  {run.status}", style="dim")
        return label

    @on(Select.Changed, "#diff-run")
    def _chosen(self, event: Select.Changed) -> None:
        if self._choosing or not isinstance(event.value, int):
            return
        if self.window is not None and event.value == self.window.from_run:
            return
        self.query_one("#diff-status", Static).update(Text("comparing…", style="dim"))
        self._load_diff(event.value)

    @on(DiffLoaded)
    def _diff(self, message: DiffLoaded) -> None:
        if message.error is not None:
            self.query_one("#diff-status", Static).update(Text(clean(message.error), style="yellow"))
            return
        self.window, self.rows, self.notes = message.window, message.rows, message.notes
        self._select_from_run()
        self._show()

    def _show(self) -> None:
        needle = (self.filter_text or "").lower()
        shown = [r for r in self.rows if not needle or needle in f"{r.rule_id} {r.title} {r.asset_name}".lower()]
        rows: list[Row] = [
            (
                (
                    Text(row.entry.change, style=CHANGE_STYLE.get(row.entry.change, "")),
                    risk(row.entry.risk),
                    severity(row.entry.severity, short=True),
                    safe(row.rule_id),
                    safe(row.title, limit=80),
                    safe(row.asset_name, style="dim", limit=60),
                    safe(row.why(), style="dim", limit=60),
                ),
                str(row.entry.finding_id),
            )
            for row in shown[:MAX_ROWS]
        ]
        columns = ("change", "risk", "sev", "rule", "title", "asset", "why")  # the resolving run or the exception
        fill(self.query_one("#diff-table", DataTable), columns, rows)
        lines = [clean(f"kept open: {note}", limit=200) for note in self.notes[:3]]
        if len(self.notes) > 3:
            lines.append(f"… {len(self.notes) - 3} more: posture diff")
        self.query_one("#diff-notes", Static).update(Text("\n".join(lines), style="yellow"))
        status = Text()
        if self.window is not None:
            status.append_text(safe(self.window.label, limit=70))
            status.append(": ")
        counts = {c: 0 for c in CATEGORIES}
        for row in self.rows:
            counts[row.entry.change] = counts.get(row.entry.change, 0) + 1
        shown_kinds = [c for c in CATEGORIES if counts[c] or c in ("new", "regressed", "resolved")]
        for n, kind in enumerate(shown_kinds):
            if n:
                status.append("  ")
            status.append(f"{kind} ", style=CHANGE_STYLE.get(kind, ""))
            status.append(number(counts[kind]), style="bold")
        if len(shown) > MAX_ROWS:
            status.append(f"  riskiest {MAX_ROWS} of {number(len(shown))} shown", style="dim")
        if self.filter_text:
            status.append("  /", style="dim")
            status.append(clean(self.filter_text, limit=40), style="bold yellow")
        self.query_one("#diff-status", Static).update(status)

    def filter_target(self) -> DataTable[Any]:
        return self.query_one("#diff-table", DataTable)

    def apply_filter(self, text: str | None) -> None:
        self._show()

    @on(DataTable.RowSelected, "#diff-table")
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(FindingDetailScreen(self.ctx, int(event.row_key.value)))
