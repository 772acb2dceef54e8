"""Fault injection for scanner reports in a fleet: each scenario of issue 13 that once resolved a
finding still present, replayed through ``posture collect`` on a fresh store. 0 false resolutions;
what really disappeared is still resolved.

Inputs are the reports of ``tests/data/reports`` (see its PROVENANCE.md), copied or derived in each
test the way the scenario produces them (a second node's file under the same name, a Trivy report
filtered by severity, an SBOM of the same image without a vulnerability scan).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import func, select

from posture.cli.main import cli
from posture.db import make_engine, read_session, resolve_url
from posture.model import finding_table, run_table, scope_table

DATA = Path(__file__).resolve().parent.parent / "data" / "reports"
ALPINE = DATA / "trivy/trivy-alpine-39.json"  # 6 CVEs (CRITICAL and MEDIUM) of one image, CreatedAt 2021-08-25
CENTOS = DATA / "trivy/trivy-centos-7.json"  # 3 CVEs, one without a fix
GOMOD = DATA / "trivy/trivy-gomod.json"  # a `trivy repo` report of a local path (ArtifactType repository)
KUBE_BENCH = DATA / "crafted/kube-bench.json"  # 1 FAIL, 1 WARN
DOCKER_BENCH = DATA / "crafted/docker-bench.log.json"  # 3 WARN


def _collect(db: str, *args: str, code: int = 0, stdin: bytes | None = None) -> Result:
    result = CliRunner().invoke(cli, ["collect", "--db", db, *args], input=stdin)
    assert result.exit_code == code, result.output
    return result


def _statuses(db: str) -> dict[str, list[str]]:
    """Finding status → sorted discriminators."""
    engine = make_engine(resolve_url(db))
    try:
        with read_session(engine) as session:
            rows = session.execute(select(finding_table.c.status, finding_table.c.discriminator)).all()
    finally:
        engine.dispose()
    out: dict[str, list[str]] = {}
    for status, discriminator in rows:
        out.setdefault(status, []).append(discriminator)
    return {k: sorted(v) for k, v in out.items()}


def _count(db: str, table: Any) -> int:
    engine = make_engine(resolve_url(db))
    try:
        with read_session(engine) as session:
            return int(session.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def _write(path: Path, doc: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _clean_bench(doc: dict[str, Any], failing: str) -> dict[str, Any]:
    """The same bench report with every failed check passing (a node with nothing to fix)."""
    text = json.dumps(doc).replace(f'"{failing}"', '"PASS"')
    return dict(json.loads(text))


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'posture.db'}"


def test_kube_bench_of_two_nodes_under_one_file_name_stay_apart(tmp_path: Path) -> None:
    db = _db(tmp_path)
    doc = json.loads(KUBE_BENCH.read_text())
    node_a = _write(tmp_path / "node-a/kube-bench.json", doc)
    node_b = _write(tmp_path / "node-b/kube-bench.json", _clean_bench(_clean_bench(doc, "FAIL"), "WARN"))
    _collect(db, "--report", str(node_a), "--report-host", "node-a")
    out = _collect(db, "--report", str(node_b), "--report-host", "node-b").output
    assert "(0 new, 0 resolved)" in out
    assert _statuses(db) == {"open": ["4.2.1", "4.2.7"]}
    # node-a fixed: its own clean report resolves its findings (a host can change without a report
    # saying so, so the guard against narrower scans does not hold a bench report's clean-up).
    _collect(db, "--report", str(node_b), "--report-host", "node-a")
    assert _statuses(db) == {"resolved": ["4.2.1", "4.2.7"]}


def test_docker_bench_of_two_hosts_under_one_file_name_stay_apart(tmp_path: Path) -> None:
    db = _db(tmp_path)
    doc = json.loads(DOCKER_BENCH.read_text())
    host_a = _write(tmp_path / "a/docker-bench-security.log.json", doc)
    host_b = _write(tmp_path / "b/docker-bench-security.log.json", _clean_bench(doc, "WARN"))
    _collect(db, "--report", str(host_a), "--report-host", "host-a")
    assert "(0 new, 0 resolved)" in _collect(db, "--report", str(host_b), "--report-host", "host-b").output
    assert _statuses(db) == {"open": ["2.2", "5.12", "5.5"]}


def test_a_bench_report_without_a_host_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    db = _db(tmp_path)
    out = _collect(db, "--report", str(KUBE_BENCH), "--report", str(ALPINE), code=2).output
    assert f"{KUBE_BENCH}: a kube-bench report does not name its host; add --report-host NAME" in out
    assert _count(db, run_table) == 0  # not even the image report of the same command ran


def test_two_trivy_fs_reports_of_dot_with_their_own_names_are_two_sources(tmp_path: Path) -> None:
    db = _db(tmp_path)
    doc = json.loads(GOMOD.read_text())
    first = _write(tmp_path / "svc-a/trivy.json", {**doc, "ArtifactName": "."})
    second = _write(tmp_path / "svc-b/trivy.json", {**doc, "ArtifactName": ".", "Results": doc["Results"][:1]})
    _collect(db, "--report", str(first), "--report-name", "svc-a")
    assert " 0 resolved)" in _collect(db, "--report", str(second), "--report-name", "svc-b").output
    assert "resolved" not in _statuses(db)
    engine = make_engine(resolve_url(db))
    try:
        with read_session(engine) as session:
            scopes = session.execute(select(scope_table.c.name, scope_table.c.label).order_by(scope_table.c.id)).all()
    finally:
        engine.dispose()
    assert [tuple(s) for s in scopes] == [("trivy:named:svc-a", "svc-a"), ("trivy:named:svc-b", "svc-b")]
    # Without a name the artifact "." is refused, and one name for two fs reports of one command too.
    refused = _collect(db, "--report", str(first), code=2).output
    assert (
        "the repository artifact '.' is not identified by an image digest or a URL; add --report-name NAME" in refused
    )
    twice = _collect(db, "--report", str(first), "--report", str(second), "--report-name", "x", code=2).output
    assert "collect each with its own --report-name/--report-host" in twice


def test_stdin_without_a_name_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    db = _db(tmp_path)
    out = _collect(db, "--report", "-", code=2, stdin=GOMOD.read_bytes()).output
    assert "stdin: the repository artifact" in out and "add --report-name NAME" in out
    assert _count(db, run_table) == 0 and _count(db, scope_table) == 0
    # An image read from stdin names itself; a non-image one with a name is ingested.
    assert "complete" in _collect(db, "--report", "-", stdin=ALPINE.read_bytes()).output
    assert "complete" in _collect(db, "--report", "-", "--report-name", "gomod", stdin=GOMOD.read_bytes()).output


def _sbom_of(trivy_doc: dict[str, Any], vulnerabilities: list[Any] | None) -> dict[str, Any]:
    """A CycloneDX document of the image of a Trivy JSON report, as ``trivy image --format cyclonedx``
    writes it: the image as ``metadata.component`` with Trivy's ImageID property, and no
    vulnerability scan (``vulnerabilities`` empty or absent)."""
    meta = trivy_doc["Metadata"]
    doc: dict[str, Any] = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "metadata": {
            "timestamp": "2021-09-01T00:00:00Z",
            "tools": {"components": [{"type": "application", "group": "aquasecurity", "name": "trivy"}]},
            "component": {
                "bom-ref": "image",
                "type": "container",
                "name": trivy_doc["ArtifactName"],
                "properties": [{"name": "aquasecurity:trivy:ImageID", "value": meta["ImageID"]}],
            },
        },
        "components": [],
    }
    if vulnerabilities is not None:
        doc["vulnerabilities"] = vulnerabilities
    return doc


def test_an_sbom_after_a_scan_of_the_same_image_resolves_no_vulnerability(tmp_path: Path) -> None:
    db = _db(tmp_path)
    doc = json.loads(ALPINE.read_text())
    _collect(db, "--report", str(ALPINE))
    for name, vulnerabilities in (("empty", []), ("absent", None)):
        sbom = _write(tmp_path / f"sbom-{name}.cdx.json", _sbom_of(doc, vulnerabilities))
        out = _collect(db, "--report", str(sbom)).output
        assert "(0 new, 0 resolved)" in out, out
    assert list(_statuses(db)) == ["open"] and len(_statuses(db)["open"]) == 6


def _later(doc: dict[str, Any], keep: Any, when: str = "2021-09-01T00:00:00Z") -> dict[str, Any]:
    result = doc["Results"][0]
    kept = [v for v in result["Vulnerabilities"] if keep(v)]
    return {**doc, "CreatedAt": when, "Results": [{**result, "Vulnerabilities": kept}]}


def test_a_severity_filtered_report_after_a_full_one_leaves_other_severities_open(tmp_path: Path) -> None:
    db = _db(tmp_path)
    doc = json.loads(ALPINE.read_text())
    _collect(db, "--report", str(ALPINE))
    critical = [v for v in doc["Results"][0]["Vulnerabilities"] if v["Severity"] == "CRITICAL"]
    fixed = critical[0]  # really fixed: a critical CVE the filtered report looked for and no longer lists
    filtered = _write(
        tmp_path / "high.json",
        _later(doc, lambda v: v["Severity"] == "CRITICAL" and v != fixed),
    )
    out = _collect(db, "--report", str(filtered), "--report-severity", "HIGH,CRITICAL").output
    assert "(0 new, 1 resolved)" in out
    statuses = _statuses(db)
    assert len(statuses["resolved"]) == 1 and fixed["VulnerabilityID"] in statuses["resolved"][0]
    assert len(statuses["open"]) == 5  # every MEDIUM one stays open


def test_a_filtered_report_nobody_said_was_filtered_is_held_by_the_guard(tmp_path: Path) -> None:
    """Trivy's JSON keeps no trace of --severity: a report of the same image digest that lists none of
    the six CVEs is an unusual all-clear, held until the operator confirms it."""
    db = _db(tmp_path)
    doc = json.loads(ALPINE.read_text())
    _collect(db, "--report", str(ALPINE))
    narrower = _write(tmp_path / "narrower.json", _later(doc, lambda v: False))
    out = _collect(db, "--report", str(narrower)).output
    assert "(0 new, 0 resolved)" in out
    assert "6 findings vanished while nothing at the source changed" in out and "--confirm-resolved" in out
    assert list(_statuses(db)) == ["open"]
    confirmed = _collect(db, "--report", str(narrower), "--confirm-resolved").output
    assert "(0 new, 6 resolved)" in confirmed
    assert list(_statuses(db)) == ["resolved"]


def test_a_fixed_only_report_leaves_unfixed_vulnerabilities_open(tmp_path: Path) -> None:
    db = _db(tmp_path)
    doc = json.loads(CENTOS.read_text())
    _collect(db, "--report", str(CENTOS))
    fixed_only = _write(tmp_path / "fixed-only.json", _later(doc, lambda v: bool(v.get("FixedVersion"))))
    assert "(0 new, 0 resolved)" in _collect(db, "--report", str(fixed_only), "--report-fixed-only").output
    assert list(_statuses(db)) == ["open"]
    # The other side: stated as a full report, the unfixed one is taken as gone.
    unstated = _write(
        tmp_path / "unstated.json", _later(doc, lambda v: bool(v.get("FixedVersion")), "2021-09-02T00:00:00Z")
    )
    assert "(0 new, 1 resolved)" in _collect(db, "--report", str(unstated)).output


def test_no_resolve_adds_but_resolves_nothing(tmp_path: Path) -> None:
    db = _db(tmp_path)
    doc = json.loads(ALPINE.read_text())
    _collect(db, "--report", str(ALPINE))
    skipped = _write(tmp_path / "skip-dirs.json", _later(doc, lambda v: v["PkgName"] != "musl"))
    out = _collect(db, "--report", str(skipped), "--report-no-resolve").output
    assert "(0 new, 0 resolved)" in out
    assert list(_statuses(db)) == ["open"]


def test_an_undated_old_report_ingested_again_changes_nothing(tmp_path: Path) -> None:
    db = _db(tmp_path)
    doc = {k: v for k, v in json.loads(ALPINE.read_text()).items() if k != "CreatedAt"}
    old = _write(tmp_path / "old.json", doc)
    newer = _write(tmp_path / "new.json", {**_later(doc, lambda v: v["PkgName"] != "musl-utils")})
    newer.write_text(json.dumps({k: v for k, v in json.loads(newer.read_text()).items() if k != "CreatedAt"}))
    _collect(db, "--report", str(old))
    assert "(0 new, 1 resolved)" in _collect(db, "--report", str(newer)).output  # really fixed
    again = _collect(db, "--report", str(old), code=3).output
    assert "(0 new, 0 resolved)" in again
    assert "identical to a trivy report ingested for this artifact before the latest one; it changes nothing" in again
    assert len(_statuses(db)["resolved"]) == 1 and len(_statuses(db)["open"]) == 5
    # The latest one ingested again is no repeat of an older one: complete, and it changes nothing.
    assert "(0 new, 0 resolved)" in _collect(db, "--report", str(newer)).output


def test_an_undated_report_after_a_dated_one_resolves_nothing(tmp_path: Path) -> None:
    db = _db(tmp_path)
    doc = json.loads(ALPINE.read_text())
    _collect(db, "--report", str(ALPINE))  # dated 2021-08-25
    undated = {k: v for k, v in _later(doc, lambda v: v["PkgName"] != "musl-utils").items() if k != "CreatedAt"}
    out = _collect(db, "--report", str(_write(tmp_path / "undated.json", undated))).output
    assert "(0 new, 0 resolved)" in out and "cannot be ordered" in out
    assert list(_statuses(db)) == ["open"]


def test_trivy_k8s_runs_of_different_namespaces_do_not_resolve_each_other(tmp_path: Path) -> None:
    db = _db(tmp_path)
    doc = json.loads((DATA / "crafted/trivy-k8s-cluster.json").read_text())
    namespaces = sorted({r.get("Namespace") for r in doc["Resources"] if r.get("Namespace")})
    _collect(db, "--report", str(DATA / "crafted/trivy-k8s-cluster.json"))
    before = _statuses(db)
    other = _write(tmp_path / "other-ns.json", {**doc, "Resources": []})
    out = _collect(db, "--report", str(other), "--report-namespace", "team-b").output
    assert "(0 new, 0 resolved)" in out
    assert _statuses(db) == before and namespaces and "team-b" not in namespaces


def test_a_report_whose_secret_scanner_was_off_leaves_secrets_open(tmp_path: Path) -> None:
    """A clean secret scan leaves no trace in Trivy's JSON: only ``--report-scanners`` can say it did not run."""
    db = _db(tmp_path)
    doc = json.loads(ALPINE.read_text())
    secrets = json.loads((DATA / "trivy/trivy-secrets.json").read_text())["Results"]  # a secret result, 2 secrets
    with_secrets = _write(tmp_path / "full.json", {**doc, "Results": [*doc["Results"], *secrets]})
    assert "(8 new, 0 resolved)" in _collect(db, "--report", str(with_secrets)).output
    vulns_only = _write(tmp_path / "vuln-only.json", _later(doc, lambda v: True))
    out = _collect(db, "--report", str(vulns_only), "--report-scanners", "vuln").output
    assert "(0 new, 0 resolved)" in out and "--report-scanners vuln" in out
    assert list(_statuses(db)) == ["open"]
    # The other side: the secret scanner ran and found nothing, so the secrets are gone.
    scanned = _write(tmp_path / "scanned.json", _later(doc, lambda v: True, "2021-09-02T00:00:00Z"))
    assert "(0 new, 2 resolved)" in _collect(db, "--report", str(scanned), "--report-scanners", "vuln,secret").output


def test_an_unknown_scanner_name_is_a_usage_error(tmp_path: Path) -> None:
    result = _collect(_db(tmp_path), "--report", str(ALPINE), "--report-scanners", "vuln,sbom", code=2)
    assert "scanners are vuln, secret, misconfig, rbac, license" in result.output
