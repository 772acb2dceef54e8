"""CISA KEV and FIRST EPSS parsers: plain rows from the published shapes, one-line errors otherwise."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from collectors.enrichment import EpssRow, KevRow, parse_epss, parse_kev
from posture.records import CollectorError


def test_kev_rows(data: Path) -> None:
    assert list(parse_kev(str(data / "crafted/kev.json"))) == [
        KevRow("CVE-2023-4911", "2023-11-21", "GNU", "GNU C Library", False),
        KevRow("CVE-2021-44228", "2021-12-10", "Apache", "Log4j2", True),
    ]


def test_epss_rows_plain_and_gzipped(data: Path) -> None:
    want = [EpssRow("CVE-2023-4911", 0.01234, 0.81234), EpssRow("CVE-2021-44228", 0.97565, 0.99996)]
    assert list(parse_epss(str(data / "crafted/epss.csv"))) == want
    assert list(parse_epss(str(data / "crafted/epss.csv.gz"))) == want


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"cve,score\nCVE-2023-1,0.5\n", "not an EPSS CSV (expected a header with cve, epss, percentile)"),
        (b"cve,epss,percentile\nCVE-2023-4911,high,0.5\n", "line 2: score is not a number"),
        (b"#model\ncve,epss,percentile\nCVE-2023-4911,0.1\n", "line 3: expected 3 columns"),
        (b"cve,epss,percentile\nnot-a-cve,0.1,0.2\n", "line 2: not a CVE id"),
        (b"cve,epss,percentile\nCVE-2023-4911,7,0.2\n", "line 2: score outside 0..1"),
        (b"", "file is empty"),
    ],
)
def test_bad_epss(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "epss.csv.gz"
    path.write_bytes(gzip.compress(content) if content else b"")
    with pytest.raises(CollectorError) as info:
        list(parse_epss(str(path)))
    assert str(info.value) == f"{path}: {problem}"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'{"title": "x"}', "not a CISA KEV catalog"),
        (b"[]", "not a CISA KEV catalog"),
        (b'{"vulnerabilities": [', "not valid JSON"),
    ],
)
def test_bad_kev(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "kev.json"
    path.write_bytes(content)
    with pytest.raises(CollectorError, match=f"^{path}: {problem}"):
        list(parse_kev(str(path)))
