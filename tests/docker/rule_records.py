"""Shared fixtures for the fast Docker rule tests: a daemon and a container that pass every check,
and helpers that change one field, normalize the raw API shape and evaluate the Docker rules.

Going through ``collectors/docker/normalize.py`` makes a test fail when either the field read or the
rule's logic is wrong. Attributes that other collector paths produce (exec sessions, sshd, secrets)
are set on the normalized record directly.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from collectors.docker.normalize import container_record, engine_record
from posture.records import AssetRecord
from posture.rules import docker as docker_rules
from posture.rules.base import RuleRegistry, Snapshot, Verdict, evaluate_all
from posture.taxonomy import Severity

REGISTRY = RuleRegistry(docker_rules.RULES)
#: A daemon that passes every section 2 check the API shows.
GOOD_INFO: dict[str, Any] = {
    "ID": "ENGINE-1",
    "Name": "host1",
    "Driver": "overlay2",
    "LoggingDriver": "syslog",
    "Debug": False,
    "ExperimentalBuild": False,
    "SecurityOptions": ["name=seccomp,profile=default", "name=userns"],
    "LiveRestoreEnabled": True,
    "Plugins": {"Authorization": ["opa"]},
}
ICC_OFF = {"Name": "bridge", "Driver": "bridge", "Options": {"com.docker.network.bridge.enable_icc": "false"}}
UNIX = {"url": "unix:///var/run/docker.sock", "scheme": "unix", "tls": False, "client_cert": False}

#: A running container that passes every section 5 check.
HARDENED: dict[str, Any] = {
    "Id": "c" * 64,
    "Name": "/app",
    "Image": "sha256:" + "1" * 64,
    "AppArmorProfile": "docker-default",
    "State": {"Status": "running", "Running": True, "Health": {"Status": "healthy"}},
    "Config": {"Image": "app:1.0", "User": "1000"},
    "HostConfig": {
        "NetworkMode": "appnet",
        "Memory": 67108864,
        "NanoCpus": 500000000,
        "PidsLimit": 64,
        "ReadonlyRootfs": True,
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5},
        "SecurityOpt": ["no-new-privileges", "label=type:container_t"],
    },
    "NetworkSettings": {"Networks": {"appnet": {}}},
    "Mounts": [],
}
LSM_ENGINE = {"SecurityOptions": ["name=seccomp,profile=default", "name=userns", "name=apparmor", "name=selinux"]}


def engine(
    info: Mapping[str, Any] | None = None,
    networks: list[dict[str, Any]] | None = None,
    transport: Mapping[str, Any] = UNIX,
) -> AssetRecord:
    """The good daemon with ``info`` keys replaced."""
    return engine_record({**GOOD_INFO, **(info or {})}, {}, [ICC_OFF] if networks is None else networks, transport)


def engine_hits(record: AssetRecord) -> dict[str, Severity]:
    """Rule id → severity of every Docker rule that fires on the engine."""
    return {v.rule.id: v.severity for v in evaluate_all(REGISTRY, Snapshot([record]), [record])}


def container(changes: Mapping[str, Any], engine_record_: AssetRecord) -> AssetRecord:
    """The hardened container with dotted inspect paths (``HostConfig.Memory``) set, normalized."""
    raw = copy.deepcopy(HARDENED)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        target = raw
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    record, _ = container_record(raw, engine_record_, None)
    return record


def verdicts(record: AssetRecord, engine_record_: AssetRecord, rule: str | None = None) -> list[Verdict]:
    """Every Docker verdict on the container (of one rule if given), its engine in the snapshot."""
    found = evaluate_all(REGISTRY, Snapshot([record, engine_record_]), [record])
    return [v for v in found if rule is None or v.rule.id == rule]


def container_hits(
    changes: Mapping[str, Any],
    engine_info: Mapping[str, Any] | None = None,
    networks: list[dict[str, Any]] | None = None,
) -> dict[str, Severity]:
    """Rule id → severity on the hardened container changed by ``changes``, on an AppArmor+SELinux engine."""
    host = engine({**LSM_ENGINE, **(engine_info or {})}, networks)
    return {v.rule.id: v.severity for v in verdicts(container(changes, host), host)}


def with_attributes(record: AssetRecord, **attributes: Any) -> AssetRecord:
    """The record with normalized attributes replaced (for what other collector paths fill in)."""
    return dataclasses.replace(record, attributes={**record.attributes, **attributes})
