"""trivy-operator reports read from the Kubernetes API by the live collector (replaying API server).

The operator's custom resources (``aquasecurity.github.io/v1alpha1``) are listed page by page beside
the cluster's objects and parsed by the report parser into the same run: a 404 on the group (the
operator is not installed) is nothing to read, a 403 makes the run partial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from collectors.k8s.kubeconfig import KubeconfigContext
from collectors.k8s.live import LiveCollector
from collectors.k8s.resources import OPERATOR_RESOURCES
from collectors.scanners.vulnids import StoredVuln
from posture.pipeline import collect
from posture.records import AssetKind, AssetRecord, AssetRef, ObservationRecord, Problem, Record
from posture.rules import default_registry
from posture.rules.scanner import SCAN_MISCONFIG
from posture.taxonomy import RunStatus
from tests.k8s.live_support import write_kubeconfig
from tests.k8s.pss_support import SCANNER
from tests.k8s.replay_server import CLUSTER_ID, DATA, Faults, ReplayServer, add, corpus_cluster

TOKEN = "replay-token"
GROUP = "/apis/aquasecurity.github.io/v1alpha1"
KUBE_PROXY = AssetRef(AssetKind.POD, f"{CLUSTER_ID}/kube-system/Pod/kube-proxy-g6lc7")


def _with_reports() -> dict[str, list[dict[str, Any]]]:
    """The corpus cluster with the operator's reports: coredns' vulnerabilities, kube-proxy's config audit."""
    lists = corpus_cluster()
    (vulns,) = yaml.safe_load_all((DATA / "operator-vulnerabilityreport-coredns.yaml").read_text())
    (audit,) = yaml.safe_load_all((DATA / "operator-configauditreport-pod.yaml").read_text())
    audit["metadata"]["labels"].update(
        {"trivy-operator.resource.name": "kube-proxy-g6lc7", "trivy-operator.resource.namespace": "kube-system"}
    )
    audit["metadata"]["namespace"] = "kube-system"
    for report in (vulns, audit):
        add(lists, report)
    return lists


def _collect(server: ReplayServer, tmp_path: Path, **options: Any) -> list[Record]:
    path = write_kubeconfig(tmp_path / "kubeconfig", {"replay": (server.url, {"token": TOKEN})})
    return list(LiveCollector(KubeconfigContext(str(path), "replay"), secrets=SCANNER, **options).collect())


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


def test_operator_reports_are_listed_page_by_page_and_parsed(tmp_path: Path) -> None:
    with ReplayServer(_with_reports(), token=TOKEN) as server:
        records = _collect(server, tmp_path, page_size=1)
    assert [r for r in records if isinstance(r, Problem)] == []
    observations = [r for r in records if isinstance(r, ObservationRecord)]
    audit = {o.discriminator for o in observations if o.asset == KUBE_PROXY and o.rule_id == SCAN_MISCONFIG}
    assert {"KSV001", "KSV003"} <= audit
    vulns = [o for o in observations if o.asset.kind is AssetKind.IMAGE]
    assert any(o.discriminator.startswith("CVE-2021-3121|") for o in vulns)
    # The collector's own kube-proxy record stands; the report only adds findings to it.
    kube_proxy = [r for r in records if isinstance(r, AssetRecord) and r.ref == KUBE_PROXY]
    assert len(kube_proxy) == 1 and "source" not in kube_proxy[0].attributes
    audits = [r for r in server.requests if r.path == f"{GROUP}/configauditreports"]
    assert [r.query.get("limit") for r in audits] == ["1"]
    # Only what discovery says is served is listed: these two kinds, not the other three.
    listed = {r.path for r in server.requests if r.path.startswith(GROUP + "/")}
    assert listed == {f"{GROUP}/vulnerabilityreports", f"{GROUP}/configauditreports"}


def test_an_operator_that_is_not_installed_is_nothing_to_read(tmp_path: Path) -> None:
    with ReplayServer(corpus_cluster(), token=TOKEN) as server:
        records = _collect(server, tmp_path)
    assert [r for r in records if isinstance(r, Problem | ObservationRecord)] == []
    # Discovery answered 404 for the group: not one of its lists was requested.
    assert GROUP in {r.path for r in server.requests}
    assert not {r.path for r in server.requests} & {res.list_path for res in OPERATOR_RESOURCES}


def test_forbidden_operator_reports_make_the_run_partial(tmp_path: Path, engine: Engine) -> None:
    faults = Faults(forbidden={f"{GROUP}/vulnerabilityreports"})
    with ReplayServer(_with_reports(), token=TOKEN, faults=faults) as server:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"replay": (server.url, {"token": TOKEN})})
        result = collect(
            engine, LiveCollector(KubeconfigContext(str(path), "replay"), secrets=SCANNER), default_registry()
        )
    assert result.status is RunStatus.PARTIAL
    assert result.problems == [
        'kubernetes context "replay": cannot list vulnerabilityreports: forbidden (403): vulnerabilityreports.'
        'aquasecurity.github.io is forbidden: User "system:serviceaccount:posture:collector" cannot list resource '
        '"vulnerabilityreports" in API group "aquasecurity.github.io" at the cluster scope'
    ]


def test_a_collector_role_without_the_operator_group_stays_complete_where_it_is_not_installed(
    tmp_path: Path, engine: Engine
) -> None:
    """A ClusterRole from before operator reports were read: its lists would be 403 (authorization
    comes before existence), but discovery says the group is not there, so nothing is listed."""
    forbidden = {res.list_path for res in OPERATOR_RESOURCES}
    with ReplayServer(corpus_cluster(), token=TOKEN, faults=Faults(forbidden=forbidden)) as server:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"replay": (server.url, {"token": TOKEN})})
        result = collect(
            engine, LiveCollector(KubeconfigContext(str(path), "replay"), secrets=SCANNER), default_registry()
        )
    assert result.status is RunStatus.COMPLETE, result.problems
    assert not forbidden & {r.path for r in server.requests}


def test_operator_findings_are_stored_in_the_clusters_run(tmp_path: Path, engine: Engine) -> None:
    results = []
    for lists in (corpus_cluster(), _with_reports()):
        with ReplayServer(lists, token=TOKEN) as server:
            path = write_kubeconfig(tmp_path / "kubeconfig", {"replay": (server.url, {"token": TOKEN})})
            target = KubeconfigContext(str(path), "replay")
            results.append(collect(engine, LiveCollector(target, secrets=SCANNER), default_registry()))
    without, with_reports = results
    assert with_reports.status is RunStatus.COMPLETE, with_reports.error
    # Only the reports' findings are new the second time: the cluster's own were already open.
    assert with_reports.stats["new"] == with_reports.stats["findings"] - without.stats["findings"] > 0


def test_an_operator_cve_joins_the_finding_another_scanner_filed_under_its_ghsa(tmp_path: Path) -> None:
    """The live path hands the store's lookup to the report parser, as ``posture collect --report`` does."""
    asked: list[AssetRef] = []

    def stored(refs: Any) -> dict[AssetRef, list[StoredVuln]]:
        asked.extend(refs)
        ghsa = StoredVuln("GHSA-c3h9-896r-86jm|github.com/gogo/protobuf|v1.3.1", "GHSA-c3h9-896r-86jm",
                          frozenset({"GHSA-c3h9-896r-86jm", "CVE-2021-3121"}))
        return {ref: [ghsa] for ref in refs if ref.kind is AssetKind.IMAGE}

    with ReplayServer(_with_reports(), token=TOKEN) as server:
        records = _collect(server, tmp_path, stored_vulns=stored)
    vulns = {o.discriminator for o in records if isinstance(o, ObservationRecord) and o.asset.kind is AssetKind.IMAGE}
    assert asked and "GHSA-c3h9-896r-86jm|github.com/gogo/protobuf|v1.3.1" in vulns
    assert not any(d.startswith("CVE-2021-3121|") for d in vulns)
