"""CIS Kubernetes Benchmark section 5 (v1.10 numbering, kube-bench cis-1.10/policies.yaml): each rule of
posture/rules/k8s_cis.py on both sides of each of its conditions, and the helpers of k8s_common.

Objects go through the real normalizer (tests.k8s.pss_support), so the records are the ones a live
collection or a manifest scan stores.
"""

from __future__ import annotations

from typing import Any

import pytest

from collectors.k8s.normalize import SUPPORTED_KINDS, records_from_objects
from collectors.k8s.podspec import summarize_pod
from posture.records import AssetKind, AssetRecord, RelationRecord
from posture.rules import k8s_cis
from posture.rules.base import RuleRegistry, Snapshot, evaluate_all
from posture.rules.k8s_common import POD_KINDS
from posture.taxonomy import CIS_K8S, KUBESCAPE, TRIVY, Phase, Severity
from tests.k8s.k8s_objects import RBAC_API, binding, rbac, service_account
from tests.k8s.pss_support import SCANNER, container, pod, verdicts

RULES = {r.id: r for r in k8s_cis.RULES}


def deployment(name: str = "web", namespace: str | None = "apps", **spec: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    template = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container()], **spec}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": {"template": template}}


def replica_set_and_pod(owner: str = "web", namespace: str = "apps") -> list[dict[str, Any]]:
    """The ReplicaSet and Pod a Deployment ``owner`` created: owned, so they carry no pod summary."""
    rs_name = f"{owner}-5d4f"
    owned_rs = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "controller": True}]
    owned_pod = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "controller": True}]
    rs = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": rs_name, "namespace": namespace, "ownerReferences": owned_rs},
        "spec": {"template": {"spec": {"containers": [container()]}}},
    }
    body = pod(name=f"{rs_name}-x", namespace=namespace)
    body["metadata"]["ownerReferences"] = owned_pod
    return [rs, body]


def found(rule_id: str, *objects: dict[str, Any]) -> dict[str, set[str]]:
    """Asset name -> discriminators of ``rule_id``'s hits."""
    result: dict[str, set[str]] = {}
    for v in verdicts(RULES[rule_id], objects):
        result.setdefault(v.asset_name, set()).add(v.hit.discriminator)
    return result


def evidence(rule_id: str, *objects: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(v.asset_name, v.hit.discriminator): dict(v.hit.evidence) for v in verdicts(RULES[rule_id], objects)}


def partial(rule_id: str, objects: list[dict[str, Any]], unlisted: set[str]) -> dict[str, set[str]]:
    """Verdicts of a partial run in which the kinds in ``unlisted`` could not be listed."""
    records = list(records_from_objects(objects, "test", secrets=SCANNER, complete_kinds=SUPPORTED_KINDS - unlisted))
    assets = [r for r in records if isinstance(r, AssetRecord)]
    snapshot = Snapshot(assets, [r for r in records if isinstance(r, RelationRecord)])
    result: dict[str, set[str]] = {}
    for v in evaluate_all(RuleRegistry([RULES[rule_id]]), snapshot, assets):
        result.setdefault(v.asset_name, set()).add(v.hit.discriminator)
    return result


# -- the rule table ------------------------------------------------------------------------------
def test_rule_table_is_pinned_to_cis_trivy_and_kubescape() -> None:
    # id: (severity, NIST 800-190 section, asset kinds, references in order)
    roles, pods = frozenset({AssetKind.ROLE}), frozenset({AssetKind.WORKLOAD, AssetKind.POD})
    table = {
        r.id: (r.severity, r.nist, r.kinds, [(ref.framework, ref.id) for ref in r.references]) for r in k8s_cis.RULES
    }
    c, t, k = CIS_K8S, TRIVY, KUBESCAPE
    assert table == {
        "K8S-RBAC-CLUSTER-ADMIN": (
            Severity.HIGH,
            "3.3.1",
            frozenset({AssetKind.BINDING}),
            [(c, "5.1.1"), (t, "KSV111"), (k, "C-0185"), (k, "C-0035")],
        ),
        "K8S-RBAC-SECRETS": (
            Severity.MEDIUM,
            "3.3.2",
            roles,
            [(c, "5.1.2"), (t, "KSV041"), (k, "C-0186"), (k, "C-0015")],
        ),
        "K8S-RBAC-WILDCARD": (
            Severity.MEDIUM,
            "3.3.1",
            roles,
            [(c, "5.1.3"), (t, "KSV044"), (t, "KSV045"), (k, "C-0187")],
        ),
        "K8S-RBAC-CREATE-PODS": (Severity.MEDIUM, "3.3.1", roles, [(c, "5.1.4"), (t, "KSV048"), (k, "C-0188")]),
        "K8S-RBAC-ESCALATION": (
            Severity.HIGH,
            "3.3.1",
            roles,
            [(c, "5.1.8"), (t, "KSV043"), (t, "KSV050"), (k, "C-0191"), (k, "C-0065")],
        ),
        "K8S-RBAC-EXEC": (Severity.MEDIUM, "3.3.2", roles, [(t, "KSV053"), (k, "C-0002")]),  # no CIS item
        "K8S-SA-DEFAULT-AUTOMOUNT": (
            Severity.LOW,
            "3.3.2",
            frozenset({AssetKind.SERVICE_ACCOUNT}),
            [(c, "5.1.5"), (k, "C-0189")],
        ),
        "K8S-SA-DEFAULT-USED": (Severity.LOW, "3.3.2", pods, [(c, "5.1.5"), (k, "C-0189")]),
        "K8S-SA-TOKEN-AUTOMOUNT": (
            Severity.LOW,
            "3.3.2",
            pods,
            [(c, "5.1.6"), (t, "KSV036"), (k, "C-0190"), (k, "C-0034")],
        ),
        "K8S-NET-RAW": (Severity.LOW, "3.4.3", pods, [(c, "5.2.8"), (k, "C-0199")]),
        "K8S-NS-NETWORK-POLICY": (
            Severity.MEDIUM,
            "3.3.3",
            frozenset({AssetKind.NAMESPACE}),
            [(c, "5.3.2"), (k, "C-0206")],
        ),
        "K8S-SECRET-ENV": (Severity.LOW, "3.1.4", pods, [(c, "5.4.1"), (k, "C-0207")]),
        "K8S-ENV-SECRET-LITERAL": (Severity.HIGH, "3.1.4", pods, [(c, "5.4.1"), (k, "C-0012")]),
        "K8S-DEFAULT-NAMESPACE": (
            Severity.LOW,
            "3.3.4",
            pods,
            [(c, "5.7.4"), (t, "KSV110"), (k, "C-0212"), (k, "C-0061")],
        ),
    }
    assert pods == POD_KINDS
    for rule in k8s_cis.RULES:
        assert rule.phase == Phase.RUN and rule.title and rule.remediation and rule.evaluate is not None


# -- 5.1.2 secrets, 5.1.3 wildcards, 5.1.4 create pods, 5.1.8 escalation, exec ---------------------
def role_flagged(rule_id: str, groups: list[str], resources: list[str], verbs: list[str]) -> bool:
    policy = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    return bool(found(rule_id, rbac("Role", "r", [policy], namespace="apps")))


@pytest.mark.parametrize("verb", ["get", "list", "watch", "*"])  # 5.1.2: get, list and watch all read Secrets
def test_secret_readers_5_1_2(verb: str) -> None:
    assert role_flagged("K8S-RBAC-SECRETS", [""], ["secrets"], [verb])
    assert role_flagged("K8S-RBAC-SECRETS", ["*"], ["*"], [verb])


@pytest.mark.parametrize(
    ("groups", "resources", "verbs"),
    [
        ([""], ["secrets"], ["create", "update", "patch", "delete"]),  # writers, not readers
        (["apps"], ["secrets"], ["get"]),  # Secrets live in the core group only
        ([""], ["configmaps"], ["get", "list", "watch"]),
        ([], ["secrets"], ["get"]),
        ([""], [], ["get"]),
        ([""], ["secrets"], []),
    ],
)
def test_not_a_secret_reader_5_1_2(groups: list[str], resources: list[str], verbs: list[str]) -> None:
    assert not role_flagged("K8S-RBAC-SECRETS", groups, resources, verbs)


@pytest.mark.parametrize("field", ["apiGroups", "resources", "verbs", "nonResourceURLs"])
def test_each_wildcard_field_5_1_3(field: str) -> None:
    policy: dict[str, list[str]] = {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}
    assert not found("K8S-RBAC-WILDCARD", rbac("ClusterRole", "r", [policy]))
    policy[field] = ["*"]
    assert found("K8S-RBAC-WILDCARD", rbac("ClusterRole", "r", [policy])) == {"ClusterRole/r": {""}}


@pytest.mark.parametrize(
    ("groups", "resources", "verbs", "flagged"),
    [
        ([""], ["pods"], ["create"], True),
        ([""], ["pods"], ["*"], True),
        (["*"], ["*"], ["create"], True),
        ([""], ["pods"], ["get", "delete"], False),
        ([""], ["deployments"], ["create"], False),
        (["apps"], ["pods"], ["create"], False),
    ],
)
def test_create_pods_5_1_4(groups: list[str], resources: list[str], verbs: list[str], flagged: bool) -> None:
    assert role_flagged("K8S-RBAC-CREATE-PODS", groups, resources, verbs) is flagged


@pytest.mark.parametrize("verb", ["bind", "escalate"])
@pytest.mark.parametrize("resource", ["roles", "clusterroles"])
def test_bind_and_escalate_on_rbac_roles_5_1_8(verb: str, resource: str) -> None:
    assert role_flagged("K8S-RBAC-ESCALATION", [RBAC_API], [resource], [verb])
    assert not role_flagged("K8S-RBAC-ESCALATION", [""], [resource], [verb])  # not the RBAC API group
    assert not role_flagged("K8S-RBAC-ESCALATION", [RBAC_API], ["rolebindings"], [verb])
    assert not role_flagged("K8S-RBAC-ESCALATION", [RBAC_API], [resource], ["create", "update"])


#: Impersonation resources (k8s.io/docs/reference/access-authn-authz/authentication/#user-impersonation).
@pytest.mark.parametrize("resource", ["users", "groups", "serviceaccounts", "uids", "userextras/*"])
@pytest.mark.parametrize("group", ["", "authentication.k8s.io"])
def test_impersonation_5_1_8(resource: str, group: str) -> None:
    assert role_flagged("K8S-RBAC-ESCALATION", [group], [resource], ["impersonate"])
    assert not role_flagged("K8S-RBAC-ESCALATION", [group], [resource], ["get", "list"])
    assert not role_flagged("K8S-RBAC-ESCALATION", ["apps"], [resource], ["impersonate"])
    assert not role_flagged("K8S-RBAC-ESCALATION", [group], ["nodes"], ["impersonate"])


@pytest.mark.parametrize("verb", ["create", "get"])  # kubectl exec/attach: create (websocket: get)
@pytest.mark.parametrize("resource", ["pods/exec", "pods/attach"])
def test_exec_and_attach(verb: str, resource: str) -> None:
    assert role_flagged("K8S-RBAC-EXEC", [""], [resource], [verb])
    assert not role_flagged("K8S-RBAC-EXEC", [""], [resource], ["list", "watch", "delete"])
    assert not role_flagged("K8S-RBAC-EXEC", [""], ["pods/log", "pods/portforward"], [verb])
    assert not role_flagged("K8S-RBAC-EXEC", ["apps"], [resource], [verb])


def test_a_role_finding_lists_exactly_its_matching_policy_rules() -> None:
    reader = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
    other = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
    role = rbac("Role", "r", [other, reader, other], namespace="apps")
    assert evidence("K8S-RBAC-SECRETS", role) == {("apps/Role/r", ""): {"rules": [reader]}}
    assert found("K8S-RBAC-SECRETS", rbac("Role", "none", [], namespace="apps")) == {}


@pytest.mark.parametrize(
    ("name", "labels", "reported"),
    [
        ("system:controller:x", {}, False),  # created by Kubernetes: not the user's to change
        ("admin", {"kubernetes.io/bootstrapping": "rbac-defaults"}, False),
        ("admin", {"kubernetes.io/bootstrapping": "other"}, True),
        ("admin", {"team": "rbac-defaults"}, True),
        ("my-system:x", {}, True),  # "system:" only as a prefix
        ("sys", {}, True),
    ],
)
def test_built_in_roles_are_skipped(name: str, labels: dict[str, str], reported: bool) -> None:
    wildcard = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    role = rbac("ClusterRole", name, wildcard, labels=labels)
    assert bool(found("K8S-RBAC-WILDCARD", role)) is reported


# -- 5.1.1 cluster-admin bindings ------------------------------------------------------------------
ADMIN_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]


def admin_found(role_rules: list[dict[str, Any]], *extra: dict[str, Any]) -> bool:
    role = rbac("ClusterRole", "custom", role_rules)
    return bool(found("K8S-RBAC-CLUSTER-ADMIN", role, binding("custom", {"kind": "User", "name": "u"}), *extra))


def test_admin_equivalence_needs_every_group_every_resource_and_every_verb_5_1_1() -> None:
    assert admin_found([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    assert admin_found([{"apiGroups": ["*"], "resources": ["*"], "verbs": ADMIN_VERBS}])  # all seven, no "*"
    assert admin_found([{"apiGroups": ["*"], "resources": ["*"], "verbs": [*ADMIN_VERBS, "deletecollection"]}])
    assert admin_found([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                        {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])  # fmt: skip
    assert not admin_found([{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["*"]}])
    assert not admin_found([{"apiGroups": ["*"], "resources": ["pods"], "verbs": ["*"]}])
    assert not admin_found([])


@pytest.mark.parametrize("missing", ADMIN_VERBS)
def test_admin_equivalence_without_one_verb_is_not_admin_5_1_1(missing: str) -> None:
    verbs = [v for v in ADMIN_VERBS if v != missing]
    assert not admin_found([{"apiGroups": ["*"], "resources": ["*"], "verbs": verbs}])


def test_cluster_admin_by_name_and_kind_5_1_1() -> None:
    user = {"kind": "User", "name": "ann"}
    assert found("K8S-RBAC-CLUSTER-ADMIN", binding("cluster-admin", user)) == {
        "ClusterRoleBinding/to-cluster-admin": {"User/ann"}
    }
    # a namespaced Role that happens to be called cluster-admin is not the built-in ClusterRole
    role = rbac(
        "Role", "cluster-admin", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}], namespace="apps"
    )
    assert (
        found("K8S-RBAC-CLUSTER-ADMIN", role, binding("cluster-admin", user, kind="RoleBinding", role_kind="Role"))
        == {}
    )
    assert found("K8S-RBAC-CLUSTER-ADMIN", binding("cluster-admins", user)) == {}  # unknown role: not admin


def test_cluster_admin_subjects_evidence_and_system_identities_5_1_1() -> None:
    admin = binding(
        "cluster-admin",
        {"kind": "User", "name": "ann"},
        {"kind": "Group", "name": "system:masters"},
        {"kind": "ServiceAccount", "name": "system:x", "namespace": "kube-system"},
        {"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
        {"kind": "Group", "name": "my-system:ops"},
    )
    assert evidence("K8S-RBAC-CLUSTER-ADMIN", admin) == {
        ("ClusterRoleBinding/to-cluster-admin", "User/ann"): {
            "role": {"kind": "ClusterRole", "name": "cluster-admin"},
            "subject": {"kind": "User", "name": "ann"},
        },
        ("ClusterRoleBinding/to-cluster-admin", "ServiceAccount/build/ci"): {
            "role": {"kind": "ClusterRole", "name": "cluster-admin"},
            "subject": {"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
        },
        ("ClusterRoleBinding/to-cluster-admin", "Group/my-system:ops"): {
            "role": {"kind": "ClusterRole", "name": "cluster-admin"},
            "subject": {"kind": "Group", "name": "my-system:ops"},
        },
    }


def test_cluster_admin_subject_identity_leaves_out_missing_parts_5_1_1() -> None:
    # a manifest's subject may lack a name or a kind; the identity is built from what is there
    admin = binding("cluster-admin", {"kind": "User"}, {"name": "bob"})
    assert found("K8S-RBAC-CLUSTER-ADMIN", admin) == {"ClusterRoleBinding/to-cluster-admin": {"User", "bob"}}


def test_cluster_admin_when_roles_could_not_be_listed_5_1_1() -> None:
    user = {"kind": "User", "name": "ann"}
    god = rbac("ClusterRole", "god", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    objects = [god, binding("god", user), binding("cluster-admin", user)]
    both = {"ClusterRoleBinding/to-god": {"User/ann"}, "ClusterRoleBinding/to-cluster-admin": {"User/ann"}}
    assert partial("K8S-RBAC-CLUSTER-ADMIN", objects, set()) == both
    # ClusterRoles unlisted: what "god" grants is unknown; cluster-admin is known by its name
    assert partial("K8S-RBAC-CLUSTER-ADMIN", objects, {"ClusterRole"}) == {
        "ClusterRoleBinding/to-cluster-admin": {"User/ann"}
    }
    # Roles unlisted: a ClusterRoleBinding does not depend on them
    assert partial("K8S-RBAC-CLUSTER-ADMIN", objects, {"Role"}) == both


# -- 5.1.5 default service account, 5.1.6 token automount ------------------------------------------
@pytest.mark.parametrize(
    ("name", "automount", "hit"),
    [("default", None, True), ("default", True, True), ("default", False, False), ("app", None, False)],
)
def test_default_service_account_automount_5_1_5(name: str, automount: bool | None, hit: bool) -> None:
    expected = {("apps/ServiceAccount/default", ""): {"automountServiceAccountToken": automount}} if hit else {}
    assert evidence("K8S-SA-DEFAULT-AUTOMOUNT", service_account(name, automount)) == expected


def test_default_service_account_used_5_1_5() -> None:
    objects = [
        pod(name="implicit"),
        pod(name="explicit", serviceAccountName="default"),
        pod(name="legacy", serviceAccount="default"),
        pod(name="own", serviceAccountName="app"),
        deployment("web"),
        *replica_set_and_pod("web"),  # owned: judged on the Deployment only
    ]
    assert evidence("K8S-SA-DEFAULT-USED", *objects) == {
        ("apps/Pod/implicit", ""): {"serviceAccountName": "default"},
        ("apps/Pod/explicit", ""): {"serviceAccountName": "default"},
        ("apps/Pod/legacy", ""): {"serviceAccountName": "default"},
        ("apps/Deployment/web", ""): {"serviceAccountName": "default"},
    }


@pytest.mark.parametrize(
    ("pod_setting", "account", "decided_by"),
    [
        (None, None, "default"),  # account without a setting: tokens are mounted
        (None, True, "serviceaccount"),
        (None, False, None),
        (True, False, "pod"),  # the pod's own setting wins
        (False, True, None),
        (True, None, "pod"),
    ],
)
def test_token_automount_evidence_names_who_decided_5_1_6(
    pod_setting: bool | None, account: bool | None, decided_by: str | None
) -> None:
    spec: dict[str, Any] = {"serviceAccountName": "app"}
    if pod_setting is not None:
        spec["automountServiceAccountToken"] = pod_setting
    expected = {("apps/Pod/p", ""): {"serviceAccountName": "app", "decided_by": decided_by}} if decided_by else {}
    assert evidence("K8S-SA-TOKEN-AUTOMOUNT", pod(**spec), service_account("app", account)) == expected


def test_token_automount_with_a_missing_account_and_owned_pods_5_1_6() -> None:
    # the account is not in the collection: nothing says otherwise, so the token is mounted
    assert evidence("K8S-SA-TOKEN-AUTOMOUNT", pod(serviceAccountName="ghost")) == {
        ("apps/Pod/p", ""): {"serviceAccountName": "ghost", "decided_by": "default"}
    }
    assert (
        found("K8S-SA-TOKEN-AUTOMOUNT", deployment("web", automountServiceAccountToken=False), *replica_set_and_pod())
        == {}
    )


def test_token_automount_when_service_accounts_could_not_be_listed_5_1_6() -> None:
    quiet = service_account("app", False)
    undecided = pod(name="undecided", serviceAccountName="app")
    decided = pod(name="decided", serviceAccountName="app", automountServiceAccountToken=True)
    objects = [quiet, undecided, decided]
    assert partial("K8S-SA-TOKEN-AUTOMOUNT", objects, set()) == {"apps/Pod/decided": {""}}
    assert partial("K8S-SA-TOKEN-AUTOMOUNT", [service_account("app"), undecided, decided], {"ServiceAccount"}) == {
        "apps/Pod/decided": {""}
    }
    assert partial("K8S-SA-TOKEN-AUTOMOUNT", [service_account("app"), undecided], {"Service"}) == {
        "apps/Pod/undecided": {""}
    }


# -- 5.2.8 NET_RAW ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("security", "hit"),
    [
        ({}, True),  # container runtimes grant NET_RAW by default
        ({"capabilities": {"drop": ["ALL"]}}, False),
        ({"capabilities": {"drop": ["NET_RAW"]}}, False),
        ({"capabilities": {"drop": ["net_raw"]}}, False),  # capability names are case-insensitive
        ({"capabilities": {"drop": ["all"]}}, False),
        ({"capabilities": {"drop": ["NET_ADMIN", "SYS_ADMIN"]}}, True),
        ({"capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]}}, True),  # added back
        ({"capabilities": {"drop": ["ALL"], "add": ["net_raw"]}}, True),
        ({"capabilities": {"drop": ["ALL"], "add": ["ALL"]}}, True),
        ({"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}, False),
        ({"capabilities": {"drop": ["ALL"]}, "privileged": True}, True),  # privileged has every capability
        ({"capabilities": {"drop": ["ALL"]}, "privileged": False}, False),
    ],
)
def test_net_raw_5_2_8(security: dict[str, Any], hit: bool) -> None:
    assert bool(found("K8S-NET-RAW", pod(container("app", **security)))) is hit


def test_net_raw_evidence_names_each_containers_field() -> None:
    kept = {"capabilities": {"drop": ["SYS_ADMIN", "NET_ADMIN"]}}
    body = pod(
        container("main", **kept),
        container("safe", capabilities={"drop": ["ALL"]}),
        init=[container("setup")],
        ephemeral=[container("debug")],
    )
    assert evidence("K8S-NET-RAW", body) == {
        ("apps/Pod/p", "setup"): {"field": "spec.initContainers[setup].securityContext.capabilities", "drop": []},
        ("apps/Pod/p", "main"): {
            "field": "spec.containers[main].securityContext.capabilities",
            "drop": ["NET_ADMIN", "SYS_ADMIN"],
        },
        ("apps/Pod/p", "debug"): {"field": "spec.ephemeralContainers[debug].securityContext.capabilities", "drop": []},
    }


def test_net_raw_skips_windows_pods_and_owned_pods() -> None:
    assert found("K8S-NET-RAW", pod(os={"name": "windows"})) == {}
    assert found("K8S-NET-RAW", pod(os={"name": "linux"})) == {"apps/Pod/p": {"app"}}
    assert found("K8S-NET-RAW", deployment("web"), *replica_set_and_pod()) == {"apps/Deployment/web": {"app"}}


# -- 5.4.1 secrets in env ---------------------------------------------------------------------------
def test_secret_env_evidence_5_4_1() -> None:
    both = {
        **container("both"),
        "env": [
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
            {"name": "CFG", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
            {"name": "MODE", "value": "prod"},
        ],
        "envFrom": [{"secretRef": {"name": "creds"}}, {"configMapRef": {"name": "cfg"}}],
    }
    env_only = {**container("env"), "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}]}
    from_only = {**container("from"), "envFrom": [{"secretRef": {"name": "creds"}}]}
    neither = {
        **container("none"),
        "env": [{"name": "CFG", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}],
        "envFrom": [{"configMapRef": {"name": "cfg"}}],
    }
    assert evidence("K8S-SECRET-ENV", pod(both, env_only, from_only, neither)) == {
        ("apps/Pod/p", "both"): {"env": ["DB_PASSWORD"], "envFrom_secrets": ["creds"]},
        ("apps/Pod/p", "env"): {"env": ["T"], "envFrom_secrets": []},
        ("apps/Pod/p", "from"): {"env": [], "envFrom_secrets": ["creds"]},
    }


def test_secret_env_and_literals_are_judged_on_the_top_workload_only() -> None:
    app = {
        **container(),
        "env": [
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
            {"name": "API_TOKEN", "value": "s3cr3t-Value-that-is-long"},
        ],
    }
    rs, owned = replica_set_and_pod()
    owned["spec"]["containers"] = [app]
    rs["spec"]["template"]["spec"]["containers"] = [app]
    top = deployment("web")
    top["spec"]["template"]["spec"]["containers"] = [app]
    assert found("K8S-SECRET-ENV", top, rs, owned) == {"apps/Deployment/web": {"app"}}
    assert found("K8S-ENV-SECRET-LITERAL", top, rs, owned) == {"apps/Deployment/web": {"app/API_TOKEN"}}


def test_hard_coded_secret_literal_evidence_5_4_1() -> None:
    app = {**container(), "env": [{"name": "API_TOKEN", "value": "s3cr3t-Value-that-is-long"}]}
    ((key, hit),) = evidence("K8S-ENV-SECRET-LITERAL", pod(app)).items()
    assert key == ("apps/Pod/p", "app/API_TOKEN")
    assert (hit["location"], hit["key"], hit["container"]) == ("env", "API_TOKEN", "app")
    assert found("K8S-ENV-SECRET-LITERAL", pod({**container(), "env": [{"name": "MODE", "value": "prod"}]})) == {}


def test_only_env_literals_are_reported_as_env_secrets() -> None:
    asset = AssetRecord(
        AssetKind.POD,
        "test/apps/Pod/p",
        "apps/Pod/p",
        Phase.RUN,
        {
            "pod": summarize_pod({}, {}, None, "team")[0],
            "secrets": [
                {"location": "env", "key": "A", "container": "c"},
                {"location": "label", "key": "B", "container": "c"},
            ],
        },
    )
    hits = list(RULES["K8S-ENV-SECRET-LITERAL"].evaluate(asset, Snapshot([asset])))  # type: ignore[misc]
    assert [h.discriminator for h in hits] == ["c/A"]


# -- 5.3.2 network policies, 5.7.4 default namespace ------------------------------------------------
def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def netpol(namespace: str, name: str = "d") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": {}},
    }


def test_namespace_without_network_policy_5_3_2() -> None:
    objects = [namespace("none"), namespace("one"), namespace("two"), netpol("one"), netpol("two"), netpol("two", "e")]
    assert evidence("K8S-NS-NETWORK-POLICY", *objects) == {("Namespace/none", ""): {"network_policies": 0}}
    # NetworkPolicies unlisted: the count is unknown, not zero
    assert partial("K8S-NS-NETWORK-POLICY", objects, {"NetworkPolicy"}) == {}


def test_default_namespace_5_7_4() -> None:
    implicit = pod(name="implicit")
    del implicit["metadata"]["namespace"]
    objects = [
        pod(name="explicit", namespace="default"),
        implicit,  # a manifest without a namespace is deployed wherever kubectl points: not judged
        pod(name="elsewhere", namespace="apps"),
        deployment("web", namespace="default"),
        *replica_set_and_pod("web", namespace="default"),
    ]
    assert evidence("K8S-DEFAULT-NAMESPACE", *objects) == {
        ("default/Pod/explicit", ""): {"namespace": "default"},
        ("default/Deployment/web", ""): {"namespace": "default"},
    }
