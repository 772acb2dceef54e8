"""Filter by severity, lifecycle phase, NIST area, status and source: one dialog, current values preset."""

from __future__ import annotations

from dataclasses import replace

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Label, Select

from posture.records import ScopeKind
from posture.store.queries import FindingFilter
from posture.taxonomy import Category, FindingStatus, Phase, Severity
from tui.screens.form import FormScreen

ANY = "any"
STATUS_ALL = "all"


def _options(values: list[str]) -> list[tuple[str, str]]:
    return [(ANY, ANY), *((v, v) for v in values)]


def _first(values: tuple[str, ...]) -> str:
    return values[0] if values else ANY


class FiltersScreen(FormScreen[FindingFilter]):
    """Returns the new filter (the text part is kept), or None when cancelled."""

    def __init__(self, current: FindingFilter) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        flt = self.current
        severities = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]
        statuses = [STATUS_ALL, *(s.value for s in FindingStatus)]
        fields = (
            ("Min severity", "severity", _options(severities), flt.min_severity.value if flt.min_severity else ANY),
            ("Status", "status", [(s, s) for s in statuses], flt.statuses[0] if len(flt.statuses) == 1 else STATUS_ALL),
            ("Lifecycle phase", "phase", _options([p.value for p in Phase]), _first(flt.phases)),
            ("NIST 800-190 area", "area", _options([c.value for c in Category]), _first(flt.categories)),
            ("Source (seen by)", "source", _options([k.value for k in ScopeKind]), _first(flt.sources)),
        )
        with Vertical(id="filters-form", classes="dialog") as form:
            form.border_title = "Filter findings"
            form.border_subtitle = "ctrl+s apply · esc cancel"
            with VerticalScroll(classes="dialog-body"), Grid(classes="fields"):
                for label, name, options, value in fields:
                    yield Label(label)
                    yield Select(options, allow_blank=False, value=value, id=name)
            with Horizontal(classes="buttons"):
                yield Button("Apply", variant="primary", id="apply", classes="submit")
                yield Button("Reset", id="reset")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#severity", Select).focus()

    @on(Button.Pressed, "#reset")
    def _reset(self) -> None:
        self.dismiss(FindingFilter(statuses=(FindingStatus.OPEN.value,), text=self.current.text))

    def action_submit(self) -> None:
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
