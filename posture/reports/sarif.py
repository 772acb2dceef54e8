"""``posture findings --format sarif``: SARIF 2.1.0 for code-scanning dashboards and CI.

Assets are not files, so each result has a *logical* location (the asset's kind and key) and a
partial fingerprint (the finding's own), so a dashboard tracks one finding across uploads. Levels:
critical/high → error, medium → warning, low/info → note; ``security-severity`` (the number
GitHub code scanning ranks by) comes from the severity too.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from posture.rules.base import RuleRegistry
from posture.textsafe import json_text

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}


def _version() -> str:
    try:
        return version("posture")
    except PackageNotFoundError:
        return "0"


def _rule(rule_id: str, registry: RuleRegistry, sample: dict[str, Any]) -> dict[str, Any]:
    """The rule's metadata from the registry; a finding of a rule not installed here describes itself."""
    if rule_id in registry:
        rule = registry.get(rule_id)
        title, severity, remediation = rule.title, rule.severity.value, rule.remediation
        phase, category = rule.phase.value, rule.category.value
        refs = [r.as_dict() for r in rule.all_references]
    else:
        title, severity, remediation = sample["title"], sample["severity"], sample.get("remediation") or ""
        phase, category, refs = sample["phase"], sample["category"], sample.get("references") or []
    tags = [
        "security",
        f"phase:{phase}",
        f"area:{category}",
        *(f"{r.get('framework')} {r.get('id')}" for r in refs if isinstance(r, dict)),
    ]
    descriptor: dict[str, Any] = {
        "id": rule_id,
        "name": rule_id,
        "shortDescription": {"text": title},
        "defaultConfiguration": {"level": _LEVEL.get(severity, "warning")},
        "properties": {"tags": tags, "security-severity": _SECURITY_SEVERITY.get(severity, "5.5")},
    }
    if remediation:
        descriptor["help"] = {"text": remediation}
    return descriptor


def _suppression(exception: dict[str, Any] | None) -> dict[str, Any]:
    """An accepted finding is suppressed outside the scanned artifact (SARIF 2.1.0 §3.35: ``external``,
    ``accepted``); its justification is the exception's reason, and its property bag says who, until
    when and what the exception covers. A finding a scanner reported as accepted has no exception."""
    suppression: dict[str, Any] = {"kind": "external", "status": "accepted"}
    if exception:
        suppression["justification"] = exception["reason"]
        suppression["properties"] = {
            key: exception[key]
            for key in ("id", "owner", "created_at", "until", "source", "origin", "justification", "scope")
            if exception.get(key) not in (None, "")
        }
    return suppression


def sarif_log(findings: Sequence[dict[str, Any]], registry: RuleRegistry) -> dict[str, Any]:
    order: dict[str, int] = {}
    rules: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for f in findings:
        if f["rule_id"] not in order:
            order[f["rule_id"]] = len(rules)
            rules.append(_rule(f["rule_id"], registry, f))
        asset = f["asset"]
        results.append(
            {
                "ruleId": f["rule_id"],
                "ruleIndex": order[f["rule_id"]],
                "level": _LEVEL.get(f["severity"], "warning"),
                "message": {"text": f"{f['title']} ({asset['kind']} {asset['name']})"},
                "locations": [
                    {
                        "logicalLocations": [
                            {
                                "name": asset["name"],
                                "fullyQualifiedName": f"{asset['kind']}:{asset['key']}",
                                "kind": "resource",
                            }
                        ]
                    }
                ],
                "partialFingerprints": {"postureFingerprint/v1": f["fingerprint"]},
                "properties": {
                    "risk": f["risk"],
                    "severity": f["severity"],
                    "status": f["status"],
                    "phase": f["phase"],
                    "category": f["category"],
                    "risk_factors": f.get("risk_factors") or {},
                    "first_seen": f["first_seen"],
                    "last_seen": f["last_seen"],
                    "security-severity": _SECURITY_SEVERITY.get(f["severity"], "5.5"),
                },
                **({"suppressions": [_suppression(f.get("exception"))]} if f["status"] == "accepted" else {}),
            }
        )
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "Posture", "version": _version(), "rules": rules}},
                "results": results,
            }
        ],
    }


def render_sarif(findings: Sequence[dict[str, Any]], registry: RuleRegistry) -> str:
    """The SARIF log as JSON, unsafe characters escaped (exact for a parser, inert in the file)."""
    return json_text(sarif_log(findings, registry))
