"""The accept-risk form: who accepts, why, until when, and how wide the exception is."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from posture.textsafe import clean
from tui.data import AcceptRequest
from tui.screens.form import FormScreen

_RELATIVE = re.compile(r"^\+?(\d{1,4})\s*([dw])$")
SCOPES = (
    ("finding", "this rule on this asset"),
    ("rule", "this rule on every asset"),
    ("asset", "every rule on this asset"),
)


def parse_expiry(value: str, now: datetime) -> datetime | None:
    """``30d``, ``+2w`` or ``YYYY-MM-DD`` (end of that day, UTC); empty means never. ValueError otherwise."""
    value = value.strip()
    if not value:
        return None
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        expires = now + timedelta(days=amount * (7 if unit == "w" else 1))
    else:
        try:
            day = datetime.strptime(value, "%Y-%m-%d")
        except ValueError:
            raise ValueError("expiry: use 30d, 2w or YYYY-MM-DD") from None
        expires = day.replace(tzinfo=UTC) + timedelta(days=1)
    if expires <= now:
        raise ValueError("expiry: must be in the future")
    return expires


class AcceptRiskScreen(FormScreen[AcceptRequest]):
    """Returns what to accept, or None when cancelled. ``enter`` moves to the next field and, in the
    last text field, submits; ``ctrl+s`` submits from anywhere."""

    def __init__(self, finding_id: int, rule_id: str, asset_key: str, asset_name: str, now: datetime) -> None:
        super().__init__()
        self.finding_id = finding_id
        self.rule_id = rule_id
        self.asset_key = asset_key
        self.asset_name = asset_name
        self.now = now

    def compose(self) -> ComposeResult:
        with Vertical(id="accept-form", classes="dialog") as form:
            form.border_title = "Accept risk"
            form.border_subtitle = "ctrl+s accept · esc cancel"
            with VerticalScroll(classes="dialog-body"):
                about = Text("Finding ")
                about.append(clean(self.rule_id), style="bold")
                about.append(" on ")
                about.append(clean(self.asset_name, limit=60), style="bold")
                yield Static(about, id="accept-about")
                with Grid(classes="fields"):
                    yield Label("Reason\n(required)")
                    yield Input(placeholder="why this risk is acceptable", id="reason")
                    yield Label("Owner\n(required)")
                    yield Input(placeholder="who answers for it", id="owner")
                    yield Label("Expires: 30d, 2w\nor YYYY-MM-DD")
                    yield Input(value="90d", placeholder="empty: never expires", id="expiry")
                    yield Label("Scope")
                    with RadioSet(id="scope"):
                        for n, (_, label) in enumerate(SCOPES):
                            yield RadioButton(label, value=n == 0)
                yield Static("", id="accept-error")
            with Horizontal(classes="buttons"):
                yield Button("Accept", variant="warning", id="accept", classes="submit")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    @on(Input.Submitted)
    def _next(self, event: Input.Submitted) -> None:
        if event.input.id == "expiry":
            self.action_submit()
        else:
            self.focus_next()

    def action_submit(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        owner = self.query_one("#owner", Input).value.strip()
        error = self.query_one("#accept-error", Static)
        if not reason or not owner:
            error.update(Text("reason and owner are required", style="bold red"))
            return
        try:
            expires = parse_expiry(self.query_one("#expiry", Input).value, self.now)
        except ValueError as exc:
            error.update(Text(str(exc), style="bold red"))
            return
        index = self.query_one("#scope", RadioSet).pressed_index
        scope = SCOPES[max(index, 0)][0]
        self.dismiss(AcceptRequest(self.finding_id, self.rule_id, self.asset_key, scope, reason, owner, expires))
