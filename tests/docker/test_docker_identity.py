"""Engine identity (collectors/docker/normalize.py): what separates two engines and what keeps one engine one.

dockerd 20.10 takes its ``ID`` from ``/etc/docker/key.json``: every daemon on a host and every VM
cloned from one image share it. Podman 4 answers a fresh random ``ID`` on every call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collectors.docker.normalize import container_record, engine_key, engine_record, engine_scope, legacy_engine_key
from collectors.docker.snapshot import DockerSnapshotCollector
from posture.records import CollectorError, ScopeKind
from posture.taxonomy import Severity
from tests.docker.docker_support import run_posture_at, store_scopes

DOCKER_INFO: dict[str, Any] = {
    "ID": "G3RG:OJYO:5KGI:IU34:YAXZ:3CPL:XRJ2:CZ2A:3MVC:MNEE:PODF:M6S6",
    "Name": "build-01",
    "DockerRootDir": "/var/lib/docker",
}
PODMAN_VERSION = {"Components": [{"Name": "Podman Engine", "Version": "4.3.1"}]}
PODMAN_INFO: dict[str, Any] = {
    "ID": "0865fa51-dcd9-4435-9c2d-96e343ca6888",
    "Name": "build-01",
    "DockerRootDir": "/var/lib/containers/storage",
}


def test_a_docker_engine_is_one_engine_across_runs() -> None:
    assert engine_key(dict(DOCKER_INFO), {}) == engine_key(dict(DOCKER_INFO), {"Version": "20.10.24"})
    assert engine_key(DOCKER_INFO, {}).startswith(DOCKER_INFO["ID"] + "@")


def test_same_id_other_root_dir_is_another_engine() -> None:
    second_daemon = {**DOCKER_INFO, "DockerRootDir": "/srv/docker-ci"}
    assert engine_key(second_daemon, {}) != engine_key(DOCKER_INFO, {})


def test_same_id_other_host_is_another_engine() -> None:
    cloned_vm = {**DOCKER_INFO, "Name": "build-02"}
    assert engine_key(cloned_vm, {}) != engine_key(DOCKER_INFO, {})


def test_podman_random_id_does_not_change_the_engine() -> None:
    again = {**PODMAN_INFO, "ID": "b57de166-4123-440b-9277-77694480025a"}
    assert engine_key(again, PODMAN_VERSION) == engine_key(PODMAN_INFO, PODMAN_VERSION)
    assert engine_key(PODMAN_INFO, PODMAN_VERSION).startswith("podman@")


def test_podman_other_root_or_host_is_another_engine() -> None:
    key = engine_key(PODMAN_INFO, PODMAN_VERSION)
    rootless = {**PODMAN_INFO, "DockerRootDir": "/home/ci/.local/share/containers/storage"}
    assert engine_key(rootless, PODMAN_VERSION) != key
    assert engine_key({**PODMAN_INFO, "Name": "build-02"}, PODMAN_VERSION) != key


def test_docker_and_podman_on_one_host_with_one_root_are_apart() -> None:
    shared = {**DOCKER_INFO, "ID": ""}
    assert engine_key(shared, {}) != engine_key(shared, PODMAN_VERSION)


def test_keys_hold_no_slash_so_container_keys_still_split() -> None:
    odd = {**DOCKER_INFO, "ID": "a/b"}
    engine = engine_record(odd, {}, [], {})
    container, _ = container_record({"Id": "c" * 64}, engine, None)
    assert "/" not in engine.key
    assert container.key.rsplit("/", 1) == [engine.key, "c" * 64]


def test_legacy_keys_name_what_the_previous_release_stored() -> None:
    engine = engine_record(DOCKER_INFO, {}, [], {})
    assert engine.legacy_keys == (DOCKER_INFO["ID"],) == (legacy_engine_key(DOCKER_INFO),)
    assert engine.attributes["engine_key"] == engine.key
    container, _ = container_record({"Id": "c" * 64}, engine, None)
    assert container.legacy_keys == (f"{DOCKER_INFO['ID']}/{'c' * 64}",)
    assert legacy_engine_key({"Name": "h"}) == "name:h"


def test_scope_is_named_by_the_key_and_labelled_for_people() -> None:
    key = engine_key(DOCKER_INFO, {})
    scope = engine_scope(key, "unix:///var/run/docker.sock", DOCKER_INFO["ID"])
    assert (scope.kind, scope.name) == (ScopeKind.DOCKER, f"engine:{key}")
    assert scope.label == "unix:///var/run/docker.sock" and scope.legacy == (f"engine:{DOCKER_INFO['ID']}",)
    assert str(scope) == "docker:unix:///var/run/docker.sock"


# --- snapshots: identity from the snapshot's own /info --------------------------------------------


def _snapshot(path: Path, info: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"info": info, "version": {}, "images": [], "containers": []}))
    return path


def test_a_snapshot_is_the_engine_its_info_describes(tmp_path: Path) -> None:
    collector = DockerSnapshotCollector(_snapshot(tmp_path / "host.json", DOCKER_INFO), None)
    collector.check()
    assert collector.scope == engine_scope(engine_key(DOCKER_INFO, {}), "", DOCKER_INFO["ID"])
    assert collector.scope.label == str(tmp_path / "host.json")
    [engine] = list(collector.collect())
    assert engine.key == engine_key(DOCKER_INFO, {})


def test_a_snapshot_judges_no_layer_secret(tmp_path: Path) -> None:
    coverage = DockerSnapshotCollector(_snapshot(tmp_path / "host.json", DOCKER_INFO), None).coverage()
    assert coverage.skipped_locations == {"layer", "layer-deleted"}
    assert coverage.covers("IMG-SECRET", Severity.HIGH, {"found_in": [{"location": "env"}]}, None)
    assert not coverage.covers("IMG-SECRET", Severity.HIGH, {"found_in": [{"location": "layer-deleted"}]}, None)


@pytest.mark.parametrize("missing", ["Name", "DockerRootDir"])
def test_a_snapshot_that_cannot_tell_its_engine_apart_is_refused(tmp_path: Path, missing: str) -> None:
    info = {k: v for k, v in DOCKER_INFO.items() if k != missing}
    path = _snapshot(tmp_path / "host.json", info)
    with pytest.raises(CollectorError, match=f"/info has no {missing} "):
        DockerSnapshotCollector(path, None).check()
    result = run_posture_at(tmp_path, "collect", "--docker-snapshot", str(path))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"posture: error: docker snapshot {path}: /info has no {missing} to tell this engine from others "
        "sharing its ID; capture the engine's whole /info"
    ]
    assert store_scopes(tmp_path) == []  # nothing stored
