"""The manager's screen: score and trend, counts by severity / NIST area / phase, top risks, changes, health.

Two workers fill it: the headline (index lookups: score, top risks, changes, health) paints
first; the counts need a scan of every finding and arrive a moment later.
"""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Sparkline, Static

from posture.reports.overview import AREAS, PHASES, SEVERITIES, Counts, Headline
from posture.taxonomy import NIST_SECTIONS
from tui.render import CHANGE_STYLE, STATUS_STYLE, age, number, risk, safe, severity
from tui.screens.base import PostureScreen
from tui.screens.finding_detail import FindingDetailScreen
from tui.widgets.tables import Row, fill

_AREA_SECTIONS = {area: sorted(s for s, (c, _) in NIST_SECTIONS.items() if c.value == area) for area in AREAS}


class OverviewScreen(PostureScreen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Reload")]

    class HeadlineLoaded(Message):
        def __init__(self, headline: Headline) -> None:
            self.headline = headline
            super().__init__()

    class CountsLoaded(Message):
        def __init__(self, counts: Counts) -> None:
            self.counts = counts
            super().__init__()

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="overview"):
            with Grid(id="summary"):
                with Vertical(id="score-panel", classes="panel") as score:
                    score.border_title = "Posture score"
                    yield Static(Text("loading…", style="dim"), id="score")
                    yield Sparkline([], id="trend")
                    yield Static("", id="trend-note")
                yield self._panel("severity", "Open by severity")
                yield self._panel("area", "By NIST 800-190 area")
                yield self._panel("phase", "By lifecycle phase")
            top: DataTable[Text] = DataTable(id="top", cursor_type="row")
            top.border_title = "Top risks (enter: open)"
            yield top
            with Horizontal(id="lower"):
                yield self._panel("changes", "Changes in the latest runs")
                yield self._panel("health", "Collection health")
        yield Footer()

    @staticmethod
    def _panel(name: str, title: str) -> Static:
        panel = Static(Text("loading…", style="dim"), id=name, classes="panel")
        panel.border_title = title
        return panel

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        self._load_headline()
        self._load_counts()

    @work(thread=True, exclusive=True, group="overview-headline", exit_on_error=False)
    def _load_headline(self) -> None:
        self.post_message(self.HeadlineLoaded(self.ctx.store.headline()))

    @work(thread=True, exclusive=True, group="overview-counts", exit_on_error=False)
    def _load_counts(self) -> None:
        self.post_message(self.CountsLoaded(self.ctx.store.counts()))

    @on(HeadlineLoaded)
    def _show_headline(self, message: HeadlineLoaded) -> None:
        head = message.headline
        self._show_score(head)
        rows: list[Row] = [
            (
                (
                    risk(item.risk),
                    severity(item.severity, short=True),
                    safe(item.rule_id),
                    safe(item.title, limit=80),
                    safe(item.asset_name, style="dim", limit=60),
                    Text(age(item.first_seen, head.generated_at)),
                ),
                str(item.id),
            )
            for item in head.top
        ]
        if not rows:
            rows = [((Text(""), Text(""), Text(""), Text("no open findings", style="green"), Text(""), Text("")), None)]
        fill(self.query_one("#top", DataTable), ("risk", "sev", "rule", "title", "asset", "age"), rows)
        self.query_one("#changes", Static).update(self._changes(head))
        self.query_one("#health", Static).update(self._health(head))

    def _show_score(self, head: Headline) -> None:
        score = head.score
        if score is None:
            self.query_one("#score", Static).update(Text("not scored yet", style="dim"))
            self.query_one("#trend-note", Static).update(Text("scores appear after a scored run", style="dim"))
            return
        text = Text()
        text.append(f"{score.score:.0f}", style="bold")
        text.append(" / 100  grade ")
        text.append(score.grade, style="bold reverse")
        self.query_one("#score", Static).update(text)
        points = [p.score for p in head.trend]
        self.query_one("#trend", Sparkline).data = points
        note = Text(f"{len(points)} snapshots", style="dim")
        if len(points) > 1:
            delta = points[-1] - points[-2]
            note = Text(
                f"{delta:+.1f} since previous · {len(points)} snapshots", style="green" if delta >= 0 else "red"
            )
        self.query_one("#trend-note", Static).update(note)

    @on(CountsLoaded)
    def _show_counts(self, message: CountsLoaded) -> None:
        counts = message.counts
        self.query_one("#severity", Static).update(
            self._counts(
                [(severity(s, short=True), counts.by_severity.get(s, 0)) for s in SEVERITIES]
                + [(Text("accepted", style="dim"), counts.accepted)]
            )
        )
        self.query_one("#area", Static).update(
            self._counts(
                [(Text(f"{_AREA_SECTIONS[area][0][:3]} {area}"), counts.by_area.get(area, 0)) for area in AREAS]
            )
        )
        self.query_one("#phase", Static).update(
            self._counts(
                [(Text(phase), counts.by_phase.get(phase, 0)) for phase in PHASES]
                + [(Text("total open", style="bold"), counts.open_total)]
            )
        )

    @staticmethod
    def _counts(rows: list[tuple[Text, int]]) -> Table:
        table = Table.grid(expand=True)
        table.add_column(overflow="ellipsis", no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        for label, count in rows:
            table.add_row(label, Text(number(count), style="bold" if count else "dim"))
        return table

    @staticmethod
    def _changes(head: Headline) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for n, kind in enumerate(("new", "regressed", "resolved", "accepted")):
            if n:
                text.append("  ")
            text.append(f"{kind} ", style=CHANGE_STYLE[kind])
            text.append(number(head.change_counts.get(kind, 0)), style="bold")
        for change in head.changes[:5]:
            text.append("\n")
            text.append(f"{change.change:<9} ", style=CHANGE_STYLE.get(change.change, ""))
            text.append(f"{change.risk:>3} ")
            text.append_text(safe(f"{change.rule_id} {change.asset_name}", limit=60))
        return text

    @staticmethod
    def _health(head: Headline) -> Text:
        if not head.health:
            return Text("nothing collected yet: run `posture collect`", style="yellow")
        text = Text(no_wrap=True, overflow="ellipsis")
        for n, source in enumerate(head.health):
            if n:
                text.append("\n")
            text.append(f"{source.status:<8} ", style=STATUS_STYLE.get(source.status, ""))
            text.append(f"{age(source.finished_at or source.started_at, head.generated_at):>4} ago ", style="dim")
            text.append_text(safe(f"{source.kind}:{source.name}", limit=40))
            if source.error:
                text.append("\n         ")
                text.append_text(safe(source.error, style="yellow", limit=70))
        return text

    @on(DataTable.RowSelected, "#top")
    def _open(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.app.push_screen(FindingDetailScreen(self.ctx, int(event.row_key.value)))
