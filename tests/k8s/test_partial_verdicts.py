"""A partial run opens no finding whose verdict depends on a resource type it could not list.

Token automount (CIS 5.1.6) falls back to the pod's ServiceAccount, admin-equivalence (5.1.1) reads the
granted role, exposure reads Services and Ingresses: with those lists forbidden (403), the verdict is
unknown, not "mounted", "not admin" or "not exposed".
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from collectors.k8s.kubeconfig import KubeconfigContext
from collectors.k8s.live import LiveCollector
from posture.records import AssetKind, AssetRecord, Problem, RelationRecord
from posture.rules import k8s_cis, k8s_hygiene
from posture.rules.base import RuleRegistry, Snapshot, evaluate_all
from tests.k8s.live_support import write_kubeconfig
from tests.k8s.replay_server import Faults, ReplayServer, add, corpus_cluster

TOKEN = "replay-token"
SERVICE_ACCOUNTS = "/api/v1/serviceaccounts"
CLUSTER_ROLES = "/apis/rbac.authorization.k8s.io/v1/clusterroles"
SERVICES = "/api/v1/services"


def _cluster() -> dict[str, list[dict[str, Any]]]:
    """The corpus cluster plus a home-made admin-equivalent ClusterRole bound to a person."""
    lists = corpus_cluster()
    add(
        lists,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "platform-all"},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
        },
    )
    add(
        lists,
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "alice-platform"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "platform-all"},
            "subjects": [{"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"}],
        },
    )
    return lists


def _findings(tmp_path: Path, forbidden: set[str]) -> tuple[dict[str, set[str]], list[AssetRecord], list[str]]:
    """Rule id -> asset names with a finding, the assets, and the run's problems."""
    with ReplayServer(_cluster(), token=TOKEN, faults=Faults(forbidden=forbidden)) as server:
        path = write_kubeconfig(tmp_path / "kubeconfig", {"replay": (server.url, {"token": TOKEN})})
        records = list(LiveCollector(KubeconfigContext(str(path), "replay")).collect())
    assets = [r for r in records if isinstance(r, AssetRecord)]
    snapshot = Snapshot(assets, [r for r in records if isinstance(r, RelationRecord)])
    found: dict[str, set[str]] = defaultdict(set)
    for verdict in evaluate_all(RuleRegistry([*k8s_cis.RULES, *k8s_hygiene.RULES]), snapshot, assets):
        found[verdict.rule.id].add(verdict.asset_name)
    return found, assets, [r.message for r in records if isinstance(r, Problem)]


@pytest.fixture
def complete(tmp_path: Path) -> dict[str, set[str]]:
    found, assets, problems = _findings(tmp_path, set())
    assert problems == []
    assert not [a for a in assets if "unlisted_kinds" in a.attributes]
    return found


def test_token_automount_is_unknown_without_service_accounts(tmp_path: Path, complete: dict[str, set[str]]) -> None:
    assert complete["K8S-SA-TOKEN-AUTOMOUNT"]  # the corpus pods leave automount to their accounts
    found, assets, problems = _findings(tmp_path, {SERVICE_ACCOUNTS})
    assert len(problems) == 1 and "cannot list serviceaccounts: forbidden (403)" in problems[0]
    assert found["K8S-SA-TOKEN-AUTOMOUNT"] == set()
    evaluated = [a for a in assets if "pod" in a.attributes]
    assert evaluated and all(a.attributes["unlisted_kinds"] == ["ServiceAccount"] for a in evaluated)
    # Verdicts that read only the pod itself still stand.
    assert found["K8S-SA-DEFAULT-USED"] == complete["K8S-SA-DEFAULT-USED"] != set()


def test_admin_equivalence_is_unknown_without_cluster_roles(tmp_path: Path, complete: dict[str, set[str]]) -> None:
    assert complete["K8S-RBAC-CLUSTER-ADMIN"] == {"ClusterRoleBinding/superadmin", "ClusterRoleBinding/alice-platform"}
    found, assets, _ = _findings(tmp_path, {CLUSTER_ROLES})
    # Bound to cluster-admin by name: known without the role object; the home-made role: unknown.
    assert found["K8S-RBAC-CLUSTER-ADMIN"] == {"ClusterRoleBinding/superadmin"}
    bindings = [a for a in assets if a.kind is AssetKind.BINDING]
    assert bindings and all(a.attributes["unlisted_kinds"] == ["ClusterRole"] for a in bindings)


def test_exposure_is_unknown_without_services(tmp_path: Path, complete: dict[str, set[str]]) -> None:
    exposed = complete["K8S-EXPOSED"]
    assert exposed and all("cloudability" in name for name in exposed)
    found, assets, _ = _findings(tmp_path, {SERVICES})
    assert found["K8S-EXPOSED"] == set()
    evaluated = [a for a in assets if "pod" in a.attributes]
    assert evaluated and all(a.attributes["exposed"] is None for a in evaluated)
    assert all(a.attributes["unlisted_kinds"] == ["Service"] for a in evaluated)
