"""Reading the pod summaries the Kubernetes normalizer stores (helpers for the ``k8s_*`` rule modules).

A workload or pod asset carries ``attributes["pod"]`` only when its pod spec is evaluated: top-level
workloads and pods without a known controller. Pods and ReplicaSets owned by a workload in the same
collection carry no ``pod``, so a template is never reported twice. Field names are Kubernetes' own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from posture.records import AssetKind, AssetRecord
from posture.rules.base import Hit, Reference, Rule, Snapshot
from posture.taxonomy import Phase, Severity

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


def run_rule(
    rule_id: str,
    title: str,
    severity: Severity,
    kinds: Iterable[AssetKind],
    evaluate: Callable[[AssetRecord, Snapshot], Iterable[Hit]],
    remediation: str,
    *,
    nist: str,
    refs: Iterable[Reference] = (),
) -> Rule:
    """A run-phase Kubernetes rule: the one shape every k8s rule module declares its checks with."""
    return Rule(
        id=rule_id,
        title=title,
        severity=severity,
        phase=Phase.RUN,
        nist=nist,
        remediation=remediation,
        references=tuple(refs),
        kinds=frozenset(kinds),
        evaluate=evaluate,
    )
