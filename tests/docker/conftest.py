"""One small estate on the test engine (tests/docker/estate.py), built once per session and removed
afterwards."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from collectors.docker.collector import DockerCollector
from collectors.docker.endpoint import from_url
from posture.secrets import SecretScanner
from tests.docker.docker_support import DockerCli
from tests.docker.estate import (
    HARDENED_DOCKERFILE,
    HARDENED_IMAGE,
    HASH_KEY,
    PRIVATE_KEY,
    RISKY_DOCKERFILE,
    RISKY_IMAGE,
    Collected,
    Estate,
    create_containers,
)
from tests.services import Dockerd


@pytest.fixture(scope="session")
def estate(dockerd: Dockerd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    cli = DockerCli(dockerd.url)
    cli.cleanup()  # leftovers of an interrupted earlier session
    context = tmp_path_factory.mktemp("docker-build")
    (context / "id_rsa").write_text(PRIVATE_KEY)
    try:
        risky = cli.build(RISKY_IMAGE, context, RISKY_DOCKERFILE.format(base=dockerd.busybox_image))
        (context / "id_rsa").unlink()
        hardened = cli.build(HARDENED_IMAGE, context, HARDENED_DOCKERFILE.format(base=dockerd.busybox_image))
        containers = create_containers(cli, dockerd.socket_path)
        yield Estate(dockerd.url, risky, hardened, containers)
    finally:
        cli.cleanup()
        shutil.rmtree(context, ignore_errors=True)


@pytest.fixture(scope="session")
def scanner() -> SecretScanner:
    return SecretScanner(HASH_KEY)


@pytest.fixture(scope="session")
def collected(estate: Estate, scanner: SecretScanner) -> Collected:
    """One collection of the engine with the layer scan on (the images are ~2 MB)."""
    collector = DockerCollector(from_url(estate.url), scanner, workers=4, layer_scan_bytes=64 * 1024 * 1024)
    return Collected(list(collector.collect()))
