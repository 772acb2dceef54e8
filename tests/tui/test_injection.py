"""Hostile names and labels stay data: markup is shown, not run; escapes and bidi overrides never reach the terminal.

The fixture estate has a container named ``[@click=app.quit]x[/]`` (Textual would run the action
on click if the name were markup), a label carrying an OSC 52 clipboard write, and a name with a
right-to-left override.
"""

from __future__ import annotations

from textual.widgets import Tree

from tests.tui.tui_estate import BIDI, HOSTILE_MARKUP
from tests.tui.tui_helpers import AppFactory, screen_segments, screen_text, settle
from tui.screens.asset_detail import AssetDetailScreen
from tui.widgets.finding_table import FindingTable

SIZE = (120, 36)
CONTROL = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F)] + ["\u202e", "\u202d", "\u2066"]


def _no_control(app: object) -> None:
    written = screen_segments(app)  # type: ignore[arg-type]
    found = sorted({repr(c) for c in CONTROL if c in written})
    assert not found, f"control characters reach the terminal: {found}"


async def test_markup_in_a_name_is_shown_and_clicking_it_does_nothing(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert HOSTILE_MARKUP in screen_text(app)  # top risks on the overview
        _no_control(app)
        await pilot.press("2", "slash", *"click", "enter")
        await settle(pilot)
        table = app.screen.query_one(FindingTable)
        assert table.total == 1
        line = table.render_line(1).text
        assert HOSTILE_MARKUP in line
        column = line.index(HOSTILE_MARKUP)
        region = table.region
        await pilot.click(offset=(region.x + column + 2, region.y + 1))
        await settle(pilot)
        assert app.is_running and app.return_code is None
        _no_control(app)


async def test_escapes_and_bidi_overrides_are_made_visible_in_trees_and_details(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        tree = app.screen.query_one(Tree)
        docker = tree.root.children[1]
        tree.move_cursor(docker)
        await pilot.press("right", "down", "right")
        await settle(pilot)
        text = screen_text(app)
        assert HOSTILE_MARKUP in text
        assert BIDI.replace("\u202e", "<U+202E>") in text  # the override shown, not obeyed
        _no_control(app)
        hostile = next(n for n in docker.children[0].children if HOSTILE_MARKUP in str(n.label))
        tree.move_cursor(hostile)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AssetDetailScreen)
        text = screen_text(app)
        assert "labels.note" in text and "]52;c;ZXZpbA==<U+0007>clip" in text
        _no_control(app)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert app.is_running
        _no_control(app)


async def test_hostile_filter_text_is_literal(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "slash", *"[b]%_", "enter")
        await settle(pilot)
        assert app.screen.query_one(FindingTable).total == 0, "% and _ match themselves, not any text"
        assert "[b]%_" in screen_text(app)
        _no_control(app)
