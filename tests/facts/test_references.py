"""posture/facts/references.py: image references read as Docker and the registries read them
(distribution/reference's grammar: the first component is a registry only with a "." or ":" or as
"localhost"; no tag means "latest"; Docker Hub has three names)."""

from __future__ import annotations

import pytest

from posture.facts.references import (
    DOCKER_HUB_ALIASES,
    ImageRef,
    digest_from_image_id,
    is_image_id,
    mutable_tag,
    parse_image,
    reference_registry,
    registry_host,
)

DIGEST = "sha256:" + "a" * 64


def test_docker_hub_has_three_names() -> None:
    assert {"docker.io", "index.docker.io", "registry-1.docker.io"} == DOCKER_HUB_ALIASES
    for alias in DOCKER_HUB_ALIASES:
        assert registry_host(alias) == registry_host(alias.upper()) == "docker.io"
    assert registry_host("Quay.IO") == "quay.io"
    assert registry_host("docker.io.evil.example") == "docker.io.evil.example"


@pytest.mark.parametrize(
    ("reference", "host"),
    [
        # Docker's rule (distribution/reference): the first component is a host only if it has a "." or
        # ":" or is "localhost"; otherwise the reference is on Docker Hub.
        ("alpine", "docker.io"),
        ("alpine:3.19", "docker.io"),
        ("library/alpine", "docker.io"),
        ("org/app:1", "docker.io"),
        ("localhost/app", "localhost"),
        ("localhost:5000/app", "localhost:5000"),
        ("reg.example:5000/team/app:1", "reg.example:5000"),
        ("Quay.IO/org/base", "quay.io"),
        ("myhost:5000/app", "myhost:5000"),
        # Docker Hub's other names are Docker Hub.
        ("docker.io/library/alpine", "docker.io"),
        ("index.docker.io/library/alpine", "docker.io"),
        ("registry-1.docker.io/library/alpine", "docker.io"),
        ("Registry-1.Docker.IO/library/alpine", "docker.io"),
    ],
)
def test_reference_registry(reference: str, host: str) -> None:
    assert reference_registry(reference) == host


@pytest.mark.parametrize(
    ("reference", "parsed"),
    [
        ("nginx", ImageRef("docker.io", "library/nginx", None, None)),
        ("nginx:1.25", ImageRef("docker.io", "library/nginx", "1.25", None)),
        ("org/app:latest", ImageRef("docker.io", "org/app", "latest", None)),
        ("index.docker.io/library/nginx", ImageRef("docker.io", "library/nginx", None, None)),
        ("Registry-1.Docker.IO/org/app:2", ImageRef("docker.io", "org/app", "2", None)),
        ("localhost:5000/app@" + DIGEST, ImageRef("localhost:5000", "app", None, DIGEST)),
        ("reg.example/a/b:1@" + DIGEST, ImageRef("reg.example", "a/b", "1", DIGEST)),
        ("nginx@sha256:zz", ImageRef("docker.io", "library/nginx", None, None)),  # not a digest: dropped
        ("localhost/app:", ImageRef("localhost", "app", None, None)),
    ],
)
def test_parse_image(reference: str, parsed: ImageRef) -> None:
    assert parse_image(reference) == parsed
    assert {parsed: 1}[parse_image(reference)] == 1  # a value: hashable, usable as a key


@pytest.mark.parametrize(
    "reference", ["", "  ", "ngi nx", "nginx:1 0", "Nginx", "reg.example/App:1", ":1", "@" + DIGEST]
)
def test_unparsable_references(reference: str) -> None:
    assert parse_image(reference) is None


@pytest.mark.parametrize(
    ("reference", "tag"),
    [
        ("nginx", "latest"),
        ("nginx:latest", "latest"),
        ("reg.example:5000/app", "latest"),
        ("reg.example:5000/app:latest", "latest"),
        ("nginx:1.25", None),
        ("reg.example:5000/app:1", None),
        ("nginx@" + DIGEST, None),
        ("nginx:latest@" + DIGEST, None),
        (DIGEST, None),
        ("a" * 12, None),
        ("b" * 64, None),
        ("", None),
        ("latest", "latest"),  # an image called "latest", untagged
        ("abcdef12345", "latest"),  # 11 hex digits is a name, not an ID
    ],
)
def test_mutable_tag(reference: str, tag: str | None) -> None:
    assert mutable_tag(reference) == tag


def test_image_ids() -> None:
    assert is_image_id(DIGEST) and is_image_id("a" * 12) and is_image_id("0" * 64)
    assert is_image_id("0123456789abcdef" * 4)  # every hex digit at once
    assert not is_image_id("a" * 13) and not is_image_id("A" * 12) and not is_image_id("nginx")


@pytest.mark.parametrize(
    ("image_id", "digest"),
    [
        ("docker-pullable://nginx@" + DIGEST, DIGEST),
        ("docker://" + DIGEST, DIGEST),
        (DIGEST, DIGEST),
        ("nginx@sha256:short", None),
        ("", None),
    ],
)
def test_digest_from_image_id(image_id: str, digest: str | None) -> None:
    assert digest_from_image_id(image_id) == digest
