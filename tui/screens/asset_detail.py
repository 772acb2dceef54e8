"""One asset: identity, attributes, open findings, related assets both ways, and how it is exposed."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from posture.store.detail_models import AssetDetail, ExposureStep, SourceSeeing
from posture.textsafe import clean
from tui.render import flatten, key_values, risk, safe, severity, stamp
from tui.screens.base import Context, PostureScreen
from tui.screens.finding_detail import FindingDetailScreen
from tui.widgets.tables import Row, fill


class AssetDetailScreen(PostureScreen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Reload")]

    class Loaded(Message):
        def __init__(self, detail: AssetDetail | None) -> None:
            self.detail = detail
            super().__init__()

    def __init__(self, ctx: Context, asset_id: int) -> None:
        super().__init__(ctx)
        self.asset_id = asset_id

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="asset"):
            yield Static(Text("loading…", style="dim"), id="asset-head")
            findings: DataTable[Text] = DataTable(id="asset-findings", cursor_type="row")
            findings.border_title = "Open and accepted findings (enter: open)"
            yield findings
            related: DataTable[Text] = DataTable(id="asset-related", cursor_type="row")
            related.border_title = "Related assets (enter: open)"
            yield related
            yield Static(id="asset-exposure")
            yield Static(id="asset-attributes")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#asset-findings", DataTable).focus()
        self.action_reload()

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="asset", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(self.ctx.store.asset(self.asset_id)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        d = message.detail
        head = self.query_one("#asset-head", Static)
        if d is None:
            head.update(Text(f"asset {self.asset_id} no longer exists", style="yellow"))
            return
        text = Text()
        text.append_text(safe(d["name"], style="bold", limit=120))
        text.append(f"  {d['kind']}  {d['phase']}", style="dim")
        text.append("\n")
        text.append_text(
            key_values(
                [
                    ("key", clean(d["key"])),
                    ("aliases", clean(", ".join(d["aliases"]), limit=200) or "-"),
                    ("parent", clean(f"{d['parent_kind']} {d['parent_key']}") if d["parent_kind"] else "-"),
                    ("seen by", clean(_sources(d["sources"]), limit=200) or "no source now"),
                    ("first seen", stamp(d["first_seen"])),
                    ("last seen", stamp(d["last_seen"])),
                    ("gone since", stamp(d["gone_at"]) if d["gone_at"] else "present"),
                ]
            )
        )
        head.update(text)
        findings: list[Row] = [
            (
                (
                    risk(f["risk"]),
                    severity(f["severity"], short=True),
                    Text(f["status"]),
                    safe(f["rule_id"]),
                    safe(f["title"], limit=80),
                ),
                f"f{f['id']}",
            )
            for f in d["findings"]
        ]
        fill(self.query_one("#asset-findings", DataTable), ("risk", "sev", "status", "rule", "title"), findings)
        related: list[Row] = [
            (
                (Text(f"→ {r['relation']}"), safe(r["kind"]), safe(r.get("name") or r["key"], limit=90)),
                f"a{r['id']}" if "id" in r else None,
            )
            for r in d["outgoing"]
        ]
        related += [
            (
                (Text(f"← {r['relation']}"), safe(r["kind"]), safe(r["name"], limit=90)),
                f"a{r['id']}" if r["id"] != self.asset_id else None,
            )
            for r in d["incoming"]
        ]
        fill(self.query_one("#asset-related", DataTable), ("relation", "kind", "name"), related)
        self.query_one("#asset-exposure", Static).update(_exposure(d["exposure"]))
        pairs = flatten(d["attributes"])
        attributes = Text()
        attributes.append("Attributes\n", style="bold underline")
        attributes.append_text(key_values(pairs) if pairs else Text("none", style="dim"))
        self.query_one("#asset-attributes", Static).update(attributes)

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value or ""  # f<finding id>, a<asset id>; rows without a target have no key
        if key.startswith("f"):
            self.app.push_screen(FindingDetailScreen(self.ctx, int(key[1:])))
        elif key.startswith("a"):
            self.app.push_screen(AssetDetailScreen(self.ctx, int(key[1:])))


def _sources(sources: list[SourceSeeing]) -> str:
    """Each source by the name people know it, with its identity where that differs (a context and its cluster UID)."""
    return ", ".join(
        f"{s['kind']}:{s['label']}" + (f" ({s['identity']})" if s["identity"] != s["label"] else "") for s in sources
    )


def _exposure(paths: list[list[ExposureStep]]) -> Text:
    text = Text()
    text.append("Exposure path\n", style="bold underline")
    if not paths:
        text.append("no Service, Ingress or published port leads here", style="dim")
        return text
    for n, path in enumerate(paths):
        if n:
            text.append("\n")
        for step in path:
            style = "bold red" if step["exposed"] else ""
            text.append_text(safe(step["name"], style=style, limit=60))
            kind = step["kind"] + (f" {step['type']}" if step["type"] else "")
            text.append(f" ({clean(kind)}) {step['relation']} → ", style="dim")
        text.append("this asset", style="bold")
    return text
