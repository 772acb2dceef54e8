"""Reports for people outside the terminal UI: findings exports and the manager summary.

``posture findings --format csv|sarif`` calls :func:`findings_export` with the JSON contract of
each finding (:func:`posture.store.queries.finding_json`); the writers return the document and the
CLI's output gate (:mod:`posture.cli.output`) writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from posture.rules.base import RuleRegistry


def findings_export(
    fmt: str, findings: Sequence[dict[str, Any]], registry: RuleRegistry, base: Path | None = None
) -> str:
    """``findings`` as a ``csv`` or ``sarif`` document (SARIF writes manifest paths relative to ``base``)."""
    if fmt == "csv":
        from posture.reports.csv_export import render_csv

        return render_csv(findings)
    if fmt == "sarif":
        from posture.reports.sarif import render_sarif

        return render_sarif(findings, registry, base)
    raise ValueError(f"unknown findings export format {fmt!r}")
