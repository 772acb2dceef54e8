"""Reading the pod summaries the Kubernetes normalizer stores (helpers for the ``k8s_*`` rule modules).

A workload or pod asset carries ``attributes["pod"]`` only when its pod spec is evaluated: top-level
workloads and pods without a known controller. Pods and ReplicaSets owned by a workload in the same
collection carry no ``pod``, so a template is never reported twice. Field names are Kubernetes' own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from posture.records import AssetKind, AssetRecord
from posture.rules.base import Evaluate, Hit, Snapshot

#: Asset kinds whose pod spec rules evaluate.
POD_KINDS: frozenset[AssetKind] = frozenset({AssetKind.WORKLOAD, AssetKind.POD})


def pod_of(asset: AssetRecord) -> Mapping[str, Any] | None:
    pod = asset.attributes.get("pod")
    return pod if isinstance(pod, Mapping) else None


def unlisted(asset: AssetRecord, kind: str) -> bool:
    """Whether a partial run could not list ``kind``, which this asset's verdicts depend on: they are unknown."""
    return kind in (asset.attributes.get("unlisted_kinds") or ())


def containers(pod: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Init, regular and ephemeral containers, in that order."""
    for container in pod.get("containers", ()):
        if isinstance(container, Mapping):
            yield container


def context(holder: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``securityContext`` of a pod summary or a container summary (empty when unset)."""
    value = holder.get("securityContext")
    return value if isinstance(value, Mapping) else {}


def sub(mapping: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = mapping.get(key)
    return value if isinstance(value, Mapping) else {}


def is_windows(pod: Mapping[str, Any]) -> bool:
    return pod.get("os") == "windows"


def field_path(container: Mapping[str, Any], suffix: str) -> str:
    """``spec.initContainers[name].securityContext.privileged``: where a container-level value lives."""
    lists = {"init": "initContainers", "ephemeral": "ephemeralContainers"}
    return f"spec.{lists.get(str(container.get('kind')), 'containers')}[{container.get('name', '')}].{suffix}"


def on_pod(check: Callable[[Mapping[str, Any]], Iterable[Hit]]) -> Evaluate:
    """A check of one pod summary: it runs only where the asset carries one (see the module's docstring)."""

    def evaluate(asset: AssetRecord, snapshot: Snapshot) -> Iterable[Hit]:
        pod = pod_of(asset)
        return check(pod) if pod is not None else ()

    return evaluate
