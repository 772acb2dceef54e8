"""YAML anchors and aliases, expanded within a budget: the one rule for every YAML Posture reads.

An alias is a reference, so a few hundred bytes of nested aliases (the "billion laughs" shape) stand
for a billion nodes: composing them is cheap, but everything after (normalizing, secret scanning,
storing as JSON) walks the expanded tree. Manifests may use anchors (``kubectl`` accepts them, and
``<<: *defaults`` merge keys are common in hand-written files), so they are not refused outright as
Kubernetes itself did not (CVE-2019-11253 was fixed with an alias budget). Here every alias costs the
size of the node it stands for, and a document whose aliases add more than :data:`MAX_ALIAS_NODES`
nodes is refused, as is an alias inside its own anchor (a cycle that no walk would ever finish).
Manifests (:mod:`collectors.k8s.fastyaml`) and scanner reports (:mod:`collectors.scanners.reader`)
both load through :class:`BudgetLoader`.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, NodeEvent
from yaml.nodes import CollectionNode, MappingNode, Node

from posture.errors import SourceFailure

#: Most nodes that aliases may add to one document. Real manifests share a few small blocks (labels,
#: resources, env lists) a few hundred times at most; a YAML bomb adds millions after a few lines.
MAX_ALIAS_NODES = 100_000


class AliasBudgetExceeded(SourceFailure, yaml.YAMLError):
    """A document's aliases expand past the budget, or one refers to a node that contains it."""


class BudgetLoader(yaml.SafeLoader):
    """PyYAML's safe loader with alias expansion counted against :data:`MAX_ALIAS_NODES`.

    The pure-Python loader, because libyaml composes in C where an alias cannot be intercepted; it is
    only used for documents that need it (aliases, explicit tags, merge keys, reports in YAML).
    """

    alias_budget = MAX_ALIAS_NODES

    def compose_document(self) -> Node | None:
        self._expanded = 0
        self._sizes: dict[int, int] = {}
        self._open: set[str] = set()
        return super().compose_document()

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, AliasEvent) and event.anchor is not None:
            self._spend(event.anchor)
            return super().compose_node(parent, index)
        anchor = event.anchor if isinstance(event, NodeEvent) and isinstance(event, CollectionStartEvent) else None
        if anchor is None:
            return super().compose_node(parent, index)
        self._open.add(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._open.discard(anchor)

    def _spend(self, anchor: str) -> None:
        """Charge the aliased node's expanded size; refuse a cycle or a document over the budget."""
        if anchor in self._open:
            raise AliasBudgetExceeded(f"YAML alias *{anchor[:40]} refers to a node that contains it")
        node = self.anchors.get(anchor)
        if node is None:
            return  # the composer reports the undefined alias itself
        self._expanded += expanded_size(node, self._sizes)
        if self._expanded > self.alias_budget:
            raise AliasBudgetExceeded(
                f"YAML aliases expand to more than {self.alias_budget} nodes, the shape of a YAML bomb"
            )


def expanded_size(node: Node, sizes: dict[int, int]) -> int:
    """Nodes in ``node`` with every alias expanded, remembered per node so shared subtrees cost once."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, MappingNode):
        total += sum(expanded_size(k, sizes) + expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, CollectionNode):
        total += sum(expanded_size(child, sizes) for child in node.value)
    sizes[id(node)] = total
    return total


def load_all(text: str) -> list[Any]:
    """Every document of ``text`` (None for an empty one), aliases within the budget."""
    return list(yaml.load_all(text, Loader=BudgetLoader))
