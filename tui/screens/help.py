"""``?``: every key, grouped the way an operator looks for them."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Views",
        (
            ("1", "overview: score, trend, counts, top risks, changes, health"),
            ("2", "findings"),
            ("3", "assets by source"),
            ("4", "lifecycle trace of an image"),
            ("5", "diff between runs"),
            ("6", "exceptions: accepted risks in force"),
            ("ctrl+p", "command palette"),
        ),
    ),
    (
        "Everywhere",
        (
            ("/", "filter prompt (from the overview: findings filter)"),
            ("enter", "apply the filter / open the selected item"),
            ("escape", "clear the filter, then go back"),
            ("r", "reload from the database"),
            ("?", "this help"),
            ("q", "quit"),
        ),
    ),
    (
        "Findings",
        (
            ("up/down j/k", "move"),
            ("pgup/pgdn space", "page"),
            ("home/end g/G", "first / last"),
            ("s", "sort: risk, severity, age"),
            ("f", "filters: severity, status, phase, area, source"),
        ),
    ),
    (
        "Finding",
        (
            ("a", "accept the risk: scope (narrowest first, with what it covers), reason, owner, "
                  "expiry or until a fix exists (not with --read-only)"),
            ("o", "open its asset"),
        ),
    ),
    (
        "Dialogs",
        (
            ("tab/shift+tab", "next / previous field; enter opens a list"),
            ("ctrl+s", "submit: apply the filters, accept the risk"),
            ("escape", "cancel the filters or accept-risk dialog"),
        ),
    ),
    (
        "Exceptions",
        (
            ("up/down", "select; its scope, reason and source show below"),
            ("x", "revoke it, after a confirmation (not with --read-only)"),
        ),
    ),
    (
        "Assets",
        (
            ("right/space", "expand"),
            ("left", "collapse / go to parent"),
        ),
    ),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "dismiss", "Close")]

    def __init__(self, read_only: bool) -> None:
        super().__init__()
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for n, (group, keys) in enumerate(KEYS):
            if n:
                table.add_row("", "")
            table.add_row(Text(group, style="bold underline"), "")
            for key, what in keys:
                table.add_row(key, what)
        if self.read_only:
            table.add_row("", "")
            table.add_row(Text("read-only", style="bold yellow"), "accepting risks is disabled")
        with VerticalScroll(id="help", classes="dialog") as box:
            box.border_title = "Keys (escape closes)"
            yield Static(table)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
