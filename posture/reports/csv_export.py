"""``posture findings --format csv``: one row per finding for spreadsheets.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab/CR) as a formula, so
an asset named ``=HYPERLINK(...)`` would execute on opening: such cells get a leading apostrophe
(OWASP "CSV injection"). Unsafe characters are made visible (``<U+XXXX>``) and line breaks folded,
as in every text a person reads.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from posture.taxonomy import NIST
from posture.textsafe import clean

COLUMNS = (
    "id",
    "risk",
    "severity",
    "status",
    "rule_id",
    "title",
    "phase",
    "category",
    "nist",
    "references",
    "asset_kind",
    "asset_name",
    "asset_key",
    "discriminator",
    "first_seen",
    "last_seen",
    "resolved_at",
    "remediation",
    "fingerprint",
    # The exception that accepts the finding (empty when open): who, why, until when, and what it covers.
    "exception_id",
    "exception_owner",
    "exception_reason",
    "exception_created",
    "exception_until",
    "exception_source",
    "exception_origin",
    "exception_justification",
    "exception_scope",
)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    text = clean("" if value is None else value)
    return "'" + text if text.startswith(_FORMULA) else text


def row(f: dict[str, Any]) -> list[str]:
    refs = [r for r in f.get("references") or [] if isinstance(r, dict)]
    nist = next((r.get("id", "") for r in refs if r.get("framework") == NIST), "")
    others = "; ".join(f"{r.get('framework')} {r.get('id')}" for r in refs if r.get("framework") != NIST)
    asset = f.get("asset") or {}
    exception = f.get("exception") or {}
    values = {
        **{f"exception_{k}": exception.get(k) for k in ("owner", "reason", "until", "source", "origin",
                                                        "justification", "scope")},
        "exception_id": exception.get("id"),
        "exception_created": exception.get("created_at"),
        **f,
        "nist": nist,
        "references": others,
        "asset_kind": asset.get("kind"),
        "asset_name": asset.get("name"),
        "asset_key": asset.get("key"),
    }
    return [cell(values.get(column)) for column in COLUMNS]


def render_csv(findings: Sequence[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for finding in findings:
        writer.writerow(row(finding))
    return out.getvalue()
