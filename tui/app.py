"""The Posture terminal UI: six views (number keys), k9s habits, the store read in workers only.

Built by :func:`make_app` so tests, benchmarks and the CLI inject the engine, the rule registry
(for remediation text) and the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

from sqlalchemy.engine import Engine
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from posture.clock import utcnow
from posture.config import Settings
from posture.rules.base import RuleRegistry
from posture.store.queries import FindingFilter
from tui.commands import OPEN, VIEWS, commands
from tui.data import Clock, Store
from tui.screens.assets import AssetsScreen
from tui.screens.base import Context, PostureScreen
from tui.screens.diff import DiffScreen
from tui.screens.exceptions import ExceptionsScreen
from tui.screens.findings import FindingsScreen
from tui.screens.help import HelpScreen
from tui.screens.overview import OverviewScreen
from tui.screens.trace import TraceScreen

_SCREENS: dict[str, Callable[[Context], PostureScreen]] = {
    "overview": OverviewScreen,
    "findings": FindingsScreen,
    "assets": AssetsScreen,
    "trace": TraceScreen,
    "diff": DiffScreen,
    "exceptions": ExceptionsScreen,
}


class PostureApp(App[None]):
    CSS_PATH = "posture.tcss"
    TITLE = "Posture"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012 - declared by App
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(str(n), f"view('{mode}')", title, show=False) for n, (mode, title, _) in enumerate(VIEWS, 1)),
        Binding("slash", "filter", "Filter"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, ctx: Context, *, start: str = "overview", filter_text: str | None = None) -> None:
        super().__init__()
        self.ctx = ctx
        self.start = start
        self.filter_text = filter_text
        self.views: dict[str, PostureScreen] = {}
        for mode, (_, title, _) in zip(_SCREENS, VIEWS, strict=True):
            self.add_mode(mode, self._factory(mode, title))
        if ctx.read_only:
            self.sub_title = "read-only"

    def _factory(self, mode: str, title: str) -> Callable[[], Screen[None]]:
        def build() -> Screen[None]:
            screen = _SCREENS[mode](self.ctx)
            screen.sub_title = title + (" · read-only" if self.ctx.read_only else "")
            self.views[mode] = screen
            return screen

        return build

    async def on_mount(self) -> None:
        """Open where the command line (a notification's deep link) asked: a view, or findings filtered."""
        if self.filter_text:
            await self.show_findings(FindingFilter(statuses=OPEN, text=self.filter_text), None)
        else:
            await self.switch_mode(self.start)

    async def action_view(self, mode: str) -> None:
        await self.switch_mode(mode)

    async def _base_of(self, mode: str) -> PostureScreen:
        """Switch to ``mode`` and back to its base screen (closing details opened on top)."""
        await self.switch_mode(mode)
        while len(self.screen_stack) > 1:
            self.pop_screen()
        return self.views[mode]

    async def action_filter(self) -> None:
        screen = self.screen
        if isinstance(screen, PostureScreen) and screen.open_filter():
            return
        (await self._base_of("findings")).open_filter()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.ctx.read_only))

    async def action_quit(self) -> None:
        self.exit(return_code=0)

    async def show_findings(self, flt: FindingFilter | None, order: str | None) -> None:
        findings = await self._base_of("findings")
        assert isinstance(findings, FindingsScreen)
        findings.set_filter(flt if flt is not None else findings.flt, order)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)

        def view(mode: str) -> None:
            self.run_worker(self.action_view(mode))

        def findings(flt: FindingFilter | None, order: str | None) -> None:
            self.run_worker(self.show_findings(flt, order))

        yield from commands(view, findings)


def make_app(
    engine: Engine,
    *,
    read_only: bool = False,
    registry: RuleRegistry | None = None,
    clock: Clock = utcnow,
    start: str = "overview",
    filter_text: str | None = None,
    notify: Settings | None = None,
) -> PostureApp:
    """The app over ``engine``; ``registry`` gives remediation text (default: the installed rules).

    ``start`` names the first view; ``filter_text`` opens the open findings filtered by it instead.
    """
    if registry is None:
        from posture.rules import default_registry

        registry = default_registry()
    return PostureApp(Context(Store(engine, registry, clock, notify), read_only=read_only), start=start,
                      filter_text=filter_text)
