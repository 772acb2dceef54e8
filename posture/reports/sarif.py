"""``posture findings --format sarif``: SARIF 2.1.0 for code-scanning dashboards and CI.

Every result has one location, as GitHub code scanning requires, with both a physical and a
logical part (the asset's kind and key):

* a finding on an object read from a manifest points at the file (relative to the directory the
  command runs in, the repository root in CI; an absolute ``file:`` URI outside it) and the line of
  the object (``region.startLine``);
* a finding on an image or tag names the image reference as its artifact (no region: an image has
  no lines), the way image scanners report a Dockerfile-less image;
* a finding on a live object (a container, a cluster's workload, a registry) gets a stable
  pseudo-URI ``posture:<kind>/<key>``: the same object is the same artifact in every upload.

A partial fingerprint (the finding's own) lets a dashboard track one finding across uploads.
Levels: critical/high → error, medium → warning, low/info → note; ``security-severity`` (the number
GitHub code scanning ranks by) comes from the severity too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import quote

from posture.rules.base import RuleRegistry
from posture.textsafe import json_text

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
#: Asset kinds named by an image reference: the reference is their artifact.
_IMAGE_KINDS = frozenset({"image", "tag"})
#: What a URI path keeps unescaped: path separators, and what image references and keys are made of.
_URI_SAFE = "/:@+~._-"


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
        description = rule.description
        phase, category = rule.phase.value, rule.category.value
        refs = [r.as_dict() for r in rule.all_references]
    else:
        title, severity, remediation = sample["title"], sample["severity"], sample.get("remediation") or ""
        phase, category, refs = sample["phase"], sample["category"], sample.get("references") or []
        description = ""
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
    if description:  # what a generic title (a scanner's pass-through rules) does not say
        descriptor["fullDescription"] = {"text": description}
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


def _location(finding: Mapping[str, Any], base: Path | None) -> dict[str, Any]:
    """The result's one location: where to look (physical) and what it is (logical)."""
    asset = finding["asset"]
    return {
        "physicalLocation": _physical(finding, base),
        "logicalLocations": [
            {"name": asset["name"], "fullyQualifiedName": f"{asset['kind']}:{asset['key']}", "kind": "resource"}
        ],
    }


def _physical(finding: Mapping[str, Any], base: Path | None) -> dict[str, Any]:
    """A manifest's file and line, an image's reference, or a live object's pseudo-URI (module docstring)."""
    asset = finding["asset"]
    place = (finding.get("evidence") or {}).get("manifest")
    if isinstance(place, Mapping) and isinstance(place.get("file"), str):
        physical: dict[str, Any] = {"artifactLocation": {"uri": _file_uri(Path(place["file"]), base)}}
        line = place.get("line")
        if isinstance(line, int) and line >= 1:
            physical["region"] = {"startLine": line}
        return physical
    if asset["kind"] in _IMAGE_KINDS:
        return {"artifactLocation": {"uri": quote(asset["name"], safe=_URI_SAFE)}}
    return {"artifactLocation": {"uri": f"posture:{asset['kind']}/{quote(asset['key'], safe=_URI_SAFE)}"}}


def _file_uri(file: Path, base: Path | None) -> str:
    """A manifest's path relative to ``base`` (where GitHub resolves it against the checkout), or an
    absolute ``file:`` URI for a file outside it."""
    if base is not None and file.is_absolute() and file.is_relative_to(base):
        return quote(file.relative_to(base).as_posix(), safe=_URI_SAFE)
    return file.as_uri() if file.is_absolute() else quote(file.as_posix(), safe=_URI_SAFE)


def sarif_log(
    findings: Sequence[dict[str, Any]], registry: RuleRegistry, base: Path | None = None
) -> dict[str, Any]:
    """The SARIF log of ``findings``; manifest paths are written relative to ``base`` when under it."""
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
                "locations": [_location(f, base)],
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


def render_sarif(findings: Sequence[dict[str, Any]], registry: RuleRegistry, base: Path | None = None) -> str:
    """The SARIF log as JSON, unsafe characters escaped (exact for a parser, inert in the file)."""
    return json_text(sarif_log(findings, registry, base))
