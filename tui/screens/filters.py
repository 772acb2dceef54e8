"""Filter by severity, lifecycle phase, NIST area, status and source: one dialog, current values preset."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select

from posture.records import ScopeKind
from posture.store.queries import FindingFilter
from posture.taxonomy import Category, FindingStatus, Phase, Severity

ANY = "any"
STATUS_ALL = "all"


def _options(values: list[str]) -> list[tuple[str, str]]:
    return [(ANY, ANY), *((v, v) for v in values)]


class FiltersScreen(ModalScreen[FindingFilter | None]):
    """Returns the new filter (the text part is kept), or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: FindingFilter) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        flt = self.current
        with Vertical(id="filters-form", classes="dialog") as form:
            form.border_title = "Filter findings"
            yield Label("Minimum severity")
            yield Select(
                _options([s.value for s in sorted(Severity, key=lambda s: -s.rank)]),
                allow_blank=False,
                value=flt.min_severity.value if flt.min_severity else ANY,
                id="severity",
            )
            yield Label("Status")
            statuses = [STATUS_ALL, *(s.value for s in FindingStatus)]
            yield Select(
                [(s, s) for s in statuses],
                allow_blank=False,
                value=flt.statuses[0] if len(flt.statuses) == 1 else STATUS_ALL,
                id="status",
            )
            yield Label("Lifecycle phase")
            yield Select(
                _options([p.value for p in Phase]),
                allow_blank=False,
                value=flt.phases[0] if flt.phases else ANY,
                id="phase",
            )
            yield Label("NIST SP 800-190 area")
            yield Select(
                _options([c.value for c in Category]),
                allow_blank=False,
                value=flt.categories[0] if flt.categories else ANY,
                id="area",
            )
            yield Label("Source (seen now by)")
            yield Select(
                _options([k.value for k in ScopeKind]),
                allow_blank=False,
                value=flt.sources[0] if flt.sources else ANY,
                id="source",
            )
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Reset", id="reset")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#severity", Select).focus()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#reset")
    def _reset(self) -> None:
        self.dismiss(FindingFilter(statuses=(FindingStatus.OPEN.value,), text=self.current.text))

    @on(Button.Pressed, "#apply")
    def _apply(self) -> None:
        def value(name: str) -> str:
            return str(self.query_one(f"#{name}", Select).value)

        severity, status = value("severity"), value("status")
        self.dismiss(
            replace(
                self.current,
                min_severity=None if severity == ANY else Severity(severity),
                statuses=() if status == STATUS_ALL else (status,),
                phases=() if value("phase") == ANY else (value("phase"),),
                categories=() if value("area") == ANY else (value("area"),),
                sources=() if value("source") == ANY else (value("source"),),
            )
        )
