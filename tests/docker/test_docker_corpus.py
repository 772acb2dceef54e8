"""Real ``docker inspect`` responses (tests/data/docker-inspect) → records → rules, against expected.json.

expected.json lists the docker-bench-security 1.6.0 section 5 warnings its authors derived from the
HostConfig/Config fields. Posture must raise every one of them; where it raises more, the extra ids
are exactly the deliberate differences documented in docs/docker-checks.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from collectors.docker.normalize import container_record, engine_record, image_record
from posture.rules import docker as docker_rules
from posture.rules import image as image_rules
from posture.rules.base import RuleRegistry, Snapshot, evaluate_all
from posture.secrets import SecretScanner
from posture.taxonomy import CIS_DOCKER, Severity

DATA = Path(__file__).parent.parent / "data" / "docker-inspect"
EXPECTED: dict[str, Any] = json.loads((DATA / "expected.json").read_text())
CONTAINERS = sorted(k for k in EXPECTED if not k.startswith("_"))
REGISTRY = RuleRegistry([*docker_rules.RULES, *image_rules.RULES])
ENGINE = engine_record({"ID": "engine-1", "Name": "host-1", "DockerRootDir": "/var/lib/docker"}, {}, [], {})
#: docker-bench would also warn here, but the corpus labels only list HostConfig/Config-derived ids:
#: 5.14 (0.0.0.0:9000 published) and 5.15 (restart "always") read `docker port` / RestartPolicy, and
#: 5.30 (container on the default bridge) is an INFO in docker-bench.
EXTRA: dict[str, set[str]] = {
    "container-portainer-running.json": {"5.14", "5.15", "5.30"},
    "container-watchtower-running.json": {"5.30"},
    "container-watchtower-stopped.json": {"5.30"},
}
SCANNER = SecretScanner(b"corpus-test-hash-key-0123456789")


def _inspect(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def _cis_ids(name: str) -> dict[str, Severity]:
    record, _ = container_record(_inspect(name), ENGINE, SCANNER)
    out: dict[str, Severity] = {}
    for verdict in evaluate_all(REGISTRY, Snapshot([record]), [record]):
        for ref in verdict.rule.references:
            if ref.framework == CIS_DOCKER:
                out[ref.id] = verdict.severity
    return out


@pytest.mark.parametrize("name", CONTAINERS)
def test_agrees_with_docker_bench_labels(name: str) -> None:
    got = set(_cis_ids(name))
    expected = set(EXPECTED[name]["docker_bench_5_expected_warn"])
    assert got == expected | EXTRA.get(name, set())


@pytest.mark.parametrize("name", CONTAINERS)
def test_normalized_fields_match_the_labels(name: str) -> None:
    fields = EXPECTED[name]["fields"]
    record, relation = container_record(_inspect(name), ENGINE, SCANNER)
    attrs = record.attributes
    assert attrs["running"] is EXPECTED[name]["running"]
    assert attrs["state"] == EXPECTED[name]["state_status"]
    assert attrs["privileged"] is fields["Privileged"]
    assert attrs["network_mode"] == fields["NetworkMode"]
    assert attrs["cap_add"] == sorted(fields["CapAdd"] or [])
    assert attrs["image"] == fields["Config.Image"]
    assert attrs["pids_limit"] == fields["PidsLimit"]
    assert record.parent == ENGINE.ref and record.key == f"{ENGINE.key}/{attrs['id']}"
    assert record.legacy_keys == (f"engine-1/{attrs['id']}",)  # the key the previous release gave it
    assert relation is not None and relation.target.key == attrs["image_id"]


def test_stopped_container_findings_weigh_less_than_running_ones() -> None:
    running = _cis_ids("container-watchtower-running.json")
    stopped = _cis_ids("container-watchtower-stopped.json")
    assert running["5.32"] is Severity.CRITICAL and stopped["5.32"] is Severity.HIGH


def test_gluetun_secret_file_references_and_empty_passwords_are_not_secrets() -> None:
    record, _ = container_record(_inspect("container-gluetun-net-supplier.json"), ENGINE, SCANNER)
    assert "OPENVPN_PASSWORD_SECRETFILE" in record.attributes["env_keys"]
    assert record.attributes["secrets"] == []
    assert record.attributes["healthcheck"]["test"] == ["CMD-SHELL", "/gluetun-entrypoint healthcheck"]


def test_image_inspect_normalizes_to_the_engine_independent_shape() -> None:
    image = image_record(_inspect("image-inspect-running.json"), [], SCANNER)
    assert image.key == "sha256:4dbc5f9c07028a985e14d1393e849ea07f68804c4293050d5a641b138db72daa"
    assert image.name == "containrrr/watchtower:latest" and image.aliases == ()
    config = image.attributes["config"]
    assert (config["user"], config["env_keys"], config["os"], config["architecture"]) == (
        "",
        ["PATH"],
        "linux",
        "amd64",
    )
    assert config["labels"] == {"com.centurylinklabs.watchtower": "true"}
    rules = {v.rule.id for v in evaluate_all(REGISTRY, Snapshot([image]), [image])}
    assert rules == {"IMG-ROOT-USER", "IMG-NO-HEALTHCHECK", "IMG-LATEST-TAG", "IMG-STALE"}


def test_engine_settings_from_info() -> None:
    info = {
        "ID": "ABCD:EFGH",
        "Name": "host1",
        "Driver": "overlay2",
        "LoggingDriver": "json-file",
        "SecurityOptions": ["name=seccomp,profile=default", "name=userns"],
        "LiveRestoreEnabled": True,
        "Swarm": {"LocalNodeState": "active"},
        "Plugins": {"Authorization": ["opa"]},
        "RegistryConfig": {
            "InsecureRegistryCIDRs": ["127.0.0.0/8", "10.0.0.0/8"],
            "IndexConfigs": {
                "docker.io": {"Secure": True},
                "reg.local:5000": {"Secure": False},
                "localhost:5000": {"Secure": False},
            },
        },
    }
    networks = [{"Name": "bridge", "Driver": "bridge", "Options": {"com.docker.network.bridge.enable_icc": "false"}}]
    transport = {"url": "tcp://h:2375", "scheme": "tcp", "tls": False, "client_cert": False}
    engine = engine_record(info, {"ApiVersion": "1.45"}, networks, transport)
    assert engine.key.startswith("ABCD:EFGH@") and engine.legacy_keys == ("ABCD:EFGH",)
    assert engine.attributes["insecure_registries"] == ["10.0.0.0/8", "reg.local:5000"]
    assert engine.attributes["default_bridge"] == {"name": "bridge", "icc": False}
    hits = {v.rule.id: v for v in evaluate_all(REGISTRY, Snapshot([engine]), [engine])}
    assert set(hits) == {
        "DKR-SWARM-ENABLED",
        "DKR-ROOTFUL-DAEMON",
        "DKR-INSECURE-REGISTRY",
        "DKR-API-NO-TLS",
        "DKR-LOCAL-LOGGING",
    }
    assert hits["DKR-API-NO-TLS"].severity is Severity.CRITICAL


@pytest.mark.parametrize(("engine_selinux", "expected"), [(False, None), (True, Severity.MEDIUM)])
def test_selinux_label_disable_matters_only_where_selinux_runs(engine_selinux: bool, expected: Severity | None) -> None:
    raw = _inspect("container-nginx-net-consumer.json")
    raw["HostConfig"]["SecurityOpt"] = ["label=disable"]  # what Docker adds to --privileged / --pid host
    engine = engine_record(
        {"ID": "engine-1", "SecurityOptions": ["name=selinux"] if engine_selinux else []}, {}, [], {}
    )
    container, _ = container_record(raw, engine, SCANNER)
    snapshot = Snapshot([container, engine])
    hits = [v for v in evaluate_all(REGISTRY, snapshot, [container]) if v.rule.id == "DKR-SELINUX"]
    assert [h.severity for h in hits] == ([expected] if expected else [])
