"""Reading what the TUI shows, for assertions."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from tui.app import PostureApp

AppFactory = Callable[..., PostureApp]


async def settle(pilot: Pilot[None], rounds: int = 3) -> None:
    """Let every worker finish and every message it posted be handled (no sleeping on a timer)."""
    for _ in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def screen_text(app: App[None]) -> str:
    """The active screen as plain text, line by line (what a terminal would show, minus colour).

    Textual has no public "screen as text" call; the compositor's strips are what the driver writes.
    """
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def screen_segments(app: App[None]) -> str:
    """Every character the screen would write, unfolded (to look for control characters)."""
    return "".join(segment.text for strip in app.screen._compositor.render_strips() for segment in strip)


def static_text(app: App[None], selector: str) -> str:
    """The text a Static shows (the whole of it, also what is scrolled out of view)."""
    content = app.screen.query_one(selector, Static).content
    assert isinstance(content, Text), f"{selector} shows {type(content).__name__}, not text"
    return content.plain
