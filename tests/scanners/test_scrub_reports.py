"""Tokens in a scanner report's vulnerability titles and descriptions never reach the store (issue 23, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson

from benchmarks.bench_reports import synthetic_report
from tests.scrub_support import leaks, posture

SECRETS = {
    "title-token": "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2",
    "description-key": "AKIAIOSFODNN7EXAMPLE",
    "description-password": "D3scr1pt10n-Passw0rd",
    "url-password": "Url-Passw0rd-9",
}


def _report(tmp_path: Path) -> Path:
    report = synthetic_report(3)
    vulns = report["Results"][0]["Vulnerabilities"]
    vulns[0]["Title"] = f"token {SECRETS['title-token']} leaked in logs"
    vulns[1]["Description"] = (
        f"The default config ships AWS key {SECRETS['description-key']} and sets "
        f"DB_PASSWORD={SECRETS['description-password']} for the admin account."
    )
    vulns[2]["PrimaryURL"] = f"https://reader:{SECRETS['url-password']}@advisories.example/CVE-1"
    path = tmp_path / "trivy.json"
    path.write_bytes(orjson.dumps(report))
    return path


def test_no_report_text_secret_is_stored_or_exported(tmp_path: Path) -> None:
    result = posture(tmp_path, "collect", "--report", str(_report(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert leaks(tmp_path, SECRETS) == []

    findings = json.loads(posture(tmp_path, "findings", "--all", "--format", "json").stdout)
    text = json.dumps(findings)
    # The rest of the text stays evidence, and identities (CVE ids, packages, versions) are kept.
    assert "leaked in logs" in text and "for the admin account" in text and "DB_PASSWORD=<secret " in text
    assert {"CVE-2000-10000", "CVE-2001-10001", "CVE-2002-10002"} <= {
        f["evidence"].get("vulnerability") for f in findings
    }
    assert "pkg-00000" in text and "1.0.0-r1" in text


def _stated(root: Path) -> list[tuple[str, str, str]]:
    """What each finding says, without the times a second run moves."""
    findings = json.loads(posture(root, "findings", "--all", "--format", "json").stdout)
    return sorted((f["fingerprint"], f["title"], json.dumps(f["evidence"], sort_keys=True)) for f in findings)


def test_collecting_the_same_report_again_changes_nothing(tmp_path: Path) -> None:
    """Scrubbing is deterministic and idempotent: same fingerprints, titles and evidence, nothing new."""
    report = _report(tmp_path)
    assert posture(tmp_path, "collect", "--report", str(report)).returncode == 0
    before = _stated(tmp_path)
    again = posture(tmp_path, "collect", "--report", str(report))
    assert again.returncode == 0, again.stderr
    assert "(0 new, 0 resolved)" in again.stdout and _stated(tmp_path) == before
