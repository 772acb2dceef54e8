"""Agreement with the peers' own verdicts on the labelled manifests (tests/data/k8s-manifests/expected.json).

Each labelled file is collected alone (as ``posture collect --manifests FILE`` would) and evaluated
with every Kubernetes rule; labels map to rules in :mod:`corpus_labels`. The cases where Posture
disagrees on purpose are in :data:`DELIBERATE`, each with its reason, and the test fails if one of
them stops disagreeing (so the list cannot go stale).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.k8s.manifests import ManifestCollector
from posture.records import AssetRecord, Problem, RelationRecord
from posture.rules.base import Snapshot, Verdict, evaluate_all
from tests.k8s.corpus_labels import LABELS, NOT_CHECKED, REGISTRY, check_agreement
from tests.k8s.pss_support import SCANNER

DATA = Path(__file__).parents[1] / "data" / "k8s-manifests"
EXPECTED = json.loads((DATA / "expected.json").read_text())

#: (file, object or "*", label, "flag" | "not") where Posture disagrees with the peer on purpose.
DELIBERATE: dict[tuple[str, str, str, str], str] = {
    **{
        (
            "kyverno-pss/baseline__disallow-host-ports-range__resource.yaml",
            obj,
            "host_port_outside_range",
            "not",
        ): "PSS Host Ports allows only 0/undefined; kyverno's range policy (5000-6000) is a site-specific known list"
        for obj in [
            *(
                f"{kind}/good{kind.lower()}{n:02d}"
                for kind in ("Pod", "Deployment", "CronJob")
                for n in (2, 3, 5, 6, 8, 9, 10)
            )
        ]
    },
    (
        "polaris/insecureCapabilities/success.all.yaml",
        "*",
        "capabilities_not_dropped",
        "not",
    ): "PSS restricted (and the Pod Security admission controller) require the exact value ALL; polaris accepts 'All'",
    (
        "polaris/sensitiveContainerEnvVar/failure.value_private_key.yaml",
        "*",
        "secret_in_env",
        "flag",
    ): "the value is a '---BEGIN OPENSSH PRIVATE KEY---' with three dashes; posture.secrets matches the real "
    "five-dash PEM armour only (raised with the owner of posture/secrets.py)",
}


def collect(path: Path) -> tuple[list[Verdict], list[Problem]]:
    records = list(ManifestCollector([path], secrets=SCANNER).collect())
    assets = [r for r in records if isinstance(r, AssetRecord)]
    snapshot = Snapshot(assets, [r for r in records if isinstance(r, RelationRecord)])
    return list(evaluate_all(REGISTRY, snapshot, assets)), [r for r in records if isinstance(r, Problem)]


def object_of(verdict: Verdict) -> str:
    """``Kind/name`` of the verdict's asset (names are ``namespace/Kind/name`` or ``Kind/name``)."""
    parts = verdict.asset_name.split("/")
    return "/".join(parts[-2:])


def expectations() -> Iterator[Any]:
    for file, entry in sorted(EXPECTED["files"].items()):
        objects = entry.get("objects") or {"*": entry}
        for obj, labels in objects.items():
            secondary = labels.get("inspection_labels", [])
            for label in [*labels["must_flag"], *secondary]:
                if label in NOT_CHECKED:
                    continue
                yield pytest.param(file, obj, label, "flag", id=f"{file}:{obj}:{label}")
            for label in [*labels["must_not_flag"], *labels.get("inspection_not_present", [])]:
                if label in NOT_CHECKED:
                    continue
                yield pytest.param(file, obj, label, "not", id=f"{file}:{obj}:not-{label}")


_CACHE: dict[str, tuple[list[Verdict], list[Problem]]] = {}


@pytest.mark.parametrize(("file", "obj", "label", "expect"), list(expectations()))
def test_agrees_with_peer(file: str, obj: str, label: str, expect: str) -> None:
    if file not in _CACHE:
        _CACHE[file] = collect(DATA / file)
    found, problems = _CACHE[file]
    assert problems == []
    match = LABELS[label]
    flagged = any(match(v) for v in found if obj == "*" or object_of(v) == obj)
    check_agreement(flagged, expect, label, obj, DELIBERATE.get((file, obj, label, expect)))


def test_every_label_of_the_vocabulary_is_mapped_or_out_of_scope() -> None:
    assert set(EXPECTED["vocabulary"]) == set(LABELS) | NOT_CHECKED
