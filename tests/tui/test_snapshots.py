"""SVG snapshots of the main screens at 80x24 and 120x36 (``pytest --snapshot-update`` to accept changes).

The clock is frozen (ages are relative to the fixture's NOW) and every worker has finished before
the screenshot, so a difference is a real change of layout or content.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from tests.tui.tui_helpers import AppFactory, settle

SIZES = [(80, 24), (120, 36)]

Steps = Callable[[Pilot[None]], Awaitable[None]]


async def _overview(pilot: Pilot[None]) -> None:
    await settle(pilot)


async def _findings(pilot: Pilot[None]) -> None:
    await pilot.press("2", "slash", *"openssl", "enter")
    await settle(pilot)


async def _finding(pilot: Pilot[None]) -> None:
    await pilot.press("2", "slash", *"0001", "enter", "enter")
    await settle(pilot)


async def _assets(pilot: Pilot[None]) -> None:
    await pilot.press("3")
    await settle(pilot)
    await pilot.press("right", "down", "right", "down", "right")
    await settle(pilot)


async def _trace(pilot: Pilot[None]) -> None:
    await pilot.press("4")
    await settle(pilot)


async def _diff(pilot: Pilot[None]) -> None:
    await pilot.press("5")
    await settle(pilot, rounds=5)


SCREENS: dict[str, Steps] = {
    "overview": _overview,
    "findings": _findings,
    "finding": _finding,
    "assets": _assets,
    "trace": _trace,
    "diff": _diff,
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen_snapshot(
    snap_compare: Callable[..., bool], app_factory: AppFactory, screen: str, size: tuple[int, int]
) -> None:
    assert snap_compare(app_factory(), terminal_size=size, run_before=SCREENS[screen])


async def _filters_dialog(pilot: Pilot[None]) -> None:
    await pilot.press("2", "f")
    await settle(pilot)


async def _accept_dialog(pilot: Pilot[None]) -> None:
    await pilot.press("2", "slash", *"reg-t", "enter", "enter")
    await settle(pilot)
    await pilot.press("a")
    await settle(pilot)


DIALOGS: dict[str, Steps] = {"filters": _filters_dialog, "accept-risk": _accept_dialog}


@pytest.mark.parametrize("dialog", list(DIALOGS))
def test_dialog_snapshot_at_80x24(snap_compare: Callable[..., bool], app_factory: AppFactory, dialog: str) -> None:
    """The smallest supported terminal: every field and both button rows must be in the picture."""
    assert snap_compare(app_factory(), terminal_size=(80, 24), run_before=DIALOGS[dialog])
