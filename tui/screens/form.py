"""What the two dialogs (filters, accept risk) share: keyboard submit and cancel, and a layout that fits 80x24.

The fields sit in a two-column grid (label beside field, not above it) inside a scrolling body, and the
buttons are docked to the dialog's bottom: on a terminal shorter than the form the body scrolls and the buttons stay
on screen. ``ctrl+s`` submits from any field because ``enter`` on a Select opens its list.
"""

from __future__ import annotations

from typing import ClassVar, TypeVar

from textual import on
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Button

ResultT = TypeVar("ResultT")


class FormScreen(ModalScreen[ResultT | None]):
    """A dialog whose ``.submit`` button and ``ctrl+s`` call :meth:`action_submit` (subclasses implement it);
    ``#cancel`` and ``escape`` dismiss it with None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Submit", priority=True),
    ]

    def action_submit(self) -> None:
        raise NotImplementedError

    @on(Button.Pressed, ".submit")
    def _submit_pressed(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
