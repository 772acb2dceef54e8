"""One finding stated by several sources (a Trivy and a Grype report of one image): the merged evidence.

Each scanner's own view is kept under ``scanners``; the top-level fields that scoring and people
read are *derived from the union of those views*, so the result does not depend on which report
was ingested last:

* ``cvss``: NVD's view first (NVD is the one source every scanner quotes), then any other; within
  that, CVSS v3 before v4 before v2 (the parsers' own order), the newest minor version, then the
  highest base score (the cautious choice when two sources disagree).
* severity: the worst any scanner gives (:func:`worst_severity`).
* ``fix_available``: true when any scanner knows a fixed version; ``fixed``: the lowest one stated.
* everything else (title, description, url, data source): from the scanner whose name sorts first,
  its empty fields filled from the others, so every ingest order agrees.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from posture.scoring.formula import json_number
from posture.taxonomy import Severity

SCANNERS = "scanners"
_DIGITS = re.compile(r"(\d+)")


def merge_evidence(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """``old`` (what the store holds) and ``new`` (what one source states now) as one evidence."""
    merged = _merge_views(old, new) if SCANNERS in old or SCANNERS in new else dict(new)
    if "aliases" in old or "aliases" in new:
        merged["aliases"] = sorted({*old.get("aliases", ()), *new.get("aliases", ())})
    return merged


def worst_severity(evidence: Mapping[str, Any], stated: Severity) -> Severity:
    """The worst severity among the scanners' views and the one stated now."""
    worst = stated
    for view in _views(evidence).values():
        try:
            severity = Severity(str(view.get("severity")))
        except ValueError:
            continue
        if severity.rank > worst.rank:
            worst = severity
    return worst


def _merge_views(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    # A scanner restating the finding replaces its own view; ties of the lead go to what is stated now.
    lead, other = (old, new) if str(old.get("scanner", "")) < str(new.get("scanner", "")) else (new, old)
    views = {**_views(old), **_views(new)}
    merged = {**other, **lead, SCANNERS: views}
    for name, value in _derived(views).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def _views(evidence: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    views = evidence.get(SCANNERS)
    if not isinstance(views, Mapping):
        return {}
    return {str(name): view for name, view in views.items() if isinstance(view, Mapping)}


def _derived(views: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    scores = [v["cvss"] for v in views.values() if isinstance(v.get("cvss"), Mapping) and v["cvss"]]
    fixes = [str(v["fixed"]) for v in views.values() if v.get("fixed")]
    best: Mapping[str, Any] | None = min(scores, key=_cvss_preference) if scores else None
    return {
        "cvss": dict(best) if best else None,
        "fixed": min(fixes, key=_version_key) if fixes else None,
        "fix_available": bool(fixes),
    }


def _cvss_preference(cvss: Mapping[str, Any]) -> tuple[Any, ...]:
    """Sort key: smaller is preferred (see the module docstring)."""
    major, _, minor = str(cvss.get("version") or "").partition(".")
    version_rank = {"3": 0, "4": 1, "2": 2}.get(major, 3)
    raw = cvss.get("score")
    number = json_number(raw)
    score = -1.0 if number is None else number
    return (cvss.get("source") != "nvd", version_rank, -_number(minor), -score, str(cvss.get("source")), str(cvss))


def _number(text: str) -> int:
    return int(text) if text.isdigit() else 0


def _version_key(version: str) -> tuple[tuple[tuple[int, int | str], ...], str]:
    """``1.1.20-r5`` < ``1.1.100``: digit runs compare as numbers, the rest as text (then the whole text)."""
    parts = tuple((0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(version) if part)
    return parts, version
