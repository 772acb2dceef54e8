"""Natural keys and display names of Kubernetes assets.

One place decides how a Kubernetes object is named, so the live collector, the manifest collector,
relations pointing at objects not collected yet, and the rules all agree: namespaced objects are
``<cluster>/<namespace>/<Kind>/<name>`` (shown as ``namespace/Kind/name``), cluster-scoped ones
``<cluster>/<Kind>/<name>`` (shown as ``Kind/name``).
"""

from __future__ import annotations

from posture.records import AssetKind, AssetRef

#: Kinds whose objects live outside namespaces.
CLUSTER_SCOPED: frozenset[str] = frozenset({"Namespace", "Node", "ClusterRole", "ClusterRoleBinding"})

#: Workload controllers: each carries a pod template that rules evaluate.
WORKLOAD_KINDS: frozenset[str] = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController"}
)

_ASSET_KIND: dict[str, AssetKind] = {
    "Namespace": AssetKind.NAMESPACE,
    "Node": AssetKind.NODE,
    "Pod": AssetKind.POD,
    "ServiceAccount": AssetKind.SERVICE_ACCOUNT,
    "Role": AssetKind.ROLE,
    "ClusterRole": AssetKind.ROLE,
    "RoleBinding": AssetKind.BINDING,
    "ClusterRoleBinding": AssetKind.BINDING,
    "NetworkPolicy": AssetKind.NETWORK_POLICY,
    "Service": AssetKind.SERVICE,
    "Ingress": AssetKind.INGRESS,
    **{kind: AssetKind.WORKLOAD for kind in WORKLOAD_KINDS},
}


def asset_kind(kind: str) -> AssetKind:
    """The asset kind of a Kubernetes kind in :data:`_ASSET_KIND` (KeyError otherwise)."""
    return _ASSET_KIND[kind]


def display_name(kind: str, name: str, namespace: str | None) -> str:
    return f"{kind}/{name}" if kind in CLUSTER_SCOPED or not namespace else f"{namespace}/{kind}/{name}"


def object_key(cluster: str, kind: str, name: str, namespace: str | None) -> str:
    return f"{cluster}/{display_name(kind, name, namespace)}"


def object_ref(cluster: str, kind: str, name: str, namespace: str | None) -> AssetRef:
    return AssetRef(asset_kind(kind), object_key(cluster, kind, name, namespace))


def namespace_ref(cluster: str, namespace: str) -> AssetRef:
    return AssetRef(AssetKind.NAMESPACE, object_key(cluster, "Namespace", namespace, None))


def cluster_ref(cluster: str) -> AssetRef:
    return AssetRef(AssetKind.CLUSTER, cluster)
