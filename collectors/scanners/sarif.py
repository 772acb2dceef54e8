"""SARIF 2.1.0 from image scanners (``trivy image --format sarif``, ``grype -o sarif``).

SARIF has no package field: both scanners write ``Key: value`` lines, Trivy in each result's message
(``Package``, ``Installed Version``, ``Vulnerability``, ``Severity``, ``Fixed Version``) and Grype in
the rule's help text (``Package``, ``Version``, ``Fix Version``, ``Severity``), one rule per
vulnerability and package. The image is named by Trivy in ``run.properties`` (imageID, repoDigests,
repoTags) and by Grype only in logical locations (``<image>@<digest>:/path``). Results that name no
package (a code scanner's findings) are not vulnerabilities of an image and are counted as skipped.
"""

from __future__ import annotations

import re
from typing import Any

from collectors.scanners.fields import (
    DESCRIPTION_MAX,
    as_dict,
    as_float,
    as_int,
    as_list,
    as_str,
    dicts,
    severity_of,
    strs,
)
from collectors.scanners.parsed import (
    Artifact,
    ParseContext,
    ParsedReport,
    ReportBuilder,
    VulnEntry,
    canonical_package,
    cvss,
    image_artifact,
)
from posture.records import CollectorError
from posture.taxonomy import Severity

_KV = re.compile(r"^\s*([A-Za-z][A-Za-z ]{0,40}):\s*(.*?)\s*$")
_VULN_LINE = re.compile(r"^\s*Vulnerability\s+(\S+)\s*$")
_VULN_ID = re.compile(r"(CVE-\d{4}-\d{4,}|GHSA(?:-[0-9a-z]{4}){3})", re.IGNORECASE)
_LEVELS = {"error": Severity.HIGH, "warning": Severity.MEDIUM, "note": Severity.LOW, "none": Severity.INFO}


def parse(doc: Any, context: ParseContext) -> ParsedReport:
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise CollectorError(f"{context.name}: not a SARIF log (no runs list)")
    runs = list(dicts(doc.get("runs")))
    if not runs:
        raise CollectorError(f"{context.name}: the SARIF log holds no run")
    scanner = as_str(as_dict(as_dict(runs[0].get("tool")).get("driver")).get("name")).lower() or "sarif"
    builder = ReportBuilder(scanner, context)
    first: Artifact | None = None
    for run in runs:
        artifact = _artifact(run)
        if artifact is None:
            raise CollectorError(f"{context.name}: the SARIF run names no image (no imageID, digest or image name)")
        first = first or artifact
        for invocation in dicts(run.get("invocations")):
            builder.stamp(invocation.get("endTimeUtc") or invocation.get("startTimeUtc"))
        ref = builder.add_artifact(artifact)
        rules = list(dicts(as_dict(as_dict(run.get("tool")).get("driver")).get("rules")))
        by_id = {as_str(r.get("id")): r for r in rules}
        for result in dicts(run.get("results")):
            index = as_int(result.get("ruleIndex"))
            rule = by_id.get(as_str(result.get("ruleId"))) or (
                rules[index] if index is not None and 0 <= index < len(rules) else {}
            )
            entry = _entry(scanner, result, rule)
            if entry is None:
                builder.skip("results without a package (not image vulnerabilities)")
            else:
                builder.add_vuln(ref, entry)
    assert first is not None
    return builder.build(first.key)


def _artifact(run: dict[str, Any]) -> Artifact | None:
    props = as_dict(run.get("properties"))
    if props:
        found = image_artifact(
            name=as_str(props.get("imageName")),
            image_id=as_str(props.get("imageID")),
            repo_digests=strs(props.get("repoDigests")),
            repo_tags=strs(props.get("repoTags")),
        )
        if found is not None:
            return found
    for result in dicts(run.get("results")):
        for location in dicts(result.get("locations")):
            for logical in dicts(location.get("logicalLocations")):
                qualified = as_str(logical.get("fullyQualifiedName"))
                image, _, digest = qualified.rpartition(":/")[0].partition("@")
                if image:
                    return image_artifact(name=image, manifest_digests=[digest])
    return None


def _fields(*texts: str) -> dict[str, str]:
    """``Key: value`` lines of the given texts; earlier texts win."""
    found: dict[str, str] = {}
    for text in texts:
        for line in text.splitlines():
            vuln = _VULN_LINE.match(line)
            if vuln:
                found.setdefault("vulnerability", vuln.group(1))
                continue
            kv = _KV.match(line)
            if kv:
                found.setdefault(kv.group(1).strip().lower(), kv.group(2))
    return found


def _entry(scanner: str, result: dict[str, Any], rule: dict[str, Any]) -> VulnEntry | None:
    message = as_str(as_dict(result.get("message")).get("text"))
    help_text = as_str(as_dict(rule.get("help")).get("text"))
    fields = _fields(message, help_text)
    package = fields.get("package", "")
    installed = fields.get("installed version") or fields.get("version", "")
    rule_id = as_str(result.get("ruleId")) or as_str(rule.get("id"))
    vuln_id = fields.get("vulnerability") or _vuln_id(rule_id)
    if not package or not vuln_id:
        return None
    props = as_dict(rule.get("properties"))
    purls = strs(props.get("purls"))
    fixed = fields.get("fixed version") or fields.get("fix version", "")
    return VulnEntry(
        scanner=scanner,
        vuln_id=vuln_id,
        package=canonical_package(package, purls[0] if purls else ""),
        installed=installed,
        severity=severity_of(fields.get("severity"), default=_LEVELS.get(as_str(result.get("level")), Severity.INFO)),
        fixed=fixed,
        title=as_str(as_dict(rule.get("shortDescription")).get("text")),
        description=as_str(as_dict(rule.get("fullDescription")).get("text"))[: DESCRIPTION_MAX * 2],
        url=as_str(rule.get("helpUri")),
        cvss=_cvss(props),
        data_source=fields.get("data namespace", ""),
        location=_location(result),
    )


def _vuln_id(rule_id: str) -> str:
    match = _VULN_ID.search(rule_id)
    return match.group(1) if match else ""


def _cvss(props: dict[str, Any]) -> dict[str, Any]:
    for vector_key, score_key in (("cvssv3_vector", "cvssv3_baseScore"), ("cvssv2_vector", "cvssv2_score")):
        vector, score = as_str(props.get(vector_key)), as_float(props.get(score_key))
        if vector or score is not None:
            return cvss("sarif", vector, score)
    score = as_float(props.get("security-severity"))
    return cvss("sarif", "", score) if score is not None else {}


def _location(result: dict[str, Any]) -> str:
    for location in as_list(result.get("locations")):
        physical = as_dict(as_dict(location).get("physicalLocation"))
        uri = as_str(as_dict(physical.get("artifactLocation")).get("uri"))
        if uri:
            return uri
    return ""
