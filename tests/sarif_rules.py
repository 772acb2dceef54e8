"""The SARIF rule descriptors Posture writes for a set of rule ids (one minimal finding per rule)."""

from __future__ import annotations

from typing import Any

from posture.reports.sarif import sarif_log
from posture.rules.base import RuleRegistry


def descriptors(registry: RuleRegistry, rule_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each rule's ``tool.driver.rules`` entry, by id."""
    findings = [
        {"rule_id": rule_id, "asset": {"kind": "image", "name": "app:1", "key": "sha256:1"}, "severity": "high",
         "title": "t", "fingerprint": f"fp-{rule_id}", "risk": 1.0, "status": "open", "phase": "build",
         "category": "image", "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z"}
        for rule_id in rule_ids
    ]
    rules = sarif_log(findings, registry)["runs"][0]["tool"]["driver"]["rules"]
    return {entry["id"]: entry for entry in rules}
