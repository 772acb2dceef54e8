"""The live collector against the real ``kubernetes`` client and a replaying API server: list semantics.

Pagination, 410 Gone mid-list, 403/404 on one resource type (a partial run that resolves nothing),
429 Retry-After, a slow server, connection and credential failures, and never a Secret.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from collectors.bounds import Bounds
from collectors.k8s.apiclient import ListClient
from collectors.k8s.kubeconfig import KubeconfigContext
from collectors.k8s.live import KUBE_SYSTEM, LiveCollector
from collectors.k8s.resources import RESOURCES, Resource
from posture.pipeline import collect
from posture.records import AssetKind, AssetRecord, CollectorError, Problem, ScopeKind, ScopeRef
from posture.rules import k8s_pss
from posture.rules.base import RuleRegistry
from posture.taxonomy import RunStatus
from tests.k8s.live_support import write_kubeconfig
from tests.k8s.replay_server import LIST_PATHS, Faults, ReplayServer, corpus_cluster, with_cluster_uid

TOKEN = "replay-token"
GROUP_DISCOVERY = "/apis/aquasecurity.github.io/v1alpha1"
PODS = "/api/v1/pods"


def _target(url: str, tmp_path: Path) -> KubeconfigContext:
    path = write_kubeconfig(tmp_path / "kubeconfig", {"replay": (url, {"token": TOKEN})})
    return KubeconfigContext(str(path), "replay")


def _collector(server: ReplayServer, tmp_path: Path, **options: Any) -> LiveCollector:
    return LiveCollector(_target(server.url, tmp_path), **options)


def _served_counts(lists: dict[str, list[dict[str, Any]]]) -> Counter[str]:
    kind_of = {path: kind for (_, kind), path in LIST_PATHS.items()}
    return Counter({kind_of[path]: len(items) for path, items in lists.items() if items})


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


def test_lists_every_resource_type_page_by_page(tmp_path: Path) -> None:
    lists = corpus_cluster()
    with ReplayServer(lists, token=TOKEN) as server:
        listing = _collector(server, tmp_path, page_size=2).fetch()
    assert listing.problems == []
    assert Counter({kind: len(objs) for kind, objs in listing.objects.items() if objs}) == _served_counts(lists)
    pods = [o for o in listing.objects["Pod"]]
    assert len({p["metadata"]["name"] for p in pods}) == 6
    assert all(p["kind"] == "Pod" and p["apiVersion"] == "v1" for p in pods)  # list items carry neither on the wire
    assert all("managedFields" not in p["metadata"] for p in pods)
    pod_requests = [r for r in server.requests if r.path == PODS]
    assert [r.query.get("limit") for r in pod_requests] == ["2", "2", "2"]
    assert [("continue" in r.query) for r in pod_requests] == [False, True, True]
    # trivy-operator is not installed here: its group is discovered (404), never listed.
    assert {r.path for r in server.requests} == {
        KUBE_SYSTEM,  # the cluster's identity: one GET, first
        "/version",
        GROUP_DISCOVERY,
        *(res.list_path for res in RESOURCES),
    }
    assert server.requests[0].path == KUBE_SYSTEM
    assert {r.method for r in server.requests} == {"GET"}
    assert {r.authorization for r in server.requests} == {f"Bearer {TOKEN}"}


def test_an_expired_continue_token_restarts_the_list(tmp_path: Path) -> None:
    with ReplayServer(corpus_cluster(), token=TOKEN, faults=Faults(expire={PODS: 1})) as server:
        listing = _collector(server, tmp_path, page_size=2).fetch()
    assert listing.problems == []
    names = [p["metadata"]["name"] for p in listing.objects["Pod"]]
    assert len(names) == len(set(names)) == 6  # nothing from the abandoned pass is kept twice
    continues = [("continue" in r.query) for r in server.requests if r.path == PODS]
    assert continues == [False, True, False, True, True]  # page 1, 410, then the whole list again


def test_a_list_that_keeps_expiring_is_a_problem_not_a_loop(tmp_path: Path) -> None:
    with ReplayServer(corpus_cluster(), token=TOKEN, faults=Faults(expire={PODS: 100})) as server:
        listing = _collector(server, tmp_path, page_size=2).fetch()
    assert [p.message for p in listing.problems] == [
        'kubernetes context "replay": cannot list pods: the list kept expiring (410 Gone)'
    ]
    assert "Pod" not in listing.objects
    assert len([r for r in server.requests if r.path == PODS]) == 8  # 4 passes of page 1 + expired page 2


def test_forbidden_and_unserved_types_are_problems_and_the_rest_is_collected(tmp_path: Path) -> None:
    lists = corpus_cluster()
    del lists["/apis/networking.k8s.io/v1/ingresses"]  # an API group the cluster does not serve
    faults = Faults(forbidden={"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"})
    with ReplayServer(lists, token=TOKEN, faults=faults) as server:
        records = list(_collector(server, tmp_path).collect())
    problems = [r.message for r in records if isinstance(r, Problem)]
    assert problems == [
        'kubernetes context "replay": cannot list ingresses: not served by this cluster (404): 404 page not found',
        'kubernetes context "replay": cannot list clusterrolebindings: forbidden (403): clusterrolebindings.'
        'rbac.authorization.k8s.io is forbidden: User "system:serviceaccount:posture:collector" cannot list resource '
        '"clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope',
    ]
    kinds = Counter(r.kind for r in records if isinstance(r, AssetRecord))
    assert kinds[AssetKind.POD] == 6 and kinds[AssetKind.ROLE] == 1 and kinds[AssetKind.BINDING] == 0


def test_a_partial_run_resolves_nothing(tmp_path: Path, engine: Engine) -> None:
    registry = RuleRegistry(k8s_pss.RULES)
    lists = corpus_cluster()
    with ReplayServer(lists, token=TOKEN) as server:
        first = collect(engine, _collector(server, tmp_path), registry)
    assert first.status is RunStatus.COMPLETE and first.stats["findings"] > 0

    with ReplayServer(lists, token=TOKEN, faults=Faults(forbidden={PODS})) as server:
        partial = collect(engine, _collector(server, tmp_path), registry)
    assert partial.status is RunStatus.PARTIAL
    assert partial.stats["resolved"] == 0 and partial.stats["assets_gone"] == 0
    assert "cannot list pods: forbidden (403)" in (partial.error or "")

    lists[PODS] = []  # the same pods really gone: a complete run does resolve their findings
    with ReplayServer(lists, token=TOKEN) as server:
        complete = collect(engine, _collector(server, tmp_path), registry)
    assert complete.status is RunStatus.COMPLETE
    assert complete.stats["resolved"] > 0 and complete.stats["assets_gone"] >= 6


def test_429_waits_for_retry_after(tmp_path: Path) -> None:
    with ReplayServer(corpus_cluster(), token=TOKEN, faults=Faults(throttle={PODS: (1, 1)})) as server:
        listing = _collector(server, tmp_path).fetch()
    assert listing.problems == [] and len(listing.objects["Pod"]) == 6
    times = [r.at for r in server.requests if r.path == PODS]
    assert len(times) == 2 and times[1] - times[0] >= 0.95  # Retry-After: 1 was honoured


def test_endless_throttling_is_a_bounded_problem(tmp_path: Path) -> None:
    waits: list[float] = []
    with ReplayServer(corpus_cluster(), token=TOKEN, faults=Faults(throttle={PODS: (99, 120)})) as server:
        target = _target(server.url, tmp_path)
        client = ListClient(target.configuration(), target.label, sleep=waits.append)
        result = client.list_objects(next(r for r in RESOURCES if r.plural == "pods"))
    assert result == Problem('kubernetes context "replay": cannot list pods: still throttled after 5 retries (429)')
    assert waits == [30.0] * 5  # Retry-After: 120 is capped


def test_a_slow_server_times_out_with_one_clear_line(tmp_path: Path) -> None:
    with ReplayServer(corpus_cluster(), token=TOKEN, faults=Faults(delay=3.0)) as server:
        started = time.monotonic()
        with pytest.raises(CollectorError) as caught:
            _collector(server, tmp_path, timeout=0.3).fetch()
        elapsed = time.monotonic() - started
    assert str(caught.value) == f'kubernetes context "replay": {server.url} did not answer within 0.3 s'
    assert elapsed < 1.5  # one time-out, not one per retry
    assert len(server.requests) == 1


def test_connection_refused_is_a_collector_error(tmp_path: Path) -> None:
    with ReplayServer({}) as server:
        url = server.url
    collector = LiveCollector(_target(url, tmp_path))
    with pytest.raises(
        CollectorError, match=r'^kubernetes context "replay": cannot connect to http://127\.0\.0\.1:\d+'
    ):
        list(collector.collect())


def test_rejected_credentials_fail_the_run(tmp_path: Path) -> None:
    with ReplayServer(corpus_cluster(), token="another-token") as server, pytest.raises(CollectorError) as caught:
        _collector(server, tmp_path).fetch()
    assert (
        str(caught.value) == 'kubernetes context "replay": the API server rejected the credentials (401 Unauthorized)'
    )


def test_secrets_are_never_requested(tmp_path: Path) -> None:
    lists = corpus_cluster()
    secret_value = "c3VwZXItc2VjcmV0LXBhc3N3b3Jk"
    lists["/api/v1/secrets"] = [
        {"metadata": {"name": "db", "namespace": "default"}, "data": {"password": secret_value}}
    ]
    with ReplayServer(lists, token=TOKEN) as server:
        records = list(_collector(server, tmp_path).collect())
    assert records and not [r for r in records if isinstance(r, Problem)]
    # trivy-operator's exposedsecretreports are reports about images, not Secret objects.
    assert not [path for path in server.paths if "secrets" in path.lower().split("/")]
    assert secret_value not in repr(records)
    with pytest.raises(ValueError, match="never reads Secret"):
        Resource("", "v1", "secrets", "Secret")


def test_the_scope_is_the_kube_system_uid_labelled_with_the_context(tmp_path: Path) -> None:
    lists = with_cluster_uid(corpus_cluster(), "6b0a4f4e-1c1f-4a7e-9d59-0c0b8d3d0e11")
    with ReplayServer(lists, token=TOKEN) as server:
        collector = _collector(server, tmp_path)
        scope = collector.scope
        assets = [r for r in collector.collect() if isinstance(r, AssetRecord)]
    identity = "cluster:6b0a4f4e-1c1f-4a7e-9d59-0c0b8d3d0e11"
    assert scope == ScopeRef(ScopeKind.KUBERNETES, identity)
    assert (scope.label, scope.legacy) == ("replay", ("replay",))
    assert [r.path for r in server.requests].count(KUBE_SYSTEM) == 1  # read once, for the scope and the run
    cluster = next(a for a in assets if a.kind is AssetKind.CLUSTER)
    assert (cluster.key, cluster.name, cluster.legacy_keys) == (identity, "replay", ("replay",))
    pod = next(a for a in assets if a.kind is AssetKind.POD)
    assert pod.key.startswith(identity + "/") and not pod.name.startswith(identity)
    assert pod.legacy_keys == ("replay" + pod.key.removeprefix(identity),)  # the key the previous release gave it
    assert all(a.key.startswith(identity) == bool(a.legacy_keys) for a in assets)  # images keep their digests


def test_a_cluster_that_cannot_be_identified_is_not_collected(tmp_path: Path) -> None:
    faults = Faults(forbidden={KUBE_SYSTEM})
    with ReplayServer(corpus_cluster(), token=TOKEN, faults=faults) as server:
        collector = _collector(server, tmp_path)
        scope = collector.scope
        with pytest.raises(CollectorError) as caught:
            list(collector.collect())
    assert str(caught.value) == (
        'kubernetes context "replay": cannot read the cluster\'s identity, the kube-system namespace UID '
        '(get namespaces/kube-system: forbidden (403): namespaces "kube-system" is forbidden: User '
        '"system:serviceaccount:posture:collector" cannot get resource "namespaces" in API group "" at the cluster '
        "scope); grant get on namespaces (see posture k8s rbac)"
    )
    assert server.paths == [KUBE_SYSTEM]  # nothing else is read, nothing is stored under a guessed key
    assert (scope.name, scope.label, scope.legacy) == ("context:replay", "replay", ())
    known = LiveCollector(_target(server.url, tmp_path), known_identity="cluster:abc")
    assert known.scope.name == "cluster:abc"  # the failed run goes to the history of the cluster last seen here


def test_a_cluster_without_kube_system_is_not_collected(tmp_path: Path) -> None:
    lists = corpus_cluster()
    namespaces = LIST_PATHS[("v1", "Namespace")]
    lists[namespaces] = [n for n in lists[namespaces] if n["metadata"]["name"] != "kube-system"]
    with ReplayServer(lists, token=TOKEN) as server, pytest.raises(CollectorError, match="not found"):
        list(_collector(server, tmp_path).collect())


def test_a_list_over_the_size_cap_is_a_problem_and_the_other_types_are_listed(tmp_path: Path, engine: Engine) -> None:
    lists = corpus_cluster()
    with ReplayServer(lists, token=TOKEN) as server:
        sizes = {path: sum(len(item) for item in items) for path, items in server.items.items()}
        largest_other = max(size for path, size in sizes.items() if path != PODS)
        assert sizes[PODS] > largest_other + 4096  # the pods page alone is over a cap between the two
        bounds = Bounds(max_bytes=largest_other + 4096, request_s=10.0, run_s=30.0)
        result = collect(engine, _collector(server, tmp_path, bounds=bounds), RuleRegistry(k8s_pss.RULES))
    assert result.status is RunStatus.PARTIAL
    pods = f'kubernetes context "replay": cannot list pods: GET {PODS}: the answer declares'
    assert re.search(rf"{re.escape(pods)} \d+ bytes, over the [\d.]+ KiB cap", result.error or "")
    assert result.stats["assets"] > 0


def test_the_run_deadline_fails_the_run_with_one_line(tmp_path: Path) -> None:
    with ReplayServer(corpus_cluster(), token=TOKEN, faults=Faults(delay=0.3)) as server:
        collector = _collector(server, tmp_path, workers=1, bounds=Bounds(max_bytes=1 << 20, request_s=5.0, run_s=1.0))
        started = time.monotonic()
        with pytest.raises(
            CollectorError,
            match=r'^kubernetes context "replay": GET /\S+: (the run took longer than '
            r"its 1 s deadline|not sent, the run took longer than its 1 s deadline)$",
        ):
            list(collector.collect())
    assert time.monotonic() - started < 1.5
