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
from posture.rules.base import Hit, Reference, Rule, Snapshot
from posture.rules.k8s_common import (
    POD_KINDS,
    containers,
    context,
    field_path,
    is_windows,
    pod_of,
    run_rule,
    sub,
    unlisted,
)
from posture.taxonomy import CIS_K8S, KUBESCAPE, TRIVY, Severity

Evaluate = Callable[[AssetRecord, Snapshot], Iterable[Hit]]
_READ = frozenset({"get", "list", "watch"})
_ADMIN_VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete"})


def _rule(
    rule_id: str,
    cis: str | None,
    title: str,
    severity: Severity,
    kinds: Iterable[AssetKind],
    evaluate: Evaluate,
    remediation: str,
    *,
    nist: str,
    refs: Iterable[Reference] = (),
) -> Rule:
    cis_ref = (Reference(CIS_K8S, cis),) if cis else ()
    return run_rule(rule_id, title, severity, kinds, evaluate, remediation, nist=nist, refs=(*cis_ref, *refs))


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
    if pod is not None and pod.get("serviceAccountName", "default") == "default":
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
        yield Hit("", {"serviceAccountName": pod.get("serviceAccountName"), "decided_by": source})


# -- Workloads (5.2.8, 5.4.1, 5.7.4) and namespaces (5.3.2) -------------------------------------
def net_raw(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    pod = pod_of(asset)
    if pod is None or is_windows(pod):
        return
    for c in containers(pod):
        caps = sub(context(c), "capabilities")
        dropped = {str(x).upper() for x in caps.get("drop") or ()}
        added = {str(x).upper() for x in caps.get("add") or ()}
        if context(c).get("privileged") is True or added & {"NET_RAW", "ALL"} or not dropped & {"ALL", "NET_RAW"}:
            yield Hit(
                str(c.get("name", "")),
                {"field": field_path(c, "securityContext.capabilities"), "drop": sorted(dropped)},
            )


def secret_env(asset: AssetRecord, snapshot: Snapshot) -> Iterator[Hit]:
    pod = pod_of(asset)
    if pod is None:
        return
    for c in containers(pod):
        names = [e["name"] for e in c.get("env", ()) if e.get("from") == "secretKeyRef"]
        sources = [e["name"] for e in c.get("envFrom", ()) if e.get("from") == "secretRef"]
        if names or sources:
            yield Hit(str(c.get("name", "")), {"env": names, "envFrom_secrets": sources})


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


_ROLES = (AssetKind.ROLE,)
_IMPERSONATED = ("users", "groups", "serviceaccounts", "uids", "userextras/*")

RULES: list[Rule] = [
    _rule(
        "K8S-RBAC-CLUSTER-ADMIN",
        "5.1.1",
        "cluster-admin (or an equivalent role) bound to a user subject",
        Severity.HIGH,
        (AssetKind.BINDING,),
        cluster_admin_binding,
        "Bind the subject to a role with only the permissions it needs; keep cluster-admin for break-glass use.",
        nist="3.3.1",
        refs=(Reference(TRIVY, "KSV111"), Reference(KUBESCAPE, "C-0185"), Reference(KUBESCAPE, "C-0035")),
    ),
    _rule(
        "K8S-RBAC-SECRETS",
        "5.1.2",
        "Role can read Secrets",
        Severity.MEDIUM,
        _ROLES,
        _role_check(lambda r: _grants(r, _READ, ("secrets",))),
        "Remove get, list and watch on secrets, or narrow them with resourceNames.",
        nist="3.3.2",
        refs=(Reference(TRIVY, "KSV041"), Reference(KUBESCAPE, "C-0186"), Reference(KUBESCAPE, "C-0015")),
    ),
    _rule(
        "K8S-RBAC-WILDCARD",
        "5.1.3",
        "Role uses wildcards",
        Severity.MEDIUM,
        _ROLES,
        _role_check(lambda r: any("*" in r.get(f, ()) for f in ("apiGroups", "resources", "verbs", "nonResourceURLs"))),
        'Replace "*" in apiGroups, resources and verbs with the specific objects and actions needed.',
        nist="3.3.1",
        refs=(Reference(TRIVY, "KSV044"), Reference(TRIVY, "KSV045"), Reference(KUBESCAPE, "C-0187")),
    ),
    _rule(
        "K8S-RBAC-CREATE-PODS",
        "5.1.4",
        "Role can create pods",
        Severity.MEDIUM,
        _ROLES,
        _role_check(lambda r: _grants(r, ("create",), ("pods",))),
        "Remove create on pods; let controllers create pods from reviewed workload definitions.",
        nist="3.3.1",
        refs=(Reference(TRIVY, "KSV048"), Reference(KUBESCAPE, "C-0188")),
    ),
    _rule(
        "K8S-RBAC-ESCALATION",
        "5.1.8",
        "Role grants bind, escalate or impersonate",
        Severity.HIGH,
        _ROLES,
        _role_check(
            lambda r: (
                _grants(r, ("bind", "escalate"), ("roles", "clusterroles"), ("rbac.authorization.k8s.io",))
                or _grants(r, ("impersonate",), _IMPERSONATED, ("", "authentication.k8s.io"))
            )
        ),
        "Remove the bind, escalate and impersonate verbs unless the subject administers RBAC.",
        nist="3.3.1",
        refs=(
            Reference(TRIVY, "KSV043"),
            Reference(TRIVY, "KSV050"),
            Reference(KUBESCAPE, "C-0191"),
            Reference(KUBESCAPE, "C-0065"),
        ),
    ),
    _rule(
        "K8S-RBAC-EXEC",
        None,
        "Role can exec or attach into pods",
        Severity.MEDIUM,
        _ROLES,
        _role_check(lambda r: _grants(r, ("create", "get"), ("pods/exec", "pods/attach"))),
        "Remove create/get on pods/exec and pods/attach; use logs and debugging workflows instead.",
        nist="3.3.2",
        refs=(Reference(TRIVY, "KSV053"), Reference(KUBESCAPE, "C-0002")),
    ),
    _rule(
        "K8S-SA-DEFAULT-AUTOMOUNT",
        "5.1.5",
        "Default service account mounts its token",
        Severity.LOW,
        (AssetKind.SERVICE_ACCOUNT,),
        default_sa_automount,
        "Set automountServiceAccountToken: false on each namespace's default service account.",
        nist="3.3.2",
        refs=(Reference(KUBESCAPE, "C-0189"),),
    ),
    _rule(
        "K8S-SA-DEFAULT-USED",
        "5.1.5",
        "Workload runs as the default service account",
        Severity.LOW,
        POD_KINDS,
        default_sa_used,
        "Create a service account per workload that needs API access and set serviceAccountName.",
        nist="3.3.2",
        refs=(Reference(KUBESCAPE, "C-0189"),),
    ),
    _rule(
        "K8S-SA-TOKEN-AUTOMOUNT",
        "5.1.6",
        "Service account token mounted",
        Severity.LOW,
        POD_KINDS,
        token_automount,
        "Set automountServiceAccountToken: false on the pod (or its service account) unless it calls the API.",
        nist="3.3.2",
        refs=(Reference(TRIVY, "KSV036"), Reference(KUBESCAPE, "C-0190"), Reference(KUBESCAPE, "C-0034")),
    ),
    _rule(
        "K8S-NET-RAW",
        "5.2.8",
        "Container keeps the NET_RAW capability",
        Severity.LOW,
        POD_KINDS,
        net_raw,
        "Drop ALL (or at least NET_RAW) in securityContext.capabilities.drop.",
        nist="3.4.3",
        refs=(Reference(KUBESCAPE, "C-0199"),),
    ),
    _rule(
        "K8S-NS-NETWORK-POLICY",
        "5.3.2",
        "Namespace has no NetworkPolicy",
        Severity.MEDIUM,
        (AssetKind.NAMESPACE,),
        no_network_policy,
        "Add a default-deny NetworkPolicy to the namespace and allow only the traffic needed.",
        nist="3.3.3",
        refs=(Reference(KUBESCAPE, "C-0206"),),
    ),
    _rule(
        "K8S-SECRET-ENV",
        "5.4.1",
        "Secret passed as environment variable",
        Severity.LOW,
        POD_KINDS,
        secret_env,
        "Mount the Secret as a file instead of exposing it through env or envFrom.",
        nist="3.1.4",
        refs=(Reference(KUBESCAPE, "C-0207"),),
    ),
    _rule(
        "K8S-ENV-SECRET-LITERAL",
        "5.4.1",
        "Hard-coded secret in an environment variable",
        Severity.HIGH,
        POD_KINDS,
        secret_literal,
        "Rotate the secret, move it into a Secret mounted as a file, and remove the literal value.",
        nist="3.1.4",
        refs=(Reference(KUBESCAPE, "C-0012"),),
    ),
    _rule(
        "K8S-DEFAULT-NAMESPACE",
        "5.7.4",
        "Workload in the default namespace",
        Severity.LOW,
        POD_KINDS,
        default_namespace,
        "Create a namespace per application or team and deploy there.",
        nist="3.3.4",
        refs=(Reference(TRIVY, "KSV110"), Reference(KUBESCAPE, "C-0212"), Reference(KUBESCAPE, "C-0061")),
    ),
]
