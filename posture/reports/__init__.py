"""Reports for people outside the terminal UI: findings exports and the manager summary.

``posture findings --format csv|sarif`` calls :func:`findings_export` with the JSON contract of
each finding (:func:`posture.store.queries.finding_json`); the writer prints to standard output.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from posture.rules.base import RuleRegistry


def findings_export(fmt: str, findings: Sequence[dict[str, Any]], registry: RuleRegistry) -> None:
    """Write ``findings`` to standard output as ``csv`` or ``sarif``."""
    if fmt == "csv":
        from posture.reports.csv_export import write_csv

        write_csv(findings, sys.stdout)
    elif fmt == "sarif":
        from posture.reports.sarif import write_sarif

        write_sarif(findings, registry, sys.stdout)
    else:
        raise ValueError(f"unknown findings export format {fmt!r}")
