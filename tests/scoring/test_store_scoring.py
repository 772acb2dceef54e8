"""Scoring through the pipeline: risks join across scopes, explain themselves, and are kept per run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from posture.cli.main import cli
from posture.clock import utcnow
from posture.config import Settings
from posture.db import make_engine, resolve_url, write_session
from posture.migrations import upgrade
from posture.model import finding_event_table, finding_table, score_table
from posture.pipeline import collect
from posture.run_stages import RunStages
from posture.scoring.formula import explain
from posture.store.enrichment import replace_epss, replace_kev
from posture.store.scoring import ScoringSettings, score_estate
from posture.taxonomy import Severity
from tests.scoring.scoring_fakes import RULES, Container, DockerEngine, ScanReport


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


def _findings(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {r.rule_id + ":" + r.discriminator: r for r in conn.execute(select(finding_table))}


def _events(engine: Engine, fid: int) -> list[Any]:
    with engine.connect() as conn:
        stmt = select(finding_event_table).where(finding_event_table.c.finding_id == fid).order_by(
            finding_event_table.c.id)
        return list(conn.execute(stmt))


def test_risk_joins_scopes_and_regresses_when_the_image_starts_running_exposed(engine: Engine) -> None:
    stages = RunStages(Settings())
    report = ScanReport({"CVE-2024-0001": (Severity.CRITICAL, 9.8, True)})
    collect(engine, report, RULES, stages=stages)
    cve = _findings(engine)["VULN:CVE-2024-0001|openssl|3.0.2"]
    assert cve.risk == 41  # 58.8 × 1.15 (fix) × 0.6 (stored) = 40.6
    assert explain(cve.risk_factors)["use"]["value"] == "stored"
    assert _events(engine, cve.id)[0].risk == 41  # the event carries the scored risk, not the base

    engine_scope = DockerEngine([Container("web", privileged=True, published=True), Container("job")])
    collect(engine, engine_scope, RULES, stages=stages)
    cve = _findings(engine)["VULN:CVE-2024-0001|openssl|3.0.2"]
    factors = explain(cve.risk_factors)
    assert factors["use"]["value"] == "running" and factors["exposure"]["value"] == "internet-exposed"
    assert factors["privilege"]["value"] == "privileged"  # user unset: the image's USER app, not root
    assert factors["prevalence"]["value"] == 2
    assert cve.risk == 100
    regressed = _events(engine, cve.id)[-1]
    assert regressed.event == "regressed" and regressed.detail == {"cause": "risk", "previous_risk": 41}

    # A quiet re-run changes nothing and records nothing.
    before = len(_events(engine, cve.id))
    collect(engine, engine_scope, RULES, stages=stages)
    assert len(_events(engine, cve.id)) == before


def test_kev_and_epss_enter_the_score(engine: Engine) -> None:
    stages = RunStages(Settings())
    collect(engine, ScanReport({"CVE-2024-0001": (Severity.HIGH, None, False),
                                "CVE-2024-0002": (Severity.HIGH, None, False)}), RULES, stages=stages)

    class Row:
        def __init__(self, **kw: Any) -> None:
            self.__dict__.update(kw)

    with write_session(engine) as session:
        replace_kev(session, [Row(cve="CVE-2024-0001", date_added=None, vendor=None, product=None, ransomware=False)])
        replace_epss(session, [Row(cve="CVE-2024-0002", epss=0.6, percentile=0.99)])
        outcome = score_estate(session, run_id=None, now=utcnow(), settings=ScoringSettings())
    found = _findings(engine)
    kev, epss = found["VULN:CVE-2024-0001|openssl|3.0.2"], found["VULN:CVE-2024-0002|openssl|3.0.2"]
    expected = {"value": "in CISA KEV", "multiplier": 1.5, "contribution": 22.5}
    assert explain(kev.risk_factors)["exploitability"] == expected
    assert explain(epss.risk_factors)["exploitability"]["value"] == "EPSS 0.600"
    assert kev.risk == 41 and epss.risk == 36  # 45 × 0.6 stored, × 1.5 and × 1.35
    assert len(outcome.regressions) == 1  # +14 for KEV passes the default delta of 10; EPSS' +9 does not


def test_snapshot_per_run_with_roll_ups(engine: Engine) -> None:
    stages = RunStages(Settings())
    collect(engine, DockerEngine([Container("web", privileged=True, team="payments")]), RULES, stages=stages)
    collect(engine, ScanReport({"CVE-2024-0001": (Severity.CRITICAL, 9.8, True)}), RULES, stages=stages)
    with engine.connect() as conn:
        snaps = list(conn.execute(select(score_table).order_by(score_table.c.id)))
    assert [s.run_id for s in snaps] == [1, 2]
    counts = snaps[-1].counts
    assert counts["estate"]["open"] == 2 and snaps[-1].grade == counts["estate"]["grade"]
    assert set(counts["groups"]["host"]) == {"build-host"} and counts["groups"]["host"]["build-host"]["open"] == 2
    assert counts["groups"]["team"]["payments"]["open"] == 2  # the image's CVE counts for the team running it
    assert set(counts["groups"]["category"]) == {"container", "image"}
    assert snaps[-1].score < snaps[0].score


def test_enrich_command_loads_files_and_rescores(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    eng = make_engine(resolve_url(url))
    upgrade(eng, resolve_url(url))
    collect(eng, ScanReport({"CVE-2024-0001": (Severity.HIGH, None, False)}), RULES,
            stages=RunStages(Settings()))
    kev = tmp_path / "kev.json"
    kev.write_text(json.dumps({"vulnerabilities": [{"cveID": "CVE-2024-0001", "dateAdded": "2024-05-01"}]}))
    epss = tmp_path / "epss.csv"
    epss.write_text("#model_version:v2025.03.14,score_date:2025-06-01\ncve,epss,percentile\nCVE-2024-0001,0.9,0.99\n")
    env = {"POSTURE_CONFIG": str(tmp_path / "none.toml"), "POSTURE_NOTIFY": ""}
    result = CliRunner().invoke(cli, ["enrich", "--db", url, "--kev", str(kev), "--epss", str(epss)], env=env)
    assert result.exit_code == 0, result.output
    assert "KEV: 1 entries; EPSS: 1 scores; re-scored 1 findings, 1 regressed" in result.output
    stored = _findings(eng)["VULN:CVE-2024-0001|openssl|3.0.2"].risk_factors
    assert explain(stored)["exploitability"]["value"] == "in CISA KEV"
    epss.write_text("not,a,csv\n")
    bad = CliRunner().invoke(cli, ["enrich", "--db", url, "--epss", str(epss)], env=env)
    assert bad.exit_code == 2 and "not an EPSS CSV" in bad.output
    eng.dispose()
