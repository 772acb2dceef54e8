"""The attribute contract between the Docker normalizer and the Docker rules (posture/attributes/docker.py).

mypy checks that the normalizer writes only declared keys and the rules read only declared keys; these
tests check the run-time side: over real inspect documents (tests/data/docker-inspect), the demo
snapshot, the rule tests' hardened container and a Podman engine, the normalizer writes exactly the
declared keys, nested records included, and a record that lacks one is refused rather than judged.
That the records import only the standard library is tests/test_architecture.py's.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from collectors.docker.normalize import container_record, engine_record
from collectors.docker.runtime import exec_sessions
from collectors.docker.snapshot import DockerSnapshotCollector
from posture.attributes.contract import MissingAttributes
from posture.attributes.docker import (
    ContainerAttributes,
    DefaultBridge,
    Device,
    EngineAttributes,
    ExecSession,
    Healthcheck,
    Mount,
    PortBinding,
    RestartPolicy,
    Transport,
)
from posture.records import AssetKind, AssetRecord
from posture.rules.base import Snapshot, evaluate_all
from posture.secrets import SecretScanner
from tests.docker.rule_records import HARDENED, LSM_ENGINE, REGISTRY, engine

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "docker-inspect"
DEMO = ROOT / "posture" / "demo" / "data" / "docker-build-host-01.json"
SCANNER = SecretScanner(b"attribute-contract-hash-key-0123")
PODMAN_VERSION = {"Version": "4.9.3", "Components": [{"Name": "Podman Engine", "Version": "4.9.3"}]}


def _keys(declared: Any) -> frozenset[str]:
    keys: frozenset[str] = declared.__required_keys__ | declared.__optional_keys__
    return keys


def _corpus_containers(host: AssetRecord) -> Iterator[AssetRecord]:
    for path in sorted(CORPUS.glob("container-*.json")):
        yield container_record(json.loads(path.read_text()), host, SCANNER)[0]


def _demo() -> list[AssetRecord]:
    return [r for r in DockerSnapshotCollector(DEMO, SCANNER).collect() if isinstance(r, AssetRecord)]


def _engines() -> list[AssetRecord]:
    podman = engine_record({"ID": "p", "Name": "host2"}, PODMAN_VERSION, None, engine().attributes["transport"])
    demo = [r for r in _demo() if r.kind is AssetKind.DOCKER_ENGINE]
    return [engine(LSM_ENGINE), podman, *demo]


def _containers() -> list[AssetRecord]:
    host = engine(LSM_ENGINE)
    hardened, _ = container_record(HARDENED, host, SCANNER)
    demo = [r for r in _demo() if r.kind is AssetKind.CONTAINER]
    return [hardened, *_corpus_containers(host), *demo]


def _assert_records(values: Any, declared: Any) -> None:
    for value in values:
        assert isinstance(value, Mapping) and value.keys() == _keys(declared), (declared.__name__, value)


def test_every_key_is_required() -> None:
    """A value may be unknown (None), but a key is never missing: the accessors check required keys."""
    for declared in (ContainerAttributes, EngineAttributes, Mount, PortBinding, Device, ExecSession, Transport):
        assert not declared.__optional_keys__, declared.__name__


def test_engines_carry_exactly_the_declared_keys() -> None:
    engines = _engines()
    assert len(engines) == 3
    for record in engines:
        attributes = record.attributes
        assert attributes.keys() == _keys(EngineAttributes)
        _assert_records([attributes["transport"]], Transport)
        _assert_records([b for b in [attributes["default_bridge"]] if b is not None], DefaultBridge)
    assert any(r.attributes["default_bridge"] for r in engines)  # the nested record was looked at


def test_containers_carry_exactly_the_declared_keys() -> None:
    containers = _containers()
    assert len(containers) == 1 + 5 + 4
    for record in containers:
        attributes = record.attributes
        assert attributes.keys() == _keys(ContainerAttributes), record.name
        _assert_records(attributes["mounts"], Mount)
        _assert_records(attributes["ports"], PortBinding)
        _assert_records(attributes["devices"], Device)
        _assert_records([attributes["restart_policy"]], RestartPolicy)
        _assert_records([h for h in [attributes["healthcheck"]] if h is not None], Healthcheck)
    for nested in ("mounts", "ports", "healthcheck"):  # each nested record met at least once
        assert any(r.attributes[nested] for r in containers), nested


def test_exec_sessions_carry_exactly_the_declared_keys() -> None:
    raw = {"ID": "e" * 64, "Running": True, "ProcessConfig": {"user": "root", "privileged": True, "entrypoint": "sh"}}
    _assert_records(exec_sessions([raw]), ExecSession)


def _without(record: AssetRecord, key: str) -> AssetRecord:
    return dataclasses.replace(record, attributes={k: v for k, v in record.attributes.items() if k != key})


def test_a_container_missing_a_key_is_refused_naming_it() -> None:
    host = engine(LSM_ENGINE)
    container, _ = container_record(HARDENED, host, None)
    privileged = _without(container, "privileged")
    with pytest.raises(MissingAttributes, match="container attributes lack privileged"):
        list(evaluate_all(REGISTRY, Snapshot([privileged, host]), [privileged]))


def test_an_engine_missing_a_key_is_refused_for_its_own_rules_and_its_containers() -> None:
    host = _without(engine(LSM_ENGINE), "userns")
    container, _ = container_record(HARDENED, host, None)
    with pytest.raises(MissingAttributes, match="engine attributes lack userns"):
        list(evaluate_all(REGISTRY, Snapshot([host]), [host]))
    with pytest.raises(MissingAttributes, match="engine attributes lack userns"):
        list(evaluate_all(REGISTRY, Snapshot([container, host]), [container]))


