"""What every Posture screen shares: its dependencies, and k9s-style escape and filter keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input
from textual.worker import Worker, WorkerState

from posture.textsafe import clean
from tui.data import Store
from tui.widgets.filter_bar import FilterBar


@dataclass(frozen=True)
class Context:
    """Injected into every screen: the store, and whether writes (accept risk) are allowed."""

    store: Store
    read_only: bool = False


class PostureScreen(Screen[None]):
    """A view: ``escape`` clears its filter first, then goes back to the screen below."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back", show=True)]

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    def open_filter(self) -> bool:
        """Show this view's filter prompt; False when the view has none (``/`` then goes to findings)."""
        return False

    def clear_filter(self) -> bool:
        """Clear an active filter; False when there was none."""
        return False

    def action_back(self) -> None:
        if self.clear_filter():
            return
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A failed read shows one line, never a traceback; the view stays usable."""
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            self.notify(clean(f"{type(error).__name__}: {error}", limit=300), severity="error", markup=False)


class FilteredScreen(PostureScreen):
    """A view with a ``/`` prompt (a :class:`FilterBar` it composes) over one list widget.

    Subclasses name the list (:meth:`filter_target`) and apply the text (:meth:`apply_filter`);
    the prompt's keys behave the same in every view.
    """

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.filter_text: str | None = None

    def filter_target(self) -> Widget:
        raise NotImplementedError

    def apply_filter(self, text: str | None) -> None:
        raise NotImplementedError

    def open_filter(self) -> bool:
        bar = self.query_one(FilterBar)
        bar.value = self.filter_text or ""
        bar.open()
        return True

    def clear_filter(self) -> bool:
        bar = self.query_one(FilterBar)
        had = bool(self.filter_text) or bar.has_class("-open")
        active, self.filter_text = self.filter_text, None
        bar.value = ""
        bar.close()
        self.filter_target().focus()
        if active:
            self.apply_filter(None)
        return had

    @on(Input.Changed, "FilterBar")
    def _filter_typed(self, event: Input.Changed) -> None:
        text = event.value.strip() or None
        if text != self.filter_text:
            self.filter_text = text
            self.apply_filter(text)

    @on(FilterBar.Applied)
    def _filter_applied(self) -> None:
        self.filter_target().focus()

    @on(FilterBar.Cleared)
    def _filter_cleared(self) -> None:
        self.clear_filter()
