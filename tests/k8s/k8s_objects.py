"""Kubernetes API objects the CIS section 5 tests build (RBAC roles and bindings, service accounts),
as the API server returns them."""

from __future__ import annotations

from typing import Any

RBAC_API = "rbac.authorization.k8s.io"


def rbac(kind: str, name: str, rules: list[dict[str, Any]], **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": f"{RBAC_API}/v1", "kind": kind, "metadata": {"name": name, **metadata}, "rules": rules}


def binding(
    role: str, *subjects: dict[str, str], kind: str = "ClusterRoleBinding", role_kind: str = "ClusterRole"
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": f"to-{role}"}
    if kind == "RoleBinding":
        metadata["namespace"] = "apps"
    return {
        "apiVersion": f"{RBAC_API}/v1",
        "kind": kind,
        "metadata": metadata,
        "roleRef": {"apiGroup": RBAC_API, "kind": role_kind, "name": role},
        "subjects": list(subjects),
    }


def service_account(name: str, automount: bool | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": "apps"},
    }
    if automount is not None:
        body["automountServiceAccountToken"] = automount
    return body
