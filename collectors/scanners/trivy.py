"""Trivy JSON (``trivy image|fs|rootfs|repo --format json``, SchemaVersion 2).

``Report → Results[] → {Target, Class, Type, Vulnerabilities, Misconfigurations, Secrets}``. An image
report names the image by ``Metadata.ImageID`` (config digest) and ``RepoDigests``; any other artifact
by ``ArtifactName``. Secrets: Trivy's ``Match`` and ``Code`` lines hold the matched line (masked, but
the surrounding lines are not), so neither is ever kept: only rule, file, lines and a keyed hash.
"""

from __future__ import annotations

from typing import Any

from collectors.scanners.fields import (
    DESCRIPTION_MAX,
    as_dict,
    as_float,
    as_int,
    as_str,
    clean,
    compact,
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
    normalize_check_id,
    other_artifact,
    prefer_sources,
    short_hash,
)
from posture.coverage import FULL, Coverage
from posture.records import AssetRef, CollectorError
from posture.rules.scanner import SCAN_MISCONFIG, SCAN_MISCONFIG_IMAGE, SCAN_SECRET, VULN
from posture.taxonomy import TRIVY, Severity

SCANNER = "trivy"
_IMAGE_TYPES = frozenset({"container_image"})
_PACKAGE_CLASSES = frozenset({"os-pkgs", "lang-pkgs"})


def parse(doc: Any, context: ParseContext) -> ParsedReport:
    if not isinstance(doc, dict) or "SchemaVersion" not in doc:
        raise CollectorError(f"{context.name}: not a Trivy JSON report (no SchemaVersion)")
    artifact = identify(doc, context)
    builder = ReportBuilder(SCANNER, context)
    builder.stamp(doc.get("CreatedAt"))
    ref = builder.add_artifact(artifact)
    results = list(dicts(doc.get("Results")))
    for result in results:
        add_result(builder, result, packages=ref, configs=ref, secrets=ref)
    builder.narrow(judged(results))
    return builder.build(artifact.key, artifact)


def judged(results: list[dict[str, Any]]) -> Coverage:
    """What the report shows Trivy looked at, from the one trace its JSON leaves: the results it wrote.

    Trivy writes an ``os-pkgs`` result for every image whose OS it scanned, vulnerable or not, and a
    ``config`` result for every configuration file its misconfiguration scanner read, passing or
    not; without either, that scanner did not run (or found nothing to judge: a ``trivy fs`` of
    clean lockfiles writes nothing unless ``--list-all-pkgs``), so what it would have found is not
    judged. Secrets leave no such trace (Trivy writes nothing for a clean secret scan, which is its
    default): a report is taken to have looked for them.
    """
    classes = {as_str(r.get("Class")) for r in results}
    skipped: set[str] = set()
    notes: list[str] = []
    if not classes & _PACKAGE_CLASSES and not any("Vulnerabilities" in r for r in results):
        skipped.add(VULN)
        notes.append("no package result: Trivy scanned no packages for vulnerabilities; vulnerabilities not judged")
    if "config" not in classes and not any("Misconfigurations" in r for r in results):
        skipped |= {SCAN_MISCONFIG, SCAN_MISCONFIG_IMAGE}
        notes.append("no config result: Trivy checked no configuration file; misconfigurations not judged")
    return Coverage(skipped_rules=frozenset(skipped), notes=tuple(notes)) if skipped else FULL


def identify(doc: dict[str, Any], context: ParseContext) -> Artifact:
    """The scanned image by digest, a repository by URL, else the artifact ``--report-name`` names."""
    meta = as_dict(doc.get("Metadata"))
    name = as_str(doc.get("ArtifactName"))
    artifact_type = as_str(doc.get("ArtifactType"))
    if artifact_type in _IMAGE_TYPES or as_str(meta.get("ImageID")) or strs(meta.get("RepoDigests")):
        image = metadata_image(meta, name)
        if image is not None:
            return image
    if not name:
        raise CollectorError(f"{context.name}: the report names no artifact (no ArtifactName or image digest)")
    return other_artifact(name, artifact_type, context)


def metadata_image(meta: dict[str, Any], name: str) -> Artifact | None:
    """The image described by a Trivy ``Metadata`` block (also used per resource by ``trivy k8s``)."""
    os_info = as_dict(meta.get("OS"))
    return image_artifact(
        name=name,
        image_id=as_str(meta.get("ImageID")),
        repo_digests=strs(meta.get("RepoDigests")),
        repo_tags=strs(meta.get("RepoTags")),
        os=" ".join(p for p in (as_str(os_info.get("Family")), as_str(os_info.get("Name"))) if p),
    )


def add_result(
    builder: ReportBuilder,
    result: dict[str, Any],
    *,
    packages: AssetRef,
    configs: AssetRef,
    secrets: AssetRef,
    config_rule: str | None = None,
) -> None:
    """One ``Results[]`` entry: packages and secrets go to their asset (the image), checks to ``configs``."""
    target = as_str(result.get("Target"))
    for vuln in dicts(result.get("Vulnerabilities")):
        builder.add_vuln(packages, vuln_entry(vuln, target))
    if config_rule is None:
        config_rule = SCAN_MISCONFIG_IMAGE if as_str(result.get("Type")).lower() == "dockerfile" else SCAN_MISCONFIG
    for misconf in dicts(result.get("Misconfigurations")):
        add_misconfiguration(builder, configs, misconf, target, config_rule)
    for secret in dicts(result.get("Secrets")):
        add_secret(builder, secrets, secret, target)


def vuln_entry(vuln: dict[str, Any], target: str) -> VulnEntry:
    purl = as_str(as_dict(vuln.get("PkgIdentifier")).get("PURL"))
    data_source = as_dict(vuln.get("DataSource"))
    return VulnEntry(
        scanner=SCANNER,
        vuln_id=as_str(vuln.get("VulnerabilityID")),
        related=tuple(strs(vuln.get("VendorIDs"))),
        package=canonical_package(as_str(vuln.get("PkgName")), purl),
        installed=as_str(vuln.get("InstalledVersion")),
        severity=severity_of(vuln.get("Severity")),
        fixed=as_str(vuln.get("FixedVersion")),
        fix_state=as_str(vuln.get("Status")),
        title=as_str(vuln.get("Title")),
        description=as_str(vuln.get("Description"))[: DESCRIPTION_MAX * 2],
        url=as_str(vuln.get("PrimaryURL")),
        cvss=trivy_cvss(as_dict(vuln.get("CVSS")), as_str(vuln.get("SeveritySource"))),
        data_source=as_str(data_source.get("Name")) or as_str(data_source.get("ID")),
        location=as_str(vuln.get("PkgPath")) or target,
    )


def trivy_cvss(scores: dict[str, Any], severity_source: str) -> dict[str, Any]:
    """NVD's CVSS first, then the vendor Trivy took the severity from; v3 before v4 before v2."""
    if not scores:
        return {}
    for source in prefer_sources(scores, severity_source):
        entry = as_dict(scores[source])
        for vector_key, score_key in (("V3Vector", "V3Score"), ("V40Vector", "V40Score"), ("V2Vector", "V2Score")):
            vector, score = as_str(entry.get(vector_key)), as_float(entry.get(score_key))
            if vector or score is not None:
                return cvss(source, vector, score)
    return {}


def add_misconfiguration(
    builder: ReportBuilder, asset: AssetRef, misconf: dict[str, Any], target: str, rule_id: str
) -> None:
    if as_str(misconf.get("Status")).upper() not in ("", "FAIL"):
        return  # PASS and EXCEPTION results are listed too when --include-non-failures is set
    raw_id = as_str(misconf.get("ID")) or as_str(misconf.get("AVDID"))
    if not raw_id:
        builder.skip("misconfigurations without a check id")
        return
    check = normalize_check_id(raw_id)
    cause = as_dict(misconf.get("CauseMetadata"))
    start, end = as_int(cause.get("StartLine")), as_int(cause.get("EndLine"))
    title = as_str(misconf.get("Title"))
    evidence = compact(
        {
            "check_id": check,
            "scanner_check_id": raw_id,
            "avd_id": as_str(misconf.get("AVDID")),
            "title": clean(title),
            "description": clean(as_str(misconf.get("Description")), DESCRIPTION_MAX),
            "messages": [clean(as_str(misconf.get("Message")))] if as_str(misconf.get("Message")) else [],
            "resolution": clean(as_str(misconf.get("Resolution"))),
            "url": clean(as_str(misconf.get("PrimaryURL"))),
            "target": target,
            "lines": [[start, end or start]] if start else [],
            "provider": as_str(cause.get("Provider")),
            "service": as_str(cause.get("Service")),
            "resource": clean(as_str(cause.get("Resource"))),
            "scanner": SCANNER,
            "references": [{"framework": TRIVY, "id": check}],
        }
    )
    builder.add_finding(
        rule_id,
        asset,
        f"{check}|{target}",
        f"{check}: {title}" if title else check,
        severity_of(misconf.get("Severity"), default=Severity.MEDIUM),
        evidence,
        merge=("messages", "lines"),
    )


def add_secret(builder: ReportBuilder, asset: AssetRef, secret: dict[str, Any], target: str) -> None:
    rule = as_str(secret.get("RuleID"))
    if not rule:
        builder.skip("secrets without a rule id")
        return
    start, end = as_int(secret.get("StartLine")), as_int(secret.get("EndLine"))
    layer = as_dict(secret.get("Layer"))
    evidence: dict[str, Any] = {
        "secret_rule": rule,
        "category": clean(as_str(secret.get("Category"))),
        "title": clean(as_str(secret.get("Title"))),
        "target": target,
        "lines": [[start, end or start]] if start else [],
        "layer": as_str(layer.get("DiffID")) or as_str(layer.get("Digest")),
        "scanner": SCANNER,
    }
    builder.add_finding(
        SCAN_SECRET,
        asset,
        secret_discriminator(builder, rule, target, as_str(secret.get("Match")), start, evidence),
        f"Secret ({clean(as_str(secret.get('Title')) or rule)}) in {target or 'the artifact'}",
        severity_of(secret.get("Severity"), default=Severity.HIGH),
        compact(evidence),
        merge=("lines",),
    )


def secret_discriminator(
    builder: ReportBuilder, rule: str, target: str, match: str, line: int | None, evidence: dict[str, Any]
) -> str:
    """Identity of a secret finding: rule, file and a keyed hash of the matched text (never the text).

    The hash makes the identity survive the secret moving to another line; without a match the
    line number is the best identity there is. The preview and hash also go to ``evidence``.
    """
    if match:
        preview, digest = builder.context.secrets.redact(match)
        evidence["match"] = {"preview": preview, "hash": digest}
        return f"{rule}|{target}|{short_hash(digest)}"
    return f"{rule}|{target}|{line or 0}"
