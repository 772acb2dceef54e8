"""Natural keys and display names of Kubernetes assets.

One place decides how a Kubernetes object is named, so the live collector, the manifest collector,
relations pointing at objects not collected yet, and the rules all agree: namespaced objects are
``<cluster>/<namespace>/<Kind>/<name>`` (shown as ``namespace/Kind/name``), cluster-scoped ones
``<cluster>/<Kind>/<name>`` (shown as ``Kind/name``).

``<cluster>`` is the cluster's identity. A live cluster's is :func:`live_cluster_id`, from
something the cluster itself holds (its ``kube-system`` namespace UID), never the kubeconfig context
it was reached through: two kubeadm clusters both reached as ``kubernetes-admin@kubernetes`` must
not share assets, and a renamed context must keep its history. The context name is the cluster
asset's *name*. A manifest set's cluster is the name ``--manifests-cluster`` gives it.
"""

from __future__ import annotations

import re

from posture.records import AssetKind, AssetRef

#: What a Kubernetes object UID may hold to be used in a key (a UUID on every real API server).
_UID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
#: Prefix of a live cluster's identity: never the start of a context name a previous release keyed by.
LIVE_CLUSTER_PREFIX = "cluster:"

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


def live_cluster_id(kube_system_uid: str) -> str | None:
    """A live cluster's identity from its ``kube-system`` namespace UID (None if it cannot be a UID).

    The namespace is created by the API server itself and cannot be deleted, so its UID lives as
    long as the cluster (the convention of Kubernetes tools that need a cluster ID); a rebuilt
    cluster is a new cluster.
    """
    return LIVE_CLUSTER_PREFIX + kube_system_uid if _UID.match(kube_system_uid) else None


def rekeyed(key: str, cluster: str, legacy_cluster: str) -> str | None:
    """The key a previous release gave an asset keyed ``key`` under ``cluster`` (keyed by
    ``legacy_cluster`` then), or None when ``key`` is not under ``cluster``."""
    if key == cluster:
        return legacy_cluster
    if key.startswith(cluster + "/"):
        return legacy_cluster + key[len(cluster) :]
    return None


def is_live_cluster(key: str) -> bool:
    """Whether a cluster key is a live cluster's identity (not a manifest set's or a previous release's name)."""
    return key.startswith(LIVE_CLUSTER_PREFIX)
