"""The accept-risk form: who accepts, why, until when (a date or a fix), and exactly what it covers.

The scopes offered come from the finding, narrowest first, and each label says all that it covers
(a rule's scope names the rule, so "rule VULN on this asset" cannot pass for one CVE). Before saving,
the form shows the open findings the chosen scope would accept now, as the store decides it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static

from posture.acceptance import Reach
from posture.store.detail_models import FindingDetail
from posture.textsafe import clean
from tui.data import AcceptRequest, Preview, Store
from tui.screens.form import FormScreen

_RELATIVE = re.compile(r"^\+?(\d{1,4})\s*([dw])$")


def scope_choices(detail: FindingDetail) -> list[tuple[Text, Reach]]:
    """The scopes one finding can be accepted on, narrowest first. Each label says where, then what,
    so a label cropped on a narrow terminal loses detail of what, never how wide it is."""
    rule, asset = detail["rule_id"], detail["asset_key"]
    choices = [(Text("this finding only"), Reach(fingerprint=detail["fingerprint"]))]
    vuln = vulnerability(detail)
    if vuln is not None:
        vuln_id, aliases = vuln
        shown = clean(vuln_id, limit=40)
        package = (detail["evidence"] or {}).get("package")
        if isinstance(package, str) and package:
            choices.append((Text(f"this asset, {shown} in {clean(package, limit=60)}"),
                            Reach(vuln_id=vuln_id, aliases=aliases, package=package, asset=asset)))
        choices.append((Text(f"this asset, {shown} in any package"),
                        Reach(vuln_id=vuln_id, aliases=aliases, asset=asset)))
        choices.append((Text(f"every asset, {shown}"), Reach(vuln_id=vuln_id, aliases=aliases)))
    shown_rule = clean(rule, limit=30)
    choices.append((Text(f"this asset, every {shown_rule} finding"), Reach(rule_id=rule, asset=asset)))
    namespace = (detail["asset_attributes"] or {}).get("namespace")
    if isinstance(namespace, str) and namespace:
        choices.append((Text(f"namespace {clean(namespace, limit=40)} in any cluster, every {shown_rule} finding"),
                        Reach(rule_id=rule, namespace=namespace)))
    choices.append((Text(f"every asset, every {shown_rule} finding"), Reach(rule_id=rule)))
    return choices


def vulnerability(detail: FindingDetail) -> tuple[str, tuple[str, ...]] | None:
    """The finding's vulnerability id and its other ids (aliases), when it is a vulnerability."""
    evidence = detail["evidence"] or {}
    vuln = evidence.get("vulnerability")
    if not isinstance(vuln, str) or not vuln:
        return None
    aliases = evidence.get("aliases") or ()
    return vuln, tuple(sorted({a for a in aliases if isinstance(a, str) and a and a != vuln}))


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
    expiry field, submits; ``ctrl+s`` submits from anywhere. The first scope, the narrowest, is chosen."""

    class Previewed(Message):
        def __init__(self, scope: Reach, until_fix: bool, preview: Preview) -> None:
            self.scope = scope
            self.until_fix = until_fix
            self.preview = preview
            super().__init__()

    def __init__(self, store: Store, detail: FindingDetail, now: datetime) -> None:
        super().__init__()
        self.store = store
        self.detail = detail
        self.now = now
        self.choices = scope_choices(detail)
        #: "Until a fix exists" ends when a report shows a fixed version: only a vulnerability has one.
        self.vulnerability = vulnerability(detail)
        self.fixable = self.vulnerability is not None

    def compose(self) -> ComposeResult:
        with Vertical(id="accept-form", classes="dialog") as form:
            form.border_title = "Accept risk"
            form.border_subtitle = "ctrl+s accept · esc cancel"
            with VerticalScroll(classes="dialog-body"):
                about = Text("Finding ")
                about.append(clean(self.detail["rule_id"]), style="bold")
                about.append(" on ")
                about.append(clean(self.detail["asset_name"], limit=60), style="bold")
                if self.vulnerability is not None and self.vulnerability[1]:
                    vuln_id, aliases = self.vulnerability
                    about.append(f"\n{clean(vuln_id)} is also {clean(', '.join(aliases), limit=120)}: "
                                 "a scope naming it covers every id of it", style="dim")
                yield Static(about, id="accept-about")
                with Grid(classes="fields"):
                    yield Label("Scope\n(narrowest\nfirst)")
                    with RadioSet(id="scope"):
                        for n, (label, _) in enumerate(self.choices):
                            yield RadioButton(label, value=n == 0)
                    yield Label("Covers now")
                    yield Static(Text("counting…", style="dim"), id="accept-preview")
                    yield Label("Reason\n(required)")
                    yield Input(placeholder="why this risk is acceptable", id="reason")
                    yield Label("Owner\n(required)")
                    yield Input(placeholder="who answers for it", id="owner")
                    yield Label("Expires: 30d, 2w\nor YYYY-MM-DD")
                    yield Input(value="90d", placeholder="a date, or until a fix exists", id="expiry")
                    if self.fixable:
                        yield Label("")
                        yield Checkbox("until a fix exists (no expiry)", id="until-fix")
                yield Static("", id="accept-error")
            with Horizontal(classes="buttons"):
                yield Button("Accept", variant="warning", id="accept", classes="submit")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()
        self._refresh_preview()

    @property
    def scope(self) -> Reach:
        """The scope chosen (the narrowest until another is)."""
        return self.choices[max(self.query_one("#scope", RadioSet).pressed_index, 0)][1]

    @property
    def until_fix(self) -> bool:
        """Whether the operator chose "until a fix exists" (offered for a vulnerability only)."""
        return self.fixable and self.query_one("#until-fix", Checkbox).value

    @on(RadioSet.Changed, "#scope")
    @on(Checkbox.Changed, "#until-fix")
    def _refresh_preview(self) -> None:
        self.query_one("#expiry", Input).disabled = self.until_fix
        self._preview(self.scope, self.until_fix)

    @work(thread=True, exclusive=True, group="accept-preview", exit_on_error=False)
    def _preview(self, scope: Reach, until_fix: bool) -> None:
        self.post_message(self.Previewed(scope, until_fix, self.store.preview(scope, until_fix, limit=3)))

    @on(Previewed)
    def _previewed(self, message: Previewed) -> None:
        if (message.scope, message.until_fix) != (self.scope, self.until_fix):
            return  # an answer for a choice already changed again
        self.query_one("#accept-preview", Static).update(render_preview(message.preview))

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
        expires = None
        if not self.until_fix:
            try:
                expires = parse_expiry(self.query_one("#expiry", Input).value, self.now)
            except ValueError as exc:
                error.update(Text(str(exc), style="bold red"))
                return
            if expires is None:
                error.update(Text("expiry: give one, or choose until a fix exists", style="bold red"))
                return
        self.dismiss(AcceptRequest(self.scope, reason, owner, expires, self.until_fix))


def render_preview(preview: Preview) -> Text:
    """``3 open finding(s):`` and the first of them (rule, title, asset) a line each, texts cleaned."""
    if not preview.count:
        return Text("no open finding", style="yellow")
    text = Text()
    text.append(f"{preview.count} open finding(s)", style="bold")
    text.append(":")
    for row in preview.first:
        text.append("\n")
        text.append(clean(row.rule_id, limit=20), style="bold")
        text.append("  ")
        text.append(clean(row.title, limit=40))
        text.append("  ")
        text.append(clean(row.asset_name, limit=40), style="dim")
    if preview.count > len(preview.first):
        text.append(f"\n… and {preview.count - len(preview.first)} more", style="dim")
    return text
