"""The accepted risks in force: what each covers (its scope and the findings it accepts now), who
accepted it, why and until when; ``x`` revokes the selected one after a confirmation.

Revoking reopens the findings it accepted, except those another exception in force also covers
(they move to it): :func:`posture.store.exceptions.revoke_exception` decides, as for the CLI.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, DataTable, Footer, Header, Static

from posture.textsafe import clean
from tui.data import ExceptionRow
from tui.render import key_values, number, safe, stamp
from tui.screens.base import Context, PostureScreen
from tui.screens.form import FormScreen
from tui.widgets.tables import Row, fill


def until(row: ExceptionRow, short: bool = False) -> str:
    """When it ends: a fix, a date, or (a VEX statement may say so) never."""
    if row.until_fix:
        return "a fix" if short else "until a fix exists"
    if row.expires_at is None:
        return "never"
    return row.expires_at.strftime("%Y-%m-%d") if short else stamp(row.expires_at)


class ExceptionsScreen(PostureScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "revoke", "Revoke"),
        Binding("r", "reload", "Reload"),
    ]

    class Loaded(Message):
        def __init__(self, rows: list[ExceptionRow]) -> None:
            self.rows = rows
            super().__init__()

    class Revoked(Message):
        def __init__(self, exception_id: int, reopened: int) -> None:
            self.exception_id = exception_id
            self.reopened = reopened
            super().__init__()

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.rows: dict[int, ExceptionRow] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("loading…", style="dim"), id="exceptions-status")
        yield DataTable[Text](id="exceptions-table", cursor_type="row")
        yield Static("", id="exception-detail")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#exceptions-table", DataTable).focus()
        self.action_reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "revoke":
            return None if self.ctx.read_only else bool(self.rows)
        return True

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="exceptions", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(self.ctx.store.exceptions()))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        self.rows = {row.id: row for row in message.rows}
        table: list[Row] = [
            (
                (
                    Text(f"#{row.id}", style="dim"),
                    safe(row.scope.describe(), limit=34),
                    safe(row.owner, limit=14),
                    Text(until(row, short=True)),
                    Text(number(row.covered), style="bold" if row.covered else "dim"),
                ),
                str(row.id),
            )
            for row in message.rows
        ]
        fill(self.query_one("#exceptions-table", DataTable), ("id", "scope", "owner", "until", "covers"),
             table)
        status = Text(f"{number(len(message.rows))} exception(s) in force", style="bold")
        status.append("  x: revoke the selected one", style="dim")
        self.query_one("#exceptions-status", Static).update(status)
        self._detail(self.selected)
        self.refresh_bindings()

    @property
    def selected(self) -> ExceptionRow | None:
        table = self.query_one("#exceptions-table", DataTable)
        if not self.rows or table.cursor_row < 0 or table.cursor_row >= table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(int(key)) if key is not None else None

    @on(DataTable.RowHighlighted, "#exceptions-table")
    def _highlighted(self) -> None:
        self._detail(self.selected)

    def _detail(self, row: ExceptionRow | None) -> None:
        detail = self.query_one("#exception-detail", Static)
        if row is None:
            detail.update(Text("no exception in force", style="dim"))
            return
        detail.update(render_exception(row))

    def action_revoke(self) -> None:
        row = self.selected
        if row is None or self.ctx.read_only:
            return

        def done(confirmed: bool | None) -> None:
            if confirmed:
                self._revoke(row.id)

        self.app.push_screen(ConfirmRevokeScreen(row), done)

    @work(thread=True, exclusive=True, group="revoke", exit_on_error=False)
    def _revoke(self, exception_id: int) -> None:
        self.post_message(self.Revoked(exception_id, self.ctx.store.revoke(exception_id)))

    @on(Revoked)
    def _revoked(self, message: Revoked) -> None:
        self.notify(f"Exception #{message.exception_id} revoked: {message.reopened} finding(s) reopened",
                    markup=False)
        self.action_reload()


def render_exception(row: ExceptionRow) -> Text:
    """The selected exception in full (every text cleaned)."""
    return key_values(
        [
            ("scope", clean(row.scope.describe(), limit=300)),
            ("reason", clean(row.reason, limit=300)),
            ("owner", clean(row.owner)),
            ("since", stamp(row.created_at)),
            ("until", until(row)),
            ("source", clean(f"{row.source} {row.origin}".strip(), limit=200)),
            ("covers now", f"{number(row.covered)} finding(s)"),
        ]
    )


class ConfirmRevokeScreen(FormScreen[bool]):
    """``ctrl+s`` or the button revokes; ``escape`` keeps the exception."""

    def __init__(self, row: ExceptionRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        with Vertical(id="revoke-form", classes="dialog") as form:
            form.border_title = f"Revoke exception #{self.row.id}"
            form.border_subtitle = "ctrl+s revoke · esc cancel"
            text = Text()
            text.append(clean(self.row.scope.describe(), limit=200), style="bold")
            text.append(f"\n\nThe {number(self.row.covered)} finding(s) it accepts reopen, except those another "
                        "exception in force also covers.")
            yield Static(text, id="revoke-about")
            with Horizontal(classes="buttons"):
                yield Button("Revoke", variant="error", id="revoke", classes="submit")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_submit(self) -> None:
        self.dismiss(True)


