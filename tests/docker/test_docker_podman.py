"""Podman's Docker-compatible API (``podman system service``): the same collector and checks.

Podman here can create containers but not start them (see scripts/services.sh), so the container is
created only; its image is imported through the API because nothing can be pulled.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collectors.docker.collector import DockerCollector
from collectors.docker.endpoint import from_url
from posture.records import AssetKind, AssetRecord
from posture.rules import docker as docker_rules
from posture.rules.base import RuleRegistry, Snapshot, evaluate_all
from tests.docker.docker_support import podman_container as created_on_podman
from tests.services import Podman


@pytest.fixture(scope="module")
def podman_container(podman: Podman) -> Iterator[str]:
    with created_on_podman(podman.url, "pdk-podman-priv") as container_id:
        yield container_id


def test_podman_engine_and_container_checks(podman: Podman, podman_container: str) -> None:
    records = list(DockerCollector(from_url(podman.url), None).collect())
    assets = [r for r in records if isinstance(r, AssetRecord)]
    [engine] = [a for a in assets if a.kind is AssetKind.DOCKER_ENGINE]
    assert engine.attributes["product"] == "podman"
    engine_rules = {v.rule.id for v in evaluate_all(RuleRegistry(docker_rules.RULES), Snapshot(assets), [engine])}
    # dockerd's own settings are not judged on Podman; what Podman shares with it (user namespaces) is
    assert not {"DKR-ROOTFUL-DAEMON", "DKR-NO-AUTHZ-PLUGIN", "DKR-NO-LIVE-RESTORE", "DKR-EXPERIMENTAL"} & engine_rules
    assert "DKR-NO-USERNS" in engine_rules
    [container] = [a for a in assets if a.kind is AssetKind.CONTAINER and a.attributes["id"] == podman_container]
    assert container.attributes["running"] is False and container.parent == engine.ref
    rules = {v.rule.id for v in evaluate_all(RuleRegistry(docker_rules.RULES), Snapshot(assets), [container])}
    assert {"DKR-PRIVILEGED", "DKR-HOST-PID", "DKR-NO-MEMORY-LIMIT"} <= rules
