"""What each Docker finding says: its discriminator and evidence, the rule catalogue against
docs/docker-checks.md, and the verdicts where the engine is unknown or its networks unlisted.

The evidence is what a user, a report and a chat notification see of a finding, and the discriminator is
part of its fingerprint (a changed one resolves the finding and opens a new one), so both are pinned
exactly for every rule. Raw ``/info``, ``/networks`` and ``docker inspect`` fragments go through
``collectors/docker/normalize.py``, as in test_docker_rules.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from collectors.docker.normalize import engine_record
from posture.records import AssetRecord
from posture.rules import docker as docker_rules
from posture.rules.base import Snapshot, Verdict, evaluate_all
from posture.taxonomy import CIS_DOCKER, KUBESCAPE, TRIVY, Severity
from tests.docker.rule_records import (
    GOOD_INFO,
    LSM_ENGINE,
    REGISTRY,
    UNIX,
    container,
    engine,
    verdicts,
    with_attributes,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "docker-checks.md"
RUNNING = {"running": True, "state": "running"}


def _found(record: AssetRecord, host: AssetRecord, rule: str) -> list[tuple[str, dict[str, Any], Severity]]:
    return [(v.hit.discriminator, dict(v.hit.evidence), v.severity) for v in verdicts(record, host, rule)]


# --- section 5: one failing container per rule, its whole finding ---------------------------------------

BIND = {"Type": "bind", "RW": True, "Propagation": "rprivate"}


@pytest.mark.parametrize(
    ("rule", "changes", "discriminator", "evidence", "severity"),
    [
        ("DKR-APPARMOR", {"AppArmorProfile": "unconfined"}, "", {"apparmor_profile": "unconfined"}, Severity.MEDIUM),
        ("DKR-APPARMOR", {"AppArmorProfile": ""}, "", {"apparmor_profile": ""}, Severity.LOW),
        (
            "DKR-SELINUX",
            {"HostConfig.SecurityOpt": ["no-new-privileges", "label=disable"]},
            "",
            {"selinux_options": ["disable"]},
            Severity.MEDIUM,
        ),
        ("DKR-SELINUX", {"HostConfig.SecurityOpt": ["no-new-privileges"]}, "", {"selinux_options": []}, Severity.LOW),
        (
            "DKR-CAP-ADD",
            {"HostConfig.CapAdd": ["ALL", "CHOWN"]},
            "",
            {"cap_add": ["ALL"], "dangerous": ["ALL"]},
            Severity.CRITICAL,
        ),
        (
            "DKR-CAP-ADD",
            # the dangerous ones are listed among the others, sorted; a default one is not an addition
            {"HostConfig.CapAdd": ["SYS_NICE", "NET_ADMIN", "CHOWN", "IPC_LOCK", "BPF"]},
            "",
            {"cap_add": ["BPF", "IPC_LOCK", "NET_ADMIN", "SYS_NICE"], "dangerous": ["BPF", "NET_ADMIN"]},
            Severity.HIGH,
        ),
        ("DKR-PRIVILEGED", {"HostConfig.Privileged": True}, "", {"privileged": True}, Severity.CRITICAL),
        (
            "DKR-SENSITIVE-MOUNT",
            {"Mounts": [{**BIND, "Source": "/etc/", "Destination": "/host-etc"}]},
            "/etc",
            {"source": "/etc", "destination": "/host-etc", "rw": True},
            Severity.HIGH,
        ),
        (
            "DKR-SENSITIVE-MOUNT",
            {"Mounts": [{**BIND, "Source": "/", "Destination": "/rootfs", "RW": False}]},
            "/",
            {"source": "/", "destination": "/rootfs", "rw": False},
            Severity.MEDIUM,
        ),
        (
            "DKR-PRIVILEGED-PORT",
            {"HostConfig.PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "80"}]}},
            "0.0.0.0:80->80/tcp",
            {"binding": "0.0.0.0:80->80/tcp"},
            Severity.LOW,
        ),
        ("DKR-HOST-NETWORK", {"HostConfig.NetworkMode": "host"}, "", {"network_mode": "host"}, Severity.HIGH),
        ("DKR-NO-MEMORY-LIMIT", {"HostConfig.Memory": 0}, "", {"memory": 0}, Severity.MEDIUM),
        (
            "DKR-NO-CPU-LIMIT",
            {"HostConfig.NanoCpus": 0},
            "",
            {"cpu_shares": 0, "nano_cpus": 0, "cpu_quota": 0},
            Severity.LOW,
        ),
        ("DKR-WRITABLE-ROOTFS", {"HostConfig.ReadonlyRootfs": False}, "", {"readonly_rootfs": False}, Severity.LOW),
        (
            "DKR-WILDCARD-BIND",
            {"HostConfig.PublishAllPorts": True},
            "publish-all",
            {"publish_all_ports": True},
            Severity.MEDIUM,
        ),
        (
            "DKR-RESTART-POLICY",
            {"HostConfig.RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}},
            "",
            {"restart_policy": "always", "max_retry": 0},
            Severity.LOW,
        ),
        (
            "DKR-RESTART-POLICY",
            {"HostConfig.RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 10}},
            "",
            {"restart_policy": "on-failure", "max_retry": 10},
            Severity.LOW,
        ),
        ("DKR-HOST-PID", {"HostConfig.PidMode": "host"}, "", {"pid_mode": "host"}, Severity.HIGH),
        ("DKR-HOST-IPC", {"HostConfig.IpcMode": "host"}, "", {"ipc_mode": "host"}, Severity.HIGH),
        ("DKR-HOST-UTS", {"HostConfig.UTSMode": "host"}, "", {"uts_mode": "host"}, Severity.MEDIUM),
        (
            "DKR-HOST-DEVICE",
            {
                "HostConfig.Devices": [
                    {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/xvda", "CgroupPermissions": "rwm"}
                ]
            },
            "/dev/sda",
            {"host": "/dev/sda", "container": "/dev/xvda", "permissions": "rwm"},
            Severity.MEDIUM,
        ),
        (
            "DKR-SHARED-PROPAGATION",
            {"Mounts": [{**BIND, "Source": "/srv/data", "Destination": "/data", "Propagation": "rshared"}]},
            "/data",
            {"source": "/srv/data", "propagation": "rshared"},
            Severity.MEDIUM,
        ),
        (
            "DKR-SECCOMP-DISABLED",
            {"HostConfig.SecurityOpt": ["no-new-privileges", "label=type:t", "seccomp=unconfined"]},
            "",
            {"seccomp": "unconfined"},
            Severity.HIGH,
        ),
        ("DKR-CGROUP-PARENT", {"HostConfig.CgroupParent": "/batch"}, "", {"cgroup_parent": "/batch"}, Severity.INFO),
        (
            "DKR-NO-NEW-PRIVILEGES",
            {"HostConfig.SecurityOpt": ["label=type:t"]},
            "",
            {"security_opt": ["label=type:t"]},
            Severity.MEDIUM,
        ),
        (
            "DKR-NO-HEALTHCHECK",
            {"State": {"Status": "running", "Running": True}},
            "",
            {"healthcheck": None},
            Severity.LOW,
        ),
        ("DKR-NO-PIDS-LIMIT", {"HostConfig.PidsLimit": 0}, "", {"pids_limit": 0}, Severity.LOW),
        ("DKR-NO-PIDS-LIMIT", {"HostConfig.PidsLimit": None}, "", {"pids_limit": None}, Severity.LOW),
        (
            "DKR-DEFAULT-BRIDGE",
            {"HostConfig.NetworkMode": "bridge", "NetworkSettings.Networks": {"bridge": {}, "appnet": {}}},
            "",
            {"network": "bridge"},
            Severity.LOW,
        ),
        (
            "DKR-HOST-USERNS",
            {"HostConfig.UsernsMode": "host"},
            "",
            {"userns_mode": "host", "engine_userns_remap": True},
            Severity.HIGH,
        ),
        (
            "DKR-RUNTIME-SOCKET",
            {"Mounts": [{**BIND, "Source": "/var/run/", "Destination": "/host-run"}]},
            "/var/run/",
            {"source": "/var/run/", "destination": "/host-run", "rw": True},
            Severity.CRITICAL,
        ),
        (
            "DKR-MUTABLE-IMAGE-REF",
            {"Config.Image": "registry.local:5000/team/app"},
            "",
            {"image": "registry.local:5000/team/app", "tag": "latest"},
            Severity.LOW,
        ),
    ],
)
def test_each_container_finding_in_full(
    rule: str, changes: dict[str, Any], discriminator: str, evidence: dict[str, Any], severity: Severity
) -> None:
    host = engine(LSM_ENGINE)  # AppArmor, SELinux and userns-remap
    assert _found(container(changes, host), host, rule) == [(discriminator, {**evidence, **RUNNING}, severity)]


def test_a_device_and_a_mount_give_one_finding_each_named_by_what_they_expose() -> None:
    host = engine(LSM_ENGINE)
    devices = [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse"}, {"PathOnHost": "/dev/kvm"}]
    mounts = [
        {**BIND, "Source": "/srv/a", "Destination": "/a", "Propagation": "shared"},
        {**BIND, "Source": "/srv/b", "Destination": "/b", "Propagation": "rslave"},
        {**BIND, "Source": "/srv/c", "Destination": "/c", "Propagation": "rshared"},
    ]
    record = container({"HostConfig.Devices": devices, "Mounts": mounts}, host)
    assert [d for d, _, _ in _found(record, host, "DKR-HOST-DEVICE")] == ["/dev/fuse", "/dev/kvm"]
    assert [d for d, _, _ in _found(record, host, "DKR-SHARED-PROPAGATION")] == ["/a", "/c"]


def test_a_mount_the_engine_gives_no_type_is_judged_as_a_bind() -> None:
    # Older engines list Mounts without Type; only a named volume or a tmpfs is known not to be host paths.
    host = engine(LSM_ENGINE)
    mount = {"Source": "/etc", "Destination": "/e", "RW": True}
    assert [d for d, _, _ in _found(container({"Mounts": [mount]}, host), host, "DKR-SENSITIVE-MOUNT")] == ["/etc"]


def _mount(source: str, destination: str, *, rw: bool) -> dict[str, Any]:
    """A bind mount as the normalizer writes it (every key of posture.attributes.docker.Mount)."""
    return {"type": "bind", "source": source, "destination": destination, "mode": "", "rw": rw, "propagation": ""}


def test_a_runtime_socket_mounted_without_a_source_is_found_by_its_destination() -> None:
    host = engine(LSM_ENGINE)
    record = with_attributes(
        container({}, host),
        mounts=[_mount("", "/var/run/docker.sock", rw=True)],
    )
    assert _found(record, host, "DKR-RUNTIME-SOCKET") == [
        ("", {"source": "", "destination": "/var/run/docker.sock", "rw": True, **RUNNING}, Severity.CRITICAL)
    ]


def test_a_runtime_socket_mounted_without_a_destination_is_found_by_its_source() -> None:
    host = engine(LSM_ENGINE)
    record = with_attributes(
        container({}, host),
        mounts=[_mount("/run/podman/podman.sock", "", rw=False)],
    )
    evidence = {"source": "/run/podman/podman.sock", "destination": "", "rw": False, **RUNNING}
    assert _found(record, host, "DKR-RUNTIME-SOCKET") == [("/run/podman/podman.sock", evidence, Severity.CRITICAL)]


def test_exec_and_secret_findings_carry_the_session_and_the_secret() -> None:
    host = engine(LSM_ENGINE)
    execs = [{"id": "e" * 12, "privileged": True, "root": True, "user": "root", "command": "sh"}]
    secrets = [{"location": "env", "key": "API_TOKEN", "detector": "keyword", "hash": "h" * 64}]
    record = with_attributes(container({}, host), sshd=["/usr/sbin/sshd"], execs=execs, secrets=secrets)
    assert _found(record, host, "DKR-SSHD") == [("", {"sshd": ["/usr/sbin/sshd"], **RUNNING}, Severity.MEDIUM)]
    assert _found(record, host, "DKR-EXEC-PRIVILEGED") == [("e" * 12, {**execs[0], **RUNNING}, Severity.HIGH)]
    assert _found(record, host, "DKR-EXEC-ROOT") == [("e" * 12, {**execs[0], **RUNNING}, Severity.MEDIUM)]
    assert _found(record, host, "DKR-ENV-SECRET") == [("env:API_TOKEN", {**secrets[0], **RUNNING}, Severity.HIGH)]


# --- where the engine is unknown or its networks unlisted -------------------------------------------------


def _alone(changes: dict[str, Any]) -> dict[str, Severity]:
    """Rule id → severity on the changed hardened container judged without its engine (a bare inspect)."""
    record = container(changes, engine(LSM_ENGINE))
    return {v.rule.id: v.severity for v in evaluate_all(REGISTRY, Snapshot([record]), [record])}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {}),
        # 5.2/5.3 without the engine: only explicit disabling, never "merely unset"
        ({"AppArmorProfile": "unconfined"}, {"DKR-APPARMOR": Severity.MEDIUM}),
        ({"AppArmorProfile": ""}, {}),
        ({"HostConfig.SecurityOpt": ["no-new-privileges", "label=disable"]}, {"DKR-SELINUX": Severity.MEDIUM}),
        ({"HostConfig.SecurityOpt": ["no-new-privileges"]}, {}),
        # 5.30: without the engine's networks, "bridge" is the default bridge's name
        ({"NetworkSettings.Networks": {"bridge": {}}}, {"DKR-DEFAULT-BRIDGE": Severity.LOW}),
        ({"NetworkSettings.Networks": {"docker0": {}}}, {}),
        # 5.31: an unknown engine is not known to remap user namespaces
        ({"HostConfig.UsernsMode": "host"}, {"DKR-HOST-USERNS": Severity.INFO}),
    ],
)
def test_a_container_judged_without_its_engine(changes: dict[str, Any], expected: dict[str, Severity]) -> None:
    assert _alone(changes) == expected


def test_an_engine_whose_networks_could_not_be_listed() -> None:
    host = engine_record({**GOOD_INFO, **LSM_ENGINE}, {}, None, UNIX)
    assert host.attributes["networks_known"] is False
    on_bridge = container({"NetworkSettings.Networks": {"bridge": {}}}, host)
    assert _found(on_bridge, host, "DKR-DEFAULT-BRIDGE") == [("", {"network": "bridge", **RUNNING}, Severity.LOW)]
    assert _found(container({}, host), host, "DKR-DEFAULT-BRIDGE") == []
    assert verdicts(container({}, host), host) == []
    # icc is a setting of the default bridge network: unknown, so not judged
    assert "DKR-ICC-ENABLED" not in {v.rule.id for v in evaluate_all(REGISTRY, Snapshot([host]), [host])}


# --- section 2: the daemon's findings in full ---------------------------------------------------------------


def _engine_found(record: AssetRecord, rule: str) -> list[tuple[str, dict[str, Any], Severity]]:
    found: list[Verdict] = [v for v in evaluate_all(REGISTRY, Snapshot([record]), [record]) if v.rule.id == rule]
    return [(v.hit.discriminator, dict(v.hit.evidence), v.severity) for v in found]


ICC_ON = {"Name": "docker0", "Driver": "bridge", "Options": {"com.docker.network.bridge.default_bridge": "true"}}


@pytest.mark.parametrize(
    ("rule", "info", "networks", "discriminator", "evidence", "severity"),
    [
        ("DKR-SWARM-ENABLED", {"Swarm": {"LocalNodeState": "locked"}}, None, "", {"swarm": "locked"}, Severity.LOW),
        ("DKR-ROOTFUL-DAEMON", {}, None, "", {"rootless": False}, Severity.INFO),
        ("DKR-ICC-ENABLED", {}, [ICC_ON], "", {"network": "docker0", "icc": True}, Severity.MEDIUM),
        ("DKR-DEBUG-LOGGING", {"Debug": True}, None, "", {"debug": True}, Severity.LOW),
        (
            "DKR-INSECURE-REGISTRY",
            {"RegistryConfig": {"InsecureRegistryCIDRs": ["10.1.0.0/16"]}},
            None,
            "10.1.0.0/16",
            {"registry": "10.1.0.0/16"},
            Severity.HIGH,
        ),
        ("DKR-AUFS", {"Driver": "aufs"}, None, "", {"storage_driver": "aufs"}, Severity.MEDIUM),
        (
            "DKR-NO-USERNS",
            {"SecurityOptions": ["name=seccomp,profile=default"]},
            None,
            "",
            {"userns": False, "rootless": False},
            Severity.MEDIUM,
        ),
        (
            "DKR-NO-AUTHZ-PLUGIN",
            {"Plugins": {"Authorization": []}},
            None,
            "",
            {"authorization_plugins": []},
            Severity.LOW,
        ),
        ("DKR-LOCAL-LOGGING", {"LoggingDriver": "json-file"}, None, "", {"logging_driver": "json-file"}, Severity.LOW),
        ("DKR-NO-LIVE-RESTORE", {"LiveRestoreEnabled": False}, None, "", {"live_restore": False}, Severity.LOW),
        (
            "DKR-DAEMON-SECCOMP",
            {"SecurityOptions": ["name=userns"]},
            None,
            "",
            {"seccomp_profile": None},
            Severity.HIGH,
        ),
        (
            "DKR-DAEMON-SECCOMP",
            {"SecurityOptions": ["name=userns", "name=seccomp,profile=unconfined"]},
            None,
            "",
            {"seccomp_profile": "unconfined"},
            Severity.HIGH,
        ),
        ("DKR-EXPERIMENTAL", {"ExperimentalBuild": True}, None, "", {"experimental": True}, Severity.LOW),
    ],
)
def test_each_engine_finding_in_full(
    rule: str,
    info: dict[str, Any],
    networks: list[dict[str, Any]] | None,
    discriminator: str,
    evidence: dict[str, Any],
    severity: Severity,
) -> None:
    assert _engine_found(engine(info, networks), rule) == [(discriminator, evidence, severity)]


def test_the_api_transport_finding_shows_the_connection() -> None:
    transport = {"url": "tcp://h:2375", "scheme": "tcp", "tls": False, "client_cert": False}
    assert _engine_found(engine(transport=transport), "DKR-API-NO-TLS") == [("", transport, Severity.CRITICAL)]


# --- the catalogue: docs/docker-checks.md, titles, remediation ---------------------------------------------


def _documented() -> dict[str, tuple[str, str, frozenset[str]]]:
    """docs/docker-checks.md's section 2 and 5 tables: rule id → (CIS id, NIST section, peer ids)."""
    table: dict[str, tuple[str, str, frozenset[str]]] = {}
    for line in DOCS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"(DKR-[A-Z-]+)( \(engine\))?", cells[1]) if len(cells) > 4 else None
        if match:
            peers = frozenset(p.strip() for p in cells[4].split(",") if p.strip()) if len(cells) == 7 else frozenset()
            table[match.group(1)] = (cells[0].replace("—", ""), cells[3], peers)
    return table


def test_every_rule_has_the_cis_id_nist_section_and_peers_the_docs_give() -> None:
    got = {}
    for rule in docker_rules.RULES:
        cis = "".join(r.id for r in rule.references if r.framework == CIS_DOCKER)
        peers = frozenset(r.id for r in rule.references if r.framework in (TRIVY, KUBESCAPE))
        assert all(r.framework in (CIS_DOCKER, TRIVY, KUBESCAPE) for r in rule.references), rule.id
        assert all(r.framework == (TRIVY if r.id.startswith("KSV") else KUBESCAPE) for r in rule.references
                   if r.framework != CIS_DOCKER), rule.id  # fmt: skip
        got[rule.id] = (cis, rule.nist, peers)
    assert len(got) == len(docker_rules.RULES) == 43
    assert got == _documented()


def test_every_rule_has_its_own_title_and_a_remediation() -> None:
    titles = [rule.title for rule in docker_rules.RULES]
    assert all(title.strip() for title in titles) and len(set(titles)) == len(titles)
    assert all(len(rule.remediation) > 10 for rule in docker_rules.RULES)
