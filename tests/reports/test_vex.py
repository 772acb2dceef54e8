"""VEX in and out: real OpenVEX, CycloneDX VEX and Trivy documents (tests/data/vex/PROVENANCE.md) become
exceptions covering exactly the stated vulnerability on the stated product; a later version of a document
ends what it no longer states; a malformed document changes nothing; the export validates against the
official OpenVEX schema and, imported again, covers the same findings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from collectors.vex import read_vex
from posture.acceptance import Acceptance, Scope
from posture.cli.main import main
from posture.model import exception_table, finding_event_table, finding_table
from posture.records import CollectorError
from posture.store.exceptions import create_exception

VEX = Path(__file__).resolve().parent.parent / "data" / "vex"
NGINX = "sha256:13d22ec63300e16014d4a42aed735207a8b33c223cff19627dd3042e5a10a3a0"  # sample-2vulns' product
OTHER = "sha256:" + "e" * 64
BUSTER = str(Path(__file__).resolve().parent.parent / "data" / "reports" / "trivy" / "trivy-debian-buster.json")


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _posture(engine: Engine, *args: str) -> None:
    main(["--db", _url(engine), *args])


def _trivy(tmp_path: Path, name: str, manifest: str, vulns: list[tuple[str, str, str]]) -> str:
    """A minimal Trivy image report: (vulnerability id, package, purl) on the image with ``manifest``."""
    doc = {
        "SchemaVersion": 2, "ArtifactName": f"{name}:1", "ArtifactType": "container_image",
        "Metadata": {"ImageID": "sha256:" + (name * 64)[:64].encode().hex()[:64],
                     "RepoDigests": [f"{name}@{manifest}"], "RepoTags": [f"{name}:1"]},
        "Results": [{"Target": name, "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": [
            {"VulnerabilityID": v, "PkgName": p, "InstalledVersion": "1.0", "Severity": "HIGH",
             "PkgIdentifier": {"PURL": purl}} for v, p, purl in vulns]}],
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _status(engine: Engine) -> list[tuple[str, str]]:
    """Each VULN finding's (title, status); two images can hold findings of one title."""
    with Session(engine) as session:
        F = finding_table.c
        return [(r.title, r.status) for r in session.execute(select(F.title, F.status).where(F.rule_id == "VULN"))]


def _accepted(engine: Engine) -> list[str]:
    return sorted(title for title, status in _status(engine) if status == "accepted")


# --- parsing: each format states exactly its not-affected statements --------------------------------


def test_openvex_image_product_with_aliases() -> None:
    doc = read_vex(str(VEX / "openvex-sample-2vulns.json"))
    assert doc.format == "openvex" and doc.statements == 2
    assert doc.document.startswith("https://openvex.dev/docs/public/vex-cbce60e4")
    [only] = doc.acceptances  # the "fixed" statement accepts nothing
    assert only.scope == Scope(vuln_id="CVE-2023-27103", aliases=("SNYK-DEBIAN12-LIBDE265-3361563",), asset=NGINX)
    assert only.justification == "component_not_present" and only.source == "vex"
    assert only.owner == "The OpenVEX Project" and only.origin == doc.document


def test_openvex_legacy_namespace_without_products_is_skipped_not_widened() -> None:
    doc = read_vex(str(VEX / "openvex-legacy-ns.json"))
    assert doc.acceptances == [] and len(doc.skipped) == 2
    assert read_vex(str(VEX / "openvex-under-investigation.json")).acceptances == []


def test_cyclonedx_bom_link_without_metadata_component() -> None:
    doc = read_vex(str(VEX / "cyclonedx-vex-bomlink.json"))
    [only] = doc.acceptances
    assert only.scope == Scope(vuln_id="CVE-2020-25649", aliases=("SNYK-JAVA-COMFASTERXMLJACKSONCORE-1048302",),
                               package="com.fasterxml.jackson.core:jackson-databind")
    assert only.justification == "code_not_reachable"


def test_cyclonedx_bom_ref_to_metadata_component_only_not_affected() -> None:
    raw = json.loads((VEX / "cyclonedx-cisa-mixed.json").read_text())
    stated = {v["id"] for v in raw["vulnerabilities"] if v.get("analysis", {}).get("state") == "not_affected"}
    doc = read_vex(str(VEX / "cyclonedx-cisa-mixed.json"))
    assert {a.scope.vuln_id for a in doc.acceptances} == stated
    assert {a.scope.asset for a in doc.acceptances} == {"GHI"} and stated
    assert len(read_vex(str(VEX / "cyclonedx-cisa-not-affected.json")).acceptances) == 1


def test_trivy_suppressed_not_affected() -> None:
    doc = read_vex(str(VEX / "trivy-debian-buster-not-affected.json"))
    [only] = doc.acceptances  # CVE-2019-18224 is "fixed": not an acceptance
    assert only.scope.vuln_id == "CVE-2019-18276" and only.scope.package == "bash"
    assert only.scope.asset == "sha256:c2c03a296d2329a4f3ab72a7bf38b78a8a80108204d326b0139d6af700e152d1"
    assert only.justification == "vulnerable_code_not_in_execute_path"


def test_last_statement_about_a_pair_holds(tmp_path: Path) -> None:
    statement = {"vulnerability": {"name": "CVE-2024-1"}, "products": [{"@id": "pkg:deb/debian/zlib@1"}]}
    doc = {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:x", "author": "a", "statements": [
        {**statement, "status": "not_affected", "justification": "component_not_present"},
        {**statement, "status": "affected", "action_statement": "upgrade"}]}
    path = tmp_path / "v.json"
    path.write_text(json.dumps(doc))
    assert read_vex(str(path)).acceptances == []
    doc["statements"].reverse()
    path.write_text(json.dumps(doc))
    assert [a.scope.package for a in read_vex(str(path)).acceptances] == ["zlib"]


@pytest.mark.parametrize(("content", "problem"), [
    ('{\n  "@context": "https://openvex.dev/ns/v0.2.0",\n  "statements": [,]\n}', ":3: not valid JSON"),
    ('{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"status": "not_affected"}]}',
     ": statement 1 names no vulnerability"),
    ('{"@context": "https://openvex.dev/ns/v0.2.0", "statements": [{"vulnerability": "CVE-1", "status": "x"}]}',
     ": statement 1 has no valid status (x)"),
    ('{"bomFormat": "CycloneDX", "vulnerabilities": [{"affects": []}]}', ": vulnerability 1 has no id"),
    ('{"hello": 1}', ": not a VEX document"),
])
def test_malformed_is_one_line(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CollectorError) as err:
        read_vex(str(path))
    assert str(err.value).startswith(f"{path}{problem}") and "\n" not in str(err.value)


# --- against the store --------------------------------------------------------------------------------


def test_openvex_covers_exactly_the_stated_vulnerability_on_the_stated_image(
        any_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deb = "pkg:deb/debian/libde265@1.0"
    _posture(any_engine, "collect", "--report", _trivy(tmp_path, "nginx", NGINX, [
        ("CVE-2023-27103", "libde265", deb), ("CVE-2023-99999", "libde265", deb)]))
    _posture(any_engine, "collect", "--report", _trivy(tmp_path, "other", OTHER, [("CVE-2023-27103", "libde265", deb)]))
    _posture(any_engine, "vex", "import", str(VEX / "openvex-sample-2vulns.json"))
    assert "1 created, 0 updated, 0 revoked; 1 finding(s) covered" in capsys.readouterr().out
    assert _accepted(any_engine) == ["CVE-2023-27103 in libde265 1.0"]
    assert len(_status(any_engine)) == 3  # the other CVE on nginx, and the CVE on the other image, stay open
    with Session(any_engine) as session:
        [row] = session.execute(select(exception_table)).all()
    assert (row.source, row.justification, row.vuln_id) == ("vex", "component_not_present", "CVE-2023-27103")
    assert row.origin.startswith("https://openvex.dev/docs/public/vex-")


def test_alias_covers_the_same_flaw_under_another_id(engine: Engine, tmp_path: Path) -> None:
    _posture(engine, "collect", "--report", _trivy(tmp_path, "nginx", NGINX, [
        ("SNYK-DEBIAN12-LIBDE265-3361563", "libde265", "pkg:deb/debian/libde265@1.0")]))
    _posture(engine, "vex", "import", str(VEX / "openvex-sample-2vulns.json"))
    assert _accepted(engine) == ["SNYK-DEBIAN12-LIBDE265-3361563 in libde265 1.0"]


def test_cyclonedx_package_scope(engine: Engine, tmp_path: Path) -> None:
    jackson = "pkg:maven/com.fasterxml.jackson.core/jackson-databind@2.10.0"
    _posture(engine, "collect", "--report", _trivy(tmp_path, "app", OTHER, [
        ("CVE-2020-25649", "com.fasterxml.jackson.core:jackson-databind", jackson),
        ("CVE-2020-36518", "com.fasterxml.jackson.core:jackson-databind", jackson),
        ("CVE-2020-25649", "org.example:other", "pkg:maven/org.example/other@1")]))
    _posture(engine, "vex", "import", str(VEX / "cyclonedx-vex-bomlink.json"))
    assert _accepted(engine) == ["CVE-2020-25649 in com.fasterxml.jackson.core:jackson-databind 1.0"]


def test_trivy_report_not_affected_then_export(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    _posture(engine, "collect", "--report", BUSTER)
    _posture(engine, "vex", "import", str(VEX / "trivy-debian-buster-not-affected.json"))
    assert _accepted(engine) == ["CVE-2019-18276 in bash 5.0-4"]
    _posture(engine, "collect", "--report", BUSTER)  # the scan again: the imported document still holds
    assert _accepted(engine) == ["CVE-2019-18276 in bash 5.0-4"]
    capsys.readouterr()
    _posture(engine, "vex", "export")
    exported = json.loads(capsys.readouterr().out)
    [statement] = exported["statements"]
    assert statement["status"] == "not_affected"
    assert statement["justification"] == "vulnerable_code_not_in_execute_path"


def test_a_later_version_saying_affected_reopens(engine: Engine, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _posture(engine, "collect", "--report", _trivy(tmp_path, "nginx", NGINX, [
        ("CVE-2023-27103", "libde265", "pkg:deb/debian/libde265@1.0")]))
    doc = json.loads((VEX / "openvex-sample-2vulns.json").read_text())
    _posture(engine, "vex", "import", str(VEX / "openvex-sample-2vulns.json"))
    assert _accepted(engine) == ["CVE-2023-27103 in libde265 1.0"]
    doc["version"] = 2
    doc["statements"][0].update(status="affected", action_statement="upgrade libde265")
    del doc["statements"][0]["justification"]
    later = tmp_path / "v2.json"
    later.write_text(json.dumps(doc))
    capsys.readouterr()
    _posture(engine, "vex", "import", str(later))
    assert "0 created, 0 updated, 1 revoked; 0 finding(s) covered" in capsys.readouterr().out
    assert _accepted(engine) == []
    with Session(engine) as session:
        events = session.execute(select(finding_event_table.c.event)).scalars().all()
    assert events.count("exception-revoked") == 1


def test_malformed_document_changes_nothing(engine: Engine, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    _posture(engine, "collect", "--report", BUSTER)
    bad = tmp_path / "bad.json"
    bad.write_text('{"@context": "https://openvex.dev/ns/v0.2.0",\n"statements": [}\n')
    with pytest.raises(SystemExit) as exit_:
        _posture(engine, "vex", "import", str(VEX / "trivy-debian-buster-not-affected.json"), str(bad))
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"posture: error: {bad}:2: not valid JSON (")
    assert _accepted(engine) == []
    with Session(engine) as session:
        assert session.execute(select(exception_table.c.id)).first() is None


def test_export_validates_and_reimports_to_the_same_coverage(
        engine: Engine, tmp_path: Path, migrated_sqlite: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deb = "pkg:deb/debian/libde265@1.0"
    report = _trivy(tmp_path, "nginx", NGINX, [("CVE-2023-27103", "libde265", deb), ("CVE-2024-0001", "zlib", deb)])
    _posture(engine, "collect", "--report", report)
    _posture(engine, "vex", "import", str(VEX / "openvex-sample-2vulns.json"))
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():  # a risk tolerated, not a "not affected" claim
        create_exception(session, Acceptance(Scope(vuln_id="CVE-2024-0001", asset=NGINX), "no fix yet", "ops",
                                             "cli", expires_at=now + timedelta(days=30)), now)
    out = tmp_path / "out.vex.json"
    _posture(engine, "vex", "export", "-o", str(out), "--author", "Security <sec@example.com>")
    exported: dict[str, Any] = json.loads(out.read_text())
    schema = json.loads((VEX / "openvex_json_schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(exported)
    by_status = {s["vulnerability"]["name"]: s for s in exported["statements"]}
    assert by_status["CVE-2023-27103"]["status"] == "not_affected"
    assert by_status["CVE-2023-27103"]["vulnerability"]["aliases"] == ["SNYK-DEBIAN12-LIBDE265-3361563"]
    tolerated = by_status["CVE-2024-0001"]
    assert tolerated["status"] == "affected" and "ops" in tolerated["action_statement"]
    assert "until" in tolerated["action_statement"]

    fresh = tmp_path / "fresh.db"
    fresh.write_bytes(migrated_sqlite.read_bytes())
    url = f"sqlite:///{fresh}"
    main(["--db", url, "collect", "--report", report])
    main(["--db", url, "vex", "import", str(out)])
    copy = create_engine(url)
    assert _accepted(copy) == ["CVE-2023-27103 in libde265 1.0"]  # the tolerated one stays open: it is affected
    copy.dispose()


def test_product_mapping_rules(tmp_path: Path) -> None:
    """docs/vex.md: an OCI purl with digest is an image, any other purl a package by its scanner name;
    an OCI purl without digest, a bare name or an over-long id is skipped (never widened)."""
    products = [
        {"@id": f"pkg:oci/app@{NGINX.replace(':', '%3A')}?repository_url=r.example/app",
         "subcomponents": [{"@id": "pkg:golang/golang.org/x/crypto@v0.28.0"}]},
        {"@id": "pkg:npm/%40scope/name@1.0.0"},
        {"identifiers": {"purl": "pkg:maven/org.apache/log4j-core@2.14.1"}},
        {"@id": "pkg:oci/vexctl"},
        {"@id": "nginx"},
        {"@id": "pkg:deb/debian/" + "x" * 600 + "@1"},
    ]
    doc = {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:t", "author": "a", "statements": [
        {"vulnerability": {"name": "cve-2024-7"}, "products": products, "status": "not_affected",
         "justification": "vulnerable_code_not_present"}]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    parsed = read_vex(str(path))
    assert [(a.scope.vuln_id, a.scope.asset, a.scope.package) for a in parsed.acceptances] == [
        ("CVE-2024-7", NGINX, "golang.org/x/crypto"),
        ("CVE-2024-7", None, "@scope/name"),
        ("CVE-2024-7", None, "org.apache:log4j-core"),
    ]
    assert len(parsed.skipped) == 3
