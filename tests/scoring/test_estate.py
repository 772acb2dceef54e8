"""Privilege, exposure and use read from collector attributes; images joined to what runs them."""

from __future__ import annotations

from posture.facts.users import is_root_user
from posture.scoring import Use
from posture.scoring.estate import AssetNode, Edge, Estate
from posture.scoring.traits import container_traits, kubernetes_traits, pod_summary_privileges


def test_docker_container_traits() -> None:
    attrs = {
        "privileged": False, "pid_mode": "host", "network_mode": "bridge", "ipc_mode": "",
        "mounts": [{"source": "/var/run/docker.sock", "destination": "/var/run/docker.sock"}],
        "user": "1000", "running": True,
        "ports": [{"container_port": "80/tcp", "host_ip": "127.0.0.1", "host_port": "8080"}],
    }
    traits = container_traits(attrs)
    assert traits.privileges == {"host-pid", "docker-socket"}
    assert not traits.exposed and traits.running
    published = {**attrs, "ports": [{"container_port": "80/tcp", "host_ip": "0.0.0.0", "host_port": "80"}]}
    assert container_traits(published).exposed
    assert container_traits({"publish_all_ports": True}).exposed
    assert container_traits({"ports": [{"container_port": "80/tcp", "host_ip": "", "host_port": ""}]}).exposed is False


def test_container_user_falls_back_to_the_image_user() -> None:
    assert "root" in container_traits({"user": ""}).privileges
    assert "root" not in container_traits({"user": ""}, image_user="app").privileges
    assert "root" in container_traits({"user": "0:0"}, image_user="app").privileges
    assert [is_root_user(u) for u in ("", "root", "0", "root:root", "1000", "app:0")] == [
        True, True, True, True, False, False]


def test_pod_summary_privileges_follow_kubernetes_precedence() -> None:
    pod = {
        "hostNetwork": True,
        "securityContext": {"runAsNonRoot": True},
        "containers": [
            {"name": "a", "securityContext": {"privileged": True}},
            {"name": "b", "securityContext": {"runAsUser": 0}},  # the container overrides the pod
        ],
        "volumes": [{"name": "sock", "type": "hostPath", "path": "/run/containerd/containerd.sock"}],
    }
    assert pod_summary_privileges(pod) == {"host-network", "privileged", "root", "docker-socket"}
    safe = {"securityContext": {"runAsUser": 1000}, "containers": [{"name": "a", "securityContext": {}}]}
    assert pod_summary_privileges(safe) == frozenset()
    assert kubernetes_traits({"pod": safe, "phase": "Running", "exposed": True}).exposed
    with_host_port = {"containers": [{"name": "a", "ports": [{"containerPort": 80, "hostPort": 80}]}]}
    assert kubernetes_traits({"pod": with_host_port}).exposed


def _estate() -> Estate:
    nodes = [
        AssetNode(1, "image", "sha256:config", "app:1", attributes={"user": "app"}),
        AssetNode(2, "k8s-workload", "eu/shop/Deployment/web", "shop/Deployment/web", "k8s-namespace",
                  "eu/Namespace/shop", {"namespace": "shop", "exposed": True, "team": "payments",
                                         "pod": {"containers": [{"name": "c", "securityContext": {"privileged": True}}],
                                                 "securityContext": {"runAsNonRoot": True}}}),
        AssetNode(3, "k8s-pod", "eu/shop/Pod/web-1", "shop/Pod/web-1", "k8s-namespace", "eu/Namespace/shop",
                  {"namespace": "shop", "phase": "Running"}),
        AssetNode(4, "k8s-pod", "eu/shop/Pod/web-2", "shop/Pod/web-2", "k8s-namespace", "eu/Namespace/shop",
                  {"namespace": "shop", "phase": "Running"}),
        AssetNode(5, "docker-engine", "engine-1", "build-host"),
        AssetNode(6, "container", "engine-1/abc", "builder", "docker-engine", "engine-1",
                  {"running": False, "user": "", "labels": {"owner": "platform"}}),
        AssetNode(7, "registry", "reg.example:5000", "reg.example:5000"),
        AssetNode(8, "repository", "reg.example:5000/app", "reg.example:5000/app", "registry", "reg.example:5000"),
        AssetNode(9, "tag", "reg.example:5000/app:1", "reg.example:5000/app:1", "repository", "reg.example:5000/app"),
        AssetNode(10, "image", "sha256:other", "lonely:1"),
    ]
    edges = [Edge(2, "runs", 1), Edge(3, "runs", 1), Edge(4, "runs", 1), Edge(3, "owned-by", 2),
             Edge(4, "owned-by", 2), Edge(6, "runs", 1), Edge(9, "points-to", 1)]
    return Estate(nodes, edges, team_label="owner")


def test_image_context_joins_everything_that_runs_it() -> None:
    estate = _estate()
    image = estate.context(1)
    assert image.use is Use.RUNNING and image.exposed
    assert image.privileges == {"privileged"}  # the container runs as the image's user "app"
    assert image.prevalence == 3  # two pods and one container; the workload is not a copy
    assert estate.context(10).use is Use.STORED
    owned_pod = estate.context(3)
    assert owned_pod.exposed and "privileged" in owned_pod.privileges  # inherited from its workload
    workload = estate.context(2)
    assert workload.use is Use.RUNNING and workload.prevalence == 2
    assert estate.context(6).use is Use.DEPLOYED  # a stopped container
    assert estate.context(7).use is Use.NOT_APPLICABLE


def test_groups_follow_structure_and_image_runners() -> None:
    estate = _estate()
    groups = estate.groups(1)
    assert groups["namespace"] == {"eu/shop"} and groups["cluster"] == {"eu"}
    assert groups["host"] == {"build-host"} and groups["registry"] == {"reg.example:5000"}
    assert groups["team"] == {"platform"}  # team_label "owner": the container's label, not the k8s "team"
    assert estate.groups(9) == {"registry": frozenset({"reg.example:5000"})}
    assert estate.members()[("namespace", "eu/shop")] == 4  # workload, two pods, and the image they run


def _cluster_nodes(*clusters: tuple[int, str, str]) -> list[AssetNode]:
    """A cluster asset, one namespace and one pod in it, per ``(first id, key, name)``."""
    nodes = []
    for first, key, name in clusters:
        nodes += [
            AssetNode(first, "k8s-cluster", key, name),
            AssetNode(first + 1, "k8s-namespace", f"{key}/Namespace/shop", "Namespace/shop", "k8s-cluster", key,
                      {"name": "shop"}),
            AssetNode(first + 2, "k8s-pod", f"{key}/shop/Pod/web", "shop/Pod/web", "k8s-namespace",
                      f"{key}/Namespace/shop", {"namespace": "shop"}),
        ]
    return nodes


def test_a_cluster_is_grouped_by_its_name_and_two_of_one_name_stay_apart() -> None:
    estate = Estate(_cluster_nodes((1, "cluster:uid-a", "prod-eu"), (4, "cluster:uid-b", "kubeadm")), [])
    assert estate.groups(3) == {"cluster": {"prod-eu"}, "namespace": {"prod-eu/shop"}}  # the name, not the UID
    assert estate.groups(1)["cluster"] == {"prod-eu"} and estate.groups(5)["cluster"] == {"kubeadm"}
    # A namespace an upgraded store keeps under its old key still leads to the cluster's name.
    upgraded = _cluster_nodes((1, "prod-eu", "prod-eu"))
    upgraded.append(AssetNode(9, "k8s-pod", "cluster:uid-a/shop/Pod/new", "shop/Pod/new", "k8s-namespace",
                              "prod-eu/Namespace/shop", {"namespace": "shop"}))
    assert Estate(upgraded, []).groups(9)["cluster"] == {"prod-eu"}
    shared = Estate(_cluster_nodes((1, "cluster:uid-a", "kubeadm"), (4, "cluster:uid-b", "kubeadm")), [])
    assert shared.groups(3)["cluster"] == {"kubeadm (cluster:uid-a)"}
    assert shared.groups(6)["cluster"] == {"kubeadm (cluster:uid-b)"}
