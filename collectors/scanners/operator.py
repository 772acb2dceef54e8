"""trivy-operator custom resources (``aquasecurity.github.io/v1alpha1``) from YAML or JSON files.

``VulnerabilityReport`` and ``ExposedSecretReport`` describe one container image (``report.registry``,
``report.artifact`` with a digest in newer operators); ``ConfigAuditReport`` and
``RbacAssessmentReport`` one Kubernetes object, named by the ``trivy-operator.resource.*`` labels
(or the owner reference). The resources carry no cluster name, so the cluster is the one given on
the command line (``--report-cluster``), as the Kubernetes collector names it. The objects come
from files here; :func:`parse_objects` takes plain dicts, so a live collector can feed it the same
objects read from the API server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from collectors.scanners.fields import (
    DESCRIPTION_MAX,
    as_dict,
    as_float,
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
    cvss,
    image_artifact,
    k8s_object,
    normalize_check_id,
    short_hash,
)
from collectors.scanners.trivy import secret_discriminator, trivy_cvss
from posture.records import AssetRef, CollectorError
from posture.rules.scanner import SCAN_MISCONFIG, SCAN_RBAC, SCAN_SECRET
from posture.taxonomy import TRIVY, Severity

SCANNER = "trivy-operator"
API_GROUP = "aquasecurity.github.io/"
_IMAGE_KINDS = frozenset({"VulnerabilityReport", "ExposedSecretReport", "ClusterVulnerabilityReport"})
_CHECK_KINDS = {
    "ConfigAuditReport": SCAN_MISCONFIG,
    "ClusterConfigAuditReport": SCAN_MISCONFIG,
    "RbacAssessmentReport": SCAN_RBAC,
    "ClusterRbacAssessmentReport": SCAN_RBAC,
}


def parse(docs: list[Any], context: ParseContext) -> ParsedReport:
    objects: list[dict[str, Any]] = []
    for doc in docs:
        if not isinstance(doc, dict):
            raise CollectorError(f"{context.name}: not a trivy-operator report (a document is not an object)")
        objects.extend(dicts(doc.get("items")) if as_str(doc.get("kind")).endswith("List") else [doc])
    return parse_objects(objects, context)


def parse_objects(objects: Iterable[dict[str, Any]], context: ParseContext) -> ParsedReport:
    builder = ReportBuilder(SCANNER, context)
    identities: list[str] = []
    for obj in objects:
        if not as_str(obj.get("apiVersion")).startswith(API_GROUP):
            raise CollectorError(f"{context.name}: not a trivy-operator report (apiVersion is not {API_GROUP}*)")
        kind = as_str(obj.get("kind"))
        report = as_dict(obj.get("report"))
        builder.stamp(report.get("updateTimestamp"))
        if kind in _IMAGE_KINDS:
            artifact = _image(report)
            if artifact is None:
                builder.problem(f"{_name(obj)}: no image named in report.artifact; skipped")
                continue
            ref = builder.add_artifact(artifact)
            if kind == "ExposedSecretReport":
                _add_secrets(builder, ref, report)
            else:
                for vuln in dicts(report.get("vulnerabilities")):
                    builder.add_vuln(ref, _vuln_entry(vuln))
            identities.append(f"{kind.lower()}:{artifact.key}")
        elif kind in _CHECK_KINDS:
            target = _resource(obj, context.cluster)
            if target is None:
                builder.problem(f"{_name(obj)}: names no resource (labels or owner reference); skipped")
                continue
            ref = builder.add_artifact(target)
            _add_checks(builder, _CHECK_KINDS[kind], ref, report)
            identities.append(f"{kind.lower()}:{target.key}")
        else:
            builder.skip(f"{kind or 'untyped'} resources (not a report kind Posture reads)")
    if not identities:
        raise CollectorError(f"{context.name}: holds no trivy-operator report Posture can read")
    identity = identities[0] if len(identities) == 1 else f"set:{short_hash(chr(0).join(sorted(identities)))}"
    return builder.build(identity)


def _name(obj: dict[str, Any]) -> str:
    meta = as_dict(obj.get("metadata"))
    namespace = as_str(meta.get("namespace"))
    return f"{as_str(obj.get('kind'))} {namespace + '/' if namespace else ''}{as_str(meta.get('name'))}"


def _image(report: dict[str, Any]) -> Artifact | None:
    artifact = as_dict(report.get("artifact"))
    server = as_str(as_dict(report.get("registry")).get("server"))
    repository = as_str(artifact.get("repository"))
    tag = as_str(artifact.get("tag"))
    digest = as_str(artifact.get("digest"))
    if not repository:
        return None
    name = f"{server + '/' if server else ''}{repository}{':' + tag if tag else ''}"
    os_info = as_dict(report.get("os"))
    return image_artifact(
        name=name,
        manifest_digests=[digest],
        repo_tags=[name] if tag else [],
        os=" ".join(p for p in (as_str(os_info.get("family")), as_str(os_info.get("name"))) if p),
    )


def _resource(obj: dict[str, Any], cluster: str) -> Artifact | None:
    meta = as_dict(obj.get("metadata"))
    labels = as_dict(meta.get("labels"))
    kind = as_str(labels.get("trivy-operator.resource.kind"))
    name = as_str(labels.get("trivy-operator.resource.name"))
    namespace = as_str(labels.get("trivy-operator.resource.namespace")) or as_str(meta.get("namespace"))
    if not kind or not name:
        owner = next(dicts(meta.get("ownerReferences")), {})
        kind, name = as_str(owner.get("kind")), as_str(owner.get("name"))
    if not kind or not name:
        return None
    return k8s_object(cluster, kind, name, namespace or None)


def _vuln_entry(vuln: dict[str, Any]) -> VulnEntry:
    score = as_float(vuln.get("score"))
    return VulnEntry(
        scanner=SCANNER,
        vuln_id=as_str(vuln.get("vulnerabilityID")),
        package=as_str(vuln.get("resource")),
        installed=as_str(vuln.get("installedVersion")),
        severity=severity_of(vuln.get("severity")),
        fixed=as_str(vuln.get("fixedVersion")),
        title=as_str(vuln.get("title")),
        description=as_str(vuln.get("description"))[: DESCRIPTION_MAX * 2],
        url=as_str(vuln.get("primaryLink")) or next(iter(strs(vuln.get("links"))), ""),
        cvss=trivy_cvss(as_dict(vuln.get("cvss")), "") or (cvss(SCANNER, "", score) if score is not None else {}),
        location=as_str(vuln.get("pkgPath")) or as_str(vuln.get("target")),
    )


def _add_checks(builder: ReportBuilder, rule_id: str, ref: AssetRef, report: dict[str, Any]) -> None:
    for check in dicts(report.get("checks")):
        if check.get("success") is not False:
            continue
        raw_id = as_str(check.get("checkID")) or as_str(check.get("id"))
        if not raw_id:
            builder.skip("checks without an id")
            continue
        check_id = normalize_check_id(raw_id)
        title = as_str(check.get("title"))
        builder.add_finding(
            rule_id,
            ref,
            check_id,
            f"{check_id}: {title}" if title else check_id,
            severity_of(check.get("severity"), default=Severity.MEDIUM),
            compact(
                {
                    "check_id": check_id,
                    "scanner_check_id": raw_id,
                    "title": clean(title),
                    "description": clean(as_str(check.get("description")), DESCRIPTION_MAX),
                    "messages": [clean(m) for m in strs(check.get("messages"))][:20],
                    "resolution": clean(as_str(check.get("remediation"))),
                    "category": clean(as_str(check.get("category"))),
                    "scanner": SCANNER,
                    "references": [{"framework": TRIVY, "id": check_id}],
                }
            ),
            merge=("messages",),
        )


def _add_secrets(builder: ReportBuilder, ref: AssetRef, report: dict[str, Any]) -> None:
    for secret in dicts(report.get("secrets")):
        rule = as_str(secret.get("ruleID"))
        if not rule:
            builder.skip("secrets without a rule id")
            continue
        target = as_str(secret.get("target"))
        title = clean(as_str(secret.get("title")) or rule)
        evidence: dict[str, Any] = {
            "secret_rule": rule,
            "category": clean(as_str(secret.get("category"))),
            "title": title,
            "target": target,
            "scanner": SCANNER,
        }
        discriminator = secret_discriminator(builder, rule, target, as_str(secret.get("match")), None, evidence)
        builder.add_finding(
            SCAN_SECRET,
            ref,
            discriminator,
            f"Secret ({title}) in {target or 'the image'}",
            severity_of(secret.get("severity"), default=Severity.HIGH),
            compact(evidence),
        )
