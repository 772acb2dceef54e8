"""Builders for the PSS and CIS rule tests: raw objects in, verdicts out, through the real normalizer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from collectors.k8s.normalize import records_from_objects
from posture.records import AssetRecord, RelationRecord
from posture.rules.base import Rule, RuleRegistry, Snapshot, Verdict, evaluate_all
from posture.secrets import SecretScanner

SCANNER = SecretScanner(b"k8s-tests-hash-key-0123456789")


def container(name: str = "app", image: str = "registry.example/app:1.0", **security: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "image": image}
    if security:
        body["securityContext"] = security
    return body


def pod(
    *containers: Mapping[str, Any],
    init: Iterable[Mapping[str, Any]] = (),
    ephemeral: Iterable[Mapping[str, Any]] = (),
    annotations: Mapping[str, str] | None = None,
    name: str = "p",
    namespace: str = "apps",
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"containers": list(containers) or [container()], **spec}
    if init:
        body["initContainers"] = list(init)
    if ephemeral:
        body["ephemeralContainers"] = list(ephemeral)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": body}


def snapshot_of(objects: Iterable[Mapping[str, Any]]) -> tuple[Snapshot, list[AssetRecord]]:
    records = list(records_from_objects(objects, "test", secrets=SCANNER))
    assets = [r for r in records if isinstance(r, AssetRecord)]
    return Snapshot(assets, [r for r in records if isinstance(r, RelationRecord)]), assets


def verdicts(rules: Rule | Iterable[Rule], objects: Iterable[Mapping[str, Any]]) -> list[Verdict]:
    snapshot, assets = snapshot_of(objects)
    registry = RuleRegistry([rules] if isinstance(rules, Rule) else rules)
    return list(evaluate_all(registry, snapshot, assets))


def discriminators(rule: Rule, *objects: Mapping[str, Any]) -> set[str]:
    return {v.hit.discriminator for v in verdicts(rule, objects)}
