"""One finding in full: evidence, references, remediation, risk factors, sightings, history; accept its risk."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Header, Static

from posture.textsafe import clean
from tui.data import AcceptRequest, FindingView
from tui.render import flatten, key_values, risk, safe, severity, stamp
from tui.screens.accept_risk import AcceptRiskScreen
from tui.screens.base import Context, PostureScreen


class FindingDetailScreen(PostureScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "accept", "Accept risk"),
        Binding("o", "open_asset", "Open asset"),
        Binding("r", "reload", "Reload"),
    ]

    class Loaded(Message):
        def __init__(self, detail: FindingView | None) -> None:
            self.detail = detail
            super().__init__()

    class Accepted(Message):
        def __init__(self, covered: int) -> None:
            self.covered = covered
            super().__init__()

    def __init__(self, ctx: Context, finding_id: int) -> None:
        super().__init__(ctx)
        self.finding_id = finding_id
        self.detail: FindingView | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="finding"):
            yield Static(Text("loading…", style="dim"), id="finding-body")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#finding", VerticalScroll).focus()
        self.action_reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "accept":
            if self.ctx.read_only:
                return None  # shown disabled: the TUI was opened with --read-only
            return self.detail is not None and self.detail["status"] == "open"
        return True

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="finding", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(self.ctx.store.finding(self.finding_id)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        self.detail = message.detail
        body = self.query_one("#finding-body", Static)
        if message.detail is None:
            body.update(Text(f"finding {self.finding_id} no longer exists", style="yellow"))
        else:
            body.update(render_finding(message.detail))
        self.refresh_bindings()

    def action_accept(self) -> None:
        detail = self.detail
        if detail is None or self.ctx.read_only:
            return

        def done(request: AcceptRequest | None) -> None:
            if request is not None:
                self._accept(request)

        self.app.push_screen(AcceptRiskScreen(self.ctx.store, detail, self.ctx.store.clock()), done)

    @work(thread=True, exclusive=True, group="accept", exit_on_error=False)
    def _accept(self, request: AcceptRequest) -> None:
        self.post_message(self.Accepted(self.ctx.store.accept_risk(request)))

    @on(Accepted)
    def _accepted(self, message: Accepted) -> None:
        self.notify(f"Risk accepted: {message.covered} open finding(s) covered", markup=False)
        self.action_reload()

    def action_open_asset(self) -> None:
        if self.detail is not None:
            from tui.screens.asset_detail import AssetDetailScreen  # the two detail screens link to each other

            self.app.push_screen(AssetDetailScreen(self.ctx, self.detail["asset_id"]))


def render_finding(d: FindingView) -> Text:
    text = Text()
    text.append_text(severity(d["severity"]))
    text.append("  risk ")
    text.append_text(risk(d["risk"]))
    text.append(f"  {d['status']}", style="bold" if d["status"] == "open" else "dim")
    text.append("\n")
    text.append_text(safe(d["rule_id"], style="bold"))
    text.append("  ")
    text.append_text(safe(d["title"]))
    _section(
        text,
        "Asset",
        key_values(
            [
                ("kind", clean(d["asset_kind"])),
                ("name", clean(d["asset_name"])),
                ("key", clean(d["asset_key"])),
                ("discriminator", clean(d["discriminator"]) or "-"),
            ]
        ),
    )
    _section(
        text,
        "Where and when",
        key_values(
            [
                ("phase", clean(d["phase"])),
                ("NIST area", clean(d["category"])),
                ("seen by", clean(", ".join(d["sources"])) or "no current source"),
                ("first seen", stamp(d["first_seen"])),
                ("last seen", stamp(d["last_seen"])),
                ("resolved", stamp(d["resolved_at"])),
            ]
        ),
    )
    factors = flatten(d["risk_factors"])
    _section(
        text,
        "Risk factors",
        key_values(factors)
        if factors
        else Text("base risk of the severity (no context factors recorded)", style="dim"),
    )
    evidence = flatten(d["evidence"])
    _section(
        text,
        "Evidence (secrets are redacted at collection)",
        key_values(evidence) if evidence else Text("none recorded", style="dim"),
    )
    refs = [(clean(r.get("framework", "")), clean(r.get("id", ""))) for r in d["references"] if isinstance(r, dict)]
    _section(text, "References", key_values(refs) if refs else Text("none", style="dim"))
    remediation = d["remediation"]
    _section(
        text,
        "Remediation",
        Text(clean(remediation, multiline=True, limit=2000))
        if remediation
        else Text("the rule is not in this installation's rule set", style="dim"),
    )
    exc = d["exception"]
    if exc:
        _section(
            text,
            "Accepted risk",
            key_values(
                [
                    ("reason", clean(exc["reason"], limit=300)),
                    ("owner", clean(exc["owner"])),
                    ("since", stamp(exc["created_at"])),
                    ("expires", stamp(exc["expires_at"]) if exc["expires_at"] else "never"),
                ]
            ),
        )
    history = Text()
    for n, event in enumerate(d["history"]):
        if n:
            history.append("\n")
        history.append(f"{stamp(event['at'])}  ")
        history.append(f"{clean(event['event']):<17}", style="bold")
        history.append_text(severity(event["severity"], short=True))
        history.append(f"  risk {event['risk']}")
        if event["detail"]:
            history.append("  ")
            history.append_text(safe(", ".join(f"{k}={v}" for k, v in event["detail"].items()), style="dim", limit=80))
    _section(text, "History", history if history.plain else Text("no events", style="dim"))
    return text


def _section(text: Text, title: str, body: Text) -> None:
    text.append(f"\n\n{title}\n", style="bold underline")
    text.append_text(body)
