"""The virtual findings table: paints only what is visible, fetches by chunk, pages by keyset."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from textual.app import App, ComposeResult

from posture.store.tui_queries import FindingRow
from tui.widgets.finding_table import CHUNK, FindingTable, Query

NOW = datetime(2025, 6, 1, tzinfo=UTC)
TOTAL = 100_000


def _row(i: int) -> FindingRow:
    return FindingRow(
        TOTAL - i,
        100 - i * 100 // TOTAL,
        "high",
        3,
        "open",
        f"R-{i}",
        f"title {i}",
        f"asset-{i}",
        "container",
        "run",
        "container",
        NOW - timedelta(days=i % 400),
    )


@dataclass
class FakeSource:
    """100,000 rows in risk order, produced on demand; records every fetch."""

    calls: list[tuple[int, Any, int, bool]] = field(default_factory=list)

    def fetch(self, offset: int, after: tuple[Any, ...] | None, limit: int, reverse: bool) -> list[FindingRow]:
        self.calls.append((offset, after, limit, reverse))
        if after is not None:
            start = next(i for i in range(TOTAL) if _row(i).sort_key("risk") == after) + 1
        elif reverse:
            start = TOTAL - offset - limit
        else:
            start = offset
        return [_row(i) for i in range(max(start, 0), min(start + limit, TOTAL))]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield FindingTable(lambda: NOW)


async def _settle(pilot: Any) -> None:
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


async def test_paints_only_the_visible_chunk_of_a_hundred_thousand_rows() -> None:
    source = FakeSource()
    app = TableApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(FindingTable)
        table.show(Query(source.fetch, TOTAL, "risk"))
        await _settle(pilot)
        assert [c[:2] for c in source.calls] == [(0, None)], "one chunk for one screen"
        assert table.virtual_size.height == TOTAL + 1
        lines = [table.render_line(y).text for y in range(30)]
        assert lines[0].split()[:3] == ["RISK", "SEV", "RULE"]
        assert "R-0 " in lines[1] and "title 0" in lines[1] and "asset-0" in lines[1]
        assert "R-28 " in lines[29]


async def test_paging_down_fetches_the_next_chunk_by_keyset_and_end_reads_backwards() -> None:
    source = FakeSource()
    app = TableApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(FindingTable)
        table.show(Query(source.fetch, TOTAL, "risk"), first=source.fetch(0, None, CHUNK, False))
        source.calls.clear()
        pages = CHUNK // 28 + 2  # past the first chunk
        for _ in range(pages):
            await pilot.press("pagedown")
            await _settle(pilot)
        assert table.cursor == pages * 28
        assert source.calls and all(after is not None for _, after, _, _ in source.calls), source.calls
        assert source.calls[0][1] == _row(CHUNK - 1).sort_key("risk")
        source.calls.clear()
        await pilot.press("end")
        await _settle(pilot)
        assert table.cursor == TOTAL - 1
        assert source.calls[0][3] is True and source.calls[0][0] == 0, "the last rows are read from the far end"
        assert "R-99999 " in table.render_line(29).text
        await pilot.press("home")
        await _settle(pilot)
        assert table.cursor == 0 and "R-0 " in table.render_line(1).text


async def test_enter_selects_the_row_under_the_cursor() -> None:
    source = FakeSource()
    selected: list[int] = []

    class Selecting(TableApp):
        def on_finding_table_selected(self, message: FindingTable.Selected) -> None:
            selected.append(message.row.id)

    app = Selecting()
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one(FindingTable).show(Query(source.fetch, TOTAL, "risk"))
        await _settle(pilot)
        await pilot.press("down", "down", "enter")
        await _settle(pilot)
    assert selected == [_row(2).id]


async def test_a_new_result_set_discards_rows_of_the_old_one() -> None:
    source = FakeSource()
    app = TableApp()
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one(FindingTable)
        table.show(Query(source.fetch, TOTAL, "risk"))
        table.show(Query(lambda *_: [], 0, "risk"))  # the first query's chunk arrives after this
        await _settle(pilot)
        assert table.total == 0 and table.row_at(0) is None
        assert table.render_line(1).text.strip() == ""


async def test_hostile_cells_are_plain_text_without_control_characters() -> None:
    hostile = FindingRow(
        1,
        90,
        "critical",
        4,
        "open",
        "[bold]R",
        "\x1b]52;c;ZXZpbA==\x07pwn",
        "[@click=app.quit]x[/]",
        "container",
        "run",
        "container",
        NOW,
    )
    app = TableApp()
    async with app.run_test(size=(120, 10)) as pilot:
        table = app.query_one(FindingTable)
        table.show(Query(lambda *_: [hostile], 1, "risk"), first=[hostile])
        await _settle(pilot)
        line = table.render_line(1)
        text = "".join(segment.text for segment in line)
        assert "[@click=app.quit]x[/]" in text and "[bold]R" in text
        assert "\x1b" not in text and "\x07" not in text and "<U+001B>]52;c;ZXZpbA==" in text
