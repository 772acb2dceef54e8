"""Deduplication across scanners and formats, linking by digest, and replace semantics, through the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collectors.scanners import ReportCollector
from posture.cli.main import cli
from posture.db import make_engine, read_session, resolve_url
from posture.model import alias_table, asset_table, exception_table, finding_table
from posture.pipeline import RunResult, collect
from posture.rules.base import RuleRegistry
from posture.secrets import SecretScanner
from posture.store.evidence import merge_evidence, worst_severity
from posture.taxonomy import RunStatus, Severity

TRIVY = "trivy/trivy-alpine-39.json"
GRYPE = "crafted/grype-alpine-39-same-image.json"  # derived: the corpus holds no same-image pair
IMAGE_ID = "sha256:055936d3920576da37aa9bc460d70c5f212028bda1c08c0879aedf03d7a66ea1"


def _ingest(engine: Engine, registry: RuleRegistry, secrets: SecretScanner, path: Path) -> RunResult:
    result = collect(engine, ReportCollector(str(path), secrets=secrets), registry)
    assert result.status in (RunStatus.COMPLETE, RunStatus.FAILED), result.error
    return result


def _findings(engine: Engine) -> dict[str, dict[str, Any]]:
    with read_session(engine) as session:
        rows = session.execute(
            select(finding_table.c.discriminator, finding_table.c.status, finding_table.c.evidence, asset_table.c.key)
            .join(asset_table, asset_table.c.id == finding_table.c.asset_id)
            .where(finding_table.c.rule_id == "VULN")
        ).all()
    return {r.discriminator: {"status": r.status, "evidence": r.evidence, "asset": r.key} for r in rows}


def test_trivy_and_grype_reports_of_one_image_merge(
    any_engine: Engine, registry: RuleRegistry, secrets: SecretScanner, data: Path
) -> None:
    trivy = _ingest(any_engine, registry, secrets, data / TRIVY)
    assert trivy.stats["new"] == 6
    grype = _ingest(any_engine, registry, secrets, data / GRYPE)
    # Three CVEs and the GHSA (related to a Trivy CVE) meet Trivy's findings; one CVE is Grype's alone.
    assert grype.stats["new"] == 1
    found = _findings(any_engine)
    assert len(found) == 7
    assert {f["asset"] for f in found.values()} == {IMAGE_ID}
    both = {d for d, f in found.items() if set(f["evidence"]["scanners"]) == {"trivy", "grype"}}
    assert both == {
        "CVE-2019-1549|libcrypto1.1|1.1.1b-r1",
        "CVE-2019-1549|libssl1.1|1.1.1b-r1",
        "CVE-2019-1551|libssl1.1|1.1.1b-r1",
        "CVE-2019-14697|musl|1.1.20-r4",
    }
    libssl = found["CVE-2019-1549|libssl1.1|1.1.1b-r1"]["evidence"]
    assert libssl["aliases"] == ["GHSA-xxxx-yyyy-zzzz"]
    assert libssl["scanners"]["grype"]["id"] == "GHSA-xxxx-yyyy-zzzz"
    assert libssl["scanners"]["trivy"]["id"] == "CVE-2019-1549"
    assert found["CVE-2019-1563|libcrypto1.1|1.1.1b-r1"]["evidence"]["scanners"].keys() == {"grype"}

    # The image is one asset known by its config digest and, through Grype, by its manifest digest.
    with read_session(any_engine) as session:
        assert session.execute(select(asset_table.c.key).where(asset_table.c.kind == "image")).scalars().all() == [
            IMAGE_ID
        ]
        aliases = session.execute(select(alias_table.c.alias)).scalars().all()
    assert any(a.startswith("sha256:2072485a") for a in aliases)

    again = _ingest(any_engine, registry, secrets, data / TRIVY)
    assert (again.stats["new"], again.stats["resolved"]) == (0, 0)


def test_newer_report_resolves_what_it_no_longer_lists_and_a_broken_one_resolves_nothing(
    engine: Engine, registry: RuleRegistry, secrets: SecretScanner, data: Path, tmp_path: Path
) -> None:
    doc = json.loads((data / TRIVY).read_text())
    _ingest(engine, registry, secrets, data / TRIVY)
    _ingest(engine, registry, secrets, data / GRYPE)

    vulns = doc["Results"][0]["Vulnerabilities"]
    kept = [v for v in vulns if not (v["VulnerabilityID"] == "CVE-2019-1549" and v["PkgName"] == "libcrypto1.1")]
    kept = [v for v in kept if v["PkgName"] != "musl-utils"]
    doc["Results"][0]["Vulnerabilities"] = kept
    doc["CreatedAt"] = "2021-09-01T00:00:00Z"
    newer = tmp_path / "alpine-39-later.json"  # another file name: the scope is the image, not the path
    newer.write_text(json.dumps(doc))
    result = _ingest(engine, registry, secrets, newer)
    assert result.scope == f"report:{newer}"  # labelled by its file, keyed by the image
    assert (result.stats["new"], result.stats["resolved"]) == (0, 1)
    found = _findings(engine)
    assert found["CVE-2019-14697|musl-utils|1.1.20-r4"]["status"] == "resolved"
    # Trivy stopped listing it, but Grype's report of the same image still does.
    assert found["CVE-2019-1549|libcrypto1.1|1.1.1b-r1"]["status"] == "open"

    truncated = tmp_path / "alpine-39-truncated.json"
    truncated.write_text(json.dumps({**doc, "Results": []})[:-30])
    failed = _ingest(engine, registry, secrets, truncated)
    assert failed.status is RunStatus.FAILED
    assert _findings(engine) == found

    not_scanned = tmp_path / "alpine-39-secrets-only.json"  # no os-pkgs result: no vulnerability scan
    not_scanned.write_text(json.dumps({**doc, "Results": []}))
    assert _ingest(engine, registry, secrets, not_scanned).stats["resolved"] == 0
    assert _findings(engine) == found

    empty = tmp_path / "alpine-39-clean.json"
    empty.write_text(json.dumps({**doc, "Results": [{**doc["Results"][0], "Vulnerabilities": []}]}))
    clean = _ingest(engine, registry, secrets, empty)
    assert clean.stats["resolved"] == 1  # only CVE-2019-1551 in libcrypto1.1 was Trivy's alone
    assert {d for d, f in _findings(engine).items() if f["status"] == "open"} == {
        "CVE-2019-1549|libcrypto1.1|1.1.1b-r1",
        "CVE-2019-1549|libssl1.1|1.1.1b-r1",
        "CVE-2019-1551|libssl1.1|1.1.1b-r1",
        "CVE-2019-14697|musl|1.1.20-r4",
        "CVE-2019-1563|libcrypto1.1|1.1.1b-r1",
    }


def test_vex_not_affected_is_accepted_with_its_justification(
    engine: Engine, registry: RuleRegistry, secrets: SecretScanner, data: Path
) -> None:
    _ingest(engine, registry, secrets, data / "crafted/cyclonedx-vex.json")
    found = _findings(engine)
    accepted = found["CVE-2023-4806|libc6|2.36-9+deb12u1"]
    assert accepted["status"] == "accepted"
    # The report's statement is an exception like an imported VEX document's: that CVE in that package
    # on that image, its justification and the report it came from kept.
    with read_session(engine) as session:
        (exc,) = session.execute(select(exception_table)).all()
    assert (exc.vuln_id, exc.package, exc.asset_key) == ("CVE-2023-4806", "libc6", accepted["asset"])
    assert (exc.source, exc.justification, exc.owner) == ("vex", "code_not_reachable", "trivy")
    assert f"scope:{exc.origin}" == exc.source_key.partition("#")[0] == f"scope:trivy:{accepted['asset']}"
    assert exc.reason == "VEX not_affected: code_not_reachable (getaddrinfo is never called with AI_CANONNAME)"
    assert found["CVE-2023-4911|libc6|2.36-9+deb12u1"]["status"] == "open"
    triage = found["CVE-2099-0001|org.example:lib|1.0"]
    assert triage["status"] == "open"
    assert triage["evidence"]["vex"] == {"state": "in_triage"}
    assert triage["evidence"]["aliases"] == ["GHSA-aaaa-bbbb-cccc"]


def test_one_image_across_formats_and_sources_is_one_asset(
    engine: Engine, registry: RuleRegistry, secrets: SecretScanner, data: Path
) -> None:
    """trivy k8s (config digest + repo digest), CycloneDX (purl digest) and trivy-operator (manifest digest only)."""
    for name in ("crafted/trivy-k8s-cluster.json", "crafted/cyclonedx-vex.json", "crafted/operator-list.yaml"):
        _ingest(engine, registry, secrets, data / name)
    found = _findings(engine)
    glibc = found["CVE-2023-4911|libc6|2.36-9+deb12u1"]
    assert glibc["asset"] == "sha256:" + "1" * 64
    # trivy k8s and trivy image are one scanner's view (Trivy); the operator's is its own.
    assert set(glibc["evidence"]["scanners"]) == {"trivy", "trivy-operator"}
    with read_session(engine) as session:
        images = session.execute(select(asset_table.c.key).where(asset_table.c.kind == "image")).scalars().all()
    assert images == ["sha256:" + "1" * 64]


def _ingest_cli(db: str, *paths: Path) -> None:
    for path in paths:
        result = CliRunner().invoke(cli, ["collect", "--db", db, "--report", str(path)])
        assert result.exit_code == 0, result.output


def _scored(db: str) -> dict[str, tuple[Any, ...]]:
    engine = make_engine(resolve_url(db))
    try:
        with read_session(engine) as session:
            rows = session.execute(
                select(
                    finding_table.c.discriminator,
                    finding_table.c.evidence,
                    finding_table.c.severity,
                    finding_table.c.risk,
                ).where(finding_table.c.rule_id == "VULN")
            ).all()
    finally:
        engine.dispose()
    return {r.discriminator: (r.evidence, r.severity, r.risk) for r in rows}


def test_merged_evidence_severity_and_risk_do_not_depend_on_ingest_order(data: Path, tmp_path: Path) -> None:
    first, second = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    _ingest_cli(first, data / TRIVY, data / GRYPE)
    _ingest_cli(second, data / GRYPE, data / TRIVY)
    trivy_first, grype_first = _scored(first), _scored(second)
    assert trivy_first == grype_first

    musl, _, _ = trivy_first["CVE-2019-14697|musl|1.1.20-r4"]
    assert musl["cvss"] == musl["scanners"]["trivy"]["cvss"]  # Grype's view of it has no CVSS
    assert musl["cvss"]["score"] == 9.8
    # Both views quote NVD v3.1 (Trivy 5.3, Grype 4.7): the higher score is kept, from either order.
    libssl, _, _ = trivy_first["CVE-2019-1549|libssl1.1|1.1.1b-r1"]
    assert (libssl["cvss"]["source"], libssl["cvss"]["score"]) == ("nvd", 5.3)
    assert (libssl["fixed"], libssl["fix_available"]) == ("1.1.1d-r0", True)


def test_the_top_level_is_derived_from_every_view() -> None:
    trivy = {
        "scanner": "trivy",
        "description": "from trivy",
        "url": "https://trivy",
        "fixed": "1.10",
        "fix_available": True,
        "scanners": {"trivy": {"severity": "medium", "fixed": "1.10", "cvss": {"source": "redhat", "score": 9.1}}},
    }
    grype = {
        "scanner": "grype",
        "fix_available": False,
        "scanners": {
            "grype": {"severity": "critical", "fixed": "1.9", "cvss": {"source": "nvd", "version": "3.1", "score": 7.5}}
        },
    }
    for merged in (merge_evidence(trivy, grype), merge_evidence(grype, trivy)):
        assert merged["cvss"] == {"source": "nvd", "version": "3.1", "score": 7.5}  # NVD before a higher vendor score
        assert (merged["fixed"], merged["fix_available"]) == ("1.9", True)  # 1.9 < 1.10 as versions
        assert (merged["scanner"], merged["description"]) == ("grype", "from trivy")  # lead, then filled
        assert worst_severity(merged, Severity.MEDIUM) is Severity.CRITICAL
    assert merge_evidence(trivy, grype) == merge_evidence(grype, trivy)
    assert "cvss" not in merge_evidence({"scanners": {"a": {}}}, {"scanners": {"b": {}}})


def test_a_trivy_vendor_not_affected_status_is_an_exception_of_the_report_until_a_report_drops_it(
    engine: Engine, registry: RuleRegistry, secrets: SecretScanner, data: Path, tmp_path: Path
) -> None:
    original = data / "trivy/trivy-alpine-39.json"
    doc = json.loads(original.read_text())
    vuln = doc["Results"][0]["Vulnerabilities"][0]
    vuln["Status"] = "not_affected"
    stated = tmp_path / "trivy-alpine-39-vex.json"
    stated.write_text(json.dumps(doc))
    key = f"{vuln['VulnerabilityID']}|{vuln['PkgName']}|{vuln['InstalledVersion']}"

    _ingest(engine, registry, secrets, stated)
    assert {d for d, f in _findings(engine).items() if f["status"] == "accepted"} == {key}
    again = _ingest(engine, registry, secrets, original)  # a newer report no longer says so
    assert {d for d, f in _findings(engine).items() if f["status"] == "accepted"} == set()
    assert [c.event for c in again.changes] == ["exception-revoked"]
