"""The secret gate (posture/scrub.py) and the text detectors it relies on: each field kind, both sides."""

from __future__ import annotations

from typing import Any

import pytest

from posture.records import AssetKind, AssetRecord, AssetRef, ObservationRecord
from posture.rules.base import NIST_SECTIONS, Hit, Rule, Verdict
from posture.scrub import Scrubber
from posture.secrets import TOKEN_PATTERNS, SecretScanner, is_marker, marker, may_hold_secret
from posture.taxonomy import Phase, Severity

KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
PEM = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\nQyNTUxOQAAACBn\n-----END OPENSSH PRIVATE KEY-----\n"
AWS = "AKIAIOSFODNN7EXAMPLE"
GHP = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
DIGEST = "sha256:" + "ab" * 32
NIST = sorted(NIST_SECTIONS)[0]

#: One sample per token detector: each must be redacted, and must pass the prefilter.
TOKEN_SAMPLES = {
    "private-key": PEM,
    "aws-access-key-id": AWS,
    "github-token": GHP,
    "github-fine-grained-token": "github_pat_" + "a" * 30,
    "gitlab-token": "glpat-" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt",
    "slack-token": "xoxb-" + "1234567890",
    "slack-webhook": "https://hooks.slack.com/services/T0/B0/" + "x" * 20,
    "google-api-key": "AIza" + "S" * 35,
    "gcp-service-account": '{"type": "service_account"}',
    "stripe-key": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "anthropic-key": "sk-ant-" + "a" * 32,
    "openai-key": "sk-proj-" + "a" * 24,
    "npm-token": "npm_" + "a" * 36,
    "pypi-token": "pypi-AgEIcHlwaS5vcmc" + "a" * 50,
    "dockerhub-token": "dckr_pat_" + "a" * 27,
    "huggingface-token": "hf_" + "a" * 34,
    "sendgrid-key": "SG." + "a" * 22 + "." + "b" * 43,
    "digitalocean-token": "dop_v1_" + "a" * 64,
    "shopify-token": "shpat_" + "a" * 32,
    "azure-storage-key": "AccountKey=" + "a" * 86 + "==",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "url-credentials": "postgres://app:pw-123456@db:5432/app",
    "host-credentials": "app:pw-123456@db.internal",
}


@pytest.fixture
def scrub() -> Scrubber:
    return Scrubber(SecretScanner(b"posture-scrub-tests-hash-key-32b"))


def test_every_token_detector_has_a_sample() -> None:
    assert set(TOKEN_SAMPLES) == {detector for detector, _pattern in TOKEN_PATTERNS}


@pytest.mark.parametrize("detector", sorted(TOKEN_SAMPLES))
def test_each_token_format_passes_the_prefilter_and_is_redacted(scrub: Scrubber, detector: str) -> None:
    sample = TOKEN_SAMPLES[detector]
    text = f"before {sample} after"
    assert may_hold_secret(text)
    out = scrub.text(text)
    assert "<secret " in out and out.startswith("before ") and out.endswith(" after")
    assert scrub.text(out) == out


@pytest.mark.parametrize(
    "text",
    [
        "A flaw was found in the handling of crafted input by this library.",
        "docker.io/library/nginx:1.25@" + DIGEST,
        "pkg:apk/alpine/openssl@3.0.2-r0?arch=x86_64",
        "3f2a9c0e-1b4d-4f6a-8b7c-9d0e1f2a3b4c",
        "secretName: db-password",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    ],
)
def test_identifiers_and_prose_are_not_redacted(scrub: Scrubber, text: str) -> None:
    assert scrub.text(text) == text


def test_a_private_key_is_redacted_whole_begin_to_end(scrub: Scrubber) -> None:
    line = f'|1 SSH_PRIVATE_KEY={PEM} /bin/sh -c echo "$SSH_PRIVATE_KEY" > /root/.ssh/id_rsa'
    out = scrub.text(line)
    assert KEY_BODY not in out and "QyNTUxOQ" not in out and "END OPENSSH" not in out and "BEGIN" not in out
    assert out.endswith('/bin/sh -c echo "$SSH_PRIVATE_KEY" > /root/.ssh/id_rsa')  # the rest stays evidence


def test_a_private_key_without_end_is_redacted_to_the_end_of_the_value(scrub: Scrubber) -> None:
    cut = f"echo -----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\nmore-key-material"
    out = scrub.text(cut)
    assert out.startswith("echo <secret ") and out.endswith(">") and KEY_BODY not in out


@pytest.mark.parametrize(
    "text",
    [
        """echo '{"auths":{"r.example":{"auth":"dXNlcjpwYXNz"}}}' > /root/.docker/config.json""",
        r"""echo "{\"auths\":{\"r.example\":{\"auth\":\"dXNlcjpwYXNz\"}}}" > config.json""",
        """{"user": "app", "password": "dXNlcjpwYXNz"}""",
    ],
)
def test_json_pairs_with_a_secret_key_are_redacted(scrub: Scrubber, text: str) -> None:
    out = scrub.text(text)
    assert "dXNlcjpwYXNz" not in out and "<secret … (sha256:" in out
    assert scrub.text(out) == out


@pytest.mark.parametrize(
    "text",
    [
        """{"auths":{"r.example":{}}}""",
        """{"user": "dXNlcjpwYXNz"}""",  # the key does not say secret
        """{"password": "changeme"}""",  # a placeholder
        """{"passwordFile": "/run/secrets/db"}""",  # a reference
    ],
)
def test_json_pairs_without_a_secret_are_kept(scrub: Scrubber, text: str) -> None:
    assert scrub.text(text) == text


@pytest.mark.parametrize(
    ("host", "kept"),
    [
        ("user:pw-1234@db.internal", False),
        ("db.internal", True),
        ("user@db.internal", True),  # a user name, no password
        ("nginx:1.25@" + DIGEST, True),  # an image pinned by digest
        ("G3RG:OJYO:5KGI:IU34:YAXZ:3CPL:XRJ2:CZ2A:3MVC:MNEE:PODF:M6S6@3e1127f3eabb9cf9", True),  # a Docker engine key
    ],
)
def test_credentials_in_a_bare_host(scrub: Scrubber, host: str, kept: bool) -> None:
    out = scrub.text(host)
    assert (out == host) is kept
    if not kept:
        assert out.startswith("user:<secret ") and out.endswith("@db.internal")


def test_markers_are_recognised_whatever_was_redacted(scrub: Scrubber) -> None:
    scanner = SecretScanner(b"another-key-for-previews-32bytes")
    for value in ("abc", "Sup3r-S3cret-Db-Passw0rd", "x" * 200):
        preview, _digest = scanner.redact(value)
        assert is_marker(marker(preview))
    assert not is_marker("<secret AKIAIOSFODNN7EXAMPLE>")  # a look-alike cannot hide a token


def test_scrubbing_is_idempotent_and_deterministic(scrub: Scrubber) -> None:
    text = f"A={AWS} PASSWORD=hunter2x --token {GHP} https://u:pass1@h {PEM}"
    once = scrub.text(text)
    assert once == Scrubber(SecretScanner(b"posture-scrub-tests-hash-key-32b")).text(text)
    assert scrub.text(once) == once
    assert AWS not in once and "hunter2x" not in once and GHP not in once and "pass1" not in once


def _attributes() -> dict[str, Any]:
    return {
        "uid": "3f2a9c0e-1b4d-4f6a-8b7c-9d0e1f2a3b4c",
        "image": "registry.example/app@" + DIGEST,
        "labels": {"app": "web", "db-password": "hunter2x", "aws": AWS, "team": "payments"},
        "annotations": {"example.com/team": "payments", "ci-token": GHP},
        "pod": {"labels": {"app": "web", "api_key": "k-1234567"}},
        "containers": [
            {
                "env": [{"name": "DB_PASSWORD", "from": "secretKeyRef", "secret": "db-password"}],
                "probeHosts": [{"field": "livenessProbe.httpGet.host", "host": "user:pw-1234@db"}],
            }
        ],
        "secrets": [{"location": "env", "key": "DB_PASSWORD", "hash": "hmac-sha256:" + "0" * 64}],
    }


def test_user_data_mappings_are_judged_by_key_and_structure_is_not(scrub: Scrubber) -> None:
    out = scrub.value(_attributes())
    labels = out["labels"]
    assert labels["app"] == "web" and labels["team"] == "payments"
    assert is_marker(labels["db-password"]) and is_marker(labels["aws"])
    assert is_marker(out["annotations"]["ci-token"]) and out["annotations"]["example.com/team"] == "payments"
    assert is_marker(out["pod"]["labels"]["api_key"])
    container = out["containers"][0]
    # ``secret`` names a Secret (a reference) and ``DB_PASSWORD`` is a name: structure, kept.
    assert container["env"] == [{"name": "DB_PASSWORD", "from": "secretKeyRef", "secret": "db-password"}]
    assert container["probeHosts"][0]["host"].startswith("user:<secret ")
    assert out["uid"] == _attributes()["uid"] and out["image"] == _attributes()["image"]
    assert out["secrets"] == _attributes()["secrets"]
    assert scrub.value(out) == out


def test_a_key_naming_a_secret_outside_user_data_is_structure(scrub: Scrubber) -> None:
    value = {"password": "hunter2x", "token": "abcdefgh"}  # Posture's own keys, e.g. evidence fields
    assert scrub.value(value) == value


def test_a_clean_record_is_returned_as_is(scrub: Scrubber) -> None:
    asset = AssetRecord(AssetKind.WORKLOAD, "c/ns/Deployment/web", "web", Phase.RUN, {"labels": {"app": "web"}})
    assert scrub.asset(asset) is asset


def test_asset_verdict_and_observation_are_scrubbed_and_identities_kept(scrub: Scrubber) -> None:
    key = f"c/ns/Deployment/web-{DIGEST}"
    asset = AssetRecord(
        AssetKind.WORKLOAD, key, "web", Phase.RUN, {"labels": {"db-password": "hunter2x"}}, aliases=(DIGEST,)
    )
    scrubbed = scrub.asset(asset)
    assert scrubbed.key == key and scrubbed.aliases == (DIGEST,)
    assert is_marker(scrubbed.attributes["labels"]["db-password"])
    assert asset.attributes["labels"]["db-password"] == "hunter2x"  # the raw record is left to the rules

    rule = Rule(
        id="T-1", title="test", severity=Severity.LOW, phase=Phase.RUN, nist=NIST, remediation="none", evaluate=None
    )
    verdict = Verdict(rule, asset.ref, "web", Hit("label db-password", {"value": f"token {GHP}"}, f"found {AWS}"))
    clean = scrub.verdict(verdict)
    assert GHP not in str(clean.hit.evidence) and AWS not in (clean.hit.title or "")
    assert clean.hit.discriminator == "label db-password"

    obs = ObservationRecord(
        "SCAN-VULN",
        AssetRef(AssetKind.IMAGE, DIGEST),
        "CVE-2024-1|openssl|3.0.2",
        f"leak of {GHP}",
        Severity.HIGH,
        {"title": f"token {GHP} leaked", "description": f"set AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG and {AWS}"},
    )
    out = scrub.observation(obs)
    assert out.discriminator == obs.discriminator
    assert GHP not in out.title and GHP not in str(out.evidence) and AWS not in str(out.evidence)
    assert "wJalrXUtnFEMI" not in str(out.evidence)
