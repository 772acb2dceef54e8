"""A private key passed with ``docker build --build-arg`` and a registry ``auth`` echoed in a ``RUN``
line: IMG-SECRET fires, and no byte of either is stored or exported (issue 23, item 1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.docker.imageconfig import image_config
from posture.secrets import SecretScanner
from tests.docker.docker_support import DockerCli
from tests.scrub_support import leaks, posture
from tests.services import Dockerd

KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ"
KEY_TAIL = "AAAAIHhZ9yQxV3Fqk0Lw2mPzT1cR8uE5nB7sD4aG6jK0oM"
PRIVATE_KEY = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n{KEY_TAIL}\n-----END OPENSSH PRIVATE KEY-----"
AUTH = "cG9zdHVyZTpyZWdpc3RyeS1wYXNzd29yZA"  # base64 of "posture:registry-password"
SECRETS = {"key body": KEY_BODY, "key tail": KEY_TAIL, "END line": "END OPENSSH PRIVATE KEY", "auth": AUTH}
DOCKERFILE = f"""FROM BASE_IMAGE
ARG SSH_PRIVATE_KEY
RUN mkdir -p /root/.ssh && echo "$SSH_PRIVATE_KEY" > /root/.ssh/id_rsa && rm /root/.ssh/id_rsa
RUN mkdir -p /root/.docker && echo '{{"auths":{{"registry.example":{{"auth":"{AUTH}"}}}}}}' > /root/.docker/config.json
CMD ["sleep", "3600"]
"""
IMAGE = "posture-test/build-arg-secret:latest"


@pytest.fixture(scope="module")
def built(dockerd: Dockerd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cli = DockerCli(dockerd.url)
    context = tmp_path_factory.mktemp("build-arg")
    image_id = cli.build(
        IMAGE, context, DOCKERFILE.replace("BASE_IMAGE", dockerd.busybox_image), {"SSH_PRIVATE_KEY": PRIVATE_KEY}
    )
    history = cli("history", "--no-trunc", "--format", "{{.CreatedBy}}", IMAGE)
    assert KEY_BODY in history and AUTH in history  # the engine does keep them: the test plants what it checks
    yield image_id
    cli("rmi", "-f", IMAGE, check=False)


def test_no_key_or_auth_from_the_image_history_is_stored(dockerd: Dockerd, built: str, tmp_path: Path) -> None:
    result = posture(tmp_path, "collect", "--docker", dockerd.url)
    assert result.returncode in (0, 3), result.stderr  # the shared engine may hold others' half-built objects
    assert leaks(tmp_path, SECRETS) == []

    assets = json.loads(posture(tmp_path, "assets", "--kind", "image", "--format", "json").stdout)
    (image,) = [a for a in assets if a["key"] == built]
    history = "\n".join(step["created_by"] for step in image["attributes"]["config"]["history"])
    assert "SSH_PRIVATE_KEY=<secret " in history and '"auth":"<secret ' in history
    assert "/root/.ssh/id_rsa" in history  # the rest of the line stays evidence

    findings = json.loads(posture(tmp_path, "findings", "--format", "json").stdout)
    found = [
        hit
        for f in findings
        if f["rule_id"] == "IMG-SECRET" and f["asset"]["key"] == built
        for hit in f["evidence"]["found_in"]
    ]
    assert {("private-key", ""), ("key-name", "auth")} <= {(hit["detector"], hit["key"]) for hit in found}, found


def test_a_registry_image_config_keeps_no_key_body() -> None:
    """The registry collector reads history through the same ``image_config``: the key goes whole there too."""
    step = {"created_by": f'|1 SSH_PRIVATE_KEY={PRIVATE_KEY}\n /bin/sh -c echo "$SSH_PRIVATE_KEY" > /root/.ssh/id_rsa'}
    config, hits = image_config(
        {}, created=None, os="linux", architecture="amd64", history=[step], secrets=SecretScanner(b"k" * 32)
    )
    stored = config["history"][0]["created_by"]
    assert not any(value in stored for value in SECRETS.values()) and stored.endswith("/root/.ssh/id_rsa")
    assert [hit.detector for hit in hits] == ["private-key"]
