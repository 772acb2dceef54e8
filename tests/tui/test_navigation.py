"""Key paths across views: choosing the diff's earlier run, picking an image to trace, and ``?`` and
``/`` from every screen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.engine import Engine
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import DataTable, Select

from posture.pipeline import collect
from posture.records import AssetKind, AssetRecord, AssetRef, ObservationRecord, ScopeKind, ScopeRef
from posture.taxonomy import Phase, Severity
from tests.tui.tui_estate import IMAGE_B, RULES, T1, ListCollector
from tests.tui.tui_helpers import AppFactory, screen_text, settle, static_text
from tui.screens.asset_detail import AssetDetailScreen
from tui.screens.assets import AssetsScreen
from tui.screens.diff import DiffScreen
from tui.screens.finding_detail import FindingDetailScreen
from tui.screens.findings import FindingsScreen
from tui.screens.help import HelpScreen
from tui.screens.overview import OverviewScreen
from tui.screens.trace import TraceScreen
from tui.widgets.filter_bar import FilterBar

SIZE = (120, 36)
Steps = Callable[[Pilot[None]], Awaitable[None]]


def _keys(*keys: str) -> Steps:
    async def steps(pilot: Pilot[None]) -> None:
        await settle(pilot)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)

    return steps


#: screen: (keys from start, the screen they reach, the view whose filter ``/`` opens there)
SCREENS: dict[str, tuple[Steps, type[Screen[None]], type[Screen[None]]]] = {
    "overview": (_keys(), OverviewScreen, FindingsScreen),
    "findings": (_keys("2"), FindingsScreen, FindingsScreen),
    "finding": (_keys("2", "enter"), FindingDetailScreen, FindingsScreen),
    "asset": (_keys("2", "enter", "o"), AssetDetailScreen, FindingsScreen),
    "assets": (_keys("3"), AssetsScreen, AssetsScreen),
    "trace": (_keys("4"), TraceScreen, TraceScreen),
    "diff": (_keys("5"), DiffScreen, DiffScreen),
}


@pytest.mark.parametrize("name", list(SCREENS))
async def test_question_mark_opens_help_and_escape_returns(app_factory: AppFactory, name: str) -> None:
    steps, reached, _ = SCREENS[name]
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot)
        before = app.screen
        assert isinstance(before, reached)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Keys (escape closes)" in text and "accept the risk" in text and "filter prompt" in text
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is before


@pytest.mark.parametrize("name", list(SCREENS))
async def test_slash_opens_a_filter_prompt_that_takes_the_keys(app_factory: AppFactory, name: str) -> None:
    steps, _, target = SCREENS[name]
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await steps(pilot)
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, target)
        bar = app.screen.query_one(FilterBar)
        assert bar.has_focus and bar.display and bar.region.height == 1
        await pilot.press(*"zq9")
        await settle(pilot)
        assert bar.value == "zq9" and "zq9" in screen_text(app).split("\n")[bar.region.y]
        await pilot.press("escape")
        await settle(pilot)
        assert not bar.display and bar.value == ""


async def _choose_run(pilot: Pilot[None], run_id: int) -> None:
    """Keyboard only: focus the run picker, open it, walk to ``run_id``, choose it."""
    picker = pilot.app.screen.query_one("#diff-run", Select)
    while not picker.has_focus:
        await pilot.press("shift+tab")
    await pilot.press("enter")
    await settle(pilot)
    runs = [run.id for run in pilot.app.ctx.store.runs()]  # type: ignore[attr-defined]  # listed as the picker lists them
    current = runs.index(picker.value)  # type: ignore[arg-type]
    wanted = runs.index(run_id)
    await pilot.press(*(["down"] * (wanted - current) if wanted > current else ["up"] * (current - wanted)), "enter")
    await settle(pilot, rounds=5)


def _changes(pilot: Pilot[None]) -> dict[str, str]:
    table = pilot.app.screen.query_one("#diff-table", DataTable)
    return {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[4]) for i in range(table.row_count)}


async def test_choosing_an_earlier_run_recomputes_the_diff(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await _keys("5")(pilot)
        await settle(pilot, rounds=5)
        assert static_text(app, "#diff-status").startswith("run 4 → run 8")
        assert len(_changes(pilot)) == 3
        await _choose_run(pilot, 6)  # the registry's newest run: nothing changed after it
        assert app.screen.query_one("#diff-run", Select).value == 6
        status = static_text(app, "#diff-status")
        assert status.startswith("run 6 → run 8") and "new 0" in status and _changes(pilot) == {}
        await _choose_run(pilot, 1)  # the very first run: the whole history since
        status = static_text(app, "#diff-status")
        assert status.startswith("run 1 → run 8") and "new 1" in status
        assert _changes(pilot) == {
            "new": "CVE-2024-0003 in openssl",
            "resolved": "CVE-2024-0002 in openssl",
            "regressed": "Workload may run as root",
        }


@pytest.fixture
def second_image(engine: Engine) -> Engine:
    """A second, less risky image (the one two of the Docker containers run), so there is a choice."""
    image = AssetRef(AssetKind.IMAGE, IMAGE_B)
    records = [
        AssetRecord(image.kind, image.key, "registry.test/shop/worker:2", Phase.BUILD, {"config": {"user": "app"}}),
        ObservationRecord("VULN", image, "CVE-2024-0100|zlib|1", "CVE-2024-0100 in zlib", Severity.LOW),
    ]
    collect(engine, ListCollector(ScopeRef(ScopeKind.REPORT, "trivy:worker.json"), records), RULES, now=T1)
    return engine


async def test_picking_an_image_traces_it(app_factory: AppFactory, second_image: Engine) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await _keys("4")(pilot)
        images = app.screen.query_one("#trace-images", DataTable)
        names = [str(images.get_row_at(i)[3]) for i in range(images.row_count)]
        assert names == ["registry.test/shop/api:1.4", "registry.test/shop/worker:2"]
        assert "registry.test/shop/api:1.4" in static_text(app, "#trace-body")  # the riskiest opens first
        await pilot.press("down", "enter")
        await settle(pilot)
        body = static_text(app, "#trace-body")
        assert "registry.test/shop/worker:2" in body and IMAGE_B in body
        assert "user: app" in body and "CVE-2024-0100 in zlib" in body
        assert "registry.test/shop/api:1.4" not in body
        run = body.split("RUN", 1)[1]
        assert "2 running" in body and "(container)" in run and "privileged" in run
        await pilot.press("up", "enter")
        await settle(pilot)
        assert "registry.test/shop/api:1.4" in static_text(app, "#trace-body")
