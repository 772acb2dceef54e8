"""Every real report of the corpus: the findings per (rule, severity) are what the report itself holds
after deduplication, computed here independently from the raw file, and a second ingest is a no-op."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collectors.scanners import ReportCollector
from posture.db import read_session
from posture.model import finding_table
from posture.pipeline import collect
from posture.records import ObservationRecord
from posture.rules.base import RuleRegistry
from posture.secrets import SecretScanner
from posture.taxonomy import RunStatus
from tests.scanners.corpus import DATA

CORPUS = sorted(p for p in DATA.rglob("*") if p.is_file() and p.parent.name != "crafted" and p.suffix != ".md")
RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
# Every spelling of severity the corpus uses, mapped by hand.
SEVERITY = {
    "unknown": "info",
    "negligible": "info",
    "none": "info",
    "low": "low",
    "medium": "medium",
    "moderate": "medium",
    "high": "high",
    "critical": "critical",
}

Expected = Counter[tuple[str, str]]


def _count(found: dict[tuple[Any, ...], tuple[str, str]]) -> Expected:
    return Counter(found.values())


def _keep_worst(found: dict[tuple[Any, ...], tuple[str, str]], key: tuple[Any, ...], rule: str, sev: str) -> None:
    sev = SEVERITY[sev.lower()]
    if key not in found or RANK[sev] > RANK[found[key][1]]:
        found[key] = (rule, sev)


def expected_trivy(doc: dict[str, Any]) -> Expected:
    found: dict[tuple[Any, ...], tuple[str, str]] = {}
    for result in doc.get("Results", []):
        for v in result.get("Vulnerabilities") or []:
            _keep_worst(found, ("v", v["VulnerabilityID"], v["PkgName"], v["InstalledVersion"]), "VULN", v["Severity"])
        for m in result.get("Misconfigurations") or []:
            if m["Status"] == "FAIL":
                rule = "SCAN-MISCONFIG-IMAGE" if result["Type"] == "dockerfile" else "SCAN-MISCONFIG"
                _keep_worst(found, ("m", m["ID"], result["Target"]), rule, m["Severity"])
        for s in result.get("Secrets") or []:
            _keep_worst(found, ("s", s["RuleID"], result["Target"], s["Match"]), "SCAN-SECRET", s["Severity"])
    return _count(found)


def expected_grype(doc: dict[str, Any]) -> Expected:
    found: dict[tuple[Any, ...], tuple[str, str]] = {}
    for m in doc["matches"]:
        ids = [m["vulnerability"]["id"]] + [r["id"] for r in m.get("relatedVulnerabilities", [])]
        vuln = min((i for i in ids if i.startswith("CVE-")), default=ids[0])
        art = m["artifact"]
        name = art["name"]
        if art.get("purl", "").startswith("pkg:maven/"):  # Grype names Maven packages by artifact id only
            name = art["purl"].split("/")[1] + ":" + name
        _keep_worst(found, (vuln, name, art["version"]), "VULN", m["vulnerability"]["severity"])
    return _count(found)


def expected_sarif(doc: dict[str, Any]) -> Expected:
    found: dict[tuple[Any, ...], tuple[str, str]] = {}
    for run in doc["runs"]:
        tool = run["tool"]["driver"]["name"]
        rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
        for res in run["results"]:
            rule = rules[res["ruleId"]]
            if tool == "Trivy":  # package lines in the message, severity as the last rule tag
                lines = dict(line.split(": ", 1) for line in res["message"]["text"].splitlines() if ": " in line)
                key = (res["ruleId"], lines["Package"], lines["Installed Version"])
                sev = rule["properties"]["tags"][-1]
            else:  # grype: one rule per vulnerability and package, "CVE-x low vulnerability for ..."
                key = (res["ruleId"],)
                sev = rule["shortDescription"]["text"].split()[1]
            _keep_worst(found, key, "VULN", sev)
    return _count(found)


def expected_cyclonedx(doc: dict[str, Any]) -> Expected:
    found: dict[tuple[Any, ...], tuple[str, str]] = {}
    newest = ["CVSSv31", "CVSSv3", "CVSSv4", "CVSSv2"]
    for v in doc["vulnerabilities"]:
        ratings = [r for r in v.get("ratings", []) if r.get("severity")]

        def by(source: str, ratings: list[dict[str, Any]] = ratings) -> list[dict[str, Any]]:
            own = [r for r in ratings if r.get("source", {}).get("name", "").lower() == source]
            return sorted(own, key=lambda r: newest.index(r["method"]) if r.get("method") in newest else 9)

        chosen = by(v.get("source", {}).get("name", "").lower()) or by("nvd") or by("ghsa") or ratings
        for affected in v["affects"]:
            _keep_worst(found, (v["id"], affected["ref"]), "VULN", chosen[0]["severity"])
    return _count(found)


def expected_operator(docs: list[dict[str, Any]]) -> Expected:
    found: dict[tuple[Any, ...], tuple[str, str]] = {}
    for doc in docs:
        report = doc["report"]
        for v in report.get("vulnerabilities", []):
            _keep_worst(found, (v["vulnerabilityID"], v["resource"], v["installedVersion"]), "VULN", v["severity"])
        rule = {"ConfigAuditReport": "SCAN-MISCONFIG", "RbacAssessmentReport": "SCAN-RBAC"}.get(doc["kind"])
        for check in report.get("checks", []):
            if check["success"] is False:
                _keep_worst(found, (check["checkID"],), str(rule), check["severity"])
    return _count(found)


def expected(path: Path) -> Expected:
    text = path.read_text()
    kind = path.parent.name
    if kind == "trivy-operator":
        return expected_operator([d for d in yaml.safe_load_all(text) if d])
    return {
        "trivy": expected_trivy,
        "grype": expected_grype,
        "sarif": expected_sarif,
        "cyclonedx": expected_cyclonedx,
    }[kind](json.loads(text))


def _observed(records: list[Any]) -> Expected:
    return Counter((r.rule_id, r.severity.value) for r in records if isinstance(r, ObservationRecord))


def _stored(engine: Engine) -> tuple[Expected, dict[str, tuple[str, str]]]:
    with read_session(engine) as session:
        rows = session.execute(
            select(
                finding_table.c.fingerprint,
                finding_table.c.rule_id,
                finding_table.c.severity,
                finding_table.c.content_hash,
                finding_table.c.status,
            )
        ).all()
    counts = Counter((r.rule_id, r.severity) for r in rows)
    return counts, {r.fingerprint: (r.content_hash, r.status) for r in rows}


def test_corpus_is_complete() -> None:
    """The copy holds every report of the shared corpus (21 files in five formats)."""
    assert {p.parent.name for p in CORPUS} == {"trivy", "grype", "sarif", "cyclonedx", "trivy-operator"}
    assert len(CORPUS) == 21


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_findings_per_severity_match_the_report(path: Path, secrets: SecretScanner) -> None:
    want = expected(path)
    assert want, "every corpus report holds at least one finding"
    records = list(ReportCollector(str(path), secrets=secrets, artifact_name=path.stem).collect())
    assert _observed(records) == want


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_second_ingest_is_a_no_op(path: Path, engine: Engine, registry: RuleRegistry, secrets: SecretScanner) -> None:
    first = collect(engine, ReportCollector(str(path), secrets=secrets, artifact_name=path.stem), registry)
    assert first.status is RunStatus.COMPLETE, first.error
    counts, before = _stored(engine)
    assert counts == expected(path)
    assert first.stats["new"] == sum(counts.values())

    second = collect(engine, ReportCollector(str(path), secrets=secrets, artifact_name=path.stem), registry)
    assert second.status is RunStatus.COMPLETE
    assert (second.stats["new"], second.stats["resolved"], second.stats["regressed"]) == (0, 0, 0)
    assert second.changes == []
    assert _stored(engine)[1] == before  # not even the content of a finding moved
