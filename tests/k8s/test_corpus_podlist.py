"""Agreement with the corpus labels of a real EKS PodList (tests/data/k8s-api/podlist-eks-all-namespaces.*).

The PodList is what ``GET /api/v1/pods`` returned on a real cluster; its labels
(``podlist-eks-all-namespaces.expected.json``) were written by inspecting each pod's explicit fields,
keyed ``namespace/name``. The pods' owners are not in the list, so each pod is evaluated itself, as
the live collector does when it can list pods but not their workloads. Labels map to rules as for
the labelled manifests (:mod:`corpus_labels`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from collectors.k8s.normalize import expand_lists, records_from_objects
from posture.records import AssetRecord, Problem, RelationRecord
from posture.rules.base import Snapshot, Verdict, evaluate_all
from tests.k8s.corpus_labels import LABELS, NOT_CHECKED, REGISTRY, check_agreement
from tests.k8s.pss_support import SCANNER

DATA = Path(__file__).parents[1] / "data" / "k8s-api"
PODLIST = "podlist-eks-all-namespaces.json"
EXPECTED = json.loads((DATA / "podlist-eks-all-namespaces.expected.json").read_text())[PODLIST]


def _verdicts() -> dict[str, list[Verdict]]:
    records = list(records_from_objects(expand_lists(json.loads((DATA / PODLIST).read_text())), "eks", secrets=SCANNER))
    assert not [r for r in records if isinstance(r, Problem)]
    assets = [r for r in records if isinstance(r, AssetRecord)]
    snapshot = Snapshot(assets, [r for r in records if isinstance(r, RelationRecord)])
    by_pod: dict[str, list[Verdict]] = {a.name.replace("/Pod/", "/"): [] for a in assets if "pod" in a.attributes}
    for verdict in evaluate_all(REGISTRY, snapshot, assets):
        by_pod.setdefault(verdict.asset_name.replace("/Pod/", "/"), []).append(verdict)
    return by_pod


VERDICTS = _verdicts()

#: (pod, label, "flag" | "not") where Posture disagrees with the label on purpose; the test fails if
#: one of them stops disagreeing, so the list cannot go stale.
DELIBERATE: dict[tuple[str, str, str], str] = {
    (pod, "capabilities_not_dropped", "not"): "the pod drops 'all'; PSS restricted (and the Pod Security admission "
    "controller) require the exact value ALL, so the capability set is not dropped as far as Kubernetes is concerned"
    for pod in (
        "cloudability/cloudability-metrics-agent-f564d999d-8qwp8",
        "kube-system/coredns-7f5998f4c-5fblt",
        "kube-system/coredns-7f5998f4c-6bb5v",
    )
}


def _cases() -> list[object]:
    cases: list[object] = []
    for pod, labels in sorted(EXPECTED.items()):
        for expect, key in (("flag", "inspection_labels"), ("not", "inspection_not_present")):
            for label in labels.get(key, []):
                if label not in NOT_CHECKED:
                    cases.append(
                        pytest.param(pod, label, expect, id=f"{pod}:{'' if expect == 'flag' else 'not-'}{label}")
                    )
    return cases


def test_every_labelled_pod_is_collected_and_evaluated() -> None:
    assert set(EXPECTED) == set(VERDICTS)


@pytest.mark.parametrize(("pod", "label", "expect"), _cases())
def test_agrees_with_the_inspection_labels(pod: str, label: str, expect: str) -> None:
    flagged = any(LABELS[label](v) for v in VERDICTS[pod])
    check_agreement(flagged, expect, label, pod, DELIBERATE.get((pod, label, expect)))
