"""CIS Kubernetes Benchmark section 5 (numbering of v1.10, as in kube-bench's cis-1.10/policies.yaml).

RBAC and service accounts (5.1.x), the 5.2.x pod-security items the Pod Security Standards rules do
not already cover (5.2.8 NET_RAW), network policies (5.3.2), secrets (5.4.1) and general policies
(5.7.4). Roles that Kubernetes itself creates (label ``kubernetes.io/bootstrapping: rbac-defaults``
or a ``system:`` name) are not reported: they are not the user's to change, and who is *bound* to
them is what 5.1.1 checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from posture.records import AssetKind, AssetRecord
from posture.rules.base import Evaluate, Hit, Rule, Snapshot, cis_k8s, kubescape, trivy
from posture.rules.k8s_common import POD_KINDS, field_path, is_windows, pod_of, sub, unlisted
from posture.taxonomy import Phase, Severity

_READ = frozenset({"get", "list", "watch"})
_ADMIN_VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete"})


# -- RBAC (5.1.x) ---------------------------------------------------------------------------------
def _builtin(asset: AssetRecord) -> bool:
    labels = asset.attributes.get("labels") or {}
    return labels.get("kubernetes.io/bootstrapping") == "rbac-defaults" or str(
        asset.attributes.get("name", "")
    ).startswith("system:")


def _policy_rules(asset: AssetRecord) -> list[Mapping[str, Any]]:
    return [r for r in asset.attributes.get("rules", ()) if isinstance(r, Mapping)]


def _matches(rule: Mapping[str, Any], field: str, wanted: Iterable[str]) -> bool:
    values = set(rule.get(field, ()))
    return "*" in values or bool(values & set(wanted))


def _grants(
    rule: Mapping[str, Any], verbs: Iterable[str], resources: Iterable[str], groups: Iterable[str] = ("",)
) -> bool:
    return (
        _matches(rule, "verbs", verbs)
        and _matches(rule, "resources", resources)
        and _matches(rule, "apiGroups", groups)
    )


def _role_check(predicate: Callable[[Mapping[str, Any]], bool]) -> Evaluate:
    """A finding per role with at least one policy rule matching ``predicate`` (built-in roles excluded)."""

    def evaluate(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
        if _builtin(asset):
            return
        matching = [dict(r) for r in _policy_rules(asset) if predicate(r)]
        if matching:
            yield Hit("", {"rules": matching})

    return evaluate


def is_admin_equivalent(role: AssetRecord) -> bool:
    """All resources of all API groups with every verb: cluster-admin by another name."""
    return any(
        "*" in r.get("apiGroups", ())
        and "*" in r.get("resources", ())
        and ("*" in r.get("verbs", ()) or set(r.get("verbs", ())) >= _ADMIN_VERBS)
        for r in _policy_rules(role)
    )


def cluster_admin_binding(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    role_ref = asset.attributes.get("roleRef") or {}
    admin = role_ref.get("kind") == "ClusterRole" and role_ref.get("name") == "cluster-admin"
    if not admin and unlisted(asset, str(role_ref.get("kind"))):
        return  # the granted role was not listed: whether it is admin-equivalent is unknown
    if not admin:
        roles = (snapshot.get(rel.target) for rel in snapshot.outgoing(asset.ref, "grants"))
        admin = any(role is not None and is_admin_equivalent(role) for role in roles)
    if not admin:
        return
    for subject in asset.attributes.get("subjects", ()):
        name = str(subject.get("name", ""))
        if name.startswith("system:"):
            continue  # system:masters and the control plane's own identities
        identity = "/".join(p for p in (subject.get("kind", ""), subject.get("namespace", ""), name) if p)
        yield Hit(identity, {"role": role_ref, "subject": dict(subject)})


def default_sa_automount(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("name") == "default" and asset.attributes.get("automountServiceAccountToken") is not False:
        yield Hit("", {"automountServiceAccountToken": asset.attributes.get("automountServiceAccountToken")})


def default_sa_used(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    pod = pod_of(asset)
    if pod is not None and pod["serviceAccountName"] == "default":
        yield Hit("", {"serviceAccountName": "default"})


def token_automount(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    """5.1.6: the pod's own setting wins; otherwise its service account's; otherwise tokens are mounted.

    When ServiceAccounts could not be listed, a pod that does not decide for itself gets no verdict.
    """
    pod = pod_of(asset)
    if pod is None:
        return
    source, mounted = "default", True
    if isinstance(pod.get("automountServiceAccountToken"), bool):
        source, mounted = "pod", pod["automountServiceAccountToken"]
    elif unlisted(asset, "ServiceAccount"):
        return  # the account's own setting was not listed: unknown, not "mounted by default"
    else:
        for rel in snapshot.outgoing(asset.ref, "uses"):
            account = snapshot.get(rel.target)
            if account is not None and isinstance(account.attributes.get("automountServiceAccountToken"), bool):
                source, mounted = "serviceaccount", account.attributes["automountServiceAccountToken"]
    if mounted:
        yield Hit("", {"serviceAccountName": pod["serviceAccountName"], "decided_by": source})


# -- Workloads (5.2.8, 5.4.1, 5.7.4) and namespaces (5.3.2) -------------------------------------
def net_raw(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    pod = pod_of(asset)
    if pod is None or is_windows(pod):
        return
    for c in pod["containers"]:
        caps = sub(c["securityContext"], "capabilities")
        dropped = {str(x).upper() for x in caps.get("drop") or ()}
        added = {str(x).upper() for x in caps.get("add") or ()}
        privileged = c["securityContext"].get("privileged") is True
        if privileged or added & {"NET_RAW", "ALL"} or not dropped & {"ALL", "NET_RAW"}:
            yield Hit(c["name"], {"field": field_path(c, "securityContext.capabilities"), "drop": sorted(dropped)})


def secret_env(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    pod = pod_of(asset)
    if pod is None:
        return
    for c in pod["containers"]:
        names = [e["name"] for e in c["env"] if e.get("from") == "secretKeyRef"]
        sources = [e["name"] for e in c["envFrom"] if e["from"] == "secretRef"]
        if names or sources:
            yield Hit(c["name"], {"env": names, "envFrom_secrets": sources})


def secret_literal(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    if pod_of(asset) is None:
        return
    for hit in asset.attributes.get("secrets", ()):
        if hit.get("location") == "env":
            yield Hit(f"{hit.get('container', '')}/{hit.get('key', '')}", dict(hit))


def default_namespace(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    if (
        pod_of(asset) is not None
        and asset.attributes.get("namespace") == "default"
        and asset.attributes.get("namespace_set")
    ):
        yield Hit("", {"namespace": "default"})


def no_network_policy(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("network_policies") == 0:
        yield Hit("", {"network_policies": 0})


_ROLES = frozenset({AssetKind.ROLE})
_IMPERSONATED = ("users", "groups", "serviceaccounts", "uids", "userextras/*")

RULES: list[Rule] = [
    Rule(
        id="K8S-RBAC-CLUSTER-ADMIN",
        title="cluster-admin (or an equivalent role) bound to a user subject",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.3.1",
        remediation="Bind the subject to a role with only the permissions it needs; keep cluster-admin for "
        "break-glass use.",
        references=(cis_k8s("5.1.1"), trivy("KSV111"), kubescape("C-0185"), kubescape("C-0035")),
        kinds=frozenset({AssetKind.BINDING}),
        evaluate=cluster_admin_binding,
    ),
    Rule(
        id="K8S-RBAC-SECRETS",
        title="Role can read Secrets",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.3.2",
        remediation="Remove get, list and watch on secrets, or narrow them with resourceNames.",
        references=(cis_k8s("5.1.2"), trivy("KSV041"), kubescape("C-0186"), kubescape("C-0015")),
        kinds=_ROLES,
        evaluate=_role_check(lambda r: _grants(r, _READ, ("secrets",))),
    ),
    Rule(
        id="K8S-RBAC-WILDCARD",
        title="Role uses wildcards",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.3.1",
        remediation='Replace "*" in apiGroups, resources and verbs with the specific objects and actions needed.',
        references=(cis_k8s("5.1.3"), trivy("KSV044"), trivy("KSV045"), kubescape("C-0187")),
        kinds=_ROLES,
        evaluate=_role_check(
            lambda r: any("*" in r.get(f, ()) for f in ("apiGroups", "resources", "verbs", "nonResourceURLs"))
        ),
    ),
    Rule(
        id="K8S-RBAC-CREATE-PODS",
        title="Role can create pods",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.3.1",
        remediation="Remove create on pods; let controllers create pods from reviewed workload definitions.",
        references=(cis_k8s("5.1.4"), trivy("KSV048"), kubescape("C-0188")),
        kinds=_ROLES,
        evaluate=_role_check(lambda r: _grants(r, ("create",), ("pods",))),
    ),
    Rule(
        id="K8S-RBAC-ESCALATION",
        title="Role grants bind, escalate or impersonate",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.3.1",
        remediation="Remove the bind, escalate and impersonate verbs unless the subject administers RBAC.",
        references=(cis_k8s("5.1.8"), trivy("KSV043"), trivy("KSV050"), kubescape("C-0191"), kubescape("C-0065")),
        kinds=_ROLES,
        evaluate=_role_check(
            lambda r: (
                _grants(r, ("bind", "escalate"), ("roles", "clusterroles"), ("rbac.authorization.k8s.io",))
                or _grants(r, ("impersonate",), _IMPERSONATED, ("", "authentication.k8s.io"))
            )
        ),
    ),
    Rule(
        id="K8S-RBAC-EXEC",
        title="Role can exec or attach into pods",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.3.2",
        remediation="Remove create/get on pods/exec and pods/attach; use logs and debugging workflows instead.",
        references=(trivy("KSV053"), kubescape("C-0002")),
        kinds=_ROLES,
        evaluate=_role_check(lambda r: _grants(r, ("create", "get"), ("pods/exec", "pods/attach"))),
    ),
    Rule(
        id="K8S-SA-DEFAULT-AUTOMOUNT",
        title="Default service account mounts its token",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.3.2",
        remediation="Set automountServiceAccountToken: false on each namespace's default service account.",
        references=(cis_k8s("5.1.5"), kubescape("C-0189")),
        kinds=frozenset({AssetKind.SERVICE_ACCOUNT}),
        evaluate=default_sa_automount,
    ),
    Rule(
        id="K8S-SA-DEFAULT-USED",
        title="Workload runs as the default service account",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.3.2",
        remediation="Create a service account per workload that needs API access and set serviceAccountName.",
        references=(cis_k8s("5.1.5"), kubescape("C-0189")),
        kinds=POD_KINDS,
        evaluate=default_sa_used,
    ),
    Rule(
        id="K8S-SA-TOKEN-AUTOMOUNT",
        title="Service account token mounted",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.3.2",
        remediation="Set automountServiceAccountToken: false on the pod (or its service account) unless it calls the "
        "API.",
        references=(cis_k8s("5.1.6"), trivy("KSV036"), kubescape("C-0190"), kubescape("C-0034")),
        kinds=POD_KINDS,
        evaluate=token_automount,
    ),
    Rule(
        id="K8S-NET-RAW",
        title="Container keeps the NET_RAW capability",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Drop ALL (or at least NET_RAW) in securityContext.capabilities.drop.",
        references=(cis_k8s("5.2.8"), kubescape("C-0199")),
        kinds=POD_KINDS,
        evaluate=net_raw,
    ),
    Rule(
        id="K8S-NS-NETWORK-POLICY",
        title="Namespace has no NetworkPolicy",
        severity=Severity.MEDIUM,
        phase=Phase.RUN,
        nist="3.3.3",
        remediation="Add a default-deny NetworkPolicy to the namespace and allow only the traffic needed.",
        references=(cis_k8s("5.3.2"), kubescape("C-0206")),
        kinds=frozenset({AssetKind.NAMESPACE}),
        evaluate=no_network_policy,
    ),
    Rule(
        id="K8S-SECRET-ENV",
        title="Secret passed as environment variable",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.1.4",
        remediation="Mount the Secret as a file instead of exposing it through env or envFrom.",
        references=(cis_k8s("5.4.1"), kubescape("C-0207")),
        kinds=POD_KINDS,
        evaluate=secret_env,
    ),
    Rule(
        id="K8S-ENV-SECRET-LITERAL",
        title="Hard-coded secret in an environment variable",
        severity=Severity.HIGH,
        phase=Phase.RUN,
        nist="3.1.4",
        remediation="Rotate the secret, move it into a Secret mounted as a file, and remove the literal value.",
        references=(cis_k8s("5.4.1"), kubescape("C-0012")),
        kinds=POD_KINDS,
        evaluate=secret_literal,
    ),
    Rule(
        id="K8S-DEFAULT-NAMESPACE",
        title="Workload in the default namespace",
        severity=Severity.LOW,
        phase=Phase.RUN,
        nist="3.3.4",
        remediation="Create a namespace per application or team and deploy there.",
        references=(cis_k8s("5.7.4"), trivy("KSV110"), kubescape("C-0212"), kubescape("C-0061")),
        kinds=POD_KINDS,
        evaluate=default_namespace,
    ),
]
