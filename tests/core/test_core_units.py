"""Pure pieces of the core: URLs, secret redaction, terminal-safe text, rule metadata."""

from __future__ import annotations

import pytest

from posture.db import DatabaseError, redact_url, resolve_url
from posture.rules import default_registry
from posture.rules.base import Reference, Rule
from posture.secrets import SecretScanner
from posture.taxonomy import NIST, NIST_SECTIONS, Phase, Severity
from posture.textsafe import clean

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://alice@db.example:5432/posture", "postgresql+psycopg://alice@db.example:5432/posture"),
        ("postgres://alice:pw@db/posture", "postgresql+psycopg://alice:pw@db/posture"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_urls_users_paste_are_accepted(given: str, expected: str) -> None:
    assert resolve_url(given) == expected


def test_a_bare_path_is_sqlite(tmp_path: object) -> None:
    assert resolve_url("/tmp/posture-test.db") == "sqlite:////tmp/posture-test.db"


def test_unsupported_or_broken_urls_are_one_line_errors() -> None:
    with pytest.raises(DatabaseError, match="unsupported database 'mysql'"):
        resolve_url("mysql://root@localhost/x")
    with pytest.raises(DatabaseError, match="not valid"):
        resolve_url("postgresql://a@b:notaport/x")


def test_passwords_never_appear_in_messages() -> None:
    assert "hunter2" not in redact_url(resolve_url("postgresql://alice:hunter2@db/posture"))


def test_secret_values_are_redacted_and_hashed_with_the_key() -> None:
    scanner = SecretScanner(KEY)
    hit = scanner.scan_pair("env", "DB_PASSWORD", "Su9erS3cretValue!")
    assert hit is not None and hit.detector == "key-name"
    assert "Su9erS3cretValue" not in str(hit.as_evidence())
    assert hit.preview.startswith("Su… (sha256:") and "17" not in hit.preview.split("sha256:")[0]
    assert SecretScanner(b"x" * 32).scan_pair("env", "DB_PASSWORD", "Su9erS3cretValue!") != hit
    assert scanner.scan_pair("env", "DB_PASSWORD_FILE", "/run/secrets/db") is None
    assert scanner.scan_pair("env", "PATH", "/usr/local/bin:/usr/bin") is None


@pytest.mark.parametrize(("value", "shown"), [("Ab" + "x9" * 7, "Ab"), ("Ab" + "x9" * 6 + "x", "")])
def test_a_preview_never_tells_the_length_and_shows_two_characters_only_of_long_values(value: str, shown: str) -> None:
    """16 characters and more: the first two are shown (a token's format); 15 and fewer: nothing."""
    preview, digest = SecretScanner(KEY).redact(value)
    assert preview == f"{shown}… (sha256:{digest[len('hmac-sha256:'):][:12]})"
    assert str(len(value)) not in preview.replace(digest[len("hmac-sha256:"):][:12], "")


def test_known_token_formats_are_found_in_free_text() -> None:
    scanner = SecretScanner(KEY)
    command = "RUN curl -H 'x' https://user:pa55word@example.com/ && export AWS=AKIAIOSFODNN7EXAMPLE"
    hits = scanner.scan_text("history", command)
    assert {h.detector for h in hits} == {"url-credentials", "aws-access-key-id"}
    assert all("pa55word" not in h.preview and "AKIAIOSFODNN7EXAMPLE" not in h.preview for h in hits)


def test_control_bidi_and_escape_sequences_are_made_visible() -> None:
    hostile = "app\x1b]52;c;ZXZpbA==\x07\u202eexe.sh\r\nnext"
    assert clean(hostile) == "app<U+001B>]52;c;ZXZpbA==<U+0007><U+202E>exe.sh next"
    assert clean(hostile, multiline=True).endswith("exe.sh\nnext")
    assert "\x1b" not in clean(hostile, multiline=True)
    assert clean("x" * 10, limit=5) == "xxxx…"


def test_every_registered_rule_cites_nist_first_with_exact_framework_names() -> None:
    allowed = {NIST, "CIS Docker Benchmark 1.6.0", "CIS Kubernetes Benchmark", "Pod Security Standards", "Trivy",
               "Kubescape"}
    for rule in default_registry():
        refs = rule.all_references
        assert refs[0] == Reference(NIST, rule.nist)
        assert rule.nist in NIST_SECTIONS
        assert {r.framework for r in refs} <= allowed, rule.id


def test_a_rule_with_an_unknown_nist_section_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown NIST"):
        Rule(id="X", title="x", severity=Severity.LOW, phase=Phase.RUN, nist="3.9.9", remediation="fix")


def test_timestamps_as_sources_write_them() -> None:
    from datetime import UTC, datetime, timedelta, timezone

    from posture.clock import parse_timestamp

    assert parse_timestamp("2019-04-10T19:49:07.970840451Z") == datetime(2019, 4, 10, 19, 49, 7, 970840, tzinfo=UTC)
    assert parse_timestamp("2021-08-25T12:20:30.97-04:00") == datetime(
        2021, 8, 25, 12, 20, 30, 970000, tzinfo=timezone(timedelta(hours=-4))
    )
    assert parse_timestamp("2024-05-01T10:00:00") == datetime(2024, 5, 1, 10, tzinfo=UTC)  # no zone: UTC
    assert [parse_timestamp(v) for v in ("", "yesterday", None, 1714557600)] == [None] * 4
