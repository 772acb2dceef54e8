"""The estate graph (posture/scoring/estate.py; docs/scoring.md "Which asset's context counts" and
"Roll-ups"): which edges count, what an image inherits from what runs it, and which namespace,
cluster, host, registry and team each asset is rolled up under, each decision on both sides."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from posture.records import AssetKind
from posture.scoring import Context, Use
from posture.scoring.estate import DIMENSIONS, AssetNode, Edge, Estate

PRIVILEGED = {"containers": [{"name": "c", "securityContext": {"privileged": True}}],
              "securityContext": {"runAsNonRoot": True}}
SAFE = {"securityContext": {"runAsNonRoot": True}, "containers": [{"name": "c"}]}


def _node(node_id: int, kind: AssetKind | str, parent: tuple[str, str] | None = None, name: str = "",
          key: str = "", **attrs: Any) -> AssetNode:
    kind = str(kind)
    return AssetNode(node_id, kind, key or f"{kind}-{node_id}", name or f"n{node_id}",
                     parent[0] if parent else None, parent[1] if parent else None, attrs or None)


def test_the_dimensions_are_the_documented_ones() -> None:
    # docs/scoring.md: "per NIST SP 800-190 area, lifecycle phase, namespace, cluster, Docker host, registry and team"
    assert DIMENSIONS == ("namespace", "cluster", "host", "registry", "team")


# -- which edges count -------------------------------------------------------------------------
def test_only_containers_pods_and_workloads_run_an_image_and_each_counts_once() -> None:
    nodes = [_node(1, "image"), _node(2, "container", running=True, user="app"), _node(3, "tag"),
             _node(4, "k8s-node"), _node(5, "k8s-pod", phase="Running", pod=SAFE)]
    edges = [Edge(2, "runs", 1), Edge(2, "runs", 1), Edge(3, "runs", 1), Edge(4, "runs", 1), Edge(5, "runs", 1),
             Edge(9, "runs", 1), Edge(1, "runs", 9)]
    estate = Estate(nodes, edges)
    assert [n.id for n in estate.runners_of(1)] == [2, 5]
    assert estate.context(1) == Context(Use.RUNNING, prevalence=2)


def test_an_edge_of_another_relation_runs_nothing() -> None:
    nodes = [_node(1, "image"), _node(2, "container", running=True)]
    assert Estate(nodes, [Edge(2, "owned-by", 1), Edge(2, "points-to", 1)]).context(1) == Context(Use.STORED)
    assert Estate(nodes, [Edge(1, "runs", 2)]).context(1) == Context(Use.STORED)  # the direction counts


# -- an image's context ------------------------------------------------------------------------
def test_an_image_nothing_runs_is_stored_with_no_copies() -> None:
    assert Estate([_node(1, "image")], []).context(1) == Context(Use.STORED, False, frozenset(), 0)


def test_an_image_is_as_exposed_and_privileged_as_what_runs_it_and_deployed_when_nothing_runs() -> None:
    nodes = [_node(1, "image"), _node(2, "container", running=False, user="app", privileged=True),
             _node(3, "container", running=False, user="app", publish_all_ports=True)]
    estate = Estate(nodes, [Edge(2, "runs", 1), Edge(3, "runs", 1)])
    assert estate.context(1) == Context(Use.DEPLOYED, True, frozenset({"privileged"}), 2)


def test_a_container_runs_as_the_image_user_when_it_sets_none() -> None:
    nodes = [_node(1, "image", user=7), _node(2, "image", user="app"), _node(3, "container", running=True),
             _node(4, "container", running=True), _node(5, "image", user="root"), _node(6, "container", running=True)]
    edges = [Edge(3, "runs", 1), Edge(3, "runs", 2), Edge(4, "runs", 1), Edge(6, "runs", 5), Edge(6, "runs", 2)]
    estate = Estate(nodes, edges)
    assert estate.context(3).privileges == frozenset()  # user 7 is not a string: the next image's "app"
    assert estate.context(4).privileges == {"root"}  # no image user known: root
    assert estate.context(6).privileges == {"root"}  # the first image's user counts


# -- a workload's and a pod's context ----------------------------------------------------------
def test_a_workload_counts_its_pods_then_its_replicas() -> None:
    nodes = [_node(1, "k8s-workload", pod=SAFE, replicas=5), _node(2, "k8s-pod", phase="Pending"),
             _node(3, "k8s-workload", pod=SAFE, replicas=0), _node(4, "k8s-workload", pod=SAFE, replicas=4)]
    estate = Estate(nodes, [Edge(2, "owned-by", 1)])
    assert estate.context(1) == Context(Use.DEPLOYED, prevalence=1)  # one pod known: the pods count
    assert estate.context(3).prevalence == 0
    assert estate.context(4) == Context(Use.DEPLOYED, prevalence=4)


def test_containers_and_pods_are_one_copy() -> None:
    nodes = [_node(1, "container", running=True, user="app"), _node(2, "k8s-pod", phase="Running", pod=SAFE,
                                                                    replicas=3)]
    estate = Estate(nodes, [])
    assert estate.context(1) == Context(Use.RUNNING, prevalence=1)
    assert estate.context(2) == Context(Use.RUNNING, prevalence=1)


def test_an_owned_pod_takes_its_first_owners_spec() -> None:
    nodes = [_node(1, "k8s-workload", pod=PRIVILEGED), _node(2, "k8s-workload", pod=SAFE, exposed=True),
             _node(3, "k8s-pod", phase="Running", exposed=False)]
    estate = Estate(nodes, [Edge(3, "owned-by", 1), Edge(3, "owned-by", 2)])
    assert estate.context(3) == Context(Use.RUNNING, False, frozenset({"privileged"}), 1)
    # The pod's own exposure adds to what it inherits.
    nodes[2] = _node(3, "k8s-pod", phase="Pending", exposed=True)
    assert Estate(nodes, [Edge(3, "owned-by", 1)]).context(3) == Context(Use.DEPLOYED, True,
                                                                          frozenset({"privileged"}), 1)


@pytest.mark.parametrize("kind", ["registry", "k8s-cluster", "k8s-node", "docker-engine", "tag", "k8s-service"])
def test_an_asset_that_runs_nothing_has_no_runtime_context(kind: str) -> None:
    estate = Estate([_node(1, kind, exposed=True, privileged=True, running=True), _node(2, kind)], [])
    assert estate.context(1) == Context(Use.NOT_APPLICABLE, True, frozenset(), 0)
    assert estate.context(2) == Context()


# -- groups ------------------------------------------------------------------------------------
K8S_KINDS = [k for k in AssetKind if k.value.startswith("k8s-")]


def test_the_kubernetes_kinds_are_these() -> None:
    assert {k.value for k in K8S_KINDS} == {
        "k8s-cluster", "k8s-node", "k8s-namespace", "k8s-workload", "k8s-pod", "k8s-serviceaccount", "k8s-role",
        "k8s-binding", "k8s-networkpolicy", "k8s-service", "k8s-ingress", "k8s-control-plane"}


@pytest.mark.parametrize("kind", [k for k in K8S_KINDS if k not in (AssetKind.CLUSTER, AssetKind.NAMESPACE)])
def test_every_kubernetes_asset_is_grouped_by_cluster_and_namespace(kind: AssetKind) -> None:
    nodes = [_node(1, "k8s-cluster", key="uid-1", name="prod"),
             _node(2, "k8s-namespace", ("k8s-cluster", "uid-1"), key="uid-1/Namespace/shop", name="shop"),
             _node(3, kind, ("k8s-namespace", "uid-1/Namespace/shop"), namespace="shop"),
             _node(4, kind, ("k8s-cluster", "uid-1"))]
    estate = Estate(nodes, [])
    assert estate.groups(3) == {"cluster": {"prod"}, "namespace": {"prod/shop"}}
    assert estate.groups(4) == {"cluster": {"prod"}}  # cluster-scoped: no namespace


def test_the_cluster_is_the_namespace_asset_s_parent_whatever_its_key_says() -> None:
    # A namespace asset found in the estate names its cluster by its parent; its key's "/Namespace/" is only
    # the fallback for a namespace the estate does not hold, and a key without it names no cluster.
    nodes = [_node(1, "k8s-cluster", key="uid-1", name="prod"),
             _node(2, "k8s-namespace", ("k8s-cluster", "uid-1"), key="other/Namespace/shop", name="shop"),
             _node(3, "k8s-workload", ("k8s-namespace", "other/Namespace/shop"), namespace="shop"),
             _node(4, "k8s-workload", ("k8s-namespace", "uid-1/Namespace/gone"), namespace="gone"),
             _node(5, "k8s-workload", ("k8s-namespace", "loose"), namespace="loose")]
    estate = Estate(nodes, [])
    assert estate.groups(3)["cluster"] == {"prod"}
    assert estate.groups(4)["cluster"] == {"prod"}
    assert "cluster" not in estate.groups(5)


@pytest.mark.parametrize("kind", ["image", "registry", "container", "docker-engine", "report", "manifest-set"])
def test_other_kinds_have_no_cluster_or_namespace(kind: str) -> None:
    nodes = [_node(1, "k8s-cluster", key="uid-1", name="prod"),
             _node(2, kind, ("k8s-namespace", "uid-1/Namespace/shop"), namespace="shop")]
    groups = Estate(nodes, []).groups(2)
    assert "cluster" not in groups and "namespace" not in groups


def test_a_namespace_is_grouped_under_its_own_name() -> None:
    nodes = [_node(1, "k8s-cluster", key="uid-1", name="prod"),
             AssetNode(2, "k8s-namespace", "uid-1/Namespace/shop", "Namespace/shop", "k8s-cluster", "uid-1",
                       {"name": "shop", "namespace": "other"})]
    assert Estate(nodes, []).groups(2) == {"cluster": {"prod"}, "namespace": {"prod/shop"}}


def test_without_a_cluster_the_namespace_stands_alone_and_an_empty_one_is_none() -> None:
    nodes = [_node(1, "k8s-pod", namespace="shop"), _node(2, "k8s-pod", namespace=""), _node(3, "k8s-pod", namespace=5),
             _node(4, "k8s-pod")]
    estate = Estate(nodes, [])
    assert estate.groups(1) == {"namespace": {"shop"}}
    assert [estate.groups(i) for i in (2, 3, 4)] == [{}, {}, {}]


def test_a_cluster_key_is_read_from_the_namespace_key_when_the_namespace_is_not_held() -> None:
    nodes = [_node(1, "k8s-cluster", key="uid-1", name="prod"),
             _node(2, "k8s-pod", ("k8s-namespace", "uid-1/Namespace/shop"), namespace="shop"),
             _node(3, "k8s-pod", ("k8s-namespace", "uid-9/Namespace/shop"), namespace="shop"),
             _node(4, "k8s-pod", ("k8s-namespace", "shop"), namespace="shop"),
             # A namespace held without a cluster parent: its key still names the cluster.
             _node(5, "k8s-namespace", key="uid-1/Namespace/dev", name="dev"),
             _node(6, "k8s-pod", ("k8s-namespace", "uid-1/Namespace/dev"), namespace="dev"),
             _node(7, "k8s-pod", ("k8s-node", "uid-1/Namespace/x"), namespace="x")]
    estate = Estate(nodes, [])
    assert estate.groups(2)["cluster"] == {"prod"}
    assert estate.groups(3)["cluster"] == {"uid-9"}  # a cluster the estate does not hold: its key
    assert "cluster" not in estate.groups(4)
    assert estate.groups(6) == {"cluster": {"prod"}, "namespace": {"prod/dev"}}
    assert estate.groups(7) == {"namespace": {"x"}}


def test_clusters_of_one_name_are_told_apart_and_a_nameless_one_by_its_key() -> None:
    nodes = [_node(1, "k8s-cluster", key="a", name="kind"), _node(2, "k8s-cluster", key="b", name="kind"),
             _node(3, "k8s-cluster", key="c", name="prod"), AssetNode(4, "k8s-cluster", "d", "")]
    estate = Estate(nodes, [])
    assert [estate.groups(i)["cluster"] for i in (1, 2, 3, 4)] == [{"kind (a)"}, {"kind (b)"}, {"prod"}, {" (d)"}]


def test_docker_hosts() -> None:
    nodes = [_node(1, "docker-engine", key="engine-1", name="build-host"),
             _node(2, "docker-engine", key="engine-2", name=""),
             _node(3, "container", ("docker-engine", "engine-1")),
             _node(4, "container", ("docker-engine", "engine-9")),
             _node(5, "container")]
    nodes[1] = AssetNode(2, "docker-engine", "engine-2", "")
    estate = Estate(nodes, [])
    assert estate.groups(1) == {"host": {"build-host"}}
    assert estate.groups(2) == {"host": {"engine-2"}}  # no name: its key
    assert estate.groups(3) == {"host": {"build-host"}}
    assert estate.groups(4) == {"host": {"engine-9"}}  # an engine the estate does not hold: its key
    assert estate.groups(5) == {}


def test_registries_up_to_four_levels() -> None:
    nodes = [_node(1, "registry", key="reg:5000"),
             _node(2, "repository", ("registry", "reg:5000"), key="reg:5000/app"),
             _node(3, "tag", ("repository", "reg:5000/app"), key="reg:5000/app:1"),
             _node(4, "tag", ("repository", "gone/app"), key="gone/app:1"),
             _node(5, "tag"),
             _node(6, "repository", ("registry", "reg:6000"), key="reg:6000/x"),
             # A chain deeper than four parents is not followed (a cycle cannot loop forever).
             _node(10, "repository", ("registry", "deep"), key="r0"),
             _node(11, "repository", ("repository", "r0"), key="r1"),
             _node(12, "repository", ("repository", "r1"), key="r2"),
             _node(13, "repository", ("repository", "r2"), key="r3"),
             _node(14, "tag", ("repository", "r3"), key="t4"),
             _node(20, "repository", ("repository", "loop"), key="loop"),
             _node(21, "k8s-pod", ("registry", "reg:5000"))]
    estate = Estate(nodes, [])
    assert estate.groups(1) == {"registry": {"reg:5000"}}
    assert estate.groups(2) == {"registry": {"reg:5000"}} == estate.groups(3)
    assert estate.groups(4) == {} and estate.groups(5) == {}
    assert estate.groups(6) == {"registry": {"reg:6000"}}  # a registry the estate does not hold: its key
    assert estate.groups(13) == {"registry": {"deep"}}  # the registry is the fourth parent up
    assert estate.groups(14) == {}  # the fifth
    assert estate.groups(20) == {}
    assert "registry" not in estate.groups(21)


def test_an_image_is_grouped_wherever_it_runs_and_is_held() -> None:
    nodes = [_node(1, "image", labels={"team": "img-team"}),
             _node(2, "docker-engine", key="e1", name="h1"), _node(3, "docker-engine", key="e2", name="h2"),
             _node(4, "container", ("docker-engine", "e1"), running=True, labels={"team": "a"}),
             _node(5, "container", ("docker-engine", "e2"), running=True, labels={"team": "b"}),
             _node(6, "registry", key="r1"), _node(7, "repository", ("registry", "r1"), key="r1/app"),
             _node(8, "tag", ("repository", "r1/app"), key="r1/app:1"),
             _node(9, "registry", key="r2"), _node(10, "tag", ("registry", "r2"), key="r2/app:1"),
             _node(11, "tag", key="loose:1"), _node(12, "tag", ("registry", "r3"), key="r3/app:1")]
    edges = [Edge(4, "runs", 1), Edge(5, "runs", 1), Edge(8, "points-to", 1), Edge(10, "points-to", 1),
             Edge(11, "points-to", 1), Edge(12, "runs", 1)]
    assert Estate(nodes, edges).groups(1) == {"host": {"h1", "h2"}, "team": {"a", "b", "img-team"},
                                              "registry": {"r1", "r2"}}


# -- teams -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("attrs", "team_label", "team"), [
    ({"team": "pay"}, "team", None),  # the collector's attribute is its answer, not a second source
    ({"labels": {"example.com/team": "pay"}}, "team", "pay"),  # a prefixed label, as the collector reads it
    ({"labels": {"example.com/team": "pay"}}, "owner", None),
    ({"team": 7, "labels": {"team": "lab"}}, "team", "lab"),  # not a string: the labels
    ({"labels": {"owner": "ops"}}, "owner", "ops"),
    ({"labels": {"owner": ""}, "annotations": {"owner": "ann"}}, "owner", "ann"),  # an empty label is unset
    ({"labels": {"team": "lab"}, "annotations": {"team": "ann"}}, "team", "lab"),  # labels first
    ({"annotations": {"example.com/team": "ann"}}, "team", "ann"),  # a prefixed annotation
    ({"annotations": {"example.com/teams": "x", "team-x": "y"}}, "team", None),
    ({"annotations": {"team": ""}}, "team", None),
    ({"labels": ["team"], "annotations": "team"}, "team", None),  # untrusted JSON of another shape
    ({"pod": {"labels": {"team": "tpl"}}}, "team", "tpl"),  # the pod template's labels
    ({"labels": {"x": "1"}, "pod": {"labels": {"team": "tpl"}}, "annotations": {"team": "own-ann"}}, "team", "tpl"),
    ({"pod": {"annotations": {"team": "tpl-ann"}}}, "team", "tpl-ann"),
    ({"pod": "x"}, "team", None),
])
def test_the_team_of_an_asset(attrs: dict[str, Any], team_label: str, team: str | None) -> None:
    estate = Estate([_node(1, "container", **attrs)], [], team_label=team_label)
    assert estate.groups(1).get("team") == ({team} if team else None)


def test_the_namespace_team_is_the_fallback() -> None:
    nodes = [_node(1, "k8s-namespace", key="ns", name="ns", labels={"team": "ns-team"}),
             _node(2, "k8s-pod", ("k8s-namespace", "ns")),
             _node(3, "k8s-pod", ("k8s-namespace", "ns"), labels={"team": "own"}),
             _node(4, "k8s-pod", ("k8s-namespace", "other")),
             _node(5, "k8s-pod", ("k8s-cluster", "ns")),
             _node(6, "k8s-namespace", key="ns2", name="ns2", annotations={"corp/team": "ann-team"}),
             _node(7, "k8s-pod", ("k8s-namespace", "ns2")),
             _node(8, "k8s-pod", ("k8s-namespace", "ns"), annotations={"team": ""}, labels={"team": ""}),
             _node(9, "k8s-pod", ("k8s-namespace", ""))]
    estate = Estate(nodes, [])
    assert [estate.groups(i).get("team") for i in (2, 3, 4, 5, 7, 8, 9)] == [
        {"ns-team"}, {"own"}, None, None, {"ann-team"}, {"ns-team"}, None]  # an empty team is unset


def test_members_count_each_assets_groups() -> None:
    nodes = [_node(1, "docker-engine", key="e1", name="h1"),
             _node(2, "container", ("docker-engine", "e1"), labels={"team": "a"}),
             _node(3, "container", ("docker-engine", "e1"), labels={"team": "b"}),
             _node(4, "image"), _node(5, "registry", key="r")]
    estate = Estate(nodes, [Edge(2, "runs", 4), Edge(3, "runs", 4)])
    assert estate.asset_count == 5
    assert estate.members() == {("host", "h1"): 4, ("team", "a"): 2, ("team", "b"): 2, ("registry", "r"): 1}
    assert estate.groups(99) == {}


def test_nodes_and_edges_are_immutable_and_slotted() -> None:
    """One per asset and relation of the estate, loaded in bulk: frozen, and without a per-instance dict."""
    for record in (AssetNode(1, "image", "k", "n"), Edge(1, "runs", 2)):
        assert not hasattr(record, "__dict__")
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, dataclasses.fields(record)[0].name, 7)
