"""The pod-summary contract between collectors/k8s/podspec.py and the Kubernetes rules (posture/attributes/k8s.py).

mypy checks that podspec writes only declared keys and the rules read only declared keys; these tests
check the run-time side: over the real manifests (tests/data/k8s-manifests, each file through the
manifest collector) and the API lists (tests/data/k8s-api), every pod summary, container, volume and
their nested records carry the declared keys and no other (a ``NotRequired`` key may be absent, and
each is met at least once, so it is really written: one pod setting what the corpora never do is
added), and a summary that lacks a key is refused rather than judged.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from collectors.k8s.manifests import ManifestCollector
from collectors.k8s.normalize import expand_lists, records_from_objects
from posture.attributes.contract import MissingAttributes
from posture.attributes.k8s import (
    ContainerKind,
    ContainerSummary,
    EnvSource,
    EnvVar,
    ImageRef,
    PodSummary,
    Port,
    ProbeHost,
    Resources,
    VolumeMount,
    VolumeSummary,
)
from posture.records import AssetRecord, Record
from posture.rules.base import RuleRegistry, Snapshot, evaluate_all
from posture.rules.k8s_cis import RULES as CIS_RULES
from posture.rules.k8s_hygiene import RULES as HYGIENE_RULES
from posture.rules.k8s_pss import RULES as PSS_RULES
from tests.k8s.pss_support import SCANNER, container, pod

DATA = Path(__file__).resolve().parents[1] / "data"
MANIFESTS = DATA / "k8s-manifests"
API = DATA / "k8s-api"
REGISTRY = RuleRegistry([*PSS_RULES, *CIS_RULES, *HYGIENE_RULES])


def _manifest_records() -> Iterator[Record]:
    for path in sorted(MANIFESTS.rglob("*.y*ml")):
        yield from ManifestCollector([path], secrets=SCANNER).collect()
    yield from ManifestCollector([API / "insecure-rbac-setup.yaml"], secrets=SCANNER).collect()


def _api_records() -> Iterator[Record]:
    podlist = json.loads((API / "podlist-eks-all-namespaces.json").read_text())
    deployments = [
        {"apiVersion": "apps/v1", "kind": "Deployment", **json.loads(line)}
        for line in (API / "deployment-eks-single.jsonl").read_text().splitlines()
    ]
    yield from records_from_objects([*expand_lists(podlist), *deployments], "eks", secrets=SCANNER)


#: What no corpus sets: a Windows pod outside the host's user namespace, a probe and a hook naming a host,
#: a volume naming two sources, an ephemeral container.
RARE = pod(
    {
        **container(),
        "livenessProbe": {"httpGet": {"host": "10.0.0.1", "port": 80}},
        "lifecycle": {"preStop": {"tcpSocket": {"host": "node.local", "port": 22}}},
    },
    ephemeral=[container("debug")],
    name="rare",
    hostUsers=False,
    os={"name": "windows"},
    volumes=[{"name": "two", "emptyDir": {}, "hostPath": {"path": "/tmp"}}],
)


def _evaluated() -> list[AssetRecord]:
    records = [*_manifest_records(), *_api_records(), *records_from_objects([RARE], "test", secrets=SCANNER)]
    return [r for r in records if isinstance(r, AssetRecord) and "pod" in r.attributes]


ASSETS = _evaluated()
PODS: list[PodSummary] = [a.attributes["pod"] for a in ASSETS]
CONTAINERS: list[ContainerSummary] = [c for p in PODS for c in p["containers"]]
VOLUMES: list[VolumeSummary] = [v for p in PODS for v in p["volumes"]]


def _check(values: Iterable[Any], declared: Any) -> set[str]:
    """Every value carries ``declared``'s required keys and no undeclared key; the keys met, returned."""
    met: set[str] = set()
    for value in values:
        keys = set(value)
        assert declared.__required_keys__ <= keys <= declared.__required_keys__ | declared.__optional_keys__, (
            declared.__name__,
            value,
        )
        met |= keys
    return met


def _check_all_met(values: list[Any], declared: Any) -> None:
    assert values, declared.__name__  # the record was looked at
    assert _check(values, declared) == declared.__required_keys__ | declared.__optional_keys__, declared.__name__


def test_the_corpora_give_pods_from_manifests_and_the_api() -> None:
    sources = {a.attributes.get("manifest") is None for a in ASSETS}
    assert sources == {True, False}
    assert len(PODS) > 100


def test_pod_summaries_carry_exactly_the_declared_keys() -> None:
    _check_all_met(PODS, PodSummary)


def test_containers_and_volumes_carry_exactly_the_declared_keys() -> None:
    _check_all_met(CONTAINERS, ContainerSummary)
    _check_all_met(VOLUMES, VolumeSummary)
    assert {c["kind"] for c in CONTAINERS} == set(get_args(ContainerKind))


def test_nested_records_carry_exactly_the_declared_keys() -> None:
    _check_all_met([c["resources"] for c in CONTAINERS], Resources)
    _check_all_met([c["imageRef"] for c in CONTAINERS if "imageRef" in c], ImageRef)
    _check_all_met([h for c in CONTAINERS for h in c.get("probeHosts", ())], ProbeHost)
    _check_all_met([p for c in CONTAINERS for p in c["ports"]], Port)
    _check_all_met([m for c in CONTAINERS for m in c["volumeMounts"]], VolumeMount)
    _check_all_met([e for c in CONTAINERS for e in c["env"]], EnvVar)
    _check_all_met([e for c in CONTAINERS for e in c["envFrom"]], EnvSource)


def _with_pod(asset: AssetRecord, pod: dict[str, Any]) -> AssetRecord:
    return dataclasses.replace(asset, attributes={**asset.attributes, "pod": pod})


def _judge(asset: AssetRecord) -> None:
    list(evaluate_all(REGISTRY, Snapshot([asset]), [asset]))


def _template() -> AssetRecord:
    return next(a for a in ASSETS if a.attributes["pod"]["containers"] and a.attributes["pod"]["volumes"])


def test_a_pod_summary_missing_a_key_is_refused_naming_it() -> None:
    asset = _template()
    _judge(asset)  # whole, it is judged
    pod = {k: v for k, v in asset.attributes["pod"].items() if k != "serviceAccountName"}
    with pytest.raises(MissingAttributes, match=r"^pod attributes lack serviceAccountName$"):
        _judge(_with_pod(asset, pod))
    with pytest.raises(MissingAttributes, match=r"^pod attributes lack annotations, containers, labels"):
        _judge(_with_pod(asset, "not a mapping"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "key", "what"), [("containers", "kind", "container"), ("volumes", "type", "volume")])
def test_a_container_or_volume_missing_a_key_is_refused_naming_it(field: str, key: str, what: str) -> None:
    asset = _template()
    pod = dict(asset.attributes["pod"])
    first, *rest = pod[field]
    pod[field] = [{k: v for k, v in first.items() if k != key}, *rest]
    with pytest.raises(MissingAttributes, match=rf"^pod {what} attributes lack {key}$"):
        _judge(_with_pod(asset, pod))
