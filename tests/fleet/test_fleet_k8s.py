"""Fault injection for Kubernetes identity and coverage in a fleet (issue 13): no false all-clear.

Replayed clusters (tests/k8s/replay_server.py) are read through the real ``kubernetes`` client: two
kubeadm clusters both reached as ``kubernetes-admin@kubernetes`` but with different ``kube-system``
UIDs, collected alternately into one store; a context renamed; a store made by the previous release
(scope and keys by context name). Manifests: one set checked as two clusters, and a set with a part
that cannot be read (a directory root may not read, a symlink loop).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "k8s"))
from collectors.k8s.kubeconfig import KubeconfigContext
from collectors.k8s.live import LiveCollector
from collectors.k8s.normalize import records_from_objects
from posture.cli.main import cli
from posture.db import make_engine, resolve_url
from posture.model import asset_table, finding_table, scope_table
from posture.pipeline import RunResult, collect
from posture.records import Record, ScopeKind, ScopeRef
from posture.rules import default_registry
from posture.taxonomy import FindingStatus, RunStatus
from tests.k8s.live_support import write_kubeconfig
from tests.k8s.replay_server import DATA, LIST_PATHS, ReplayServer, add, corpus_cluster, with_cluster_uid

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "fleet-token"
KUBEADM = "kubernetes-admin@kubernetes"
UID_A, UID_B = "0c6c2ad4-5d5b-4c1e-8f3e-aaaaaaaaaaaa", "7f1d9e2b-3a4c-4b5d-9e6f-bbbbbbbbbbbb"
PODS = LIST_PATHS[("v1", "Pod")]
DEBUG_POD = "debug-shell"
PRIVILEGED_POD = """apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hostNetwork: true
  containers:
  - name: shell
    image: busybox:1.36
    securityContext: {{privileged: true}}
"""


def _cluster(uid: str) -> dict[str, list[dict[str, Any]]]:
    """The corpus cluster with its own kube-system UID and a privileged debug pod (findings of its own)."""
    lists = with_cluster_uid(corpus_cluster(), uid)
    add(lists, yaml.safe_load(PRIVILEGED_POD.format(name=DEBUG_POD, namespace="default")))
    return lists


def _without_debug_pod(lists: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    return {**lists, PODS: [p for p in lists[PODS] if p["metadata"]["name"] != DEBUG_POD]}


def _collect(engine: Engine, server: ReplayServer, kubeconfig: Path, context: str = KUBEADM) -> RunResult:
    path = write_kubeconfig(kubeconfig, {context: (server.url, {"token": TOKEN})})
    return collect(engine, LiveCollector(KubeconfigContext(str(path), context)), default_registry())


def _findings(engine: Engine, status: FindingStatus, key_prefix: str = "") -> set[tuple[str, str, str]]:
    F, A = finding_table.c, asset_table.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(F.rule_id, A.key, F.discriminator)
            .join(asset_table, A.id == F.asset_id)
            .where(F.status == status.value, A.key.startswith(key_prefix))
        ).all()
    return {(rule, key, discriminator) for rule, key, discriminator in rows}


def _scopes(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(scope_table.c.kind, scope_table.c.name).order_by(scope_table.c.name)).all()
    return [(kind, name) for kind, name in rows]


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


# --- live clusters ----------------------------------------------------------------------------------
def test_two_clusters_with_one_context_name_never_resolve_each_other(engine: Engine, tmp_path: Path) -> None:
    """Two kubeadm clusters, one context name, collected alternately: 0 false resolutions; the pod really
    deleted from one of them is still resolved, on that cluster only."""
    lists_a, lists_b = _cluster(UID_A), _cluster(UID_B)
    results: list[RunResult] = []

    def both(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[RunResult, RunResult]:
        with ReplayServer(a, token=TOKEN) as server_a, ReplayServer(b, token=TOKEN) as server_b:
            first = _collect(engine, server_a, tmp_path / "kubeconfig-a")
            second = _collect(engine, server_b, tmp_path / "kubeconfig-b")
        results.extend((first, second))
        return first, second

    a1, b1 = both(lists_a, lists_b)
    assert a1.status is b1.status is RunStatus.COMPLETE
    assert b1.stats["new"] == a1.stats["new"] > 0 and b1.stats["resolved"] == 0  # B is not A seen again
    a2, b2 = both(lists_a, lists_b)
    a3, b3 = both(lists_a, lists_b)
    assert [(r.stats["new"], r.stats["resolved"]) for r in (a2, b2, a3, b3)] == [(0, 0)] * 4
    assert _scopes(engine) == [("kubernetes", f"cluster:{UID_A}"), ("kubernetes", f"cluster:{UID_B}")]
    open_a = _findings(engine, FindingStatus.OPEN, f"cluster:{UID_A}/")
    open_b = _findings(engine, FindingStatus.OPEN, f"cluster:{UID_B}/")
    assert len(open_a) == len(open_b) > 0
    assert {(r, k.removeprefix(f"cluster:{UID_A}/"), d) for r, k, d in open_a} == {
        (r, k.removeprefix(f"cluster:{UID_B}/"), d) for r, k, d in open_b
    }
    on_debug_b = {f for f in open_b if f[1] == f"cluster:{UID_B}/default/Pod/{DEBUG_POD}"}
    assert on_debug_b and not _findings(engine, FindingStatus.RESOLVED)

    # The debug pod is really deleted from B: B's run resolves exactly its findings; A's stay open.
    a4, b4 = both(lists_a, _without_debug_pod(lists_b))
    assert (a4.stats["resolved"], b4.stats["resolved"]) == (0, len(on_debug_b))
    assert _findings(engine, FindingStatus.RESOLVED) == on_debug_b
    assert _findings(engine, FindingStatus.OPEN, f"cluster:{UID_A}/") == open_a
    a5, _ = both(lists_a, _without_debug_pod(lists_b))
    assert a5.stats["resolved"] == 0 and _findings(engine, FindingStatus.OPEN, f"cluster:{UID_A}/") == open_a
    assert all(r.status is RunStatus.COMPLETE for r in results)


def test_a_renamed_context_keeps_its_history(engine: Engine, tmp_path: Path) -> None:
    lists = _cluster(UID_A)
    with ReplayServer(lists, token=TOKEN) as server:
        first = _collect(engine, server, tmp_path / "kubeconfig", "prod-old")
        renamed = _collect(engine, server, tmp_path / "kubeconfig", "prod-eu")
    assert first.stats["new"] > 0
    assert (renamed.status, renamed.stats["new"], renamed.stats["resolved"]) == (RunStatus.COMPLETE, 0, 0)
    assert _scopes(engine) == [("kubernetes", f"cluster:{UID_A}")]
    with engine.connect() as conn:
        name = conn.execute(select(asset_table.c.name).where(asset_table.c.key == f"cluster:{UID_A}")).scalar_one()
    assert name == "prod-eu"  # the label follows the context; the identity and the history stay


class _PreviousRelease:
    """What the previous release stored for a cluster: scope and keys by the kubeconfig context name."""

    def __init__(self, lists: Mapping[str, Sequence[Mapping[str, Any]]], context: str) -> None:
        kind_of = {path: (api_version, kind) for (api_version, kind), path in LIST_PATHS.items()}
        self._objects = [
            {"apiVersion": kind_of[path][0], "kind": kind_of[path][1], **obj}
            for path, objs in lists.items()
            for obj in objs
        ]
        self._context = context

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.KUBERNETES, self._context)

    def collect(self) -> Iterator[Record]:
        yield from records_from_objects(self._objects, self._context)


def test_an_upgraded_store_keeps_every_finding(engine: Engine, tmp_path: Path) -> None:
    """A store made by the previous release (keys under the context name): the first identified run
    adopts it, resolves nothing, files nothing new; the second cluster of the same name starts its own."""
    lists_a, lists_b = _cluster(UID_A), _cluster(UID_B)
    old = collect(engine, _PreviousRelease(lists_a, KUBEADM), default_registry())
    assert old.status is RunStatus.COMPLETE and old.stats["new"] > 0
    before = _findings(engine, FindingStatus.OPEN)
    with ReplayServer(lists_a, token=TOKEN) as server_a, ReplayServer(lists_b, token=TOKEN) as server_b:
        adopted = _collect(engine, server_a, tmp_path / "kubeconfig-a")
        other = _collect(engine, server_b, tmp_path / "kubeconfig-b")
        again = _collect(engine, server_a, tmp_path / "kubeconfig-a")
    assert (adopted.stats["new"], adopted.stats["resolved"]) == (0, 0)
    assert (other.stats["new"], other.stats["resolved"]) == (old.stats["new"], 0)  # B never claims A's rows
    assert (again.stats["new"], again.stats["resolved"]) == (0, 0)
    assert before <= _findings(engine, FindingStatus.OPEN)


def test_report_cluster_names_the_live_cluster_by_its_label(tmp_path: Path) -> None:
    """``--report-cluster NAME`` files trivy-operator reports under the identity of the one live
    cluster collected as NAME, and refuses a name two clusters share."""
    db = f"sqlite:///{tmp_path / 'posture.db'}"
    env = {"POSTURE_CONFIG": str(tmp_path / "none.toml"), "POSTURE_NOTIFY": "", "HOME": str(tmp_path)}
    report = tmp_path / "audit.yaml"
    audit = yaml.safe_load((DATA / "operator-configauditreport-pod.yaml").read_text())
    audit["metadata"]["labels"].update(
        {"trivy-operator.resource.name": "kube-proxy-g6lc7", "trivy-operator.resource.namespace": "kube-system"}
    )
    report.write_text(yaml.safe_dump(audit))
    runner = CliRunner()

    def posture(*args: str) -> Any:
        return runner.invoke(cli, [args[0], "--db", db, *args[1:]], env=env)

    def audit_findings() -> set[str]:
        store = make_engine(resolve_url(db))
        F, A = finding_table.c, asset_table.c
        with store.connect() as conn:
            found = conn.execute(
                select(A.key).join(asset_table, A.id == F.asset_id).where(F.discriminator.startswith("KSV"))
            ).scalars()
            keys = set(found)
        store.dispose()
        return keys

    with ReplayServer(_cluster(UID_A), token=TOKEN) as a, ReplayServer(_cluster(UID_B), token=TOKEN) as b:
        config = write_kubeconfig(
            tmp_path / "kubeconfig", {"prod": (a.url, {"token": TOKEN}), KUBEADM: (b.url, {"token": TOKEN})}
        )
        assert posture("collect", "--kubeconfig", str(config), "--all-contexts").exit_code == 0
        joined = posture("collect", "--report", str(report), "--report-cluster", "prod")
        assert joined.exit_code == 0, joined.output
        assert audit_findings() == {f"cluster:{UID_A}/kube-system/Pod/kube-proxy-g6lc7"}  # on the live pod
        # A second cluster collected under the name "prod" makes the name ambiguous.
        other = write_kubeconfig(tmp_path / "kubeconfig-other", {"prod": (b.url, {"token": TOKEN})})
        assert posture("collect", "--kubeconfig", str(other)).exit_code == 0
    refused = posture("collect", "--report", str(report), "--report-cluster", "prod")
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        f"Error: --report-cluster prod: 2 collected clusters are named prod; give the identity of the one meant "
        f"instead: --report-cluster cluster:{UID_A} or cluster:{UID_B}"
    ]
    by_identity = posture("collect", "--report", str(report), "--report-cluster", f"cluster:{UID_B}")
    assert by_identity.exit_code == 0, by_identity.output
    assert audit_findings() == {f"cluster:{UID_A}/kube-system/Pod/kube-proxy-g6lc7",
                                f"cluster:{UID_B}/kube-system/Pod/kube-proxy-g6lc7"}


# --- manifests --------------------------------------------------------------------------------------
def _manifest_set(root: Path) -> Path:
    apps = root / "apps"
    (apps / "web").mkdir(parents=True)
    (apps / "web" / "pod.yaml").write_text(PRIVILEGED_POD.format(name="web", namespace="shop"))
    (apps / "jobs").mkdir()
    (apps / "jobs" / "pod.yaml").write_text(PRIVILEGED_POD.format(name="batch", namespace="jobs"))
    return apps


def _posture_cli(tmp_path: Path, *args: str, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """``posture ARGS`` in a subprocess on the store in ``tmp_path`` (``prefix`` runs it under another program)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "POSTURE_", "KUBECONFIG"))}
    environ |= {
        "POSTURE_DB": f"sqlite:///{tmp_path / 'posture.db'}",
        "POSTURE_CONFIG": str(tmp_path / "none.toml"),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [*prefix, sys.executable, "-m", "posture.cli.main", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_one_manifest_set_checked_as_two_clusters_keeps_both(tmp_path: Path) -> None:
    apps = _manifest_set(tmp_path)
    runs = [
        _posture_cli(tmp_path, "collect", "--manifests", str(apps), "--manifests-cluster", cluster)
        for cluster in ("prod-eu", "prod-us", "prod-eu", "prod-us")
    ]
    assert [r.returncode for r in runs] == [0, 0, 0, 0], runs[-1].stderr
    lines = [r.stdout.splitlines()[0] for r in runs]
    assert lines[0].startswith(f"manifests:{apps} @ prod-eu: complete")
    assert lines[1].startswith(f"manifests:{apps} @ prod-us: complete")
    new = [int(line.split("(")[1].split(" new")[0]) for line in lines]
    assert new[0] == new[1] > 0 and new[2:] == [0, 0]
    assert all(line.endswith(", 0 resolved)") for line in lines)
    score = _posture_cli(tmp_path, "score", "--by", "cluster")
    assert score.returncode == 0 and "prod-eu" in score.stdout and "prod-us" in score.stdout


def test_a_symlink_loop_in_a_manifest_set_makes_the_run_partial(tmp_path: Path) -> None:
    apps = _manifest_set(tmp_path)
    first = _posture_cli(tmp_path, "collect", "--manifests", str(apps))
    assert first.returncode == 0 and ", 0 resolved)" in first.stdout
    shutil.rmtree(apps / "jobs")
    (apps / "jobs").symlink_to("jobs")  # ELOOP: the directory's content cannot be read
    second = _posture_cli(tmp_path, "collect", "--manifests", str(apps))
    assert second.returncode == 3, second.stderr
    assert ": partial, " in second.stdout and "0 new, 0 resolved" in second.stdout
    assert second.stderr.splitlines() == [
        f"posture: manifests:{apps}: manifests: {apps / 'jobs'}: "
        "cannot read (OSError: Too many levels of symbolic links)"
    ]


def test_an_unreadable_directory_in_a_manifest_set_makes_the_run_partial(tmp_path: Path) -> None:
    """The issue's case: a subdirectory the collector may not read. Tests run as root, whom permission
    bits do not stop, so the collection runs as root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH:
    the kernel then applies the directory's mode 000 and answers EACCES, as to any other user."""
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop the capabilities that let root read anything"
    unprivileged = [setpriv, "--bounding-set=-dac_override,-dac_read_search"]
    apps = _manifest_set(tmp_path)
    first = _posture_cli(tmp_path, "collect", "--manifests", str(apps), prefix=unprivileged)
    assert first.returncode == 0, first.stderr
    (apps / "jobs").chmod(0)
    try:
        second = _posture_cli(tmp_path, "collect", "--manifests", str(apps), prefix=unprivileged)
    finally:
        (apps / "jobs").chmod(0o755)
    assert second.returncode == 3, second.stderr
    assert ": partial, " in second.stdout and "0 new, 0 resolved" in second.stdout
    assert second.stderr.splitlines() == [
        f"posture: manifests:{apps}: manifests: {apps / 'jobs'}: cannot read (PermissionError: Permission denied)"
    ]
    third = _posture_cli(tmp_path, "collect", "--manifests", str(apps), prefix=unprivileged)
    assert third.returncode == 0 and "(0 new, 0 resolved)" in third.stdout  # readable again: nothing was lost


def test_a_trivy_k8s_report_joins_the_live_cluster_its_cluster_name_names(tmp_path: Path) -> None:
    """``trivy k8s`` names its cluster by kubeconfig context: its objects land on that live cluster's
    identity; a name two live clusters share is refused before anything is stored, and
    ``--report-cluster cluster:<uid>`` says which one is meant."""
    db = f"sqlite:///{tmp_path / 'posture.db'}"
    env = {"POSTURE_CONFIG": str(tmp_path / "none.toml"), "POSTURE_NOTIFY": "", "HOME": str(tmp_path)}
    report = ROOT / "tests/data/reports/crafted/trivy-k8s-cluster.json"  # ClusterName kind-posture
    runner = CliRunner()

    def posture(*args: str) -> Any:
        return runner.invoke(cli, [args[0], "--db", db, *args[1:]], env=env)

    def web_keys() -> set[str]:
        store = make_engine(resolve_url(db))
        with store.connect() as conn:
            keys = set(conn.execute(select(asset_table.c.key).where(asset_table.c.key.endswith("/Deployment/web")))
                       .scalars())
        store.dispose()
        return keys

    with ReplayServer(_cluster(UID_A), token=TOKEN) as a, ReplayServer(_cluster(UID_B), token=TOKEN) as b:
        config = write_kubeconfig(tmp_path / "kubeconfig", {"kind-posture": (a.url, {"token": TOKEN})})
        assert posture("collect", "--kubeconfig", str(config)).exit_code == 0
        joined = posture("collect", "--report", str(report))
        assert joined.exit_code == 0, joined.output
        assert web_keys() == {f"cluster:{UID_A}/default/Deployment/web"}
        other = write_kubeconfig(tmp_path / "kubeconfig-b", {"kind-posture": (b.url, {"token": TOKEN})})
        assert posture("collect", "--kubeconfig", str(other)).exit_code == 0
    runs_before = _scopes(make_engine(resolve_url(db)))
    refused = posture("collect", "--report", str(report))
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines() == [
        f"Error: {report}: its ClusterName kind-posture: 2 collected clusters are named kind-posture; "
        f"give the identity of the one meant instead: --report-cluster cluster:{UID_A} or cluster:{UID_B}"
    ]
    assert _scopes(make_engine(resolve_url(db))) == runs_before
    chosen = posture("collect", "--report", str(report), "--report-cluster", f"cluster:{UID_B}")
    assert chosen.exit_code == 0, chosen.output
    assert f"cluster:{UID_B}/default/Deployment/web" in web_keys()
