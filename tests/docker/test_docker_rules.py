"""Each Docker engine and container rule, positive and negative, from raw API shapes through normalize.

The raw ``/info``, ``/networks`` and ``docker inspect`` fragments go through the collector's
normalization, so a test fails when either the field read or the rule's logic is wrong.
"""

from __future__ import annotations

from typing import Any

import pytest

from collectors.docker.normalize import engine_record
from posture.rules.base import Snapshot, evaluate_all
from posture.taxonomy import Severity
from tests.docker.rule_records import (
    GOOD_INFO,
    ICC_OFF,
    LSM_ENGINE,
    REGISTRY,
    UNIX,
    container,
    container_hits,
    engine,
    engine_hits,
    verdicts,
    with_attributes,
)


def test_the_good_daemon_fails_only_the_rootful_check() -> None:
    assert set(engine_hits(engine())) == {"DKR-ROOTFUL-DAEMON"}


@pytest.mark.parametrize(
    ("rule", "bad", "good"),
    [
        ("DKR-ICC-ENABLED", {"networks": [{"Name": "bridge", "Driver": "bridge", "Options": {}}]}, {}),
        (
            "DKR-ICC-ENABLED",
            {
                "networks": [
                    {
                        "Name": "docker0",
                        "Driver": "bridge",
                        "Options": {
                            "com.docker.network.bridge.default_bridge": "true",
                            "com.docker.network.bridge.enable_icc": "true",
                        },
                    }
                ]
            },
            {"networks": []},  # no default bridge at all (dockerd --bridge none)
        ),
        ("DKR-DEBUG-LOGGING", {"info": {"Debug": True}}, {"info": {"Debug": False}}),
        ("DKR-AUFS", {"info": {"Driver": "aufs"}}, {"info": {"Driver": "overlay2"}}),
        (
            "DKR-NO-USERNS",
            {"info": {"SecurityOptions": ["name=seccomp,profile=default"]}},
            {"info": {"SecurityOptions": ["name=seccomp,profile=default", "name=rootless"]}},
        ),
        ("DKR-NO-AUTHZ-PLUGIN", {"info": {"Plugins": {"Authorization": None}}}, {}),
        ("DKR-NO-LIVE-RESTORE", {"info": {"LiveRestoreEnabled": False}}, {}),
        (
            "DKR-NO-LIVE-RESTORE",
            {"info": {"LiveRestoreEnabled": False, "Swarm": {"LocalNodeState": "inactive"}}},
            # live-restore is incompatible with swarm mode: a swarm manager is not asked for it
            {"info": {"LiveRestoreEnabled": False, "Swarm": {"LocalNodeState": "active"}}},
        ),
        # check_2_17 (CIS 2.17): no seccomp in SecurityOptions, or its profile unconfined; the built-in
        # default profile or a custom one passes.
        ("DKR-DAEMON-SECCOMP", {"info": {"SecurityOptions": ["name=userns"]}}, {}),
        (
            "DKR-DAEMON-SECCOMP",
            {"info": {"SecurityOptions": ["name=seccomp,profile=unconfined", "name=userns"]}},
            {"info": {"SecurityOptions": ["name=seccomp,profile=/etc/docker/seccomp.json", "name=userns"]}},
        ),
        ("DKR-EXPERIMENTAL", {"info": {"ExperimentalBuild": True}}, {}),
    ],
)
def test_engine_rule(rule: str, bad: dict[str, Any], good: dict[str, Any]) -> None:
    assert rule in engine_hits(engine(**bad))
    assert rule not in engine_hits(engine(**good))


PODMAN_VERSION = {"Components": [{"Name": "Podman Engine", "Version": "4.3.1"}]}
#: A rootful Podman service as its compatible API describes it: no live restore, no authorization
#: plugin, ExperimentalBuild always true, and nothing that says rootless.
PODMAN_INFO = {"LiveRestoreEnabled": False, "Plugins": {"Authorization": None}, "ExperimentalBuild": True}


DOCKERD_ONLY = ("DKR-ROOTFUL-DAEMON", "DKR-NO-AUTHZ-PLUGIN", "DKR-NO-LIVE-RESTORE", "DKR-EXPERIMENTAL")


@pytest.mark.parametrize("rule", DOCKERD_ONLY)
def test_dockerd_only_settings_are_not_judged_on_podman(rule: str) -> None:
    info = {**GOOD_INFO, **PODMAN_INFO}
    docker_engine = engine_record(info, {}, [ICC_OFF], UNIX)
    podman_engine = engine_record(info, PODMAN_VERSION, [ICC_OFF], UNIX)
    assert podman_engine.attributes["product"] == "podman" and docker_engine.attributes["product"] == "docker"
    assert rule in engine_hits(docker_engine)
    assert rule not in engine_hits(podman_engine)


def test_podman_is_still_judged_on_what_it_shares_with_dockerd() -> None:
    info = {**GOOD_INFO, **PODMAN_INFO, "SecurityOptions": ["name=seccomp,profile=unconfined"], "Debug": True}
    hits = engine_hits(engine_record(info, PODMAN_VERSION, [ICC_OFF], UNIX))
    assert {"DKR-DAEMON-SECCOMP", "DKR-DEBUG-LOGGING", "DKR-NO-USERNS"} <= set(hits)


@pytest.mark.parametrize(
    ("tls", "client_cert", "expected"),
    [
        (False, False, (Severity.CRITICAL, "Docker API reachable over TCP without TLS")),
        (True, False, (Severity.HIGH, "Docker API over TLS accepts clients without a certificate")),
        (True, True, None),
    ],
)
def test_api_over_tcp(tls: bool, client_cert: bool, expected: tuple[Severity, str] | None) -> None:
    transport = {"url": "tcp://h:2376", "scheme": "tcp", "tls": tls, "client_cert": client_cert}
    host = engine(transport=transport)
    verdicts = [v for v in evaluate_all(REGISTRY, Snapshot([host]), [host]) if v.rule.id == "DKR-API-NO-TLS"]
    assert [(v.severity, v.title) for v in verdicts] == ([expected] if expected else [])
    assert "DKR-API-NO-TLS" not in engine_hits(engine(transport=UNIX))


# --- containers ---------------------------------------------------------------------------------


def test_the_hardened_container_gets_nothing() -> None:
    assert container_hits({}) == {}


@pytest.mark.parametrize(
    ("changes", "engine_info", "expected"),
    # check_5_2 (CIS 5.2) warns on an empty or "unconfined" .AppArmorProfile; Posture only where the engine
    # reports AppArmor, and ranks empty (no profile) low (docs/docker-checks.md, difference 2).
    [
        ({"AppArmorProfile": "unconfined"}, {}, Severity.MEDIUM),
        ({"AppArmorProfile": ""}, {}, Severity.LOW),
        ({"AppArmorProfile": "unconfined"}, {"SecurityOptions": ["name=seccomp,profile=default"]}, None),
        ({"AppArmorProfile": "docker-default"}, {}, None),
    ],
    ids=["unconfined", "no-profile", "host-without-apparmor", "default-profile"],
)
def test_apparmor(changes: dict[str, Any], engine_info: dict[str, Any], expected: Severity | None) -> None:
    assert container_hits(changes, engine_info).get("DKR-APPARMOR") == expected


@pytest.mark.parametrize(
    ("security_opt", "engine_info", "expected"),
    # check_5_3 (CIS 5.3) warns on an empty SecurityOpt; Posture reads the label options, only on SELinux engines.
    [
        (["no-new-privileges", "label=disable"], {}, Severity.MEDIUM),
        (["no-new-privileges"], {}, Severity.LOW),
        (["no-new-privileges", "label=disable"], {"SecurityOptions": ["name=seccomp,profile=default"]}, None),
        (["no-new-privileges", "label=level:s0:c100,c200"], {}, None),
    ],
    ids=["label-disable", "no-labels", "host-without-selinux", "labelled"],
)
def test_selinux_ranks_like_apparmor(
    security_opt: list[str], engine_info: dict[str, Any], expected: Severity | None
) -> None:
    assert container_hits({"HostConfig.SecurityOpt": security_opt}, engine_info).get("DKR-SELINUX") == expected


@pytest.mark.parametrize(
    ("network", "networks", "expected"),
    [
        ("bridge", None, Severity.LOW),
        ("appnet", None, None),
        # dockerd --bridge none: a network called "bridge" is then not the default bridge
        ("bridge", [], None),
        (
            "docker0",
            [{"Name": "docker0", "Driver": "bridge", "Options": {"com.docker.network.bridge.default_bridge": "true"}}],
            Severity.LOW,
        ),
    ],
)
def test_default_bridge(network: str, networks: list[dict[str, Any]] | None, expected: Severity | None) -> None:
    changes = {"HostConfig.NetworkMode": network, "NetworkSettings.Networks": {network: {}}}
    assert container_hits(changes, networks=networks).get("DKR-DEFAULT-BRIDGE") == expected


@pytest.mark.parametrize(
    ("security_options", "running", "expected"),
    [
        (["name=seccomp,profile=default", "name=userns"], True, Severity.HIGH),
        (["name=seccomp,profile=default", "name=userns"], False, Severity.MEDIUM),
        (["name=seccomp,profile=default"], True, Severity.INFO),
        (["name=seccomp,profile=default", "name=rootless"], True, Severity.INFO),
    ],
    ids=["remapped-running", "remapped-stopped", "not-remapped", "rootless"],
)
def test_host_userns_matters_where_the_engine_remaps(
    security_options: list[str], running: bool, expected: Severity
) -> None:
    changes = {"HostConfig.UsernsMode": "host", "State.Running": running}
    hits = container_hits(changes, {"SecurityOptions": [*security_options, "name=apparmor", "name=selinux"]})
    assert hits.get("DKR-HOST-USERNS") == expected
    assert "DKR-HOST-USERNS" not in container_hits({"HostConfig.UsernsMode": ""})


NO_HEALTH = {"Status": "created", "Running": True}  # a running container the engine has no health for
PORT = "80/tcp"


@pytest.mark.parametrize(
    ("rule", "bad", "good", "severity"),
    [
        ("DKR-PRIVILEGED", {"HostConfig.Privileged": True}, {"HostConfig.Privileged": False}, Severity.CRITICAL),
        ("DKR-HOST-NETWORK", {"HostConfig.NetworkMode": "host"}, {"HostConfig.NetworkMode": "none"}, Severity.HIGH),
        ("DKR-NO-MEMORY-LIMIT", {"HostConfig.Memory": 0}, {"HostConfig.Memory": 1}, Severity.MEDIUM),
        ("DKR-WRITABLE-ROOTFS", {"HostConfig.ReadonlyRootfs": False}, {}, Severity.LOW),
        ("DKR-HOST-PID", {"HostConfig.PidMode": "host"}, {"HostConfig.PidMode": "container:abc"}, Severity.HIGH),
        ("DKR-HOST-IPC", {"HostConfig.IpcMode": "host"}, {"HostConfig.IpcMode": "private"}, Severity.HIGH),
        ("DKR-HOST-UTS", {"HostConfig.UTSMode": "host"}, {"HostConfig.UTSMode": ""}, Severity.MEDIUM),
        (
            "DKR-HOST-DEVICE",
            {"HostConfig.Devices": [{"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse"}]},
            {"HostConfig.Devices": []},
            Severity.MEDIUM,
        ),
        (
            "DKR-SECCOMP-DISABLED",
            {"HostConfig.SecurityOpt": ["no-new-privileges", "label=type:t", "seccomp=unconfined"]},
            {"HostConfig.SecurityOpt": ["no-new-privileges", "label=type:t", "seccomp={}"]},
            Severity.HIGH,
        ),
        ("DKR-CGROUP-PARENT", {"HostConfig.CgroupParent": "/batch"}, {"HostConfig.CgroupParent": ""}, Severity.INFO),
        (
            "DKR-NO-NEW-PRIVILEGES",
            {"HostConfig.SecurityOpt": ["no-new-privileges=false", "label=type:t"]},
            {"HostConfig.SecurityOpt": ["no-new-privileges=true", "label=type:t"]},
            Severity.MEDIUM,
        ),
        (
            "DKR-NO-HEALTHCHECK",
            {"State": NO_HEALTH, "Config.Healthcheck": {"Test": ["NONE"]}},
            {"State": NO_HEALTH, "Config.Healthcheck": {"Test": ["CMD", "true"]}},
            Severity.LOW,
        ),
        ("DKR-NO-HEALTHCHECK", {"State": NO_HEALTH}, {}, Severity.LOW),
        ("DKR-NO-PIDS-LIMIT", {"HostConfig.PidsLimit": None}, {"HostConfig.PidsLimit": 1}, Severity.LOW),
        ("DKR-NO-PIDS-LIMIT", {"HostConfig.PidsLimit": 0}, {}, Severity.LOW),
        ("DKR-NO-PIDS-LIMIT", {"HostConfig.PidsLimit": -1}, {}, Severity.LOW),
        (
            "DKR-WILDCARD-BIND",
            {"HostConfig.PublishAllPorts": True},
            {"HostConfig.PublishAllPorts": False},
            Severity.MEDIUM,
        ),
    ],
)
def test_container_rule(rule: str, bad: dict[str, Any], good: dict[str, Any], severity: Severity) -> None:
    assert container_hits(bad).get(rule) == severity
    assert rule not in container_hits(good)


@pytest.mark.parametrize(
    ("shares", "nano_cpus", "quota", "fires"),
    # docker-bench's 5.12 passes CPU shares or --cpus (NanoCpus); Posture also a CFS quota (--cpu-quota).
    [(0, 0, 0, True), (512, 0, 0, False), (0, 500000000, 0, False), (0, 0, 50000, False)],
)
def test_cpu_limit(shares: int, nano_cpus: int, quota: int, fires: bool) -> None:
    changes = {"HostConfig.CpuShares": shares, "HostConfig.NanoCpus": nano_cpus, "HostConfig.CpuQuota": quota}
    assert ("DKR-NO-CPU-LIMIT" in container_hits(changes)) is fires


@pytest.mark.parametrize(
    ("name", "retries", "fires"),
    [
        ("always", 0, True),
        ("unless-stopped", 0, True),
        ("on-failure", 0, True),  # unlimited retries
        ("on-failure", 1, False),
        ("on-failure", 5, False),
        ("on-failure", 6, True),
        ("no", 0, False),
        ("", 0, False),  # the engine's default, "no"
    ],
)
def test_restart_policy(name: str, retries: int, fires: bool) -> None:
    changes = {"HostConfig.RestartPolicy": {"Name": name, "MaximumRetryCount": retries}}
    assert ("DKR-RESTART-POLICY" in container_hits(changes)) is fires


@pytest.mark.parametrize(
    ("host_port", "fires"),
    # Ports below 1024 need CAP_NET_BIND_SERVICE on the host (docker-bench's "-lt 1025" also flags 1024).
    [("0", False), ("1", True), ("80", True), ("1023", True), ("1024", False), ("8080", False), ("", False)],
)
def test_privileged_port_edges(host_port: str, fires: bool) -> None:
    bindings = {PORT: [{"HostIp": "127.0.0.1", "HostPort": host_port}]}
    host = engine(LSM_ENGINE)
    found = verdicts(container({"HostConfig.PortBindings": bindings}, host), host, "DKR-PRIVILEGED-PORT")
    assert [v.hit.discriminator for v in found] == ([f"127.0.0.1:{int(host_port)}->{PORT}"] if fires else [])


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("nginx", "latest"),
        ("nginx:latest", "latest"),
        ("registry.local:5000/team/app", "latest"),  # the registry's port is not a tag
        ("registry.local:5000/team/app:latest", "latest"),
        ("nginxnginxng", "latest"),  # 12 characters, but not hexadecimal: a name, not an ID
        ("nginx:1.25", None),
        ("registry.local:5000/team/app:2.0", None),
        ("nginx@sha256:" + "a" * 64, None),  # pinned by digest
        ("nginx:latest@sha256:" + "a" * 64, None),  # the digest wins over the tag
        ("sha256:" + "b" * 64, None),  # run by image ID
        ("0123456789ab", None),  # short image ID
        ("0123456789abcdef" * 4, None),  # full image ID
        ("", None),
    ],
)
def test_mutable_image_reference(image: str, tag: str | None) -> None:
    host = engine(LSM_ENGINE)
    found = verdicts(container({"Config.Image": image}, host), host, "DKR-MUTABLE-IMAGE-REF")
    assert [v.hit.evidence["tag"] for v in found] == ([tag] if tag else [])
    assert all(v.hit.evidence["image"] == image and v.severity == Severity.LOW for v in found)


def test_sshd_exec_sessions_and_secrets_each_give_one_finding_per_item() -> None:
    host = engine(LSM_ENGINE)
    base = container({}, host)
    execs = [
        {"id": "a" * 12, "privileged": True, "root": False},
        {"id": "b" * 12, "privileged": False, "root": True},
        {"id": "c" * 12, "privileged": False, "root": False},
    ]
    secrets = [
        {"location": "env", "key": "DB_PASSWORD", "detector": "keyword", "hash": "h" * 64},
        {"location": "label", "key": "", "detector": "entropy", "hash": "0123456789ab" + "f" * 52},
    ]
    risky = with_attributes(base, sshd=["/usr/sbin/sshd"], execs=execs, secrets=secrets)
    found = {(v.rule.id, v.hit.discriminator, v.severity) for v in verdicts(risky, host)}
    assert found == {
        ("DKR-SSHD", "", Severity.MEDIUM),
        ("DKR-EXEC-PRIVILEGED", "a" * 12, Severity.HIGH),
        ("DKR-EXEC-ROOT", "b" * 12, Severity.MEDIUM),
        ("DKR-ENV-SECRET", "env:DB_PASSWORD", Severity.HIGH),
        ("DKR-ENV-SECRET", "label:" + "f" * 16, Severity.MEDIUM),  # entropy only: nobody named it
    }
    quiet = with_attributes(base, sshd=[], execs=execs[2:], secrets=[])
    assert verdicts(quiet, host) == []


@pytest.mark.parametrize(
    ("security_options", "rootful"),
    [
        (["name=seccomp,profile=default", "name=userns"], True),
        (["name=seccomp,profile=default", "name=rootless"], False),
    ],
)
def test_rootful_daemon(security_options: list[str], rootful: bool) -> None:
    assert ("DKR-ROOTFUL-DAEMON" in engine_hits(engine({"SecurityOptions": security_options}))) is rootful


def test_insecure_registries_one_finding_each_loopback_excepted() -> None:
    config = {
        "InsecureRegistryCIDRs": ["127.0.0.0/8", "10.1.0.0/16"],
        "IndexConfigs": {"docker.io": {"Secure": True}, "registry.lan:5000": {"Secure": False}},
    }
    host = engine({"RegistryConfig": config})
    found = evaluate_all(REGISTRY, Snapshot([host]), [host])
    assert sorted(v.hit.discriminator for v in found if v.rule.id == "DKR-INSECURE-REGISTRY") == [
        "10.1.0.0/16",
        "registry.lan:5000",
    ]
    assert "DKR-INSECURE-REGISTRY" not in engine_hits(
        engine({"RegistryConfig": {"InsecureRegistryCIDRs": ["::1/128"]}})
    )
