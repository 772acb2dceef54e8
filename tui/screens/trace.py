"""The lifecycle trace: one image digest from build (config, vulnerabilities, secrets) through
distribution (registries and tags holding it) to run (every container, pod and workload running it),
with the combined risk. ``/`` filters the image list; enter traces the highlighted image.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from posture.attributes.docker import stored_container
from posture.facts.users import is_root_user
from posture.records import AssetKind
from posture.scoring.traits import container_traits, kubernetes_traits
from posture.store.detail_models import FindingBrief, ImageChoice
from posture.store.estate_queries import Trace
from posture.textsafe import clean
from tui.render import SEVERITY_STYLE, number, risk, risk_style, safe, severity
from tui.screens.base import Context, FilteredScreen
from tui.widgets.filter_bar import FilterBar
from tui.widgets.tables import Row, fill

#: NIST SP 800-190 image sections, to group an image's own findings.
_BUILD_GROUPS = {
    "3.1.1": "vulnerabilities",
    "3.1.2": "configuration",
    "3.1.3": "malware",
    "3.1.4": "secrets",
    "3.1.5": "untrusted origin",
}


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _user_fact(user: str) -> str:
    """The image's USER as the image rule and the score judge it (``0:1000`` and ``root:staff`` are root)."""
    if not user.strip():
        return "root (no USER)"
    return f"{user} (root)" if is_root_user(user) and user.strip() != "root" else user


def _image_config(attributes: dict[str, Any]) -> dict[str, Any]:
    """An image's configuration (``config``; an attributes mapping without one is read as the config)."""
    return _mapping(attributes.get("config")) or attributes


def build_facts(attributes: dict[str, Any]) -> list[tuple[str, str]]:
    """An image's configuration as the image rules read it (``config.*``, ``base_image``, ``secrets``)."""
    config = _image_config(attributes)
    facts: list[tuple[str, str]] = []
    if "user" in config:
        user = str(config.get("user") or "")
        facts.append(("user", _user_fact(user)))
    for key in ("created", "os", "architecture"):
        if config.get(key):
            facts.append((key, str(config[key])))
    if attributes.get("base_image"):
        facts.append(("base image", str(attributes["base_image"])))
    if "healthcheck" in config:
        facts.append(("healthcheck", "yes" if config.get("healthcheck") else "none"))
    for key, label in (("exposed_ports", "exposed ports"), ("env_keys", "env keys")):
        if config.get(key):
            facts.append((label, ", ".join(str(v) for v in config[key])))
    if attributes.get("repo_tags"):
        facts.append(("tags", ", ".join(str(t) for t in attributes["repo_tags"])))
    if attributes.get("secrets"):
        facts.append(("secrets", f"{len(attributes['secrets'])} found (values redacted)"))
    return [(k, clean(v, limit=160)) for k, v in facts]


#: How the trace words each privilege the score counts (posture.scoring.traits), in the order shown.
PRIVILEGE_WORDS = {
    "privileged": "privileged",
    "root": "runs as root",
    "host-network": "host network",
    "host-pid": "host PID",
    "host-ipc": "host IPC",
    "docker-socket": "mounts a runtime socket",
}


def run_facts(kind: str, attributes: dict[str, Any], image_user: str) -> list[str]:
    """What makes a running copy dangerous: the privileges exactly as the score counts them (a Docker
    container without a user of its own runs as ``image_user``), then capabilities and exposure."""
    traits = (
        container_traits(attributes, image_user) if kind == AssetKind.CONTAINER else kubernetes_traits(attributes)
    )
    facts = [word for name, word in PRIVILEGE_WORDS.items() if name in traits.privileges]
    docker = stored_container(attributes)  # read under the keys the Docker rules judge
    if docker.get("cap_add"):
        facts.append("adds " + ", ".join(str(c) for c in docker["cap_add"]))
    published = [p for p in docker.get("ports") or [] if isinstance(p, dict) and p.get("host_port")]
    if published:
        facts.append("publishes " + ", ".join(f"{p.get('host_ip') or '0.0.0.0'}:{p['host_port']}" for p in published))
    vias = sorted({str(e.get("via")) for e in attributes.get("exposure") or [] if isinstance(e, dict)})
    if vias:
        facts.append("exposed via " + ", ".join(vias))
    return [clean(f, limit=120) for f in facts]


class TraceScreen(FilteredScreen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Reload")]

    class ImagesLoaded(Message):
        def __init__(self, text: str | None, images: list[ImageChoice]) -> None:
            self.text = text
            self.images = images
            super().__init__()

    class TraceLoaded(Message):
        def __init__(self, trace: Trace | None) -> None:
            self.trace = trace
            super().__init__()

    def __init__(self, ctx: Context, image_id: int | None = None) -> None:
        super().__init__(ctx)
        self.image_id = image_id

    def compose(self) -> ComposeResult:
        yield Header()
        yield FilterBar("filter images by name or digest (enter: apply, escape: clear)", id="trace-filter")
        images: DataTable[Text] = DataTable(id="trace-images", cursor_type="row")
        images.border_title = "Images, riskiest first (enter: trace)"
        yield images
        with VerticalScroll(id="trace"):
            yield Static(Text("pick an image and press enter", style="dim"), id="trace-body")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#trace-images", DataTable).focus()
        self.action_reload()

    def action_reload(self) -> None:
        self._load_images(self.filter_text)
        if self.image_id is not None:
            self._load_trace(self.image_id)

    @work(thread=True, exclusive=True, group="trace-images", exit_on_error=False)
    def _load_images(self, text: str | None) -> None:
        self.post_message(self.ImagesLoaded(text, self.ctx.store.images(text)))

    @work(thread=True, exclusive=True, group="trace", exit_on_error=False)
    def _load_trace(self, image_id: int) -> None:
        self.post_message(self.TraceLoaded(self.ctx.store.trace(image_id)))

    @on(ImagesLoaded)
    def _images(self, message: ImagesLoaded) -> None:
        if message.text != self.filter_text:
            return
        rows: list[Row] = [
            (
                (
                    risk(image["risk"]),
                    Text(number(image["findings"])),
                    Text(number(image["running"])),
                    safe(image["name"], limit=100),
                ),
                str(image["id"]),
            )
            for image in message.images
        ] or [((Text(""), Text(""), Text(""), Text("no image matches", style="dim")), None)]
        fill(self.query_one("#trace-images", DataTable), ("risk", "open", "runs", "image"), rows)
        if not message.images:
            return
        if self.image_id is None:
            self.image_id = message.images[0]["id"]  # open on the riskiest image rather than an empty pane
            self._load_trace(self.image_id)

    @on(DataTable.RowSelected, "#trace-images")
    def _pick(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.image_id = int(event.row_key.value)
            self.query_one("#trace-body", Static).update(Text("tracing…", style="dim"))
            self._load_trace(self.image_id)

    def filter_target(self) -> DataTable[Any]:
        return self.query_one("#trace-images", DataTable)

    def apply_filter(self, text: str | None) -> None:
        self._load_images(text)

    @on(TraceLoaded)
    def _trace(self, message: TraceLoaded) -> None:
        body = self.query_one("#trace-body", Static)
        body.update(render_trace(message.trace) if message.trace else Text("image no longer present", style="yellow"))


def render_trace(trace: Trace) -> Text:
    image = trace.image
    text = Text()
    text.append("Combined risk ", style="bold")
    text.append(f"{trace.combined.max_risk}", style=risk_style(trace.combined.max_risk) + " bold")
    text.append(f"  {number(trace.combined.count)} open findings across the lifecycle  ")
    text.append(f"{len(trace.distribute)} tags · {len(trace.run)} running", style="dim")
    text.append("\n")
    text.append_text(safe(image["name"], style="bold", limit=120))
    text.append("\n")
    text.append_text(safe(image["key"], style="dim"))

    text.append("\n\nBUILD", style="bold reverse")
    config = build_facts(image["attributes"])
    if config:
        text.append("\n")
        text.append_text(_pairs(config))
    groups: dict[str, list[FindingBrief]] = {}
    for finding in trace.build:
        section = next(
            (
                r.get("id")
                for r in finding["references"]
                if isinstance(r, dict) and str(r.get("id", "")) in _BUILD_GROUPS
            ),
            None,
        )
        groups.setdefault(_BUILD_GROUPS.get(str(section), "other"), []).append(finding)
    if not trace.build:
        text.append("\nno open findings on the image", style="green")
    for name, findings in groups.items():
        text.append(f"\n{name}: {len(findings)} open", style="bold")
        _finding_lines(text, findings, 5)

    text.append("\n\nDISTRIBUTE", style="bold reverse")
    if not trace.distribute:
        text.append("\nno registry tag is known to point to this digest", style="dim")
    for tag in trace.distribute:
        text.append("\n")
        text.append_text(
            safe(" → ".join(p for p in (tag.get("registry"), tag.get("repository")) if p), style="dim", limit=60)
        )
        text.append(" → " if tag.get("registry") or tag.get("repository") else "")
        text.append_text(safe(tag["name"], style="bold", limit=80))
        text.append("  ")
        text.append_text(risk(tag["risk"]))
        signatures = tag["attributes"].get("signatures")
        if signatures is not None:
            text.append(
                "  signed: " + clean(", ".join(signatures)) if signatures else "  unsigned",
                style="green" if signatures else "yellow",
            )
        _finding_lines(text, tag["findings"], 3)

    text.append("\n\nRUN", style="bold reverse")
    image_user = str(_image_config(image["attributes"]).get("user") or "")
    if not trace.run:
        text.append("\nnothing collected runs this digest", style="dim")
    for asset in trace.run:
        text.append("\n")
        text.append_text(safe(asset["name"], style="bold", limit=80))
        text.append(f" ({asset['kind']})  ", style="dim")
        text.append_text(risk(asset["risk"]))
        facts = run_facts(asset["kind"], asset["attributes"], image_user)
        if facts:
            text.append("\n    ")
            text.append(" · ".join(facts), style="yellow")
        _finding_lines(text, asset["findings"], 3)
    return text


def _pairs(pairs: list[tuple[str, str]]) -> Text:
    text = Text()
    for n, (key, value) in enumerate(pairs):
        if n:
            text.append("\n")
        text.append(f"  {key}: ", style="dim")
        text.append(value)
    return text


def _finding_lines(text: Text, findings: list[FindingBrief], limit: int) -> None:
    for finding in findings[:limit]:
        text.append("\n    ")
        text.append_text(risk(finding["risk"]))
        text.append(" ")
        text.append_text(severity(finding["severity"], short=True))
        text.append(" ")
        text.append_text(safe(f"{finding['rule_id']} {finding['title']}", limit=90))
    if len(findings) > limit:
        worst = findings[limit]["severity"]
        text.append(f"\n    … {len(findings) - limit} more", style=SEVERITY_STYLE.get(worst, "dim"))
