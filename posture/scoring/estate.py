"""The estate as scoring sees it: which assets run which images, how exposed and privileged they
are, and which namespace, cluster, Docker host, registry and team each asset belongs to.

Built from plain rows the store loads in bulk (assets, and ``runs``/``owned-by``/``points-to`` edges
already resolved to asset ids through aliases), so the whole join across lifecycle phases is pure,
testable and computed once per asset however many findings the asset carries.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from posture.facts.ownership import team_of
from posture.records import AssetKind
from posture.scoring.formula import Context, Use
from posture.scoring.traits import Traits, container_traits, kubernetes_traits, merge

#: Roll-up dimensions that follow the estate's structure (NIST area and phase come from the finding).
DIMENSIONS: tuple[str, ...] = ("namespace", "cluster", "host", "registry", "team")
RUNS, OWNED_BY, POINTS_TO = "runs", "owned-by", "points-to"

# Kind names as plain strings: comparing to an enum's ``.value`` costs a descriptor call, and these
# comparisons run for every asset of the estate.
_CLUSTER = AssetKind.CLUSTER.value
_CONTAINER = AssetKind.CONTAINER.value
_DOCKER_ENGINE = AssetKind.DOCKER_ENGINE.value
_IMAGE = AssetKind.IMAGE.value
_NAMESPACE = AssetKind.NAMESPACE.value
_POD = AssetKind.POD.value
_REGISTRY = AssetKind.REGISTRY.value
_REPOSITORY = AssetKind.REPOSITORY.value
_TAG = AssetKind.TAG.value
_WORKLOAD = AssetKind.WORKLOAD.value
_K8S_KINDS = frozenset(k.value for k in AssetKind if k.value.startswith("k8s-"))
_RUNNERS = frozenset({_CONTAINER, _POD, _WORKLOAD})

Groups = Mapping[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class AssetNode:
    id: int
    kind: str
    key: str
    name: str
    parent_kind: str | None = None
    parent_key: str | None = None
    attributes: Mapping[str, Any] | None = None

    @property
    def attrs(self) -> Mapping[str, Any]:
        return self.attributes or {}


@dataclass(frozen=True, slots=True)
class Edge:
    source_id: int
    relation: str
    target_id: int


def _mapping(attrs: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """``attrs[name]`` when it is a mapping (labels, annotations), else empty: attributes are untrusted JSON."""
    found = attrs.get(name)
    return found if isinstance(found, Mapping) else {}


class Estate:
    """Asset graph with per-asset scoring context and roll-up groups, each computed once."""

    def __init__(self, nodes: Iterable[AssetNode], edges: Iterable[Edge], team_label: str = "team") -> None:
        self.nodes: dict[int, AssetNode] = {n.id: n for n in nodes}
        self._by_ref = {(n.kind, n.key): n for n in self.nodes.values()}
        self._team_label = team_label
        self._incoming: dict[tuple[int, str], list[int]] = defaultdict(list)
        self._outgoing: dict[tuple[int, str], list[int]] = defaultdict(list)
        for edge in edges:
            if edge.source_id in self.nodes and edge.target_id in self.nodes:
                self._incoming[(edge.target_id, edge.relation)].append(edge.source_id)
                self._outgoing[(edge.source_id, edge.relation)].append(edge.target_id)
        self._contexts: dict[int, Context] = {}
        self._groups: dict[int, Groups] = {}
        self._traits: dict[int, Traits] = {}

    # -- graph -------------------------------------------------------------------------------
    def runners_of(self, image_id: int) -> list[AssetNode]:
        sources = dict.fromkeys(self._incoming.get((image_id, RUNS), []))
        return [self.nodes[s] for s in sources if self.nodes[s].kind in _RUNNERS]

    def _owner(self, node: AssetNode) -> AssetNode | None:
        owners = self._outgoing.get((node.id, OWNED_BY), [])
        return self.nodes[owners[0]] if owners else None

    def _pods(self, workload: AssetNode) -> list[AssetNode]:
        return [self.nodes[s] for s in self._incoming.get((workload.id, OWNED_BY), [])]

    def _image_user(self, container: AssetNode) -> str | None:
        for image_id in self._outgoing.get((container.id, RUNS), []):
            user = self.nodes[image_id].attrs.get("user")
            if isinstance(user, str):
                return user
        return None

    # -- traits and context ------------------------------------------------------------------
    def traits(self, node: AssetNode) -> Traits:
        found = self._traits.get(node.id)
        if found is None:
            found = self._traits[node.id] = self._compute_traits(node)
        return found

    def _compute_traits(self, node: AssetNode) -> Traits:
        if node.kind == _CONTAINER:
            return container_traits(node.attrs, self._image_user(node))
        if node.kind == _WORKLOAD:
            pods = self._pods(node)
            return kubernetes_traits(node.attrs, any(p.attrs.get("phase") == "Running" for p in pods))
        own = kubernetes_traits(node.attrs)
        owner = self._owner(node)
        if owner is None or "pod" in node.attrs:
            return own
        inherited = self.traits(owner)  # an owned pod's spec and exposure live on its workload
        return Traits(inherited.privileges | own.privileges, inherited.exposed or own.exposed, own.running)

    def context(self, asset_id: int) -> Context:
        found = self._contexts.get(asset_id)
        if found is None:
            node = self.nodes.get(asset_id)
            found = self._contexts[asset_id] = self._compute_context(node) if node else Context()
        return found

    def _compute_context(self, node: AssetNode) -> Context:
        kind = node.kind
        if kind == _IMAGE:
            runners = self.runners_of(node.id)
            if not runners:
                return Context(Use.STORED, prevalence=0)
            traits = merge(self.traits(r) for r in runners)
            copies = sum(1 for r in runners if r.kind != _WORKLOAD) or len(runners)
            use = Use.RUNNING if traits.running else Use.DEPLOYED
            return Context(use, traits.exposed, traits.privileges, copies)
        if kind in _RUNNERS:
            traits = self.traits(node)
            prevalence = 1
            if kind == _WORKLOAD:
                replicas = node.attrs.get("replicas")
                prevalence = len(self._pods(node)) or (replicas if isinstance(replicas, int) else 1)
            return Context(Use.RUNNING if traits.running else Use.DEPLOYED, traits.exposed, traits.privileges,
                           prevalence)
        return Context(exposed=node.attrs.get("exposed") is True)

    # -- roll-up groups ----------------------------------------------------------------------
    def groups(self, asset_id: int) -> Groups:
        found = self._groups.get(asset_id)
        if found is None:
            node = self.nodes.get(asset_id)
            found = self._groups[asset_id] = self._compute_groups(node) if node else {}
        return found

    def _compute_groups(self, node: AssetNode) -> Groups:
        out: dict[str, set[str]] = defaultdict(set)
        if node.kind == _IMAGE:
            for runner in self.runners_of(node.id):
                for dim, keys in self.groups(runner.id).items():
                    out[dim] |= keys
            for tag_id in self._incoming.get((node.id, POINTS_TO), []):
                out["registry"] |= self.groups(tag_id).get("registry", frozenset())
        for dim, key in self._own_groups(node):
            out[dim].add(key)
        return {dim: frozenset(keys) for dim, keys in out.items() if keys}

    def _own_groups(self, node: AssetNode) -> Iterable[tuple[str, str]]:
        kind, attrs = node.kind, node.attrs
        team = self._team(node)
        if team:
            yield "team", team
        if kind in _K8S_KINDS:
            cluster = self._cluster(node)
            if cluster:
                yield "cluster", cluster
            namespace = attrs.get("name") if kind == _NAMESPACE else attrs.get("namespace")
            if isinstance(namespace, str) and namespace:
                yield "namespace", f"{cluster}/{namespace}" if cluster else namespace
        elif kind == _DOCKER_ENGINE:
            yield "host", node.name or node.key
        elif kind == _CONTAINER and node.parent_key:
            engine = self._by_ref.get((_DOCKER_ENGINE, node.parent_key))
            yield "host", engine.name if engine else node.parent_key
        elif kind == _REGISTRY:
            yield "registry", node.key
        elif kind in (_REPOSITORY, _TAG):
            registry = self._registry(node)
            if registry:
                yield "registry", registry

    def _team(self, node: AssetNode) -> str | None:
        """The team :func:`posture.facts.ownership.team_of` names in the asset's labels and its pod
        template's, then their annotations, then its namespace's: decided from the stored labels under
        the key configured now, the way the collector decided it under the key configured then."""
        attrs = node.attrs
        pod = _mapping(attrs, "pod")
        found = self._tagged(attrs, pod)
        if found is None and node.parent_kind == _NAMESPACE and node.parent_key:
            namespace = self._by_ref.get((node.parent_kind, node.parent_key))
            if namespace is not None:
                found = self._tagged(namespace.attrs)
        return found

    def _tagged(self, *sources: Mapping[str, Any]) -> str | None:
        labels = [_mapping(source, "labels") for source in sources]
        return team_of(self._team_label, labels, [_mapping(source, "annotations") for source in sources])

    def _cluster(self, node: AssetNode) -> str | None:
        """The cluster group of a Kubernetes asset: the cluster's name (its kubeconfig context), which
        people know, not its key (a live cluster's is its kube-system UID)."""
        if node.kind == _CLUSTER:
            return self._cluster_names.get(node.key, node.key)
        key: str | None = None
        if node.parent_kind == _CLUSTER:
            key = node.parent_key
        elif node.parent_kind == _NAMESPACE and node.parent_key:
            namespace = self._by_ref.get((_NAMESPACE, node.parent_key))
            if namespace is not None and namespace.parent_kind == _CLUSTER:
                key = namespace.parent_key
            elif "/Namespace/" in node.parent_key:
                key = node.parent_key.rpartition("/Namespace/")[0]
        return self._cluster_names.get(key, key) if key else None

    @cached_property
    def _cluster_names(self) -> dict[str, str]:
        """Cluster key → the name it is grouped under; clusters that share a name (two kubeadm clusters
        both reached as ``kubernetes-admin@kubernetes``) are told apart by their key, never merged."""
        clusters = [n for n in self.nodes.values() if n.kind == _CLUSTER]
        shared = Counter(n.name for n in clusters)
        return {n.key: n.name if n.name and shared[n.name] == 1 else f"{n.name} ({n.key})" for n in clusters}

    def _registry(self, node: AssetNode) -> str | None:
        seen = 0
        while node.parent_kind and node.parent_key and seen < 4:
            if node.parent_kind == _REGISTRY:
                return node.parent_key
            parent = self._by_ref.get((node.parent_kind, node.parent_key))
            if parent is None:
                return None
            node, seen = parent, seen + 1
        return None

    @cached_property
    def asset_count(self) -> int:
        return len(self.nodes)

    def members(self) -> dict[tuple[str, str], int]:
        """How many assets each (dimension, group) holds: the denominator of the group's posture score."""
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for asset_id in self.nodes:
            for dim, keys in self.groups(asset_id).items():
                for key in keys:
                    counts[(dim, key)] += 1
        return dict(counts)
