"""Registry collector pieces that need no network: URLs, tags, manifests, challenges, credentials."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from collectors.registry.auth import parse_challenge, realm_may_receive_credentials
from collectors.registry.client import BadResponse, repository_scope, retry_after_seconds
from collectors.registry.credentials import CredentialError, DockerCredentials
from collectors.registry.oci_manifests import ImageManifest, Index, parse_manifest, verify_digest
from collectors.registry.tags import newest, split_tags
from collectors.registry.target import RegistryTarget, TargetError, parse_registry_url
from tests.registry.registry_helpers import canonical, config_blob, digest, image_manifest, index_manifest, tiny_layer

# --- --registry URLs and scope ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Registry.Example:443/team", ("https", "registry.example", "team", False)),
        ("registry.example:5000", ("https", "registry.example:5000", "", False)),
        ("https://index.docker.io/library/alpine", ("https", "docker.io", "library/alpine", False)),
        ("http://127.0.0.1:5000/", ("http", "127.0.0.1:5000", "", True)),
    ],
)
def test_registry_urls(url: str, expected: tuple[str, str, str, bool]) -> None:
    target = parse_registry_url(url, insecure_hosts=["127.0.0.1:5000"])
    assert (target.scheme, target.authority, target.prefix, target.insecure) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://registry.example", "plain HTTP needs --insecure-registry registry.example"),
        ("https://user:pw@registry.example", "credentials in the URL are refused"),
        ("ftp://registry.example", "unsupported scheme"),
        ("https://registry.example/x?y=1", "query or fragment"),
    ],
)
def test_registry_urls_refused(url: str, message: str) -> None:
    with pytest.raises(TargetError, match=message) as caught:
        parse_registry_url(url)
    assert "pw" not in str(caught.value)


def test_scope_filters_by_prefix_include_and_exclude() -> None:
    target = RegistryTarget("https", "r.example", prefix="team", include=("team/*",), exclude=("*/tmp-*",))
    assert target.scope_name == "r.example/team"
    assert target.wants("team/app")
    assert not target.wants("teammate/app")  # a prefix is a path component, not a string prefix
    assert not target.wants("team/tmp-build")
    assert not target.wants("other/app")


def test_docker_hub_is_spoken_to_at_its_api_host() -> None:
    assert RegistryTarget("https", "docker.io").base_url == "https://registry-1.docker.io"


# --- tags ---------------------------------------------------------------------------------------


def test_signature_and_referrer_tags_are_not_images() -> None:
    hexd = "ab" * 32
    split = split_tags(["1.0", f"sha256-{hexd}.sig", f"sha256-{hexd}.att", f"sha256-{hexd}", "sha256-nothex.sig"])
    assert split.images == ["1.0", "sha256-nothex.sig"]
    assert split.artifacts == {f"sha256:{hexd}": {"sig", "att", "referrers"}}


def test_newest_tags_by_version_order() -> None:
    tags = ["1.9.0", "1.10.0", "latest", "1.2", "dev", "v2"]
    assert newest(tags, 3) == ["latest", "1.10.0", "1.9.0"]
    assert newest(tags, None)[-1] == "dev"


# --- manifests ----------------------------------------------------------------------------------


def test_manifest_kinds_and_attestations() -> None:
    layer = tiny_layer()
    cfg = config_blob(layer)
    single = parse_manifest(image_manifest(cfg, layer, docker=True), None, "t")
    assert isinstance(single, ImageManifest) and single.is_image and single.config_digest == digest(cfg)
    a, b = image_manifest(cfg, layer), image_manifest(config_blob(layer, architecture="arm64"), layer)
    doc = json.loads(index_manifest([(a, "linux/amd64"), (b, "linux/arm64/v8")]))
    doc["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest(b"x"),
            "size": 1,
            "platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"},
        }
    )
    index = parse_manifest(canonical(doc), "application/vnd.oci.image.index.v1+json", "t")
    assert isinstance(index, Index)
    assert [e.platform for e in index.entries] == ["linux/amd64", "linux/arm64/v8"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>oops</html>", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"schemaVersion": 1, "fsLayers": []}', "schema 1"),
        (
            b'{"mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {"digest": "../../etc"}}',
            "invalid digest",
        ),
        (b'{"manifests": [{"digest": "sha256:/../x"}]}', "invalid digest"),
    ],
)
def test_bad_manifests_are_refused_with_one_line(body: bytes, message: str) -> None:
    with pytest.raises(BadResponse, match=message) as caught:
        parse_manifest(body, None, "team/app:1")
    assert "\n" not in str(caught.value)


def test_content_must_match_its_digest() -> None:
    verify_digest(b"abc", digest(b"abc"), "x")
    with pytest.raises(BadResponse, match="does not match"):
        verify_digest(b"abd", digest(b"abc"), "x")


def test_token_scope_from_path() -> None:
    assert repository_scope("/v2/_catalog?n=10") == "registry:catalog:*"
    assert repository_scope("/v2/team/app/manifests/1.0") == "repository:team/app:pull"
    assert repository_scope("/v2/team/app/blobs/sha256:ab") == "repository:team/app:pull"
    assert repository_scope("/v2/") == ""


def test_retry_after_forms() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 5) == 5.0
    assert retry_after_seconds("soon") is None


# --- auth ---------------------------------------------------------------------------------------


def test_bearer_challenge_with_quoted_commas() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"'
    )
    assert challenge is not None
    assert (challenge.realm, challenge.service, challenge.scope) == (
        "https://auth.example/token",
        "registry.example",
        "repository:a/b:pull,push",
    )
    assert parse_challenge('Basic realm="x"') is not None
    assert parse_challenge("Negotiate abc") is None


@pytest.mark.parametrize(
    ("realm", "allowed", "insecure", "ok"),
    [
        ("https://reg.example/token", frozenset(), False, True),  # same host, HTTPS
        ("https://reg.example:5001/token", frozenset(), False, True),  # same host, other port
        ("http://reg.example/token", frozenset(), False, False),  # plain HTTP
        ("http://reg.example/token", frozenset(), True, True),  # the user accepted HTTP for this host
        ("https://evil.example/token", frozenset(), False, False),  # CVE-2020-15157
        ("https://auth.example/token", frozenset({"auth.example"}), False, True),
        ("http://auth.example/token", frozenset({"auth.example"}), True, False),
    ],
)
def test_who_may_receive_credentials(realm: str, allowed: frozenset[str], insecure: bool, ok: bool) -> None:
    assert realm_may_receive_credentials(realm, "https://reg.example", allowed, insecure=insecure) is ok


# --- Docker config credentials ------------------------------------------------------------------


def write_config(directory: Path, config: dict[str, object]) -> DockerCredentials:
    (directory / "config.json").write_text(json.dumps(config))
    return DockerCredentials(directory)


def test_auths_entry_base64_and_identity_token(tmp_path: Path) -> None:
    creds = write_config(
        tmp_path,
        {
            "auths": {
                "https://reg.example:5000/v1/": {"auth": base64.b64encode(b"alice:s3cr3t:with:colons").decode()},
                "https://index.docker.io/v1/": {"identitytoken": "refresh-token"},
            }
        },
    )
    found = creds.lookup("reg.example:5000")
    assert found is not None and (found.username, found.secret) == ("alice", "s3cr3t:with:colons")
    assert "s3cr3t" not in repr(found)
    hub = creds.lookup("docker.io")
    assert hub is not None and hub.identity_token and hub.secret == "refresh-token"
    assert creds.lookup("other.example") is None


def test_missing_config_means_anonymous(tmp_path: Path) -> None:
    assert DockerCredentials(tmp_path / "absent").lookup("reg.example") is None


def test_broken_auth_entry_is_named_without_its_value(tmp_path: Path) -> None:
    creds = write_config(tmp_path, {"auths": {"reg.example": {"auth": "!!notbase64!!"}}})
    with pytest.raises(CredentialError, match="not valid base64") as caught:
        creds.lookup("reg.example")
    assert "notbase64" not in str(caught.value)


def helper_script(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / f"docker-credential-{name}"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_credential_helpers_follow_the_protocol(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    asked = tmp_path / "asked"
    helper_script(
        bin_dir,
        "pt",
        f'read server; echo "$server" > {asked}; '
        'echo \'{"ServerURL":"x","Username":"bob","Secret":"from-helper"}\'\n',
    )
    helper_script(bin_dir, "none", "echo 'credentials not found in native keychain'; exit 1\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    creds = write_config(
        tmp_path,
        {
            "credHelpers": {"reg.example:5000": "pt"},
            "credsStore": "none",
            "auths": {"other.example": {"auth": base64.b64encode(b"carol:pw").decode()}},
        },
    )
    found = creds.lookup("reg.example:5000")
    assert found is not None and (found.username, found.secret) == ("bob", "from-helper")
    assert asked.read_text().strip() == "reg.example:5000"
    # The store has nothing for other.example: the file's entry still answers.
    other = creds.lookup("other.example")
    assert other is not None and other.username == "carol"


def test_a_missing_or_failing_helper_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    helper_script(bin_dir, "broken", "echo 'secret-echo' >&2; exit 3\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(CredentialError, match="not installed"):
        write_config(tmp_path, {"credsStore": "nosuchhelper"}).lookup("reg.example")
    with pytest.raises(CredentialError, match=r"failed \(exit 3\)") as caught:
        write_config(tmp_path, {"credsStore": "broken"}).lookup("reg.example")
    assert "secret-echo" not in str(caught.value)
    with pytest.raises(CredentialError, match="not a plain name"):
        write_config(tmp_path, {"credsStore": "../../bin/sh"}).lookup("reg.example")
