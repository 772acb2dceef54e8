"""Offline exploitability data: CISA's KEV catalog (JSON) and FIRST's EPSS scores (CSV, gzipped or not).

Pure parsers: they read a file through the same capped reader as scanner reports and yield plain
rows; the store writes them (``kev`` and ``epss`` tables). A file that is not what it claims to be
raises :class:`CollectorError` with one line naming it. The EPSS parser raises on a broken row
after earlier rows were yielded, so a caller must take every row before writing any.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from collectors.scanners.fields import as_str, dicts
from collectors.scanners.reader import DEFAULT_LIMITS, Limits, display_name, parse_json, read_bytes
from posture.records import CollectorError

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class KevRow:
    """One Known Exploited Vulnerabilities entry (the ``kev`` table's columns)."""

    cve: str
    date_added: str | None
    vendor: str | None
    product: str | None
    ransomware: bool


@dataclass(frozen=True, slots=True)
class EpssRow:
    """One EPSS score: probability of exploitation in the next 30 days, and its percentile."""

    cve: str
    epss: float
    percentile: float


def parse_kev(path: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[KevRow]:
    """Rows of ``known_exploited_vulnerabilities.json``; entries without a valid CVE id are skipped."""
    name = display_name(path)
    doc = parse_json(read_bytes(path, limits), name, limits)
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
        raise CollectorError(f"{name}: not a CISA KEV catalog (no vulnerabilities list)")
    for entry in dicts(doc.get("vulnerabilities")):
        cve = as_str(entry.get("cveID")).upper()
        if not _CVE.match(cve):
            continue
        added = as_str(entry.get("dateAdded"))
        yield KevRow(
            cve=cve,
            date_added=added if _DATE.match(added) else None,
            vendor=as_str(entry.get("vendorProject"))[:256] or None,
            product=as_str(entry.get("product"))[:256] or None,
            ransomware=as_str(entry.get("knownRansomwareCampaignUse")).lower() == "known",
        )


def parse_epss(path: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[EpssRow]:
    """Rows of ``epss_scores-YYYY-MM-DD.csv[.gz]`` (a ``#model_version…`` comment line may come first)."""
    name = display_name(path)
    try:
        text = read_bytes(path, limits).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CollectorError(f"{name}: not UTF-8 text") from None
    rows = ((number, line.strip()) for number, line in enumerate(text.splitlines(), 1))
    rows = ((number, line) for number, line in rows if line and not line.startswith("#"))
    first = next(rows, None)
    header = [h.strip().lower() for h in first[1].split(",")] if first else []
    if not {"cve", "epss", "percentile"} <= set(header):
        raise CollectorError(f"{name}: not an EPSS CSV (expected a header with cve, epss, percentile)")
    cve_at, epss_at, pct_at = header.index("cve"), header.index("epss"), header.index("percentile")
    width = max(cve_at, epss_at, pct_at)
    for number, line in rows:
        cells = line.split(",")  # EPSS cells are ids and decimals: never quoted
        if len(cells) <= width:
            raise CollectorError(f"{name}: line {number}: expected {width + 1} columns")
        cve = cells[cve_at].strip().upper()
        if not _CVE.match(cve):
            raise CollectorError(f"{name}: line {number}: not a CVE id")
        try:
            epss, percentile = float(cells[epss_at]), float(cells[pct_at])
        except ValueError:
            raise CollectorError(f"{name}: line {number}: score is not a number") from None
        if not (0.0 <= epss <= 1.0 and 0.0 <= percentile <= 1.0):
            raise CollectorError(f"{name}: line {number}: score outside 0..1")
        yield EpssRow(cve, epss, percentile)
