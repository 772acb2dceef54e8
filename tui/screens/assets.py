"""Asset trees by source: clusters → namespaces → workloads → pods, engines → containers,
registries → repositories → tags → images. Every node shows the worst open risk beneath it.

The whole estate index is read once in a worker; expanding a node only reads that index.
``enter`` opens the asset, ``space``/``right`` expand, ``left`` collapses, ``/`` searches names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import Footer, Header, Static, Tree
from textual.widgets.tree import TreeNode

from posture.store.estate_queries import SOURCES, EstateIndex, Node
from posture.textsafe import clean
from tui.render import SEVERITY_STYLE, number, risk_style
from tui.screens.asset_detail import AssetDetailScreen
from tui.screens.base import Context, FilteredScreen
from tui.widgets.filter_bar import FilterBar

MAX_CHILDREN = 300
_SEVERITY_BY_RANK = {4: "critical", 3: "high", 2: "medium", 1: "low", 0: "info"}


@dataclass
class _Item:
    asset_id: int | None = None
    source: str | None = None
    loaded: bool = False


class AssetTree(Tree[_Item]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,l", "expand", "Expand", show=False),
        Binding("left,h", "collapse", "Collapse", show=False),
    ]

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand:
            node.expand()

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)


class AssetsScreen(FilteredScreen):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Reload")]

    class Loaded(Message):
        def __init__(self, index: EstateIndex) -> None:
            self.index = index
            super().__init__()

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.index: EstateIndex | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("Assets: loading the estate…", style="dim"), id="assets-status")
        yield FilterBar("search asset names (enter: apply, escape: clear)", id="assets-filter")
        tree = AssetTree(Text("estate"), data=_Item(), id="assets-tree")
        tree.show_root = False
        tree.auto_expand = False
        yield tree
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(AssetTree).focus()
        self.action_reload()

    def action_reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="estate", exit_on_error=False)
    def _load(self) -> None:
        self.post_message(self.Loaded(self.ctx.store.estate()))

    def filter_target(self) -> AssetTree:
        return self.query_one(AssetTree)

    def apply_filter(self, text: str | None) -> None:
        self._build()

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.index = message.index
        self._build()

    def _build(self) -> None:
        index = self.index
        if index is None:
            return
        tree = self.query_one(AssetTree)
        tree.clear()
        status = Text()
        status.append("Assets ", style="bold")
        status.append(number(len(index.nodes)))
        if self.filter_text:
            matches = [n for n in index.nodes.values() if self.filter_text.lower() in n.name.lower()]
            matches.sort(key=lambda n: (-index.risk(n.id).max_risk, n.name))
            status.append(f"  {number(len(matches))} match ", style="dim")
            status.append(clean(self.filter_text, limit=40), style="bold yellow")
            group = tree.root.add(
                Text(f"Matches ({number(len(matches))})", style="bold"), _Item(loaded=True), expand=True
            )
            self._add_nodes(group, matches)
        else:
            present = [(source, len(index.roots.get(source, []))) for source, _ in SOURCES if index.roots.get(source)]
            for source, count in present:
                label = Text(f"{source} ({number(count)})", style="bold")
                tree.root.add(label, _Item(source=source), expand=len(present) == 1)
        self.query_one("#assets-status", Static).update(status)
        if tree.root.children:
            tree.move_cursor(tree.root.children[0])

    def _add_nodes(self, parent: TreeNode[_Item], nodes: list[Node]) -> None:
        assert self.index is not None
        for node in nodes[:MAX_CHILDREN]:
            has_children = bool(self.index.children.get(node.id))
            parent.add(self._label(node), _Item(asset_id=node.id), allow_expand=has_children)
        if len(nodes) > MAX_CHILDREN:
            parent.add_leaf(Text(f"… {number(len(nodes) - MAX_CHILDREN)} more: use / to search", style="dim"), _Item())

    def _label(self, node: Node) -> Text:
        assert self.index is not None
        risk = self.index.risk(node.id)
        label = Text()
        label.append(f"{risk.max_risk:>3} ", style=risk_style(risk.max_risk))
        label.append(clean(node.name, limit=80))
        label.append(f"  {node.kind}", style="dim")
        if risk.count:
            label.append(
                f"  {number(risk.count)} open",
                style=SEVERITY_STYLE.get(_SEVERITY_BY_RANK.get(risk.max_severity_rank, ""), "dim"),
            )
        return label

    @on(Tree.NodeExpanded)
    def _expanded(self, event: Tree.NodeExpanded[_Item]) -> None:
        item = event.node.data
        if item is None or item.loaded or self.index is None:
            return
        item.loaded = True
        if item.source is not None:
            self._add_nodes(event.node, self.index.roots_of(item.source))
        elif item.asset_id is not None:
            self._add_nodes(event.node, self.index.children_of(item.asset_id))

    @on(Tree.NodeSelected)
    def _selected(self, event: Tree.NodeSelected[_Item]) -> None:
        item = event.node.data
        if item is not None and item.asset_id is not None:
            self.app.push_screen(AssetDetailScreen(self.ctx, item.asset_id))
        else:
            event.node.toggle()
