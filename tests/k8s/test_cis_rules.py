"""CIS Kubernetes section 5 and 1.2.x rules, and the hygiene rules (images, sockets, PSA labels, node CVEs)."""

from __future__ import annotations

from typing import Any

import pytest

from posture.facts.sockets import reachable_sockets
from posture.rules import k8s_cis, k8s_controlplane, k8s_hygiene, k8s_pss
from posture.rules.base import RuleRegistry
from posture.rules.k8s_hygiene import parse_version
from posture.taxonomy import CIS_K8S, KUBESCAPE, TRIVY, Severity
from tests.k8s.k8s_objects import binding, rbac, service_account
from tests.k8s.pss_support import container, pod, verdicts

ALL = {r.id: r for r in [*k8s_cis.RULES, *k8s_controlplane.RULES, *k8s_hygiene.RULES]}


def hits(rule_id: str, *objects: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for v in verdicts(ALL[rule_id], objects):
        found.setdefault(v.asset_name, set()).add(v.hit.discriminator)
    return found


def test_rule_metadata_is_complete() -> None:
    RuleRegistry(ALL.values())  # unique ids
    for rule in ALL.values():
        assert rule.id.startswith("K8S-") and rule.remediation and rule.kinds
    assert {r.references[0].id for r in k8s_controlplane.RULES} == {
        "1.2.1",
        "1.2.2",
        "1.2.6",
        "1.2.7",
        "1.2.8",
        "1.2.10",
        "1.2.14",
        "1.2.15",
        "1.2.16",
        "1.2.27",
    }
    assert all(r.references[0].framework == CIS_K8S for r in k8s_controlplane.RULES)


def test_cluster_admin_binding_to_users_but_not_system_subjects() -> None:
    admin = binding(
        "cluster-admin",
        {"kind": "User", "name": "ann"},
        {"kind": "Group", "name": "system:masters"},
        {"kind": "ServiceAccount", "name": "ci", "namespace": "build"},
    )
    assert hits("K8S-RBAC-CLUSTER-ADMIN", admin) == {
        "ClusterRoleBinding/to-cluster-admin": {"User/ann", "ServiceAccount/build/ci"}
    }


def test_binding_to_an_admin_equivalent_role_counts_as_cluster_admin() -> None:
    everything = rbac("ClusterRole", "god", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    readonly = rbac("ClusterRole", "peek", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]}])
    user = {"kind": "User", "name": "bob"}
    assert hits("K8S-RBAC-CLUSTER-ADMIN", everything, binding("god", user)) == {
        "ClusterRoleBinding/to-god": {"User/bob"}
    }
    assert hits("K8S-RBAC-CLUSTER-ADMIN", readonly, binding("peek", user)) == {}


@pytest.mark.parametrize(
    ("rule_id", "policy", "flagged"),
    [
        ("K8S-RBAC-SECRETS", {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}, True),
        ("K8S-RBAC-SECRETS", {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}, False),
        ("K8S-RBAC-SECRETS", {"apiGroups": ["*"], "resources": ["*"], "verbs": ["watch"]}, True),
        ("K8S-RBAC-WILDCARD", {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}, True),
        ("K8S-RBAC-WILDCARD", {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get"]}, False),
        ("K8S-RBAC-CREATE-PODS", {"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}, True),
        ("K8S-RBAC-CREATE-PODS", {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}, False),
        (
            "K8S-RBAC-ESCALATION",
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]},
            True,
        ),
        ("K8S-RBAC-ESCALATION", {"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}, True),
        (
            "K8S-RBAC-ESCALATION",
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["get"]},
            False,
        ),
        ("K8S-RBAC-EXEC", {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}, True),
        ("K8S-RBAC-EXEC", {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}, False),
    ],
)
def test_role_rules(rule_id: str, policy: dict[str, Any], flagged: bool) -> None:
    role = rbac("Role", "r", [policy], namespace="apps")
    assert bool(hits(rule_id, role)) is flagged


def test_builtin_roles_are_not_reported() -> None:
    wildcard = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]
    builtin = rbac("ClusterRole", "admin", wildcard, labels={"kubernetes.io/bootstrapping": "rbac-defaults"})
    system = rbac("ClusterRole", "system:controller:x", wildcard)
    assert hits("K8S-RBAC-WILDCARD", builtin, system) == {}


def test_default_service_account() -> None:
    assert hits("K8S-SA-DEFAULT-AUTOMOUNT", service_account("default", None), service_account("other", None)) == {
        "apps/ServiceAccount/default": {""}
    }
    assert hits("K8S-SA-DEFAULT-AUTOMOUNT", service_account("default", False)) == {}
    assert hits("K8S-SA-DEFAULT-USED", pod(), pod(name="own", serviceAccountName="app")) == {"apps/Pod/p": {""}}


@pytest.mark.parametrize(
    ("pod_setting", "account_setting", "mounted"),
    [(None, None, True), (False, True, False), (True, False, True), (None, False, False), (None, True, True)],
)
def test_token_automount_precedence(pod_setting: bool | None, account_setting: bool | None, mounted: bool) -> None:
    spec: dict[str, Any] = {"serviceAccountName": "app"}
    if pod_setting is not None:
        spec["automountServiceAccountToken"] = pod_setting
    assert bool(hits("K8S-SA-TOKEN-AUTOMOUNT", pod(**spec), service_account("app", account_setting))) is mounted


def test_secrets_in_env_and_hard_coded_literals() -> None:
    app = {
        **container(),
        "env": [
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
            {"name": "API_TOKEN", "value": "s3cr3t-Value-that-is-long"},
            {"name": "MODE", "value": "prod"},
        ],
        "envFrom": [{"configMapRef": {"name": "cfg"}}],
    }
    assert hits("K8S-SECRET-ENV", pod(app)) == {"apps/Pod/p": {"app"}}
    (verdict,) = verdicts(ALL["K8S-ENV-SECRET-LITERAL"], [pod(app)])
    assert (verdict.hit.discriminator, verdict.severity) == ("app/API_TOKEN", Severity.HIGH)
    assert "s3cr3t-Value-that-is-long" not in repr(verdict)
    configmap_only = {**container(), "envFrom": [{"configMapRef": {"name": "cfg"}}]}
    assert hits("K8S-SECRET-ENV", pod(configmap_only)) == {}


def test_default_namespace_only_when_explicit() -> None:
    explicit = pod(namespace="default")
    implicit = pod(name="q")
    del implicit["metadata"]["namespace"]
    assert hits("K8S-DEFAULT-NAMESPACE", explicit, implicit, pod(name="r")) == {"default/Pod/p": {""}}


def test_net_raw() -> None:
    dropped = container("a", capabilities={"drop": ["NET_RAW"]})
    assert hits("K8S-NET-RAW", pod(container("b"), dropped)) == {"apps/Pod/p": {"b"}}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def test_network_policy_per_namespace() -> None:
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "d", "namespace": "a"},
        "spec": {"podSelector": {}},
    }
    assert hits("K8S-NS-NETWORK-POLICY", namespace("a"), namespace("b"), policy) == {"Namespace/b": {""}}


def test_pod_security_admission_labels() -> None:
    found = verdicts(
        ALL["K8S-NS-POD-SECURITY"],
        [
            namespace("a"),
            namespace("b", **{"pod-security.kubernetes.io/enforce": "privileged"}),
            namespace("c", **{"pod-security.kubernetes.io/enforce": "restricted"}),
            namespace("kube-system"),
        ],
    )
    assert {v.asset_name: (v.title, v.severity) for v in found} == {
        "Namespace/a": ("Namespace does not enforce a Pod Security level", Severity.MEDIUM),
        "Namespace/b": ("Namespace enforces the privileged Pod Security level", Severity.MEDIUM),
        "Namespace/kube-system": ("Namespace does not enforce a Pod Security level", Severity.LOW),
    }


def apiserver(*flags: str) -> dict[str, Any]:
    body = pod(
        {"name": "kube-apiserver", "image": "k8s/kube-apiserver:v1.30.0", "command": ["kube-apiserver", *flags]},
        name="kube-apiserver-cp",
        namespace="kube-system",
        nodeName="cp",
    )
    body["metadata"]["labels"] = {"component": "kube-apiserver"}
    return body


HARDENED = (
    "--anonymous-auth=false",
    "--authorization-mode=Node,RBAC",
    "--enable-admission-plugins=NodeRestriction",
    "--profiling=false",
    "--audit-log-path=/var/log/audit.log",
    "--encryption-provider-config=/etc/enc.yaml",
)


def failing(*flags: str) -> set[str]:
    return {v.rule.id for v in verdicts(k8s_controlplane.RULES, [apiserver(*flags)])}


def test_hardened_api_server_passes_and_defaults_fail() -> None:
    assert failing(*HARDENED) == set()
    assert failing() == {
        "K8S-APISERVER-ANONYMOUS-AUTH",
        "K8S-APISERVER-ALWAYS-ALLOW",
        "K8S-APISERVER-AUTHZ-NODE",
        "K8S-APISERVER-AUTHZ-RBAC",
        "K8S-APISERVER-NODE-RESTRICTION",
        "K8S-APISERVER-PROFILING",
        "K8S-APISERVER-AUDIT-LOG",
        "K8S-APISERVER-ENCRYPTION",
    }


@pytest.mark.parametrize(
    ("flag", "rule_id"),
    [
        ("--authorization-mode=AlwaysAllow", "K8S-APISERVER-ALWAYS-ALLOW"),
        ("--enable-admission-plugins=NodeRestriction,AlwaysAdmit", "K8S-APISERVER-ALWAYS-ADMIT"),
        ("--token-auth-file=/etc/tokens.csv", "K8S-APISERVER-TOKEN-AUTH-FILE"),
    ],
)
def test_single_bad_flag(flag: str, rule_id: str) -> None:
    name = flag.split("=")[0]
    flags = [f for f in HARDENED if not f.startswith(name)] + [flag]
    assert rule_id in failing(*flags)


@pytest.mark.parametrize(
    ("anonymous", "fails"),
    [
        ([], False),  # the file decides; the flag's default says nothing
        (["--anonymous-auth=true"], True),  # an explicit flag still decides
        (["--anonymous-auth=false"], False),
    ],
)
def test_structured_authentication_config_is_not_judged_on_the_anonymous_default(
    anonymous: list[str], fails: bool
) -> None:
    flags = [f for f in HARDENED if not f.startswith("--anonymous-auth")]
    flags += ["--authentication-config=/etc/authn.yaml", *anonymous]
    assert ("K8S-APISERVER-ANONYMOUS-AUTH" in failing(*flags)) is fails


def test_structured_authorization_config_is_not_judged_on_mode() -> None:
    flags = [f for f in HARDENED if not f.startswith("--authorization-mode")] + [
        "--authorization-config=/etc/authz.yaml"
    ]
    assert failing(*flags) == set()


def node(runtime: str, kubelet: str = "v1.30.1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n"},
        "status": {"nodeInfo": {"kubeletVersion": kubelet, "containerRuntimeVersion": runtime}},
    }


@pytest.mark.parametrize(
    ("runtime", "kubelet", "cves"),
    [
        ("cri-o://1.23.1", "v1.23.4", {"CVE-2022-0811"}),
        ("cri-o://1.23.2", "v1.23.4", set()),
        ("cri-o://1.18.4", "v1.23.4", set()),
        ("containerd://1.6.0", "v1.23.4", {"CVE-2022-23648"}),
        ("containerd://1.4.2", "v1.22.1-eks-1", {"CVE-2022-23648", "CVE-2020-15257", "CVE-2021-25741"}),
        ("containerd://1.7.13", "v1.29.0+k3s1", set()),
        ("docker://20.10.7", "v1.21.4", {"CVE-2021-25741"}),
    ],
)
def test_node_escape_cves(runtime: str, kubelet: str, cves: set[str]) -> None:
    assert set().union(*hits("K8S-NODE-ESCAPE-CVE", node(runtime, kubelet)).values()) == cves


def test_each_escape_cve_names_kubescapes_control_for_it() -> None:
    found = verdicts(ALL["K8S-NODE-ESCAPE-CVE"], [node("containerd://1.4.2", "v1.22.1-eks-1")])
    assert {v.hit.discriminator: v.hit.evidence.get("kubescape") for v in found} == {
        "CVE-2022-23648": "C-0087",
        "CVE-2020-15257": None,  # Kubescape has no control for it
        "CVE-2021-25741": "C-0058",
    }


@pytest.mark.parametrize(
    ("rule_id", "peers"),
    [
        ("K8S-NODE-ESCAPE-CVE", {"Kubescape C-0087", "Kubescape C-0058"}),
        ("K8S-RBAC-ESCALATION", {"Trivy KSV043", "Trivy KSV050", "Kubescape C-0191", "Kubescape C-0065"}),
        ("K8S-PSS-CAPABILITIES-RESTRICTED", {"Trivy KSV106", "Trivy KSV003", "Kubescape C-0201"}),
    ],
)
def test_peer_references_map_to_trivy_and_kubescape(rule_id: str, peers: set[str]) -> None:
    rule = {r.id: r for r in [*ALL.values(), *k8s_pss.RULES]}[rule_id]
    named = {f"{r.framework} {r.id}" for r in rule.references if r.framework in (TRIVY, KUBESCAPE)}
    assert named == peers


def test_runc_versions_order_release_candidates_before_releases() -> None:
    low, fixed = parse_version("1.0.0-rc93"), parse_version("1.1.12")
    assert low is not None and fixed is not None
    assert parse_version("1.0.0-rc92") < low < parse_version("1.0.0-rc100") < parse_version("1.0.0") < fixed  # type: ignore[operator]


def test_runtime_socket_and_the_directories_above_it() -> None:
    assert reachable_sockets("/var/run/docker.sock") == ["/var/run/docker.sock"]
    assert "/run/containerd/containerd.sock" in reachable_sockets("/run")
    assert reachable_sockets("/var/log") == []
    volumes = [
        {"name": "sock", "hostPath": {"path": "/var/run/containerd/containerd.sock"}},
        {"name": "root", "hostPath": {"path": "/"}},
        {"name": "logs", "hostPath": {"path": "/var/log"}},
    ]
    assert hits("K8S-RUNTIME-SOCKET", pod(volumes=volumes)) == {"apps/Pod/p": {"sock", "root"}}


def test_images_and_resources() -> None:
    limited = {
        **container("lim", image="nginx:1.27"),
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}},
    }
    body = pod(
        limited,
        container("bare", image="nginx"),
        container("latest", image="nginx:latest"),
        container("pinned", image="nginx@sha256:" + "0" * 64),
    )
    assert hits("K8S-IMAGE-LATEST", body) == {"apps/Pod/p": {"bare", "latest"}}
    assert hits("K8S-IMAGE-DIGEST", body) == {"apps/Pod/p": {"lim", "bare", "latest"}}
    assert (
        hits("K8S-LIMITS-CPU", body) == hits("K8S-LIMITS-MEMORY", body) == {"apps/Pod/p": {"bare", "latest", "pinned"}}
    )


def test_exposed_workload_is_an_info_finding_with_its_path() -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "w", "namespace": "apps"},
        "spec": {"template": {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [container()]}}},
    }
    lb = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "w", "namespace": "apps"},
        "spec": {"type": "LoadBalancer", "selector": {"app": "w"}},
    }
    (verdict,) = verdicts(ALL["K8S-EXPOSED"], [deployment, lb])
    assert verdict.severity == Severity.INFO
    assert verdict.hit.evidence["exposure"][0]["path"] == ["apps/Service/w", "apps/Deployment/w"]
