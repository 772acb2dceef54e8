"""Bad report files: one line naming the file and the problem, nothing yielded, nothing written."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from collectors.scanners import ReportCollector
from collectors.scanners.reader import Limits
from posture.db import read_session
from posture.model import asset_table, finding_table
from posture.pipeline import collect
from posture.records import CollectorError, Problem, ScopeKind
from posture.rules.base import RuleRegistry
from posture.secrets import SecretScanner
from posture.taxonomy import RunStatus

TRIVY = "trivy/trivy-alpine-39.json"

#: Nine levels of ten aliases each: 10**9 nodes from a few hundred bytes.
BILLION_LAUGHS = b"a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + b"".join(
    b"a%d: &a%d [" % (i, i) + b", ".join([b"*a%d" % (i - 1)] * 10) + b"]\n" for i in range(1, 9)
)


def _error(path: Path | str, secrets: SecretScanner, **kwargs: object) -> str:
    collector = ReportCollector(str(path), secrets=secrets, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(CollectorError) as info:
        list(collector.collect())
    message = str(info.value)
    assert "\n" not in message
    assert collector.scope.kind is ScopeKind.REPORT
    return message


def _write(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "file is empty"),
        (b"  \n\t\n", "file is empty"),
        (b'{"SchemaVersion": 2, "Results": [', "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b'{"hello": "world"}', "unrecognised report format"),
        (b"[1, 2, 3]", "unrecognised report format"),
        (b'"just a string"', "unrecognised report format"),
        (b"\xff\xfe\x00garbage\x00", "not UTF-8"),
        (b"key: [unclosed", "not valid JSON or YAML"),
        (b"a: &x [1]\nb: *x\n", "unrecognised report format"),  # a small alias is expanded
        (BILLION_LAUGHS, "YAML aliases expand to more than"),
        (b"apiVersion: v1\nkind: ConfigMap\n", "unrecognised report format"),
        (b'{"SchemaVersion": 2, "Results": []}', "names no artifact"),
        (b'{"matches": [], "source": {"type": "image", "target": {}}}', "names no scanned artifact"),
        (b'{"version": "2.1.0", "runs": []}', "holds no run"),
        (b'{"bomFormat": "CycloneDX", "metadata": {}}', "names no artifact"),
    ],
)
def test_malformed_content_is_one_line_naming_the_file(
    tmp_path: Path, secrets: SecretScanner, content: bytes, problem: str
) -> None:
    path = _write(tmp_path, "report.json", content)
    message = _error(path, secrets)
    assert message.startswith(f"{path}: ")
    assert problem in message


def test_truncated_real_report_fails_and_writes_nothing(
    tmp_path: Path, data: Path, engine: Engine, registry: RuleRegistry, secrets: SecretScanner
) -> None:
    raw = (data / TRIVY).read_bytes()
    path = _write(tmp_path, "truncated.json", raw[: len(raw) * 2 // 3])
    result = collect(engine, ReportCollector(str(path), secrets=secrets), registry)
    assert result.status is RunStatus.FAILED
    assert result.error is not None and result.error.startswith(f"{path}: not valid JSON")
    with read_session(engine) as session:
        assert session.execute(select(func.count()).select_from(finding_table)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(asset_table)).scalar_one() == 0


def test_deep_nesting_is_refused(tmp_path: Path, secrets: SecretScanner) -> None:
    deep = b'{"SchemaVersion": 2, "ArtifactName": "x", "Metadata": ' + b"[" * 100 + b"]" * 100 + b"}"
    assert "nesting is deeper than 64 levels" in _error(_write(tmp_path, "deep.json", deep), secrets)
    very_deep = b"[" * 5000 + b"]" * 5000
    assert "not valid JSON" in _error(_write(tmp_path, "deeper.json", very_deep), secrets)
    yaml_deep = b"apiVersion: aquasecurity.github.io/v1alpha1\nreport: " + b"[" * 100 + b"]" * 100 + b"\n"
    assert "nesting is deeper than 64 levels" in _error(_write(tmp_path, "deep.yaml", yaml_deep), secrets)


def test_file_over_the_size_cap_is_refused_before_reading(tmp_path: Path, data: Path, secrets: SecretScanner) -> None:
    path = data / TRIVY
    message = _error(path, secrets, limits=Limits(max_bytes=1000))
    assert message == f"{path}: file is too large ({path.stat().st_size} bytes, limit 1000)"


def test_gzip_bomb_is_refused(tmp_path: Path, secrets: SecretScanner) -> None:
    bomb = gzip.compress(b"{" + b" " * (8 * 1024 * 1024) + b"}", compresslevel=9)
    assert len(bomb) < 20_000
    path = _write(tmp_path, "bomb.json.gz", bomb)
    message = _error(path, secrets, limits=Limits(max_bytes=1024 * 1024))
    assert message == f"{path}: gzip content inflates past the limit of 1048576 bytes"


def test_gzip_reports_are_read_and_broken_gzip_is_named(tmp_path: Path, data: Path, secrets: SecretScanner) -> None:
    raw = (data / TRIVY).read_bytes()
    plain = list(ReportCollector(str(data / TRIVY), secrets=secrets).collect())
    gz = _write(tmp_path, "report.json.gz", gzip.compress(raw))
    assert list(ReportCollector(str(gz), secrets=secrets).collect()) == plain
    two_members = _write(tmp_path, "two.gz", gzip.compress(raw[:100]) + gzip.compress(raw[100:]))
    assert list(ReportCollector(str(two_members), secrets=secrets).collect()) == plain
    cut = _write(tmp_path, "cut.json.gz", gzip.compress(raw)[:-40])
    assert "gzip data is truncated" in _error(cut, secrets)
    corrupt = bytearray(gzip.compress(raw))
    corrupt[20:30] = b"\x00" * 10
    assert "corrupt gzip data" in _error(_write(tmp_path, "corrupt.gz", bytes(corrupt)), secrets)
    raw_deflate = _write(tmp_path, "deflate.json", zlib.compress(raw))
    assert _error(raw_deflate, secrets).endswith("not UTF-8 text")


def test_stdin_is_read_with_the_same_caps(monkeypatch: pytest.MonkeyPatch, data: Path, secrets: SecretScanner) -> None:
    raw = (data / TRIVY).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(raw))))
    collector = ReportCollector("-", secrets=secrets)
    records = list(collector.collect())
    assert records == list(ReportCollector(str(data / TRIVY), secrets=secrets).collect())
    assert collector.scope.name.startswith("trivy:sha256:")

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    assert _error("-", secrets, limits=Limits(max_bytes=100)) == "stdin: input is too large (more than 100 bytes)"


def test_missing_file_and_directory(tmp_path: Path, secrets: SecretScanner) -> None:
    assert _error(tmp_path / "nope.json", secrets) == f"{tmp_path / 'nope.json'}: no such file"
    assert _error(tmp_path, secrets) == f"{tmp_path}: is a directory, not a regular file"


def test_forced_format_that_does_not_fit(data: Path, secrets: SecretScanner) -> None:
    path = data / TRIVY
    assert _error(path, secrets, report_format="grype") == f"{path}: not a Grype JSON report (no matches list)"
    assert "not a SARIF log" in _error(path, secrets, report_format="sarif")
    assert "not a trivy-operator report" in _error(path, secrets, report_format="trivy-operator")
    assert "not kube-bench JSON output" in _error(path, secrets, report_format="kube-bench")
    assert "unknown report format 'nessus'" in _error(path, secrets, report_format="nessus")


def test_a_failed_file_gets_a_scope_of_its_own_so_it_resolves_nothing(tmp_path: Path, secrets: SecretScanner) -> None:
    path = _write(tmp_path, "broken.json", b"{")
    collector = ReportCollector(str(path), secrets=secrets)
    assert collector.scope.name == f"file:{path}"


def test_entries_without_identity_are_problems_not_errors(tmp_path: Path, data: Path, secrets: SecretScanner) -> None:
    doc = json.loads((data / TRIVY).read_text())
    doc["Results"][0]["Vulnerabilities"][0]["VulnerabilityID"] = ""
    path = _write(tmp_path, "r.json", json.dumps(doc).encode())
    records = list(ReportCollector(str(path), secrets=secrets).collect())
    problems = [r.message for r in records if isinstance(r, Problem)]
    assert problems == [f"{tmp_path / 'r.json'}: 1 vulnerabilities without an id or a package skipped"]


_MEASURE = """
import resource, sys
from collectors.scanners.reader import read_bytes
from posture.records import CollectorError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    read_bytes(sys.argv[1])
except CollectorError as exc:
    print(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_a_large_gzip_bomb_is_refused_early_with_little_memory(tmp_path: Path) -> None:
    """512 MiB of zeros in 0.5 MiB: refused by the ratio guard after 8 MiB, with the default limits."""
    path = tmp_path / "bomb.json.gz"
    deflate = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"0" * (1 << 20)
    with path.open("wb") as handle:
        for _ in range(512):
            handle.write(deflate.compress(zeros))
        handle.write(deflate.flush())
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    message, grown_kib = done.stdout.splitlines()
    assert message.startswith(f"{path}: gzip content inflates more than 100 times its compressed size")
    assert int(grown_kib) < 48 * 1024  # the old reader held 256 MiB and a copy (~636 MB peak)
