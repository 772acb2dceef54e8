"""One finding when one scanner knows a vulnerability only by its GHSA and another by its CVE with that GHSA as alias.

Neither report alone can choose the other's id, so the second one ingested takes the id the store
already files the vulnerability under (whichever came first), and re-ingesting either changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collectors.scanners import ReportCollector, parse_report
from collectors.scanners.parsed import ParseContext
from collectors.scanners.vulnids import StoredIds, StoredVuln, StoredVulnLookup
from posture.cli.main import cli
from posture.cli.sources.reports import stored_vulns
from posture.db import make_engine, read_session, resolve_url
from posture.model import finding_table
from posture.pipeline import RunResult, collect
from posture.records import AssetRef
from posture.rules.base import RuleRegistry
from posture.secrets import SecretScanner
from posture.taxonomy import RunStatus

GHSA = "GHSA-m9q7-4r2v-h5c8"
CVE = "CVE-2019-14697"
GRYPE = "crafted/grype-alpine-39-ghsa-only.json"  # musl 1.1.20-r4: the GHSA alone
TRIVY = "crafted/trivy-alpine-39-vendor-ghsa.json"  # musl 1.1.20-r4: the CVE, the GHSA among its VendorIDs
FIRST_ID = {GRYPE: GHSA, TRIVY: CVE}
IMAGE_ID = "sha256:055936d3920576da37aa9bc460d70c5f212028bda1c08c0879aedf03d7a66ea1"
MANIFEST = "sha256:2072485ab8891e662dfbf6c78f16437f02ef230650971f0a16ca81caea42370e"  # Grype's alias of the image


def _ingest(engine: Engine, registry: RuleRegistry, secrets: SecretScanner, path: Path) -> RunResult:
    collector = ReportCollector(str(path), secrets=secrets, stored_vulns=stored_vulns(engine))
    result = collect(engine, collector, registry)
    assert result.status is RunStatus.COMPLETE, result.error or result.problems
    return result


def _vulns(engine: Engine) -> dict[str, dict[str, Any]]:
    with read_session(engine) as session:
        rows = session.execute(
            select(finding_table.c.discriminator, finding_table.c.evidence).where(finding_table.c.rule_id == "VULN")
        ).all()
    return {r.discriminator: r.evidence for r in rows}


@pytest.mark.parametrize(("first", "second"), [(GRYPE, TRIVY), (TRIVY, GRYPE)], ids=["grype-first", "trivy-first"])
def test_a_ghsa_only_report_and_a_cve_report_aliasing_it_make_one_finding(
    any_engine: Engine, registry: RuleRegistry, secrets: SecretScanner, data: Path, first: str, second: str
) -> None:
    assert _ingest(any_engine, registry, secrets, data / first).stats["new"] == 1
    joined = _ingest(any_engine, registry, secrets, data / second)
    assert (joined.stats["new"], joined.stats["resolved"]) == (0, 0)

    found = _vulns(any_engine)
    kept = f"{FIRST_ID[first]}|musl|1.1.20-r4"  # the id the first report filed it under
    assert list(found) == [kept]
    evidence = found[kept]
    assert set(evidence["scanners"]) == {"grype", "trivy"}
    assert evidence["scanners"]["grype"]["id"] == GHSA
    assert evidence["scanners"]["trivy"]["id"] == CVE
    assert evidence["vulnerability"] == FIRST_ID[first]
    assert evidence["aliases"] == [FIRST_ID[second]]

    for path in (first, second, first):
        again = _ingest(any_engine, registry, secrets, data / path)
        assert (again.stats["new"], again.stats["resolved"]) == (0, 0), path
    assert list(_vulns(any_engine)) == [kept]


@pytest.mark.parametrize("order", [(GRYPE, TRIVY), (TRIVY, GRYPE)], ids=["grype-first", "trivy-first"])
def test_two_reports_of_one_collect_command_make_one_finding(
    data: Path, tmp_path: Path, order: tuple[str, str]
) -> None:
    """The second report's run sees what the first one stored, though both collectors were built up front."""
    db = f"sqlite:///{tmp_path / 'posture.db'}"
    args = ["collect", "--db", db, "--report", str(data / order[0]), "--report", str(data / order[1])]
    for _ in range(2):  # the second command re-ingests both: nothing new, nothing resolved
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
    assert result.output.count("(0 new, 0 resolved)") == 2
    engine = make_engine(resolve_url(db))
    try:
        assert list(_vulns(engine)) == [f"{FIRST_ID[order[0]]}|musl|1.1.20-r4"]
    finally:
        engine.dispose()


def test_a_finding_named_by_an_id_wins_over_one_only_aliasing_it() -> None:
    """Findings filed apart before the lookup existed keep their own fingerprints (no churn on upgrade)."""
    stored = StoredIds(
        [
            StoredVuln(f"{GHSA}|musl|1.1.20-r4", GHSA, frozenset()),
            StoredVuln(f"{CVE}|musl|1.1.20-r4", CVE, frozenset({GHSA})),
            StoredVuln("CVE-2000-1|a|b|c", "CVE-2000-1", frozenset()),  # a package name holding the separator
        ]
    )
    assert stored.resolve({GHSA}, "musl", "1.1.20-r4") == GHSA
    assert stored.resolve({CVE, GHSA}, "musl", "1.1.20-r4") == CVE
    assert stored.resolve({GHSA}, "musl", "1.1.20-r5") is None
    assert stored.resolve({"CVE-2000-1"}, "a|b", "c") == "CVE-2000-1"
    assert stored.resolve({"DSA-1"}, "musl", "1.1.20-r4") is None


def _store_holding(key: str, *stored: StoredVuln) -> StoredVulnLookup:
    """A stand-in for the store's lookup that knows one image key."""

    def find(refs: Collection[AssetRef]) -> Mapping[AssetRef, Sequence[StoredVuln]]:
        return {ref: stored for ref in refs if ref.key == key}

    return find


def _vuln_ids(path: Path, secrets: SecretScanner, key: str = "", *stored: StoredVuln) -> dict[str, list[str]]:
    context = ParseContext(path.name, path.stem, secrets, stored_vulns=_store_holding(key, *stored) if key else None)
    return {o.discriminator: sorted(o.aliases) for o in parse_report(str(path), context).observations}


def test_lines_one_report_filed_apart_meet_under_the_stored_id(
    data: Path, secrets: SecretScanner, tmp_path: Path
) -> None:
    """Trivy's CVE line (the GHSA a vendor id) and a bare GHSA line: one finding once the store knows the GHSA."""
    doc = json.loads((data / TRIVY).read_text())
    lines = doc["Results"][0]["Vulnerabilities"]
    lines.append({key: value for key, value in lines[0].items() if key != "VendorIDs"} | {"VulnerabilityID": GHSA})
    path = tmp_path / "trivy-two-lines.json"
    path.write_text(json.dumps(doc))
    assert set(_vuln_ids(path, secrets)) == {f"{CVE}|musl|1.1.20-r4", f"{GHSA}|musl|1.1.20-r4"}
    stored = StoredVuln(f"{GHSA}|musl|1.1.20-r4", GHSA, frozenset())
    assert _vuln_ids(path, secrets, IMAGE_ID, stored) == {f"{GHSA}|musl|1.1.20-r4": [CVE]}


def test_an_artifact_is_found_in_the_store_by_its_alias(data: Path, secrets: SecretScanner) -> None:
    """Grype keys the image by its config digest; a store that knows it only by the manifest digest still answers."""
    stored = StoredVuln(f"{CVE}|musl|1.1.20-r4", CVE, frozenset({GHSA}))
    assert _vuln_ids(data / GRYPE, secrets, MANIFEST, stored) == {f"{CVE}|musl|1.1.20-r4": [GHSA]}
    assert _vuln_ids(data / GRYPE, secrets, "sha256:" + "0" * 64, stored) == {f"{GHSA}|musl|1.1.20-r4": []}


def test_a_store_that_cannot_be_read_is_the_reports_one_line_error(tmp_path: Path) -> None:
    """The lookup runs inside the collector's parse: a database error must not escape as a traceback."""
    from sqlalchemy import create_engine

    from posture.cli.sources.reports import stored_vulns
    from posture.records import AssetKind, AssetRef, CollectorError

    bare = create_engine(f"sqlite:///{tmp_path / 'no-schema.db'}")
    with pytest.raises(CollectorError, match=r"^cannot read the findings already stored for this report: no such"):
        stored_vulns(bare)([AssetRef(AssetKind.IMAGE, "sha256:" + "a" * 64)])
    bare.dispose()
