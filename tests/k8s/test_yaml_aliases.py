"""YAML aliases in manifests (and reports, which share the rule): expanded within a budget, bombs refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from collectors import yamlaliases
from collectors.yamlaliases import MAX_ALIAS_NODES, AliasBudgetExceeded
from tests.k8s.test_manifests import DEPLOYMENT, assets, collect, problems


def billion_laughs(levels: int = 9) -> str:
    """The classic bomb: each level is ten aliases of the one before, 10**levels nodes from ~600 bytes."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\nkind: ConfigMap\n"


def aliases_adding(nodes: int) -> str:
    """A document whose aliases add exactly ``nodes`` nodes: one anchored scalar aliased that many times."""
    return "x: &x lol\nitems: [" + ", ".join(["*x"] * nodes) + "]\n"


def test_a_billion_laughs_manifest_is_one_problem_naming_the_file_and_the_rest_is_collected(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(billion_laughs())
    assert len(bomb.read_bytes()) < 700
    (tmp_path / "app.yaml").write_text(DEPLOYMENT)
    started = time.monotonic()
    records = collect(tmp_path)
    assert time.monotonic() - started < 10
    (message,) = problems(records)
    assert message.startswith(f"manifests: {bomb}:1: ") and "YAML aliases expand to more than" in message
    assert "\n" not in message
    assert "shop/Deployment/web" in assets(records)


def test_anchors_and_merge_keys_within_the_budget_are_expanded(tmp_path: Path) -> None:
    file = tmp_path / "anchored.yaml"
    file.write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: ServiceAccount,\n"
        "   metadata: {name: web, namespace: shop, labels: &labels {app: web, team: shop}}}\n"
        "- apiVersion: v1\n  kind: ServiceAccount\n  metadata:\n    name: api\n    namespace: shop\n"
        "    labels:\n      <<: *labels\n      tier: front\n"
    )
    records = collect(file)
    assert problems(records) == []
    labels = assets(records)["shop/ServiceAccount/api"].attributes["labels"]
    assert labels == {"app": "web", "team": "shop", "tier": "front"}


def test_the_budget_counts_expanded_nodes_on_each_side_of_the_limit() -> None:
    (document,) = yamlaliases.load_all(aliases_adding(MAX_ALIAS_NODES))
    assert len(document["items"]) == MAX_ALIAS_NODES
    with pytest.raises(AliasBudgetExceeded, match="more than 100000 nodes"):
        yamlaliases.load_all(aliases_adding(MAX_ALIAS_NODES + 1))


def test_shared_subtrees_are_counted_expanded_not_once() -> None:
    # 10**5 nodes through five levels of sharing: under the budget by its distinct nodes, over it expanded.
    with pytest.raises(AliasBudgetExceeded):
        yamlaliases.load_all(billion_laughs(levels=6))
    assert yamlaliases.load_all(billion_laughs(levels=4))[0]["a3"][0][0][0] == ["lol"] * 10


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(AliasBudgetExceeded, match="contains it"):
        yamlaliases.load_all("a: &a [1, *a]\n")
    assert isinstance(AliasBudgetExceeded("x"), yaml.YAMLError)  # every YAML error path catches it
