"""``trivy k8s --format json``: ``{ClusterName, Resources[]: {Namespace, Kind, Name, Metadata, Results}}``.

Vulnerabilities and secrets of a resource belong to the image it runs (Trivy scans each image of a
workload and gives its ImageID/RepoDigests in ``Metadata``); misconfigurations belong to the
Kubernetes object, keyed exactly as the Kubernetes collector keys it so the two meet. Older Trivy
versions split resources into top-level ``Vulnerabilities`` and ``Misconfigurations`` lists, and
``--report all`` writes ``Findings``; all three shapes are read. A run limited to some namespaces
(``trivy k8s --include-namespaces``) leaves no trace in the JSON; ``--report-namespace`` states it.
"""

from __future__ import annotations

from typing import Any

from collectors.scanners.fields import as_dict, as_str, dicts, strs
from collectors.scanners.parsed import (
    DEFAULT_CLUSTER,
    Artifact,
    ParseContext,
    ParsedReport,
    ReportBuilder,
    cluster_key,
    k8s_object,
)
from collectors.scanners.trivy import add_result, metadata_image
from posture.coverage import Coverage
from posture.records import AssetKind, CollectorError
from posture.rules.scanner import SCAN_RBAC

SCANNER = "trivy-k8s"
_RBAC_KINDS = frozenset({"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"})
_RESOURCE_LISTS = ("Resources", "Findings", "Vulnerabilities", "Misconfigurations")


def parse(doc: Any, context: ParseContext) -> ParsedReport:
    if not isinstance(doc, dict) or "ClusterName" not in doc:
        raise CollectorError(f"{context.name}: not a 'trivy k8s' JSON report (no ClusterName)")
    cluster = identify(doc, context).key
    builder = ReportBuilder(SCANNER, context)
    for key in _RESOURCE_LISTS:
        for resource in dicts(doc.get(key)):
            _add_resource(builder, resource, cluster)
    if context.namespaces is not None:
        # Trivy's JSON keeps no trace of --include-namespaces: only the command line can say.
        listed = ",".join(sorted(context.namespaces))
        note = f"limited to namespaces {listed}: other namespaces and cluster-wide resources not judged"
        builder.narrow(Coverage(namespaces=context.namespaces, notes=(note,)))
    return builder.build(cluster)


def identify(doc: dict[str, Any], context: ParseContext) -> Artifact:
    """The cluster the report describes: ``--report-cluster`` when given (it maps a context name to the
    live cluster's identity, or names that identity), else the report's ``ClusterName`` (a kubeconfig
    context, mapped the same way), so the objects land on the live cluster's own workloads."""
    if context.cluster != DEFAULT_CLUSTER:
        cluster = context.cluster
    else:
        name = as_str(doc.get("ClusterName")) or DEFAULT_CLUSTER
        cluster = cluster_key(name, context.live_clusters, f"{context.name}: its ClusterName")
    return Artifact(AssetKind.CLUSTER, cluster, cluster)


def _add_resource(builder: ReportBuilder, resource: dict[str, Any], cluster: str) -> None:
    kind, name = as_str(resource.get("Kind")), as_str(resource.get("Name"))
    namespace = as_str(resource.get("Namespace")) or None
    if not kind or not name:
        builder.skip("resources without a kind or name")
        return
    label = f"{namespace + '/' if namespace else ''}{kind}/{name}"
    if as_str(resource.get("Error")):
        builder.problem(f"{label}: Trivy could not scan it")
    results = list(dicts(resource.get("Results")))
    # The object is stated only when it has findings of its own: a placeholder for an object the
    # Kubernetes collector has not seen would otherwise be checked by rules with nothing to check.
    obj_artifact = k8s_object(cluster, kind, name, namespace)
    obj = obj_artifact.ref
    if any(r.get("Misconfigurations") for r in results):
        builder.add_artifact(obj_artifact)
    image_ref = obj
    if any(r.get("Vulnerabilities") or r.get("Secrets") for r in results):
        meta = as_dict(resource.get("Metadata"))
        image = metadata_image(meta, _image_name(meta, results))
        if image is None:
            builder.problem(f"{label}: image findings without an image identity skipped")
            results = [{**r, "Vulnerabilities": None, "Secrets": None} for r in results]
        else:
            image_ref = builder.add_artifact(image)
    rule = SCAN_RBAC if kind in _RBAC_KINDS else None
    for result in results:
        add_result(builder, result, packages=image_ref, configs=obj, secrets=image_ref, config_rule=rule)


def _image_name(meta: dict[str, Any], results: list[dict[str, Any]]) -> str:
    """``RepoTags[0]``, else the OS result's target (``nginx:1.25 (debian 12.1)`` → ``nginx:1.25``)."""
    tags = strs(meta.get("RepoTags"))
    if tags:
        return tags[0]
    for result in results:
        if as_str(result.get("Class")) == "os-pkgs":
            return as_str(result.get("Target")).split(" (", 1)[0]
    return ""
