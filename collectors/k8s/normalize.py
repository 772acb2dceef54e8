"""Turn raw Kubernetes objects into Posture records: the one normalizer behind live API and manifests.

The whole object set is read before anything is yielded, because three facts need every object:
which pods and ReplicaSets roll up to a workload (they are then not evaluated twice), which workloads
a LoadBalancer/NodePort Service or an Ingress exposes, and each namespace's NetworkPolicy count.
Pod templates are reduced to their security-relevant fields (:mod:`collectors.k8s.podspec`) as they
are read, so memory grows with the summary, not with the raw objects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from collectors.k8s import controlplane
from collectors.k8s.keys import (
    CLUSTER_SCOPED,
    WORKLOAD_KINDS,
    asset_kind,
    cluster_ref,
    display_name,
    namespace_ref,
    object_key,
    object_ref,
)
from collectors.k8s.podspec import as_list, as_map, summarize_pod
from posture.attributes.k8s import PodSummary
from posture.facts.ownership import names_team, team_of
from posture.facts.references import digest_from_image_id, parse_image
from posture.records import AssetKind, AssetRecord, AssetRef, Problem, Record, RelationRecord
from posture.secrets import SecretScanner
from posture.taxonomy import Phase

#: The kinds :func:`records_from_objects` understands; anything else is skipped (callers count them).
SUPPORTED_KINDS: frozenset[str] = frozenset(
    {
        "Namespace",
        "Node",
        "Pod",
        "Service",
        "Ingress",
        "NetworkPolicy",
        "ServiceAccount",
        "Role",
        "ClusterRole",
        "RoleBinding",
        "ClusterRoleBinding",
        *WORKLOAD_KINDS,
    }
)

#: The other kinds an object's verdicts read. When one was not listed completely (a 403 on a partial
#: run), the object names it in ``unlisted_kinds`` and rules leave those verdicts unknown instead of
#: guessing from its absence: a pod's token automount falls back to its ServiceAccount, a binding's
#: admin-equivalence needs the role it grants, exposure needs Services and Ingresses.
_DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "Namespace": ("NetworkPolicy",),
    "RoleBinding": ("Role", "ClusterRole"),
    "ClusterRoleBinding": ("ClusterRole",),
}
_POD_DEPENDS_ON = ("ServiceAccount", "Service", "Ingress")
_PSA_PREFIX = "pod-security.kubernetes.io/"
_EXPOSING_SERVICE_TYPES = frozenset({"LoadBalancer", "NodePort"})

@dataclass(frozen=True, slots=True)
class Place:
    """Where a manifest object was read: its file, the line its document starts at, and the Helm
    template that rendered it. Problems name it; the object's asset keeps it (``manifest``), so its
    findings can point at the file and line (SARIF, code review)."""

    file: str
    line: int
    template: str | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" + (f" ({self.template})" if self.template else "")

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, **({"template": self.template} if self.template else {})}


Origin = Callable[[Mapping[str, Any]], Place | None]


@dataclass(slots=True)
class _Object:
    kind: str
    name: str
    namespace: str | None
    raw: Mapping[str, Any]
    key: str
    pod: PodSummary | None = None
    secrets: list[dict[str, Any]] = field(default_factory=list)
    owner: _Object | None = None
    exposure: list[dict[str, Any]] = field(default_factory=list)
    digests: dict[str, str] = field(default_factory=dict)
    place: Place | None = None  # read from a manifest file (None: from a cluster's API)

    @property
    def display(self) -> str:
        return display_name(self.kind, self.name, self.namespace)

    @property
    def ref(self) -> AssetRef:
        return AssetRef(asset_kind(self.kind), self.key)


def expand_lists(raw: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The objects in ``raw``: itself, or the items of a ``List``/``*List`` (nested lists too).

    Items of a typed list (``PodList``) as the API returns them carry no ``kind``; it is filled in
    from the list's kind so every yielded object names its kind.
    """
    kind = raw.get("kind")
    if not (isinstance(kind, str) and kind.endswith("List") and isinstance(raw.get("items"), list)):
        yield raw
        return
    item_kind = kind[: -len("List")] or None
    for item in raw["items"]:
        if isinstance(item, Mapping):
            if item_kind and "kind" not in item:
                item = {**item, "kind": item_kind, "apiVersion": raw.get("apiVersion")}
            yield from expand_lists(item)


def records_from_objects(
    objects: Iterable[Mapping[str, Any]],
    cluster: str,
    *,
    secrets: SecretScanner | None = None,
    complete_kinds: Collection[str] | None = None,
    origin: Origin | None = None,
    cluster_attributes: Mapping[str, Any] | None = None,
    team_label: str = "team",
    cluster_name: str | None = None,
) -> Iterator[Record]:
    """Yield AssetRecords/RelationRecords for raw object dicts (``kind`` and ``apiVersion`` set).

    ``objects`` are the dicts the API server or ``kubectl get -o json`` returns; kinds outside
    :data:`SUPPORTED_KINDS` are ignored. A malformed object yields a :class:`Problem` and the rest
    continue. Env literal values are passed through ``secrets`` (when given) and never stored.
    ``complete_kinds`` names the kinds whose lists were read completely (None: all of them); a
    cross-object fact that depends on a kind not listed completely (a namespace's NetworkPolicy
    count, a pod's ServiceAccount, a binding's role, exposure) is recorded as unknown: the object
    names the missing kinds in ``unlisted_kinds``. ``origin`` tells where an object was read
    (a :class:`Place`: file and line), for problem messages and the asset's ``manifest`` attribute.
    ``cluster`` is the identity keys start with; ``cluster_name`` (default: ``cluster``) is what
    people call it: the cluster asset's name and the name in problem messages. An object given twice
    (same kind, namespace and name) keeps its last version.
    """
    name = cluster_name or cluster
    graph = _Graph(cluster, name, secrets, origin, team_label)
    for raw in objects:
        problem = graph.add(raw)
        if problem is not None:
            yield problem
    graph.link()
    yield AssetRecord(AssetKind.CLUSTER, cluster, name, Phase.RUN, dict(cluster_attributes or {}))
    yield from graph.records(complete_kinds)


class _Graph:
    """The object set of one collection, indexed for the cross-object passes."""

    def __init__(
        self, cluster: str, name: str, secrets: SecretScanner | None, origin: Origin | None, team_label: str
    ) -> None:
        self.cluster = cluster
        self.name = name
        self.secrets = secrets
        #: The configured label/annotation naming the owning team (``team_label``).
        self.team_label = team_label
        self.origin = origin
        self.objects: list[_Object] = []
        self.by_name: dict[tuple[str, str | None, str], _Object] = {}
        self.by_uid: dict[str, _Object] = {}
        #: Service key → the evaluated objects its selector matches (filled by :meth:`link`).
        self.selected: dict[str, list[_Object]] = {}

    # -- reading -------------------------------------------------------------------------------
    def add(self, raw: Any) -> Problem | None:
        if not isinstance(raw, Mapping):
            return None
        kind = raw.get("kind")
        if kind not in SUPPORTED_KINDS:
            return None
        metadata = raw.get("metadata")
        name = as_map(metadata).get("name")
        if not isinstance(metadata, Mapping) or not isinstance(name, str) or not name:
            return self._problem(raw, f"{kind} without metadata.name")
        namespace = None if kind in CLUSTER_SCOPED else str(metadata.get("namespace") or "default")
        spec = raw.get("spec", {})
        if spec is not None and not isinstance(spec, Mapping):
            return self._problem(raw, f"{display_name(kind, name, namespace)}: spec is not a mapping")
        template = _pod_template(kind, metadata, as_map(spec))
        slim = raw if template is None else _slim(kind, raw, self.team_label)
        obj = _Object(kind, name, namespace, slim, object_key(self.cluster, kind, name, namespace))
        obj.place = self.origin(raw) if self.origin else None
        if template is not None:
            obj.pod, obj.secrets = summarize_pod(
                as_map(template.get("metadata")), as_map(template.get("spec")), self.secrets, self.team_label
            )
        if kind == "Pod":
            obj.digests = _status_digests(as_map(raw.get("status")))
        previous = self.by_name.get((kind, namespace, name))
        if previous is None:
            self.objects.append(obj)
        else:
            # The same object twice (two manifest files, an overlay): the later one wins, as with kubectl apply.
            self.objects[self.objects.index(previous)] = obj
        self.by_name[(kind, namespace, name)] = obj
        uid = metadata.get("uid")
        if isinstance(uid, str):
            self.by_uid[uid] = obj
        return None

    def _problem(self, raw: Mapping[str, Any], message: str) -> Problem:
        where = self.origin(raw) if self.origin else None
        return Problem(f"kubernetes {self.name}: {f'{where}: ' if where else ''}{message}")

    # -- cross-object passes -------------------------------------------------------------------
    def link(self) -> None:
        for obj in self.objects:
            obj.owner = self._controller(obj)
        self._expose()

    def _controller(self, obj: _Object) -> _Object | None:
        """The workload that manages ``obj`` when it is in the set (pods → ReplicaSet → Deployment)."""
        refs = [as_map(r) for r in as_list(as_map(obj.raw.get("metadata")).get("ownerReferences"))]
        refs.sort(key=lambda r: not r.get("controller"))
        for ref in refs:
            owner = self.by_uid.get(str(ref.get("uid", ""))) or self.by_name.get(
                (str(ref.get("kind", "")), obj.namespace, str(ref.get("name", "")))
            )
            if owner is not None and owner.kind in WORKLOAD_KINDS and owner is not obj:
                return owner
        return None

    @staticmethod
    def top(obj: _Object) -> _Object:
        seen = {id(obj)}
        while obj.owner is not None and id(obj.owner) not in seen:
            obj = obj.owner
            seen.add(id(obj))
        return obj

    def _evaluated(self) -> Iterator[_Object]:
        """Objects whose pod spec is evaluated: top-level workloads and pods without a known owner."""
        return (o for o in self.objects if o.pod is not None and o.owner is None)

    def _expose(self) -> None:
        by_label: dict[tuple[str | None, str, str], set[int]] = defaultdict(set)
        evaluated = list(self._evaluated())
        for index, obj in enumerate(evaluated):
            assert obj.pod is not None
            for item in obj.pod["labels"].items():
                by_label[(obj.namespace, *item)].add(index)
        selected: dict[str, list[_Object]] = {}
        for service in (o for o in self.objects if o.kind == "Service"):
            spec = as_map(service.raw.get("spec"))
            selector = {str(k): str(v) for k, v in as_map(spec.get("selector")).items()}
            if not selector:
                continue
            matches = set.intersection(*(by_label.get((service.namespace, *item), set()) for item in selector.items()))
            selected[service.key] = [evaluated[i] for i in sorted(matches)]
            service_type = str(spec.get("type") or "ClusterIP")
            external = service_type in _EXPOSING_SERVICE_TYPES or bool(as_list(spec.get("externalIPs")))
            if external:
                for target in selected[service.key]:
                    target.exposure.append(
                        {"via": service_type, "path": [service.display, target.display], "ports": _service_ports(spec)}
                    )
        for ingress in (o for o in self.objects if o.kind == "Ingress"):
            for backend in _ingress_backends(as_map(ingress.raw.get("spec"))):
                service_key = object_key(self.cluster, "Service", backend["service"], ingress.namespace)
                for target in selected.get(service_key, []):
                    service_display = display_name("Service", backend["service"], ingress.namespace)
                    target.exposure.append(
                        {
                            "via": "Ingress",
                            "path": [backend["host"] or "*", ingress.display, service_display, target.display],
                        }
                    )
        self.selected = selected

    # -- output --------------------------------------------------------------------------------
    def records(self, complete_kinds: Collection[str] | None) -> Iterator[Record]:
        unlisted = frozenset() if complete_kinds is None else SUPPORTED_KINDS - frozenset(complete_kinds)
        netpol_count: dict[str | None, int] = defaultdict(int)
        namespace_teams: dict[str, str | None] = {}
        for obj in self.objects:
            if obj.kind == "NetworkPolicy":
                netpol_count[obj.namespace] += 1
            elif obj.kind == "Namespace":
                metadata = as_map(obj.raw.get("metadata"))
                labels, annotations = as_map(metadata.get("labels")), _team_annotations(metadata, self.team_label)
                namespace_teams[obj.name] = team_of(self.team_label, [labels], [annotations])
        for obj in self.objects:
            builder = _BUILDERS.get(obj.kind, _workload if obj.kind in WORKLOAD_KINDS else None)
            assert builder is not None
            attributes = _base_attributes(obj, self.team_label)
            relations: list[RelationRecord] = []
            builder(self, obj, attributes, relations)
            if unlisted:
                _mark_unknowns(attributes, unlisted)
            if obj.kind == "Namespace":
                known = "unlisted_kinds" not in attributes
                attributes["network_policies"] = netpol_count.get(obj.name, 0) if known else None
            pod_labels, pod_annotations = (obj.pod["labels"], obj.pod["annotations"]) if obj.pod else ({}, {})
            labels, annotations = attributes["labels"], attributes.get("annotations", {})
            team = team_of(self.team_label, [labels, pod_labels], [annotations, pod_annotations])
            if not team and obj.namespace:
                team = namespace_teams.get(obj.namespace)
            if team:
                attributes["team"] = team
            parent = namespace_ref(self.cluster, obj.namespace) if obj.namespace else cluster_ref(self.cluster)
            yield AssetRecord(obj.ref.kind, obj.key, obj.display, Phase.RUN, attributes, parent)
            yield from relations
        yield from self._control_plane()

    def _control_plane(self) -> Iterator[Record]:
        for obj in self.objects:
            if obj.kind != "Pod":
                continue
            component = controlplane.component_of(obj.raw)
            if component is None:
                continue
            node = str(as_map(obj.raw.get("spec")).get("nodeName") or obj.name)
            key = f"{self.cluster}/control-plane/{component}/{node}"
            attributes = {
                "component": component,
                "node": node,
                "pod": obj.display,
                "flags": controlplane.component_flags(obj.raw, component),
            }
            yield AssetRecord(
                AssetKind.CONTROL_PLANE, key, f"{component}@{node}", Phase.RUN, attributes, cluster_ref(self.cluster)
            )
            yield RelationRecord(AssetRef(AssetKind.CONTROL_PLANE, key), "runs-as", obj.ref)

    def ref_of(self, kind: str, name: str, namespace: str | None) -> AssetRef:
        return object_ref(self.cluster, kind, name, namespace)


def _slim(kind: str, raw: Mapping[str, Any], team_label: str) -> Mapping[str, Any]:
    """What the later passes read of a pod or workload, so its raw body (often 20 KB) can be freed.

    Control-plane static pods keep their whole body: their flags are read when records are built.
    """
    if kind == "Pod" and controlplane.component_of(raw):
        return raw
    metadata = as_map(raw.get("metadata"))
    spec = as_map(raw.get("spec"))
    return {
        "kind": kind,
        "metadata": {
            **{k: metadata[k] for k in ("name", "namespace", "uid", "labels", "ownerReferences") if k in metadata},
            "annotations": _team_annotations(metadata, team_label),
        },
        "spec": {k: spec[k] for k in ("replicas", "nodeName") if k in spec},
        "status": {"phase": as_map(raw.get("status")).get("phase")} if kind == "Pod" else {},
    }


def _pod_template(kind: str, metadata: Mapping[str, Any], spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if kind == "Pod":
        return {"metadata": metadata, "spec": spec}
    if kind == "CronJob":
        return as_map(as_map(as_map(spec.get("jobTemplate")).get("spec")).get("template")) or None
    if kind in WORKLOAD_KINDS:
        return as_map(spec.get("template")) or None
    return None


def _status_digests(status: Mapping[str, Any]) -> dict[str, str]:
    """Container name → image digest the kubelet reports (what actually runs, whatever the tag)."""
    digests: dict[str, str] = {}
    for field_name in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for item in map(as_map, as_list(status.get(field_name))):
            digest = digest_from_image_id(str(item.get("imageID") or ""))
            if digest:
                digests[str(item.get("name", ""))] = digest
    return digests


def _service_ports(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {k: p[k] for k in ("name", "port", "targetPort", "nodePort", "protocol") if k in p}
        for p in map(as_map, as_list(spec.get("ports")))
    ]


def _ingress_backends(spec: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every (host, service) an Ingress routes to, in networking.k8s.io/v1 and v1beta1 spelling."""

    def service_of(backend: Mapping[str, Any]) -> str | None:
        name = as_map(backend.get("service")).get("name") or backend.get("serviceName")
        return str(name) if name else None

    backends: list[dict[str, str]] = []
    default = service_of(as_map(spec.get("defaultBackend") or spec.get("backend")))
    if default:
        backends.append({"host": "", "service": default})
    for rule in map(as_map, as_list(spec.get("rules"))):
        for path in map(as_map, as_list(as_map(rule.get("http")).get("paths"))):
            service = service_of(as_map(path.get("backend")))
            if service:
                backends.append({"host": str(rule.get("host") or ""), "service": service})
    return backends


def _mark_unknowns(attributes: dict[str, Any], unlisted: frozenset[str]) -> None:
    """Name the unlisted kinds this object's verdicts depend on; exposure not shown is then unknown."""
    depends_on = _POD_DEPENDS_ON if "pod" in attributes else _DEPENDS_ON.get(attributes["kind"], ())
    missing = sorted(unlisted.intersection(depends_on))
    if not missing:
        return
    attributes["unlisted_kinds"] = missing
    if "pod" in attributes and not attributes.get("exposed") and {"Service", "Ingress"} & unlisted:
        attributes["exposed"] = None


def _team_annotations(metadata: Mapping[str, Any], team_label: str) -> dict[str, str]:
    """An object's annotations naming its team (:func:`posture.facts.ownership.names_team`): scoring's fallback
    when no label says."""
    return {str(k): str(v) for k, v in as_map(metadata.get("annotations")).items() if names_team(str(k), team_label)}


def _base_attributes(obj: _Object, team_label: str) -> dict[str, Any]:
    metadata = as_map(obj.raw.get("metadata"))
    attributes: dict[str, Any] = {
        "kind": obj.kind,
        "name": obj.name,
        "labels": {str(k): str(v) for k, v in as_map(metadata.get("labels")).items()},
    }
    annotations = _team_annotations(metadata, team_label)
    if annotations:
        attributes["annotations"] = annotations
    if obj.namespace is not None:
        attributes["namespace"] = obj.namespace
        attributes["namespace_set"] = bool(metadata.get("namespace"))
    if obj.place is not None:
        attributes["manifest"] = obj.place.as_dict()
    return attributes


# -- per-kind builders: fill attributes and relations ------------------------------------------
Builder = Callable[[_Graph, _Object, dict[str, Any], list[RelationRecord]], None]


def _workload(graph: _Graph, obj: _Object, attributes: dict[str, Any], relations: list[RelationRecord]) -> None:
    spec = as_map(obj.raw.get("spec"))
    if "replicas" in spec:
        attributes["replicas"] = spec["replicas"]
    top = graph.top(obj)
    if top is not obj:
        attributes["owner"] = top.display
        relations.append(RelationRecord(obj.ref, "owned-by", top.ref))
    elif obj.pod is not None:
        attributes["pod"] = obj.pod
        relations.append(
            RelationRecord(
                obj.ref, "uses", graph.ref_of("ServiceAccount", obj.pod["serviceAccountName"], obj.namespace)
            )
        )
        if obj.exposure:
            attributes["exposed"] = True
            attributes["exposure"] = obj.exposure
    if obj.secrets and top is obj:
        attributes["secrets"] = obj.secrets
    if obj.pod is not None:
        attributes["images"] = _image_relations(obj, top, relations)


def _image_relations(obj: _Object, top: _Object, relations: list[RelationRecord]) -> list[dict[str, str]]:
    """``runs`` the digest when known (pinned or reported by the kubelet), ``uses-image-ref`` the tag.

    A pod's digests are also attached to its top-level workload, so "which workloads run image X"
    is answered by the workload a user knows, not by a pod name that changes on every rollout.
    """
    assert obj.pod is not None
    images: list[dict[str, str]] = []
    # Only pods run anything: an old ReplicaSet's template says nothing about what its Deployment runs.
    sources = {obj.ref, top.ref} if obj.kind == "Pod" else {obj.ref}
    for container in obj.pod["containers"]:
        reference = parse_image(container["image"])
        if reference is None:
            continue
        digest = reference.digest or obj.digests.get(container["name"])
        entry = {"container": container["name"], "image": container["image"]}
        if digest:
            entry["digest"] = digest
            relations.extend(RelationRecord(s, "runs", AssetRef(AssetKind.IMAGE, digest)) for s in sources)
        if reference.digest is None or reference.tag is not None:
            relations.append(RelationRecord(obj.ref, "uses-image-ref", AssetRef(AssetKind.TAG, reference.tag_key)))
        images.append(entry)
    return images


def _pod(graph: _Graph, obj: _Object, attributes: dict[str, Any], relations: list[RelationRecord]) -> None:
    _workload(graph, obj, attributes, relations)
    spec = as_map(obj.raw.get("spec"))
    status = as_map(obj.raw.get("status"))
    if spec.get("nodeName"):
        attributes["node"] = str(spec["nodeName"])
        relations.append(RelationRecord(obj.ref, "scheduled-on", graph.ref_of("Node", str(spec["nodeName"]), None)))
    if status.get("phase"):
        attributes["phase"] = str(status["phase"])
    if obj.pod is not None and "pod" not in attributes:
        # An owned pod keeps only what the roll-up needs; its template is evaluated on the workload.
        obj.pod = None


def _namespace(graph: _Graph, obj: _Object, attributes: dict[str, Any], relations: list[RelationRecord]) -> None:
    labels = attributes["labels"]
    attributes["pod_security"] = {k[len(_PSA_PREFIX) :]: v for k, v in labels.items() if k.startswith(_PSA_PREFIX)}


def _node(graph: _Graph, obj: _Object, attributes: dict[str, Any], relations: list[RelationRecord]) -> None:
    info = as_map(as_map(obj.raw.get("status")).get("nodeInfo"))
    for source, target in (
        ("kubeletVersion", "kubelet_version"),
        ("kubeProxyVersion", "kube_proxy_version"),
        ("containerRuntimeVersion", "container_runtime_version"),
        ("osImage", "os_image"),
        ("kernelVersion", "kernel_version"),
        ("operatingSystem", "operating_system"),
        ("architecture", "architecture"),
    ):
        if info.get(source):
            attributes[target] = str(info[source])


def _service_account(graph: _Graph, obj: _Object, attributes: dict[str, Any], relations: list[RelationRecord]) -> None:
    if obj.raw.get("automountServiceAccountToken") is not None:
        attributes["automountServiceAccountToken"] = bool(obj.raw["automountServiceAccountToken"])


def _role(graph: _Graph, obj: _Object, attributes: dict[str, Any], relations: list[RelationRecord]) -> None:
    attributes["rules"] = [
        {
            k: [str(v) for v in as_list(rule.get(k))]
            for k in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")
            if k in rule
        }
        for rule in map(as_map, as_list(obj.raw.get("rules")))
    ]
    if obj.raw.get("aggregationRule"):
        attributes["aggregated"] = True


def _binding(graph: _Graph, obj: _Object, attributes: dict[str, Any], relations: list[RelationRecord]) -> None:
    role_ref = as_map(obj.raw.get("roleRef"))
    role_kind, role_name = str(role_ref.get("kind", "")), str(role_ref.get("name", ""))
    attributes["roleRef"] = {"kind": role_kind, "name": role_name}
    subjects = []
    for subject in map(as_map, as_list(obj.raw.get("subjects"))):
        entry = {k: str(subject[k]) for k in ("kind", "name", "namespace") if k in subject}
        subjects.append(entry)
        if entry.get("kind") == "ServiceAccount" and entry.get("name"):
            namespace = entry.get("namespace") or obj.namespace
            relations.append(RelationRecord(obj.ref, "binds", graph.ref_of("ServiceAccount", entry["name"], namespace)))
    attributes["subjects"] = subjects
    if role_kind in ("Role", "ClusterRole") and role_name:
        relations.append(
            RelationRecord(
                obj.ref, "grants", graph.ref_of(role_kind, role_name, obj.namespace if role_kind == "Role" else None)
            )
        )


def _network_policy(graph: _Graph, obj: _Object, attributes: dict[str, Any], relations: list[RelationRecord]) -> None:
    spec = as_map(obj.raw.get("spec"))
    attributes["podSelector"] = dict(as_map(spec.get("podSelector")))
    attributes["policyTypes"] = [str(t) for t in as_list(spec.get("policyTypes"))]
    attributes["ingress_rules"] = len(as_list(spec.get("ingress")))
    attributes["egress_rules"] = len(as_list(spec.get("egress")))


def _service(graph: _Graph, obj: _Object, attributes: dict[str, Any], relations: list[RelationRecord]) -> None:
    spec = as_map(obj.raw.get("spec"))
    service_type = str(spec.get("type") or "ClusterIP")
    attributes["type"] = service_type
    attributes["ports"] = _service_ports(spec)
    attributes["selector"] = {str(k): str(v) for k, v in as_map(spec.get("selector")).items()}
    external_ips = [str(ip) for ip in as_list(spec.get("externalIPs"))]
    if external_ips:
        attributes["externalIPs"] = external_ips
    if spec.get("loadBalancerSourceRanges"):
        attributes["loadBalancerSourceRanges"] = [str(r) for r in as_list(spec["loadBalancerSourceRanges"])]
    attributes["exposed"] = service_type in _EXPOSING_SERVICE_TYPES or bool(external_ips)
    for target in graph.selected.get(obj.key, []):
        relations.append(RelationRecord(obj.ref, "exposes", target.ref))


def _ingress(graph: _Graph, obj: _Object, attributes: dict[str, Any], relations: list[RelationRecord]) -> None:
    spec = as_map(obj.raw.get("spec"))
    backends = _ingress_backends(spec)
    attributes["backends"] = backends
    attributes["hosts"] = sorted({b["host"] for b in backends if b["host"]})
    attributes["tls_hosts"] = sorted(
        {str(h) for t in map(as_map, as_list(spec.get("tls"))) for h in as_list(t.get("hosts"))}
    )
    if spec.get("ingressClassName"):
        attributes["ingressClassName"] = str(spec["ingressClassName"])
    attributes["exposed"] = True
    seen: set[AssetRef] = set()
    for backend in backends:
        service_ref = graph.ref_of("Service", backend["service"], obj.namespace)
        if service_ref not in seen:
            seen.add(service_ref)
            relations.append(RelationRecord(obj.ref, "routes-to", service_ref))
        for target in graph.selected.get(service_ref.key, []):
            if target.ref not in seen:
                seen.add(target.ref)
                relations.append(RelationRecord(obj.ref, "exposes", target.ref))


_BUILDERS: dict[str, Builder] = {
    "Pod": _pod,
    "Namespace": _namespace,
    "Node": _node,
    "ServiceAccount": _service_account,
    "Role": _role,
    "ClusterRole": _role,
    "RoleBinding": _binding,
    "ClusterRoleBinding": _binding,
    "NetworkPolicy": _network_policy,
    "Service": _service,
    "Ingress": _ingress,
}
