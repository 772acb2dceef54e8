"""A report's own time: read from every format that states one, and an older report resolves nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collectors.scanners import ReportCollector
from collectors.scanners.collector import ReportHistory, parse_report
from collectors.scanners.parsed import ParseContext
from posture.cli.main import cli
from posture.cli.sources.reports import report_history
from posture.db import make_engine, read_session, resolve_url
from posture.model import finding_table, run_table
from posture.pipeline import collect
from posture.rules.base import RuleRegistry
from posture.secrets import SecretScanner
from posture.store.source_state import report_runs

IMAGE_ID = "sha256:055936d3920576da37aa9bc460d70c5f212028bda1c08c0879aedf03d7a66ea1"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("trivy/trivy-alpine-39.json", "2021-08-25T12:20:30.000000Z"),  # CreatedAt, nanoseconds cut
        ("grype/grype-ghsa-image.json", "2023-08-31T19:13:32.377177Z"),  # descriptor.timestamp, -04:00
        ("cyclonedx/grype-image.cdx.json", "2026-03-19T15:34:26.000000Z"),  # metadata.timestamp
        ("trivy-operator/vulnerabilityreport-coredns.yaml", "2022-12-08T15:50:37.000000Z"),  # a YAML timestamp
        ("crafted/docker-bench.log.json", "2023-11-14T22:14:02.000000Z"),  # end, Unix seconds
        ("crafted/kube-bench.json", ""),  # kube-bench states no time
    ],
)
def test_report_time_is_read_as_utc(data: Path, secrets: SecretScanner, name: str, expected: str) -> None:
    parsed = parse_report(str(data / name), ParseContext(name, Path(name).stem, secrets, host="h"))
    assert parsed.report_time == expected


def test_sarif_time_is_the_newest_run_end(data: Path, secrets: SecretScanner, tmp_path: Path) -> None:
    doc = json.loads((data / "sarif/trivy-alpine-310.sarif").read_text())
    doc["runs"][0]["invocations"] = [{"startTimeUtc": "2024-01-01T00:00:00Z", "endTimeUtc": "2024-01-01T00:05:00Z"}]
    path = tmp_path / "timed.sarif"
    path.write_text(json.dumps(doc))
    assert parse_report(str(path), ParseContext("t", "t", secrets)).report_time == "2024-01-01T00:05:00.000000Z"


def _collect(db: str, path: Path, code: int) -> Result:
    result = CliRunner().invoke(cli, ["collect", "--db", db, "--report", str(path)])
    assert result.exit_code == code, result.output
    return result


def test_an_older_report_of_the_same_image_resolves_nothing(data: Path, tmp_path: Path) -> None:
    doc = json.loads((data / "trivy/trivy-alpine-39.json").read_text())
    newer, older = tmp_path / "newer.json", tmp_path / "older.json"
    newer.write_text(json.dumps({**doc, "CreatedAt": "2021-09-01T00:00:00Z"}))
    vulns = doc["Results"][0]["Vulnerabilities"]
    doc["Results"][0]["Vulnerabilities"] = [v for v in vulns if v["PkgName"] != "musl-utils"]
    older.write_text(json.dumps(doc))  # CreatedAt 2021-08-25, and one finding fewer
    db = f"sqlite:///{tmp_path / 'posture.db'}"

    _collect(db, newer, 0)
    stale = _collect(db, older, 3)  # partial: collected, but it resolves nothing
    assert "(0 new, 0 resolved)" in stale.output
    lines = [line for line in stale.output.splitlines() if "older than" in line]
    assert lines == [
        f"posture: report:{older}: {older}: "
        "made 2021-08-25T12:20:30.000000Z, older than the trivy report of 2021-09-01T00:00:00.000000Z already "
        "ingested for this artifact; it changes nothing"
    ]
    engine = make_engine(resolve_url(db))
    try:
        with read_session(engine) as session:
            statuses = session.execute(select(finding_table.c.status)).scalars().all()
            times = session.execute(select(run_table.c.stats).order_by(run_table.c.id)).scalars().all()
    finally:
        engine.dispose()
    assert statuses == ["open"] * 6
    assert [t["report_time"] for t in times] == ["2021-09-01T00:00:00.000000Z", "2021-08-25T12:20:30.000000Z"]

    # The bar stays at 2021-09-01 (an older report does not lower it); a later report resolves again.
    _collect(db, older, 3)
    latest = tmp_path / "latest.json"
    latest.write_text(json.dumps({**doc, "CreatedAt": "2021-10-01T00:00:00Z"}))
    assert "(0 new, 1 resolved)" in _collect(db, latest, 0).output


def test_an_older_report_does_not_reopen_what_a_newer_one_saw_fixed(data: Path, tmp_path: Path) -> None:
    doc = json.loads((data / "trivy/trivy-alpine-39.json").read_text())  # CreatedAt 2021-08-25
    older, fixed = tmp_path / "older.json", tmp_path / "fixed.json"
    older.write_text(json.dumps(doc))
    vulns = doc["Results"][0]["Vulnerabilities"]
    doc["Results"][0]["Vulnerabilities"] = [v for v in vulns if v["PkgName"] != "musl-utils"]
    fixed.write_text(json.dumps({**doc, "CreatedAt": "2021-09-01T00:00:00Z"}))
    db = f"sqlite:///{tmp_path / 'posture.db'}"
    _collect(db, older, 0)
    assert "(0 new, 1 resolved)" in _collect(db, fixed, 0).output
    again = _collect(db, older, 3)  # the old CI artefact ingested once more
    assert "(0 new, 0 resolved)" in again.output and "it changes nothing" in again.output
    engine = make_engine(resolve_url(db))
    try:
        with read_session(engine) as session:
            statuses = sorted(session.execute(select(finding_table.c.status)).scalars().all())
    finally:
        engine.dispose()
    assert statuses == ["open"] * 5 + ["resolved"]


def test_the_newest_time_and_hashes_per_scope_are_read_back_on_both_databases(
    any_engine: Engine, registry: RuleRegistry, secrets: SecretScanner, data: Path
) -> None:
    path = data / "trivy/trivy-alpine-39.json"
    collect(any_engine, ReportCollector(str(path), secrets=secrets), registry)
    with read_session(any_engine) as session:
        history = report_history(report_runs(session))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert history == {f"trivy:{IMAGE_ID}": ReportHistory("2021-08-25T12:20:30.000000Z", digest, frozenset({digest}))}
