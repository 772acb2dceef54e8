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
from tests.docker.rule_records import GOOD_INFO, ICC_OFF, REGISTRY, UNIX, container_hits, engine, engine_hits


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
