"""Which team a finding counts for in the summary: scoring's team lookup (the configured team key in
labels, then in annotations, then on the namespace). ``test_summary_cli`` shows it end to end."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from posture.scoring.estate import AssetNode, Estate

NAMESPACE = "eu/Namespace/shop"


def _team(attrs: Mapping[str, Any], namespace: Mapping[str, Any] | None = None, key: str = "owner") -> str | None:
    nodes = [
        AssetNode(
            1, "k8s-workload", "eu/shop/Deployment/api", "shop/Deployment/api", "k8s-namespace", NAMESPACE, attrs
        ),
        AssetNode(2, "k8s-namespace", NAMESPACE, "shop", "k8s-cluster", "eu", namespace or {}),
    ]
    teams = Estate(nodes, [], team_label=key).groups(1).get("team")
    return next(iter(teams)) if teams else None


@pytest.mark.parametrize(
    ("attrs", "namespace", "team"),
    [
        ({"annotations": {"owner": "payments"}}, None, "payments"),
        ({"pod": {"annotations": {"owner": "payments"}}}, None, "payments"),
        ({"labels": {"owner": "web"}, "annotations": {"owner": "payments"}}, None, "web"),
        ({"pod": {"labels": {"owner": "web"}}, "annotations": {"owner": "payments"}}, None, "web"),
        ({"annotations": {"team": "payments"}}, None, None),
        ({}, {"annotations": {"owner": "data"}}, "data"),
        ({}, {"labels": {"owner": "data"}, "annotations": {"owner": "other"}}, "data"),
        ({"annotations": {"owner": "payments"}}, {"labels": {"owner": "data"}}, "payments"),
        ({"annotations": "owner=payments", "labels": ["owner"]}, None, None),
    ],
    ids=[
        "workload-annotation",
        "pod-template-annotation",
        "label-beats-annotation",
        "any-label-beats-annotation",
        "only-the-configured-key",
        "namespace-annotation",
        "namespace-label-beats-its-annotation",
        "own-annotation-beats-namespace",
        "malformed-attributes",
    ],
)
def test_team_from_labels_then_annotations_then_namespace(
    attrs: Mapping[str, Any], namespace: Mapping[str, Any] | None, team: str | None
) -> None:
    assert _team(attrs, namespace) == team


def test_default_team_key_reads_annotations_too() -> None:
    assert _team({"annotations": {"team": "payments"}}, key="team") == "payments"
    assert _team({"labels": {"team": "web"}, "annotations": {"team": "payments"}}, key="team") == "web"
    # The collector's own "team" attribute is its answer from these labels, not a second source.
    assert _team({"team": "web", "annotations": {"team": "payments"}}, key="team") == "payments"
