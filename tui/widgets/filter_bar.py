"""The ``/`` prompt: live text filter; ``enter`` applies and hands focus back, ``escape`` clears."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Input


class FilterBar(Input):
    """Hidden until opened; the owning view reacts to Input.Changed (live) and the messages below."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "clear_filter", "Clear filter", show=True)]
    DEFAULT_CSS = """
    FilterBar { display: none; height: 1; border: none; padding: 0 1; background: $boost; }
    FilterBar.-open { display: block; }
    FilterBar:focus { border: none; }
    """

    class Applied(Message):
        """Enter: keep the filter, focus goes back to the list."""

    class Cleared(Message):
        """Escape: filter emptied and prompt closed."""

    def __init__(self, placeholder: str, *, id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id)

    def open(self) -> None:
        self.add_class("-open")
        self.focus()

    def close(self) -> None:
        self.remove_class("-open")

    async def action_submit(self) -> None:
        if not self.value:
            self.close()
        self.post_message(self.Applied())

    def action_clear_filter(self) -> None:
        self.value = ""
        self.close()
        self.post_message(self.Cleared())
