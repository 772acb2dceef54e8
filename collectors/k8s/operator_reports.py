"""trivy-operator's reports read from the cluster's API, through the same parser as report files.

When trivy-operator runs in a cluster, its VulnerabilityReports, ConfigAuditReports and
ExposedSecretReports (and the cluster-scoped variants) are custom resources beside the workloads
they describe. The live collector lists them with everything else (a 404 means the operator is not
installed: nothing to read; a 403 is a Problem like on any other type) and hands them here. They
are parsed by :func:`collectors.scanners.operator.parse_objects` keyed to this cluster, so a
report's findings land on the workloads and images the collector reads itself, in the same run.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from typing import Any

from collectors.scanners.operator import parse_objects
from collectors.scanners.parsed import ParseContext
from collectors.scanners.vulnids import StoredVulnLookup
from posture.records import AssetRef, CollectorError, Problem, Record
from posture.secrets import SecretScanner


def report_records(
    objects: Sequence[dict[str, Any]],
    *,
    label: str,
    cluster: str,
    secrets: SecretScanner | None,
    known: Collection[AssetRef],
    stored_vulns: StoredVulnLookup | None = None,
) -> Iterator[Record]:
    """The records of ``objects`` (trivy-operator resources); assets in ``known`` are not restated.

    The collector's own record of a workload is the full one; a report only names it. Secret
    findings are identified by a keyed hash of the match, so without the install's key nothing is read.
    """
    if not objects:
        return
    if secrets is None:
        yield Problem(f"{label}: {len(objects)} trivy-operator reports not read (no secrets key to hash them with)")
        return
    context = ParseContext(f"{label} trivy-operator reports", "trivy-operator", secrets, cluster, stored_vulns)
    try:
        parsed = parse_objects(objects, context)
    except CollectorError as exc:
        yield Problem(str(exc))
        return
    yield from (asset for asset in parsed.assets if asset.ref not in known)
    yield from parsed.relations
    yield from parsed.observations
    yield from parsed.problems
