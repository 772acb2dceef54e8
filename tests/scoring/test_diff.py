"""Diffs over a sequence of runs: the net change of each finding between two moments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from posture.acceptance import Acceptance, Reach
from posture.cli.main import cli
from posture.clock import utcnow
from posture.config import Settings
from posture.db import make_engine, read_session, resolve_url, write_session
from posture.diff import Before, Event, classify
from posture.migrations import upgrade
from posture.pipeline import collect
from posture.run_stages import RunStages
from posture.store.diff import Window, load_diff, run_window
from posture.store.exceptions import create_exception
from posture.taxonomy import Severity
from tests.scoring.scoring_fakes import RULES, Container, DockerEngine, ScanReport

HIGH, CRIT = Severity.HIGH, Severity.CRITICAL


def test_classify_is_net_over_the_window() -> None:
    events = [
        Event(1, "new", "high", 50), Event(1, "resolved", "high", 50),  # opened and closed inside: nothing
        Event(2, "resolved", "high", 50), Event(2, "reopened", "high", 50),  # closed and reopened: nothing
        Event(3, "regressed", "critical", 70),
        Event(4, "reopened", "high", 50), Event(4, "regressed", "critical", 70),
        Event(5, "exception-expired", "low", 10),
        Event(6, "new", "low", 10), Event(6, "accepted", "low", 10),
    ]
    before = {2: Before("open", "high", 50), 3: Before("open", "high", 50), 4: Before("resolved", "high", 50),
              5: Before("accepted", "low", 10)}
    got = {(e.finding_id, e.change) for e in classify(before, events)}
    assert got == {(3, "regressed"), (4, "reopened"), (5, "exception-expired"), (6, "accepted")}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    url = resolve_url(f"sqlite:///{tmp_path / 'p.db'}")
    eng = make_engine(url)
    upgrade(eng, url)
    yield url, eng
    eng.dispose()


def _changes(engine: Engine, window: Window) -> dict[str, set[str]]:
    with read_session(engine) as session:
        rows = load_diff(session, window)
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r.entry.change, set()).add(r.title if r.rule_id == "VULN" else r.asset_name)
    return out


def test_sequence_of_runs(engine: tuple[str, Engine]) -> None:
    url, eng = engine
    stages = RunStages(Settings())
    docker = DockerEngine([Container("web", privileged=True), Container("job")])
    report = ScanReport({"CVE-1": (HIGH, None, True), "CVE-2": (HIGH, None, True), "CVE-3": (HIGH, None, False)})

    def run(source: DockerEngine | ScanReport) -> int:
        return collect(eng, source, RULES, stages=stages).run_id

    r1, r2 = run(docker), run(report)
    with read_session(eng) as session:
        # The first run of a source is diffed against the beginning of history.
        assert _changes(eng, run_window(session, None, r2)) == {"new": {"CVE-1 in openssl", "CVE-2 in openssl",
                                                                        "CVE-3 in openssl", "web"}}
    # CVE-1 is fixed, CVE-2 becomes critical, the job container turns privileged.
    report.cves = {"CVE-2": (CRIT, None, True), "CVE-3": (HIGH, None, False)}
    run(report)
    docker.containers[1].privileged = True
    r4 = run(docker)
    with read_session(eng) as session:
        window = run_window(session, r2, r4)
    assert _changes(eng, window) == {"resolved": {"CVE-1 in openssl"}, "regressed": {"CVE-2 in openssl"},
                                     "new": {"job"}}
    with read_session(eng) as session:  # default: the latest run against the previous run of its source
        # ... a time window, so the report's runs in between count; CVE-1 came and went inside it.
        assert _changes(eng, run_window(session, None, None)) == {"new": {"job", "CVE-2 in openssl",
                                                                          "CVE-3 in openssl"}}
        assert run_window(session, None, None).from_run == r1
    # CVE-1 returns; CVE-3 is accepted; later its exception expires.
    report.cves["CVE-1"] = (HIGH, None, True)
    r5 = run(report)
    now = utcnow()
    with write_session(eng) as session:
        create_exception(session, Acceptance(Reach(rule_id="VULN", pattern="app@*"), "vendor fix pending", "ops", "cli",
                                              expires_at=now + timedelta(seconds=2)), now)
    r6 = run(docker)
    with read_session(eng) as session:
        assert _changes(eng, run_window(session, r4, r5)) == {"reopened": {"CVE-1 in openssl"}}
        changes = _changes(eng, run_window(session, r4, r6))
    assert changes == {"accepted": {"CVE-1 in openssl", "CVE-2 in openssl", "CVE-3 in openssl"}}
    later = collect(eng, report, RULES, now=now + timedelta(seconds=5), stages=stages).run_id
    with read_session(eng) as session:
        assert _changes(eng, run_window(session, r6, later)) == {
            "exception-expired": {"CVE-1 in openssl", "CVE-2 in openssl", "CVE-3 in openssl"}}

    # The command: JSON by default window, table, --since, and bad run ids as one line.
    runner = CliRunner()
    result = runner.invoke(cli, ["diff", "--db", url, "--from", str(r2), "--to", str(r4), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"]["resolved"] == 1 and data["counts"]["regressed"] == 1 and data["counts"]["new"] == 1
    regressed = next(c for c in data["changes"] if c["change"] == "regressed")
    assert regressed["previous_severity"] == "high" and regressed["severity"] == "critical"
    table = runner.invoke(cli, ["diff", "--db", url, "--since", "7d"])
    assert table.exit_code == 0 and "last 7d: 2 new, 3 accepted" in table.output  # the "later" run is in the future
    bad = runner.invoke(cli, ["diff", "--db", url, "--to", "999"])
    assert bad.exit_code == 2 and "run 999 does not exist" in bad.output
