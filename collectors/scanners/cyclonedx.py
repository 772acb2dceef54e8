"""CycloneDX JSON 1.4–1.7 with ``vulnerabilities`` (Trivy, Grype, or a VEX document).

The image is ``metadata.component`` of type ``container``: Trivy names its digests in properties
(``aquasecurity:trivy:ImageID``/``RepoDigest``/``RepoTag``), Grype puts the manifest digest in
``version``, and a ``pkg:oci/...@sha256:`` purl carries one too. Each vulnerability ``affects``
components by ``bom-ref``; the component gives the package and installed version. A VEX analysis of
``not_affected`` or ``false_positive`` makes the finding accepted, with the justification as reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from collectors.scanners.fields import (
    DESCRIPTION_MAX,
    as_dict,
    as_float,
    as_list,
    as_str,
    clean,
    compact,
    dicts,
    severity_of,
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
    other_artifact,
)
from posture.coverage import Coverage
from posture.records import CollectorError
from posture.rules.scanner import VULN
from posture.taxonomy import Severity

_CVSS_METHODS = ("CVSSv31", "CVSSv3", "CVSSv4", "CVSSv2")


def parse(doc: Any, context: ParseContext) -> ParsedReport:
    if not isinstance(doc, dict) or as_str(doc.get("bomFormat")) != "CycloneDX":
        raise CollectorError(f"{context.name}: not a CycloneDX document (bomFormat is not CycloneDX)")
    metadata = as_dict(doc.get("metadata"))
    scanner = _tool(metadata) or "cyclonedx"
    artifact = identify(doc, context)
    builder = ReportBuilder(scanner, context)
    builder.stamp(metadata.get("timestamp"))
    ref = builder.add_artifact(artifact)
    components = {as_str(c.get("bom-ref")): c for c in _components(doc) if as_str(c.get("bom-ref"))}
    if not as_list(doc.get("vulnerabilities")):
        # Missing or empty alike: Trivy's and Syft's plain SBOMs write no vulnerability scan at all,
        # and an empty list cannot tell "scanned, nothing found" from "not scanned".
        builder.narrow(
            Coverage(
                skipped_rules=frozenset({VULN}),
                notes=(
                    "a CycloneDX document without vulnerabilities (an SBOM, no vulnerability scan); "
                    "vulnerabilities not judged",
                ),
            )
        )
    for vuln in dicts(doc.get("vulnerabilities")):
        affects = [as_str(a.get("ref")) for a in dicts(vuln.get("affects"))]
        if not affects:
            builder.skip("vulnerabilities that affect no component")
        for bom_ref in affects:
            component = components.get(bom_ref)
            if component is None:
                builder.skip("vulnerabilities affecting a component the document does not list")
                continue
            builder.add_vuln(ref, _entry(scanner, vuln, component))
    return builder.build(artifact.key, artifact)


def _tool(metadata: dict[str, Any]) -> str:
    """``metadata.tools`` is a list of tools (1.4) or ``{components: [...]}`` (1.5+)."""
    tools = metadata.get("tools")
    listed = as_list(tools) or as_list(as_dict(tools).get("components"))
    for tool in dicts(listed):
        name = as_str(tool.get("name")).lower()
        if name:
            return name
    return ""


def identify(doc: dict[str, Any], context: ParseContext) -> Artifact:
    """The described image (``metadata.component``) by digest, else the artifact ``--report-name`` names."""
    component = as_dict(as_dict(doc.get("metadata")).get("component"))
    name = as_str(component.get("name"))
    props: dict[str, list[str]] = {}
    for prop in dicts(component.get("properties")):
        props.setdefault(as_str(prop.get("name")), []).append(as_str(prop.get("value")))
    purl = as_str(component.get("purl"))
    version = as_str(component.get("version"))
    if as_str(component.get("type")) == "container" or purl.startswith("pkg:oci/"):
        found = image_artifact(
            name=name,
            image_id=next(iter(props.get("aquasecurity:trivy:ImageID", [])), ""),
            manifest_digests=[_purl_digest(purl), version],
            repo_digests=props.get("aquasecurity:trivy:RepoDigest", []),
            repo_tags=props.get("aquasecurity:trivy:RepoTag", []),
        )
        if found is not None:
            return found
    if not name:
        raise CollectorError(f"{context.name}: the document names no artifact (metadata.component)")
    return other_artifact(name, as_str(component.get("type")), context)


def _purl_digest(purl: str) -> str:
    """``pkg:oci/alpine@sha256%3Aabc…?repository_url=…`` → ``sha256:abc…``."""
    if not purl.startswith("pkg:oci/") or "@" not in purl:
        return ""
    return unquote(purl.split("?", 1)[0].rpartition("@")[2])


def _components(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every component, nested ones included (iteratively: depth was bounded when the file was read)."""
    stack = list(dicts(doc.get("components")))
    while stack:
        component = stack.pop()
        yield component
        stack.extend(dicts(component.get("components")))


def _entry(scanner: str, vuln: dict[str, Any], component: dict[str, Any]) -> VulnEntry:
    source = as_str(as_dict(vuln.get("source")).get("name"))
    ratings = list(dicts(vuln.get("ratings")))
    analysis = as_dict(vuln.get("analysis"))
    name = as_str(component.get("name"))
    group = as_str(component.get("group"))
    purl = as_str(component.get("purl"))
    return VulnEntry(
        scanner=scanner,
        vuln_id=as_str(vuln.get("id")),
        related=tuple(as_str(r.get("id")) for r in dicts(vuln.get("references")) if as_str(r.get("id"))),
        package=canonical_package(f"{group}:{name}" if group and purl.startswith("pkg:maven/") else name, purl),
        installed=as_str(component.get("version")),
        severity=_severity(ratings, source),
        fixed=_fixed(vuln),
        description=as_str(vuln.get("description"))[: DESCRIPTION_MAX * 2],
        url=next((as_str(a.get("url")) for a in dicts(vuln.get("advisories")) if as_str(a.get("url"))), ""),
        cvss=_cvss(ratings),
        data_source=source,
        vex=compact(
            {
                "state": as_str(analysis.get("state")),
                "justification": as_str(analysis.get("justification")),
                "detail": clean(as_str(analysis.get("detail"))),
            }
        ),
    )


def _severity(ratings: list[dict[str, Any]], source: str) -> Severity:
    """The rating of the vulnerability's own source, else NVD's, else GHSA's, else the first with a severity;
    within one source the newest CVSS method's rating (v3.1 over v3 over v4 over v2 over others)."""
    rated = [r for r in ratings if as_str(r.get("severity"))]
    for name in (source.lower(), "nvd", "ghsa"):
        own = [r for r in rated if as_str(as_dict(r.get("source")).get("name")).lower() == name]
        if own:
            return severity_of(min(own, key=_method_rank).get("severity"))
    return severity_of(rated[0].get("severity")) if rated else Severity.INFO


def _method_rank(rating: dict[str, Any]) -> int:
    method = as_str(rating.get("method"))
    return _CVSS_METHODS.index(method) if method in _CVSS_METHODS else len(_CVSS_METHODS)


def _cvss(ratings: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [r for r in ratings if as_str(r.get("method")) in _CVSS_METHODS]
    if not scored:
        return {}

    def rank(rating: dict[str, Any]) -> tuple[int, int]:
        name = as_str(as_dict(rating.get("source")).get("name")).lower()
        return (0 if name in ("nvd", "") else 1, _method_rank(rating))

    best = min(scored, key=rank)
    return cvss(
        as_str(as_dict(best.get("source")).get("name")) or "cyclonedx",
        as_str(best.get("vector")),
        as_float(best.get("score")),
    )


def _fixed(vuln: dict[str, Any]) -> str:
    """Trivy writes ``recommendation: Upgrade X to version Y``; CycloneDX has no structured fixed version."""
    text = as_str(vuln.get("recommendation"))
    marker = " to version "
    return text.rpartition(marker)[2].strip() if marker in text else ""
