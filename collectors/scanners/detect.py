"""Which format a report is in, decided from its content (file names lie; CI artefacts are all ``report.json``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from collectors.scanners import cyclonedx, dockerbench, grype, kubebench, operator, sarif, trivy, trivy_k8s
from collectors.scanners.fields import as_str
from collectors.scanners.parsed import Artifact, ParseContext, ParsedReport
from posture.records import CollectorError

Parser = Callable[[list[Any], ParseContext], ParsedReport]


def _single(parse: Callable[[Any, ParseContext], ParsedReport], label: str) -> Parser:
    def run(docs: list[Any], context: ParseContext) -> ParsedReport:
        if len(docs) != 1:
            raise CollectorError(f"{context.name}: a {label} report is one document, found {len(docs)}")
        return parse(docs[0], context)

    return run


#: Format names accepted by ``--report-format``, in the order detection tries them.
PARSERS: dict[str, Parser] = {
    "trivy": _single(trivy.parse, "Trivy"),
    "trivy-k8s": _single(trivy_k8s.parse, "trivy k8s"),
    "grype": _single(grype.parse, "Grype"),
    "sarif": _single(sarif.parse, "SARIF"),
    "cyclonedx": _single(cyclonedx.parse, "CycloneDX"),
    "trivy-operator": operator.parse,
    "docker-bench": _single(dockerbench.parse, "docker-bench-security"),
    "kube-bench": _single(kubebench.parse, "kube-bench"),
}
FORMATS: tuple[str, ...] = tuple(PARSERS)

#: Formats whose identity may have to come from the command line, and what their parser keys the
#: report by: checked before any run starts, so a missing ``--report-name``/``--report-host`` is a
#: usage error of the whole command. The others name what they describe (an image digest, a
#: cluster, Kubernetes objects) or fail their own run.
IDENTIFIERS: dict[str, Callable[[Any, ParseContext], Artifact]] = {
    "trivy": trivy.identify,
    "trivy-k8s": trivy_k8s.identify,
    "grype": grype.identify,
    "cyclonedx": cyclonedx.identify,
    "docker-bench": dockerbench.identify,
    "kube-bench": kubebench.identify,
}


def detect(docs: list[Any], name: str) -> str:
    """The format name of already-parsed documents, or a one-line error listing what is understood."""
    first = docs[0] if docs else None
    if isinstance(first, dict):
        found = _detect_object(first)
        if found:
            return found
    if kubebench.controls_of(first) is not None:
        return "kube-bench"
    raise CollectorError(f"{name}: unrecognised report format (Posture reads: {', '.join(FORMATS)})")


def _detect_object(doc: dict[str, Any]) -> str | None:
    api_version = as_str(doc.get("apiVersion"))
    if api_version.startswith(operator.API_GROUP) or (
        as_str(doc.get("kind")).endswith("List")
        and any(isinstance(i, dict) and as_str(i.get("apiVersion")).startswith(operator.API_GROUP) for i in _items(doc))
    ):
        return "trivy-operator"
    if "ClusterName" in doc:
        return "trivy-k8s"
    if "SchemaVersion" in doc and ("Results" in doc or "ArtifactName" in doc):
        return "trivy"
    if isinstance(doc.get("matches"), list) and ("source" in doc or "descriptor" in doc):
        return "grype"
    if isinstance(doc.get("runs"), list) and (
        as_str(doc.get("version")).startswith("2.") or "sarif" in as_str(doc.get("$schema")).lower()
    ):
        return "sarif"
    if as_str(doc.get("bomFormat")) == "CycloneDX":
        return "cyclonedx"
    if "dockerbenchsecurity" in doc or (isinstance(doc.get("tests"), list) and "checks" in doc):
        return "docker-bench"
    return None


def _items(doc: dict[str, Any]) -> list[Any]:
    items = doc.get("items")
    return items if isinstance(items, list) else []


def identify(docs: list[Any], report_format: str, context: ParseContext) -> Artifact | None:
    """What the report will be keyed by when its format may need a name from the command line (raising
    :class:`~collectors.scanners.parsed.IdentityError` when that name is missing); None when the report
    names itself, or is malformed (its parser says how, in its own failed run)."""
    identifier = IDENTIFIERS.get(report_format)
    if identifier is None or len(docs) != 1 or (report_format != "kube-bench" and not isinstance(docs[0], dict)):
        return None
    return identifier(docs[0], context)
