"""Which asset's context a finding is scored with (docs/scoring.md, "Which asset's context counts"),
each decision on both sides: whether it runs, what an owned pod inherits, how many copies count."""

from __future__ import annotations

from posture.scoring import Context, Use
from posture.scoring.estate import AssetNode, Edge, Estate

SAFE_POD = {"securityContext": {"runAsNonRoot": True}, "containers": [{"name": "c"}]}
PRIVILEGED_POD = {"containers": [{"name": "c", "securityContext": {"privileged": True}}],
                  "securityContext": {"runAsNonRoot": True}}


def _workload(node_id: int, **attrs: object) -> AssetNode:
    return AssetNode(node_id, "k8s-workload", f"eu/shop/Deployment/w{node_id}", f"w{node_id}", attributes=attrs)


def _pod(node_id: int, **attrs: object) -> AssetNode:
    return AssetNode(node_id, "k8s-pod", f"eu/shop/Pod/p{node_id}", f"p{node_id}", attributes=attrs)


def test_a_workload_runs_when_any_of_its_pods_runs() -> None:
    nodes = [_workload(1, pod=SAFE_POD), _pod(2, phase="Running"), _pod(3, phase="Pending"),
             _workload(4, pod=SAFE_POD), _pod(5, phase="Pending"), _pod(6, phase="Failed")]
    edges = [Edge(2, "owned-by", 1), Edge(3, "owned-by", 1), Edge(5, "owned-by", 4), Edge(6, "owned-by", 4)]
    estate = Estate(nodes, edges)
    assert estate.context(1) == Context(Use.RUNNING, prevalence=2)
    assert estate.context(4) == Context(Use.DEPLOYED, prevalence=2)


def test_an_owned_pod_inherits_its_workloads_spec_and_exposure_but_not_its_phase() -> None:
    nodes = [_workload(1, pod=PRIVILEGED_POD, exposed=True), _pod(2, phase="Running"), _pod(3, phase="Pending")]
    estate = Estate(nodes, [Edge(2, "owned-by", 1), Edge(3, "owned-by", 1)])
    assert estate.context(3) == Context(Use.DEPLOYED, True, frozenset({"privileged"}), 1)
    assert estate.context(2) == Context(Use.RUNNING, True, frozenset({"privileged"}), 1)


def test_a_pod_with_its_own_spec_is_scored_by_it_alone() -> None:
    nodes = [_workload(1, pod=PRIVILEGED_POD, exposed=True), _pod(2, phase="Running", pod=SAFE_POD)]
    estate = Estate(nodes, [Edge(2, "owned-by", 1)])
    assert estate.context(2) == Context(Use.RUNNING, False, frozenset(), 1)


def test_an_unowned_pod_without_a_spec_has_no_privileges() -> None:
    assert Estate([_pod(1, phase="Running")], []).context(1) == Context(Use.RUNNING, prevalence=1)


def test_an_image_run_only_by_declared_workloads_counts_each_workload() -> None:
    nodes = [AssetNode(1, "image", "sha256:a", "app:1"), _workload(2, pod=SAFE_POD), _workload(3, pod=SAFE_POD)]
    estate = Estate(nodes, [Edge(2, "runs", 1), Edge(3, "runs", 1)])
    assert estate.context(1) == Context(Use.DEPLOYED, prevalence=2)
    # With pods known, the pods count and the workloads that own them do not.
    nodes += [_pod(4, phase="Running", pod=SAFE_POD)]
    estate = Estate(nodes, [Edge(2, "runs", 1), Edge(3, "runs", 1), Edge(4, "runs", 1), Edge(4, "owned-by", 2)])
    assert estate.context(1) == Context(Use.RUNNING, prevalence=1)


def test_a_workload_without_pods_counts_its_replicas_else_one() -> None:
    estate = Estate([_workload(1, pod=SAFE_POD, replicas=3), _workload(2, pod=SAFE_POD),
                     _workload(3, pod=SAFE_POD, replicas="3")], [])
    assert [estate.context(i).prevalence for i in (1, 2, 3)] == [3, 1, 1]


def test_an_asset_that_runs_nothing_is_exposed_only_when_it_says_true() -> None:
    nodes = [AssetNode(1, "registry", "reg:5000", "reg:5000", attributes={"exposed": True}),
             AssetNode(2, "registry", "reg:5001", "reg:5001", attributes={"exposed": "true"}),
             AssetNode(3, "registry", "reg:5002", "reg:5002")]
    estate = Estate(nodes, [])
    assert [estate.context(i) for i in (1, 2, 3)] == [Context(exposed=True), Context(), Context()]
    assert estate.context(99) == Context()  # an asset the estate does not hold
