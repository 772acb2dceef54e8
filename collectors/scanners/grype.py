"""Grype JSON (``grype IMAGE -o json``): ``{matches[], source, distro, descriptor}``.

Grype often reports one package twice, once per matcher (a GHSA from the language matcher and the
CVE it relates to from the CPE matcher); ``relatedVulnerabilities`` ties them, and the builder's
canonical id (CVE first) folds them into one finding. Maven packages are named by artifact id only,
so the package name is taken from the purl (``group:artifact``, as Trivy spells it).
"""

from __future__ import annotations

from typing import Any

from collectors.scanners.fields import DESCRIPTION_MAX, as_dict, as_float, as_str, dicts, severity_of, strs
from collectors.scanners.parsed import (
    Artifact,
    ParseContext,
    ParsedReport,
    ReportBuilder,
    VulnEntry,
    canonical_package,
    cvss,
    image_artifact,
    other_artifact,
)
from posture.records import CollectorError

SCANNER = "grype"


def parse(doc: Any, context: ParseContext) -> ParsedReport:
    if not isinstance(doc, dict) or not isinstance(doc.get("matches"), list):
        raise CollectorError(f"{context.name}: not a Grype JSON report (no matches list)")
    artifact = identify(doc, context)
    builder = ReportBuilder(SCANNER, context)
    builder.stamp(as_dict(doc.get("descriptor")).get("timestamp"))
    ref = builder.add_artifact(artifact)
    for match in dicts(doc.get("matches")):
        builder.add_vuln(ref, _entry(match))
    return builder.build(artifact.key, artifact)


def identify(doc: dict[str, Any], context: ParseContext) -> Artifact:
    """The scanned image by digest, else the artifact ``--report-name`` names (:func:`other_artifact`)."""
    source = as_dict(doc.get("source"))
    target = source.get("target")
    if as_str(source.get("type")) == "image":
        image = as_dict(target)
        distro = as_dict(doc.get("distro"))
        found = image_artifact(
            name=as_str(image.get("userInput")) or next(iter(strs(image.get("tags"))), ""),
            image_id=as_str(image.get("imageID")),
            manifest_digests=[as_str(image.get("manifestDigest"))],
            repo_digests=strs(image.get("repoDigests")),
            repo_tags=strs(image.get("tags")),
            os=" ".join(p for p in (as_str(distro.get("name")), as_str(distro.get("version"))) if p),
        )
        if found is not None:
            return found
    name = as_str(target) or as_str(as_dict(target).get("userInput")) or as_str(as_dict(target).get("name"))
    if not name:
        raise CollectorError(f"{context.name}: the report names no scanned artifact (source.target)")
    return other_artifact(name, as_str(source.get("type")), context)


def _entry(match: dict[str, Any]) -> VulnEntry:
    vuln = as_dict(match.get("vulnerability"))
    artifact = as_dict(match.get("artifact"))
    related = list(dicts(match.get("relatedVulnerabilities")))
    fix = as_dict(vuln.get("fix"))
    state = as_str(fix.get("state"))
    versions = strs(fix.get("versions"))
    locations = [as_str(loc.get("path")) for loc in dicts(artifact.get("locations"))]
    described = (
        vuln if as_str(vuln.get("description")) else next((r for r in related if as_str(r.get("description"))), vuln)
    )
    return VulnEntry(
        scanner=SCANNER,
        vuln_id=as_str(vuln.get("id")),
        related=tuple(as_str(r.get("id")) for r in related if as_str(r.get("id"))),
        package=canonical_package(as_str(artifact.get("name")), as_str(artifact.get("purl"))),
        installed=as_str(artifact.get("version")),
        severity=severity_of(vuln.get("severity")),
        fixed=", ".join(versions) if state in ("fixed", "") else "",
        fix_state=state,
        description=as_str(described.get("description"))[: DESCRIPTION_MAX * 2],
        url=as_str(vuln.get("dataSource")) or next(iter(strs(vuln.get("urls"))), ""),
        cvss=_cvss([vuln, *related]),
        data_source=as_str(vuln.get("namespace")),
        location=next((loc for loc in locations if loc), ""),
    )


def _cvss(records: list[dict[str, Any]]) -> dict[str, Any]:
    """NVD's primary score first, then any; CVSS v3 before v4 before v2."""
    candidates: list[tuple[int, int, dict[str, Any]]] = []
    for record in records:
        for entry in dicts(record.get("cvss")):
            source = as_str(entry.get("source"))
            version = as_str(entry.get("version"))
            rank_source = 0 if "nvd" in source and as_str(entry.get("type")) in ("", "Primary") else 1
            rank_version = 0 if version.startswith("3") else 1 if version.startswith("4") else 2
            candidates.append((rank_source, rank_version, entry))
    if not candidates:
        return {}
    _, _, best = min(candidates, key=lambda c: (c[0], c[1]))
    source = as_str(best.get("source"))
    return cvss(
        "nvd" if "nvd" in source else source,
        as_str(best.get("vector")),
        as_float(as_dict(best.get("metrics")).get("baseScore")),
    )
