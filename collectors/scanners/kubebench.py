"""kube-bench JSON (``kube-bench --json``): CIS Kubernetes Benchmark results of one node.

Either ``{Controls: [...], Totals: {...}}`` (current) or a bare list of controls (older releases);
each control has ``tests[].results[]`` with ``test_number``, ``test_desc``, ``status`` and
``remediation``. ``FAIL`` is a failed automated check, ``WARN`` a manual one to review (kept at low
severity). ``audit`` commands and ``actual_value`` are not kept: they echo process command lines,
which can carry tokens. The output names no node (kube-bench reads ``NODE_NAME`` only for its AWS
Security Hub output), so the node is the one ``--report-host`` names (:func:`~collectors.scanners.parsed.bench_host`).
"""

from __future__ import annotations

from typing import Any

from collectors.scanners.fields import DESCRIPTION_MAX, as_dict, as_list, as_str, clean, compact, dicts
from collectors.scanners.parsed import Artifact, ParseContext, ParsedReport, ReportBuilder, bench_host
from posture.records import CollectorError
from posture.rules.scanner import SCAN_CIS_K8S
from posture.taxonomy import CIS_K8S, Severity

SCANNER = "kube-bench"
_SEVERITY = {"FAIL": Severity.MEDIUM, "WARN": Severity.LOW}


def controls_of(doc: Any) -> list[dict[str, Any]] | None:
    """The controls list of either shape, or None when the document is not kube-bench output."""
    controls = as_list(doc) if isinstance(doc, list) else as_list(as_dict(doc).get("Controls"))
    found = [c for c in dicts(controls) if isinstance(c.get("tests"), list)]
    return found if found and len(found) == len(controls) else None


def identify(_doc: Any, context: ParseContext) -> Artifact:
    """The node the report describes: the one ``--report-host`` names."""
    return bench_host(SCANNER, "kube-bench", context, {})


def parse(doc: Any, context: ParseContext) -> ParsedReport:
    controls = controls_of(doc)
    if controls is None:
        raise CollectorError(f"{context.name}: not kube-bench JSON output (no controls with tests)")
    node = identify(doc, context)
    builder = ReportBuilder(SCANNER, context)
    ref = builder.add_artifact(node)
    for control in controls:
        benchmark = as_str(control.get("version"))
        node_type = as_str(control.get("node_type"))
        for group in dicts(control.get("tests")):
            for check in dicts(group.get("results")):
                status = as_str(check.get("status")).upper()
                if status not in _SEVERITY:
                    continue
                cis_id = as_str(check.get("test_number"))
                if not cis_id:
                    builder.skip("checks without a test number")
                    continue
                desc = clean(as_str(check.get("test_desc")))
                builder.add_finding(
                    SCAN_CIS_K8S,
                    ref,
                    cis_id,
                    f"CIS Kubernetes {cis_id}: {desc}" if desc else f"CIS Kubernetes {cis_id}",
                    _SEVERITY[status],
                    compact(
                        {
                            "cis_id": cis_id,
                            "benchmark": benchmark,
                            "node_type": node_type,
                            "section": clean(as_str(group.get("desc"))),
                            "description": desc,
                            "result": status,
                            "scored": check.get("scored") if isinstance(check.get("scored"), bool) else None,
                            "remediation": clean(as_str(check.get("remediation")), DESCRIPTION_MAX),
                            "scanner": SCANNER,
                            "references": [{"framework": CIS_K8S, "id": cis_id}],
                        }
                    ),
                )
    return builder.build(f"host:{node.given}", node, (context.stem,) if node.legacy_keys else ())
