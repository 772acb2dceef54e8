"""Fuzzing the parsers: random JSON, mutated real reports and mangled bytes give either a one-line
CollectorError or clean records, never another exception."""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.scanners.collector import parse_report
from collectors.scanners.detect import FORMATS, PARSERS, detect
from collectors.scanners.parsed import ParseContext, ParsedReport
from collectors.scanners.reader import load_documents
from posture.acceptance import Acceptance
from posture.records import AssetRecord, CollectorError, ObservationRecord, Problem, RelationRecord
from posture.secrets import SecretScanner
from posture.taxonomy import Severity
from tests.scanners.corpus import DATA

CONTEXT = ParseContext("fuzz.json", "fuzz", SecretScanner(b"posture-fuzz-key-0123456789"), "fuzz-cluster")
REAL = {
    p.relative_to(DATA).as_posix(): load_documents(p.read_bytes(), p.name)
    for p in sorted(DATA.rglob("*"))
    if p.is_file() and p.suffix in (".json", ".sarif", ".yaml") and p.name != "kev.json"
}
# More examples locally: POSTURE_FUZZ_EXAMPLES=2000 pytest tests/scanners/test_fuzz.py
FUZZ = settings(
    max_examples=int(os.environ.get("POSTURE_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20)
keys = st.sampled_from(
    [
        "Results",
        "Vulnerabilities",
        "VulnerabilityID",
        "PkgName",
        "Metadata",
        "ImageID",
        "matches",
        "artifact",
        "vulnerability",
        "runs",
        "results",
        "bomFormat",
        "components",
        "vulnerabilities",
        "affects",
        "report",
        "apiVersion",
        "kind",
        "items",
        "tests",
        "Controls",
        "Resources",
        "ClusterName",
        "SchemaVersion",
        "id",
        "name",
    ]
) | st.text(max_size=8)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=30
)


def _check(parsed: ParsedReport) -> None:
    """Clean records: the right types, identities that are strings, severities that are Severities."""
    assert parsed.scope_name and len(parsed.scope_name) <= 520
    stated = {a.ref for a in parsed.assets}
    for record in parsed.records():
        assert isinstance(record, (AssetRecord, RelationRecord, ObservationRecord, Acceptance, Problem))
        if isinstance(record, Acceptance):  # fits the store's columns
            scope = record.scope
            assert scope.vuln_id and len(scope.vuln_id) <= 128 and all(len(a) <= 128 for a in scope.aliases)
            assert len(scope.package or "") <= 512 and len(scope.asset or "") <= 1024 and len(record.key) <= 240
        if isinstance(record, ObservationRecord):
            assert record.asset in stated
            assert isinstance(record.discriminator, str) and isinstance(record.severity, Severity)
            orjson.dumps(record.evidence)  # storable as JSON
        if isinstance(record, AssetRecord):
            assert isinstance(record.key, str) and record.key


def _parse(docs: list[Any], report_format: str | None) -> None:
    try:
        parsed = PARSERS[report_format or detect(docs, CONTEXT.name)](docs, CONTEXT)
    except CollectorError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{CONTEXT.name}: ")
        return
    _check(parsed)


@FUZZ
@given(doc=json_values, report_format=st.sampled_from([None, *FORMATS]))
def test_random_json_structures(doc: Any, report_format: str | None) -> None:
    _parse([doc], report_format)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node[:3]):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated_reports(draw: st.DrawFn) -> tuple[str, list[Any]]:
    name = draw(st.sampled_from(sorted(REAL)))
    docs = copy.deepcopy(REAL[name])
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(docs) - 1))
        path = draw(st.sampled_from(_paths(docs[index])))
        replacement = draw(json_values)
        if not path:
            docs[index] = replacement
            continue
        parent = docs[index]
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = replacement
    return name, docs


@FUZZ
@given(case=mutated_reports(), force=st.booleans())
def test_mutated_real_reports(case: tuple[str, list[Any]], force: bool) -> None:
    name, docs = case
    fmt = {"trivy": "trivy", "grype": "grype", "sarif": "sarif", "cyclonedx": "cyclonedx"}.get(name.split("/")[0])
    _parse(docs, fmt if force else None)


@FUZZ
@given(
    name=st.sampled_from(sorted(REAL)),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=5),
)
def test_mangled_bytes(name: str, cut: float, flips: list[tuple[float, int]]) -> None:
    raw = bytearray((DATA / name).read_bytes())
    for where, byte in flips:
        raw[int(where * (len(raw) - 1))] = byte
    raw = raw[: max(1, int(cut * len(raw)))] if cut < 0.999 else raw
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.json"
        path.write_bytes(bytes(raw))
        try:
            parsed = parse_report(str(path), ParseContext(str(path), "fuzz", CONTEXT.secrets))
        except CollectorError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(f"{path}: ")
            return
    _check(parsed)
