"""The filter and accept-risk dialogs at 80x24 and smaller: every button on screen, usable by keyboard only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select

from posture.db import read_session
from posture.model import exception_table
from posture.taxonomy import Severity
from tests.tui.tui_estate import NOW
from tests.tui.tui_helpers import AppFactory, settle, static_text
from tui.screens.accept_risk import AcceptRiskScreen
from tui.screens.filters import FiltersScreen
from tui.screens.finding_detail import FindingDetailScreen
from tui.screens.findings import FindingsScreen
from tui.widgets.finding_table import FindingTable

# Keys that open each dialog from the start; the finding opened for accept-risk is the registry one.
OPEN = {
    "filters": ("2", "f"),
    "accept": ("2", "slash", *"reg-t", "enter", "enter", "a"),
}
DIALOGS = {"filters": FiltersScreen, "accept": AcceptRiskScreen}


async def _open(pilot: Pilot[None], dialog: str) -> None:
    for key in OPEN[dialog]:
        await pilot.press(key)
        await settle(pilot)
    assert isinstance(pilot.app.screen, DIALOGS[dialog])


@pytest.mark.parametrize("size", [(80, 24), (80, 16)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("dialog", list(OPEN))
async def test_every_button_is_on_screen(app_factory: AppFactory, dialog: str, size: tuple[int, int]) -> None:
    app = app_factory()
    async with app.run_test(size=size) as pilot:
        await _open(pilot, dialog)
        screen = app.screen.region
        buttons = list(app.screen.query(Button))
        assert len(buttons) >= 2
        for button in buttons:
            assert button.region.height == 3 and screen.contains_region(button.region), (button.id, button.region)


async def test_the_whole_filter_form_fits_at_80x24_without_scrolling(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, "filters")
        for select_ in app.screen.query(Select):
            assert app.screen.region.contains_region(select_.region), select_.id


async def test_filters_by_keyboard_only_and_ctrl_s_applies(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, "filters")
        assert app.screen.focused is app.screen.query_one("#severity", Select)
        await pilot.press("enter", "down", "enter")  # open the list, any -> critical, choose it
        await settle(pilot)
        assert app.screen.query_one("#severity", Select).value == "critical"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        assert app.screen.flt.min_severity is Severity.CRITICAL
        assert app.screen.query_one(FindingTable).total == 3


async def test_filters_escape_cancels_and_keeps_the_filter(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, "filters")
        await pilot.press("enter", "down", "enter", "escape")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        assert app.screen.flt.min_severity is None


def _exceptions(engine: Engine) -> list[dict[str, object]]:
    with read_session(engine) as session:
        return [dict(row) for row in session.execute(select(exception_table)).mappings()]


async def test_accept_risk_by_keyboard_only_enter_in_the_last_field_submits(
    app_factory: AppFactory, engine: Engine
) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, "accept")
        await pilot.press(*"internal only", "enter", *"platform-team", "enter")
        assert app.screen.focused is app.screen.query_one("#expiry", Input)
        await pilot.press("ctrl+u", *"2w", "enter")
        await settle(pilot)
        assert isinstance(app.screen, FindingDetailScreen)
    [exc] = _exceptions(engine)
    # the narrowest scope is chosen unless the operator widens it: this one finding
    assert (exc["fingerprint"] is not None, exc["rule_id"]) == (True, None)
    assert (exc["owner"], exc["reason"]) == ("platform-team", "internal only")
    assert exc["expires_at"].replace(tzinfo=None) == (NOW + timedelta(days=14)).replace(tzinfo=None)  # type: ignore[attr-defined]


async def test_accept_risk_ctrl_s_submits_from_any_field_and_validates(app_factory: AppFactory, engine: Engine) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await _open(pilot, "accept")
        await pilot.press(*"internal only", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, AcceptRiskScreen)
        assert "required" in static_text(app, "#accept-error")
        await pilot.press("tab", *"platform-team", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, FindingDetailScreen)
    [exc] = _exceptions(engine)
    assert exc["owner"] == "platform-team"
