"""posture/secrets.py: detection by key name, token format and entropy; nothing revealing leaves it."""

from __future__ import annotations

import pytest

from posture.secrets import SecretScanner, key_words, secret_key_name

SCANNER = SecretScanner(b"secrets-test-hash-key-0123456789")


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("DB_PASSWORD", True),
        ("dbPassword", True),
        ("APIKey", True),
        ("aws_secret_access_key", True),
        ("com.example.api-token", True),
        ("MYSQL_ROOT_PASSWORD", True),
        ("STRIPE_API_KEY", True),
        ("PASSWORD_FILE", False),
        ("OPENVPN_PASSWORD_SECRETFILE", False),
        ("TOKEN_URL", False),
        ("PASSWORD_MIN_LENGTH", False),
        ("GPG_KEY", False),
        ("PATH", False),
        ("HOSTNAME", False),
        ("AUTH_PROVIDER", False),
    ],
)
def test_key_names(key: str, secret: bool) -> None:
    assert secret_key_name(key) is secret, key_words(key)


@pytest.mark.parametrize(
    ("value", "detector"),
    [
        ("AKIAIOSFODNN7EXAMPLE", "aws-access-key-id"),
        ("ghp_" + "a" * 36, "github-token"),
        ("glpat-" + "x1" * 10, "gitlab-token"),
        ("xoxb-1234567890-abcdefghij", "slack-token"),
        ("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "stripe-key"),
        ("npm_" + "A1" * 18, "npm-token"),
        ("dckr_pat_" + "abcdefghijklmnopqrstuvwxyz1", "dockerhub-token"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "jwt"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "private-key"),
        ("postgres://app:s3cr3tpw@db:5432/app", "url-credentials"),
    ],
)
def test_token_formats_fire_whatever_the_key(value: str, detector: str) -> None:
    hit = SCANNER.scan_pair("env", "SOMETHING", value)
    assert hit is not None and hit.detector == detector


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DB_PASSWORD", ""),
        ("DB_PASSWORD", "changeme"),
        ("DB_PASSWORD", "$DB_PASSWORD_FROM_VAULT"),
        ("DB_PASSWORD", "/run/secrets/db"),
        ("PYTHON_SHA256", "a" * 64),
        ("IMAGE", "sha256:" + "ab" * 32),
        ("SHADOWSOCKS_CIPHER", "chacha20-ietf-poly1305"),
        ("REQUEST_ID", "550e8400-e29b-41d4-a716-446655440000"),
        ("HOME_PAGE", "https://example.com/a/very/long/path/with/words"),
    ],
)
def test_references_placeholders_and_digests_are_not_secrets(key: str, value: str) -> None:
    assert SCANNER.scan_pair("env", key, value) is None


def test_entropy_catches_an_unnamed_random_value() -> None:
    hit = SCANNER.scan_pair("env", "X_UPSTREAM", "q8Vt2LmZ7rPx4KsN9wYb3Hd6")
    assert hit is not None and hit.detector == "entropy"


def test_hit_never_reveals_the_value_and_is_stable() -> None:
    value = "Sup3r-S3cret-Value-42"
    hit = SCANNER.scan_pair("env", "DB_PASSWORD", value)
    assert hit is not None and hit.preview == f"Su… (sha256:{hit.fingerprint[len('hmac-sha256:'):][:12]})"
    assert value not in repr(hit.as_evidence())
    assert SCANNER.scan_pair("label", "db.password", value).fingerprint == hit.fingerprint  # type: ignore[union-attr]
    other_install = SecretScanner(b"another-installation-hash-key-xx").scan_pair("env", "DB_PASSWORD", value)
    assert other_install is not None and other_install.fingerprint != hit.fingerprint


def test_redact_text_keeps_the_command_and_hides_each_secret() -> None:
    text = (
        "|2 GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789 DB_PASSWORD=hunter22 /bin/sh -c "
        'curl https://user:pa55word@example.com/x && mysql --password "s3cr3t!!" && echo $DB_PASSWORD'
    )
    clean, hits = SCANNER.redact_text("history", text)
    for secret in ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "hunter22", "pa55word", "s3cr3t!!"):
        assert secret not in clean
    assert {h.detector for h in hits} == {"github-token", "key-name", "url-credentials"}
    assert len(hits) == 4
    assert clean.startswith("|2 GITHUB_TOKEN=<secret gh… (sha256:") and clean.endswith("echo $DB_PASSWORD")
    assert "https://user:<secret … (sha256:" in clean and "chars" not in clean  # 8 characters: none shown
