"""The shared normalizer: keys, relations, roll-up, exposure, control plane, and malformed objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from collectors.k8s.normalize import SUPPORTED_KINDS, expand_lists, records_from_objects
from posture.facts.references import parse_image
from posture.records import AssetKind, AssetRecord, AssetRef, Problem, Record, RelationRecord
from tests.k8s.pss_support import SCANNER, container, pod

API_LISTS = Path(__file__).parents[1] / "data" / "k8s-api"
DIGEST = "sha256:" + "ab" * 32


def normalize(*objects: dict[str, Any], **options: Any) -> list[Record]:
    return list(records_from_objects(objects, "prod", secrets=SCANNER, **options))


def by_name(records: list[Record]) -> dict[str, AssetRecord]:
    return {r.name: r for r in records if isinstance(r, AssetRecord)}


def relations(records: list[Record], relation: str) -> set[tuple[str, str]]:
    return {(r.source.key, r.target.key) for r in records if isinstance(r, RelationRecord) and r.relation == relation}


def deployment(name: str = "web", labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    template = {"metadata": {"labels": labels or {"app": name}}, "spec": {"containers": [container(name)], **spec}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop", "uid": f"u-{name}"},
        "spec": {"replicas": 2, "template": template},
    }


def service(name: str, selector: dict[str, str], kind: str = "ClusterIP") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"type": kind, "selector": selector, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def test_keys_names_and_parents() -> None:
    records = normalize(
        deployment(),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"team": "payments"}}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "reader"},
            "rules": [],
        },
    )
    assets = by_name(records)
    web = assets["shop/Deployment/web"]
    assert (web.kind, web.key, web.parent) == (
        AssetKind.WORKLOAD,
        "prod/shop/Deployment/web",
        AssetRef(AssetKind.NAMESPACE, "prod/Namespace/shop"),
    )
    assert web.attributes["team"] == "payments"  # inherited from the namespace label
    assert assets["ClusterRole/reader"].key == "prod/ClusterRole/reader"
    assert assets["ClusterRole/reader"].parent == AssetRef(AssetKind.CLUSTER, "prod")
    assert assets["prod"].kind == AssetKind.CLUSTER


def test_image_references_are_normalized_and_digests_become_runs() -> None:
    assert parse_image("nginx") is not None and parse_image("nginx").tag_key == "docker.io/library/nginx:latest"  # type: ignore[union-attr]
    pinned = pod(container("a", image=f"ghcr.io/org/app@{DIGEST}"), container("b", image="redis:7"), name="solo")
    pinned["status"] = {"containerStatuses": [{"name": "b", "imageID": f"docker-pullable://redis@sha256:{'cd' * 32}"}]}
    records = normalize(pinned)
    key = "prod/apps/Pod/solo"
    assert relations(records, "runs") == {(key, DIGEST), (key, "sha256:" + "cd" * 32)}
    assert relations(records, "uses-image-ref") == {(key, "docker.io/library/redis:7")}


def test_owned_pods_roll_up_and_carry_their_digests_to_the_workload() -> None:
    replicaset = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "uid": "rs",
            "ownerReferences": [{"kind": "Deployment", "name": "web", "uid": "u-web", "controller": True}],
        },
        "spec": deployment()["spec"],
    }
    owned = pod(container("web", image="nginx:1.27"), name="web-1-abc", namespace="shop")
    owned["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "web-1", "uid": "rs", "controller": True}]
    owned["status"] = {"phase": "Running", "containerStatuses": [{"name": "web", "imageID": f"nginx@{DIGEST}"}]}
    records = normalize(deployment(), replicaset, owned)
    assets = by_name(records)
    assert "pod" in assets["shop/Deployment/web"].attributes
    assert "pod" not in assets["shop/ReplicaSet/web-1"].attributes
    assert assets["shop/Pod/web-1-abc"].attributes["owner"] == "shop/Deployment/web"
    assert ("prod/shop/Deployment/web", DIGEST) in relations(records, "runs")
    assert relations(records, "owned-by") == {
        ("prod/shop/ReplicaSet/web-1", "prod/shop/Deployment/web"),
        ("prod/shop/Pod/web-1-abc", "prod/shop/Deployment/web"),
    }


def test_exposure_through_load_balancer_node_port_and_ingress_but_not_cluster_ip() -> None:
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "edge", "namespace": "shop"},
        "spec": {
            "rules": [
                {
                    "host": "shop.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "api", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    }
    records = normalize(
        deployment("web"),
        deployment("api"),
        deployment("worker"),
        deployment("admin"),
        service("web", {"app": "web"}, "LoadBalancer"),
        service("api", {"app": "api"}),
        service("worker", {"app": "worker"}),
        service("admin", {"app": "admin"}, "NodePort"),
        ingress,
    )
    assets = by_name(records)
    assert assets["shop/Deployment/web"].attributes["exposure"] == [
        {
            "via": "LoadBalancer",
            "path": ["shop/Service/web", "shop/Deployment/web"],
            "ports": [{"port": 80, "targetPort": 8080}],
        }
    ]
    assert assets["shop/Deployment/api"].attributes["exposure"] == [
        {"via": "Ingress", "path": ["shop.example.com", "shop/Ingress/edge", "shop/Service/api", "shop/Deployment/api"]}
    ]
    assert assets["shop/Deployment/admin"].attributes["exposed"] is True
    assert "exposed" not in assets["shop/Deployment/worker"].attributes
    assert ("prod/shop/Service/worker", "prod/shop/Deployment/worker") in relations(records, "exposes")
    assert ("prod/shop/Ingress/edge", "prod/shop/Deployment/api") in relations(records, "exposes")


def test_selector_must_match_every_label_in_the_same_namespace() -> None:
    records = normalize(
        deployment("web", {"app": "web", "tier": "front"}),
        service("lb", {"app": "web", "tier": "back"}, "LoadBalancer"),
    )
    assert "exposed" not in by_name(records)["shop/Deployment/web"].attributes


def test_rbac_and_service_account_relations() -> None:
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "b", "namespace": "shop"},
        "roleRef": {"kind": "ClusterRole", "name": "edit"},
        "subjects": [{"kind": "ServiceAccount", "name": "ci", "namespace": "build"}, {"kind": "User", "name": "ann"}],
    }
    records = normalize(binding, deployment(serviceAccountName="web-sa"))
    assert relations(records, "grants") == {("prod/shop/RoleBinding/b", "prod/ClusterRole/edit")}
    assert relations(records, "binds") == {("prod/shop/RoleBinding/b", "prod/build/ServiceAccount/ci")}
    assert ("prod/shop/Deployment/web", "prod/shop/ServiceAccount/web-sa") in relations(records, "uses")


def test_namespace_network_policy_count_is_unknown_when_not_listed_completely() -> None:
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "shop", "labels": {"pod-security.kubernetes.io/enforce": "baseline"}},
    }
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "shop"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    complete = by_name(normalize(namespace, policy))["Namespace/shop"].attributes
    assert (complete["network_policies"], complete["pod_security"]) == (1, {"enforce": "baseline"})
    partial = by_name(normalize(namespace, complete_kinds={"Namespace"}))["Namespace/shop"].attributes
    assert partial["network_policies"] is None


def test_control_plane_static_pod_flags() -> None:
    apiserver = pod(
        {
            "name": "kube-apiserver",
            "image": "registry.k8s.io/kube-apiserver:v1.30.0",
            "command": ["kube-apiserver", "--authorization-mode=Node,RBAC", "--anonymous-auth", "false", "--profiling"],
        },
        name="kube-apiserver-cp1",
        namespace="kube-system",
        nodeName="cp1",
    )
    apiserver["metadata"]["labels"] = {"component": "kube-apiserver", "tier": "control-plane"}
    (control,) = [r for r in normalize(apiserver) if isinstance(r, AssetRecord) and r.kind == AssetKind.CONTROL_PLANE]
    assert control.name == "kube-apiserver@cp1"
    assert control.attributes["flags"] == {
        "authorization-mode": "Node,RBAC",
        "anonymous-auth": "false",
        "profiling": "true",
    }


def test_nodes_from_a_real_node_info() -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1"},
        "status": {
            "nodeInfo": {
                "kubeletVersion": "v1.22.6-eks-7d68063",
                "containerRuntimeVersion": "containerd://1.4.13",
                "osImage": "Amazon Linux 2",
            }
        },
    }
    attributes = by_name(normalize(node))["Node/n1"].attributes
    assert (attributes["kubelet_version"], attributes["container_runtime_version"], attributes["os_image"]) == (
        "v1.22.6-eks-7d68063",
        "containerd://1.4.13",
        "Amazon Linux 2",
    )


def test_malformed_objects_are_problems_and_the_rest_continues() -> None:
    records = normalize(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "x", "namespace": "a"},
            "spec": ["not", "a", "map"],
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "odd", "namespace": "a"},
            "spec": {"containers": "nope", "volumes": [None, 3], "securityContext": []},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ignored"}},
        deployment(),
    )
    assert [r.message for r in records if isinstance(r, Problem)] == [
        "kubernetes prod: Pod without metadata.name",
        "kubernetes prod: a/Deployment/x: spec is not a mapping",
    ]
    assert {"a/Pod/odd", "shop/Deployment/web"} <= set(by_name(records))
    assert "ConfigMap" not in SUPPORTED_KINDS


def test_real_api_pod_list_from_eks() -> None:
    podlist = json.loads((API_LISTS / "podlist-eks-all-namespaces.json").read_text())
    records = normalize(*expand_lists(podlist))
    pods = [r for r in records if isinstance(r, AssetRecord) and r.kind == AssetKind.POD]
    assert len(pods) == len(podlist["items"]) == 6
    # The first pod's images are redacted to "..." in the capture: no relation is invented for them.
    assert not any(key.startswith("docker.io/library/...") for _, key in relations(records, "uses-image-ref"))


def test_an_object_given_twice_keeps_its_last_version() -> None:
    first, second = deployment(), deployment()
    second["spec"]["replicas"] = 5
    records = normalize(first, deployment("other"), second)
    keys = [r.key for r in records if isinstance(r, AssetRecord) and r.kind == AssetKind.WORKLOAD]
    assert keys == ["prod/shop/Deployment/web", "prod/shop/Deployment/other"]
    assert by_name(records)["shop/Deployment/web"].attributes["replicas"] == 5


def test_team_annotations_are_kept_for_scoring_and_nothing_else() -> None:
    annotated = deployment("api")
    annotated["metadata"]["annotations"] = {
        "example.com/team": "payments",
        "deployment.kubernetes.io/revision": "7",
        "kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 5000 + "}",
    }
    annotated["spec"]["template"]["metadata"]["annotations"] = {"team": "checkout", "prometheus.io/scrape": "true"}
    quiet = deployment("cron")  # no labels or annotations of its own: the namespace's annotation decides
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "annotations": {"team": "ops"}}}
    assets = by_name(normalize(namespace, annotated, quiet))
    api, cron, shop = assets["shop/Deployment/api"], assets["shop/Deployment/cron"], assets["Namespace/shop"]
    assert api.attributes["annotations"] == {"example.com/team": "payments"}
    assert api.attributes["pod"]["annotations"] == {"team": "checkout"}
    # The object's own (prefixed) team annotation, before its template's and its namespace's.
    assert api.attributes["team"] == "payments"
    assert shop.attributes["annotations"] == {"team": "ops"}
    assert "annotations" not in cron.attributes and cron.attributes["team"] == "ops"


def test_the_configured_team_key_is_kept_and_read() -> None:
    """``team_label = "owner"``: an ``owner`` annotation (or ``<prefix>/owner``) names the team; ``team`` does not."""
    annotated = deployment("api")
    annotated["metadata"]["annotations"] = {"example.com/owner": "payments", "team": "not-this"}
    plain = deployment("web")
    plain["metadata"]["labels"] = {"owner": "search"}
    assets = by_name(normalize(annotated, plain, team_label="owner"))
    api, web = assets["shop/Deployment/api"], assets["shop/Deployment/web"]
    assert api.attributes["annotations"] == {"example.com/owner": "payments"} and api.attributes["team"] == "payments"
    assert web.attributes["team"] == "search"
