"""docker-bench-security JSON log (``docker-bench-security.log.json``).

``{dockerbenchsecurity: version, tests: [{id, desc, results: [{id, desc, result, details, items,
remediation}]}]}``: one entry per CIS Docker Benchmark check; ``WARN`` is a failed check (``PASS``,
``INFO`` and ``NOTE`` are not findings). The log names no host (functions/output_lib.sh writes only
the version, times, checks and score), so the checked host is the one ``--report-host`` names
(``--report-host host1`` → ``docker-bench:host:host1``).
"""

from __future__ import annotations

from typing import Any

from collectors.scanners.fields import DESCRIPTION_MAX, as_str, clean, compact, dicts, strs
from collectors.scanners.parsed import Artifact, ParseContext, ParsedReport, ReportBuilder, bench_host
from posture.records import CollectorError
from posture.rules.scanner import SCAN_CIS_DOCKER
from posture.taxonomy import CIS_DOCKER, Severity

SCANNER = "docker-bench"


def identify(doc: Any, context: ParseContext) -> Artifact:
    """The host the log describes: the one ``--report-host`` names."""
    version = as_str(doc.get("dockerbenchsecurity")) if isinstance(doc, dict) else ""
    return bench_host(SCANNER, "docker-bench-security", context, {"version": version})


def parse(doc: Any, context: ParseContext) -> ParsedReport:
    if not isinstance(doc, dict) or not isinstance(doc.get("tests"), list):
        raise CollectorError(f"{context.name}: not a docker-bench-security JSON log (no tests list)")
    version = as_str(doc.get("dockerbenchsecurity"))
    host = identify(doc, context)
    builder = ReportBuilder(SCANNER, context)
    builder.stamp(doc.get("end") or doc.get("start"))
    ref = builder.add_artifact(host)
    for section in dicts(doc.get("tests")):
        for check in dicts(section.get("results")):
            if as_str(check.get("result")).upper() != "WARN":
                continue
            cis_id = as_str(check.get("id"))
            if not cis_id:
                builder.skip("checks without an id")
                continue
            desc = clean(as_str(check.get("desc")))
            builder.add_finding(
                SCAN_CIS_DOCKER,
                ref,
                cis_id,
                f"CIS Docker {cis_id}: {desc}" if desc else f"CIS Docker {cis_id}",
                Severity.MEDIUM,
                compact(
                    {
                        "cis_id": cis_id,
                        "section": clean(as_str(section.get("desc"))),
                        "description": desc,
                        "result": "WARN",
                        "details": clean(as_str(check.get("details")), DESCRIPTION_MAX),
                        "items": [clean(i) for i in strs(check.get("items"))][:20],
                        "remediation": clean(as_str(check.get("remediation")), DESCRIPTION_MAX),
                        "remediation_impact": clean(as_str(check.get("remediation-impact"))),
                        "benchmark_tool_version": version,
                        "scanner": SCANNER,
                        "references": [{"framework": CIS_DOCKER, "id": cis_id}],
                    }
                ),
                merge=("items",),
            )
    return builder.build(f"host:{host.given}", host, (context.stem,) if host.legacy_keys else ())
