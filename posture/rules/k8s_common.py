"""Reading the pod summaries the Kubernetes normalizer stores (helpers for the ``k8s_*`` rule modules).

A workload or pod asset carries ``attributes["pod"]`` only when its pod spec is evaluated: top-level
workloads and pods without a known controller. Pods and ReplicaSets owned by a workload in the same
collection carry no ``pod``, so a template is never reported twice. Field names are Kubernetes' own;
the summary's keys and types are declared in ``posture/attributes/k8s.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from posture.attributes.k8s import ContainerSummary, PodSummary, pod_summary
from posture.records import AssetKind, AssetRecord
from posture.rules.base import Evaluate, Hit, Snapshot

#: Asset kinds whose pod spec rules evaluate.
POD_KINDS: frozenset[AssetKind] = frozenset({AssetKind.WORKLOAD, AssetKind.POD})


def pod_of(asset: AssetRecord) -> PodSummary | None:
    """The asset's pod summary, None when it carries none; raises ``MissingAttributes`` naming a key the
    summary, a container or a volume lacks, rather than letting a rule judge a default."""
    return pod_summary(asset.attributes["pod"]) if "pod" in asset.attributes else None


def unlisted(asset: AssetRecord, kind: str) -> bool:
    """Whether a partial run could not list ``kind``, which this asset's verdicts depend on: they are unknown."""
    return kind in (asset.attributes.get("unlisted_kinds") or ())


def sub(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``mapping[key]`` when it is a mapping, else empty: a securityContext's values are the spec's own."""
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else {}


def is_windows(pod: PodSummary) -> bool:
    return pod.get("os") == "windows"


def field_path(container: ContainerSummary, suffix: str) -> str:
    """``spec.initContainers[name].securityContext.privileged``: where a container-level value lives."""
    lists = {"init": "initContainers", "ephemeral": "ephemeralContainers"}
    return f"spec.{lists.get(container['kind'], 'containers')}[{container['name']}].{suffix}"


def on_pod(check: Callable[[PodSummary], Iterable[Hit]]) -> Evaluate:
    """A check of one pod summary: it runs only where the asset carries one (see the module's docstring)."""

    def evaluate(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
        pod = pod_of(asset)
        return check(pod) if pod is not None else ()

    return evaluate
