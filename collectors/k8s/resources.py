"""The one table of what the live collector lists, and the RBAC a collector needs to list it.

``posture k8s rbac`` and the collector both read :data:`RESOURCES`, so the ClusterRole we tell
users to grant can never drift from the requests we make: a resource missing from the role
would turn into a 403 (a partial run) on every collection, and an extra one would be needless
privilege.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The only verbs a collector uses: it lists, and ``get`` adds no data a ``list`` does not show.
VERBS: tuple[str, ...] = ("get", "list")


@dataclass(frozen=True, slots=True)
class Resource:
    """A resource type listed across all namespaces (``group`` "" is the core API)."""

    group: str
    version: str
    plural: str
    kind: str
    #: A custom resource that may not be installed: a 404 means "none here", not a partial run.
    optional: bool = False

    def __post_init__(self) -> None:
        # Secret objects hold the values Posture promises never to read; refuse them at the source.
        if self.plural == "secrets":
            raise ValueError("Posture never reads Secret objects")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_path(self) -> str:
        """The all-namespaces list path, e.g. ``/apis/apps/v1/deployments``."""
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{prefix}/{self.plural}"


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace"),
    Resource("", "v1", "nodes", "Node"),
    Resource("", "v1", "pods", "Pod"),
    Resource("", "v1", "replicationcontrollers", "ReplicationController"),
    Resource("", "v1", "services", "Service"),
    Resource("", "v1", "serviceaccounts", "ServiceAccount"),
    Resource("apps", "v1", "deployments", "Deployment"),
    Resource("apps", "v1", "statefulsets", "StatefulSet"),
    Resource("apps", "v1", "daemonsets", "DaemonSet"),
    Resource("apps", "v1", "replicasets", "ReplicaSet"),
    Resource("batch", "v1", "jobs", "Job"),
    Resource("batch", "v1", "cronjobs", "CronJob"),
    Resource("networking.k8s.io", "v1", "ingresses", "Ingress"),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole"),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding"),
)


#: trivy-operator's reports (``aquasecurity.github.io``), read when the operator runs in the cluster.
OPERATOR_RESOURCES: tuple[Resource, ...] = tuple(
    Resource("aquasecurity.github.io", "v1alpha1", plural, kind, optional=True)
    for plural, kind in (
        ("vulnerabilityreports", "VulnerabilityReport"),
        ("configauditreports", "ConfigAuditReport"),
        ("exposedsecretreports", "ExposedSecretReport"),
        ("clustervulnerabilityreports", "ClusterVulnerabilityReport"),
        ("clusterconfigauditreports", "ClusterConfigAuditReport"),
    )
)


def rbac_rules(resources: tuple[Resource, ...] = RESOURCES + OPERATOR_RESOURCES) -> list[dict[str, Any]]:
    """PolicyRules granting :data:`VERBS` on exactly ``resources``, one rule per API group."""
    by_group: dict[str, list[str]] = {}
    for resource in resources:
        by_group.setdefault(resource.group, []).append(resource.plural)
    return [{"apiGroups": [group], "resources": plurals, "verbs": list(VERBS)} for group, plurals in by_group.items()]
