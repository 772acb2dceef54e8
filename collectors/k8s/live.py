"""The live Kubernetes collector: one kubeconfig context (or the in-cluster account) is one scope.

It lists the resource types of :data:`~collectors.k8s.resources.RESOURCES` (read-only, never
Secrets) a few at a time, then hands the raw objects to the shared normalizer, the same one the
manifest collector uses, so a live object and its manifest give the same records. trivy-operator's
reports (:data:`~collectors.k8s.resources.OPERATOR_RESOURCES`), where the operator is installed, go
to the report parser (:mod:`collectors.k8s.operator_reports`) in the same run.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from collectors.k8s.apiclient import PAGE_SIZE, ListClient
from collectors.k8s.kubeconfig import ClusterTarget
from collectors.k8s.normalize import records_from_objects
from collectors.k8s.operator_reports import report_records
from collectors.k8s.resources import OPERATOR_RESOURCES, RESOURCES, Resource
from collectors.reports.vulnids import StoredVulnLookup
from posture.gcpause import gc_paused
from posture.records import AssetRecord, AssetRef, Problem, Record, ScopeKind, ScopeRef
from posture.secrets import SecretScanner

DEFAULT_TIMEOUT = 30.0
#: Resource types listed at once: enough to hide latency, few enough not to trip API priority and fairness.
DEFAULT_WORKERS = 4


@dataclass
class Listing:
    """What one collection read: objects per listed resource type, and what could not be listed."""

    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # kind -> objects
    reports: list[dict[str, Any]] = field(default_factory=list)  # trivy-operator resources
    problems: list[Problem] = field(default_factory=list)
    cluster: dict[str, Any] = field(default_factory=dict)

    def drain(self) -> Iterator[dict[str, Any]]:
        """Every object once, letting go of each as it is handed over (the normalizer keeps a summary)."""
        for kind in list(self.objects):
            items = self.objects.pop(kind)
            items.reverse()
            while items:
                yield items.pop()


@dataclass(frozen=True)
class LiveCollector:
    """Collects one cluster through its API server."""

    target: ClusterTarget
    secrets: SecretScanner | None = None
    timeout: float = DEFAULT_TIMEOUT
    workers: int = DEFAULT_WORKERS
    page_size: int = PAGE_SIZE
    resources: tuple[Resource, ...] = RESOURCES
    report_resources: tuple[Resource, ...] = OPERATOR_RESOURCES
    #: The store's VULN findings by artifact, so an operator's CVE joins another scanner's finding.
    stored_vulns: StoredVulnLookup | None = None
    #: The configured label/annotation naming the owning team (``team_label``).
    team_key: str = "team"

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.KUBERNETES, self.target.name)

    def collect(self) -> Iterator[Record]:
        listing = self.fetch()
        yield from listing.problems
        complete = frozenset(listing.objects)
        # Parsing and normalizing build millions of small containers that all survive the run; the
        # cyclic collector would walk them over and over (2.5x the parse time for 10,000 pods) and
        # free nothing. Reference counting still frees everything dropped on the way.
        known: set[AssetRef] = set()
        with gc_paused():
            for record in records_from_objects(
                listing.drain(),
                self.target.name,
                secrets=self.secrets,
                complete_kinds=complete,
                cluster_attributes=listing.cluster,
                team_key=self.team_key,
            ):
                if isinstance(record, AssetRecord):
                    known.add(record.ref)
                yield record
            yield from report_records(
                listing.reports,
                label=self.target.label,
                cluster=self.target.name,
                secrets=self.secrets,
                known=known,
                stored_vulns=self.stored_vulns,
            )

    def _installed_reports(self, client: ListClient, listing: Listing) -> tuple[Resource, ...]:
        """The optional report resources this cluster serves, by discovery of their API groups."""
        wanted: tuple[Resource, ...] = ()
        for group_version in dict.fromkeys(r.api_version for r in self.report_resources):
            served = client.served(group_version)
            if isinstance(served, Problem):
                listing.problems.append(served)
                continue
            wanted += tuple(r for r in self.report_resources if r.api_version == group_version and r.plural in served)
        return wanted

    def fetch(self) -> Listing:
        """Every listable object, and a Problem per resource type that could not be listed."""
        listing = Listing()
        configuration = self.target.configuration()
        client = ListClient(configuration, self.target.label, timeout=self.timeout, page_size=self.page_size)
        try:
            # Sequential first request: an unreachable or misconfigured cluster fails once, clearly.
            version = client.version() or {}
            listing.cluster = {"server": str(client.configuration.host), "version": version.get("gitVersion")}
            reports = self._installed_reports(client, listing)
            with gc_paused(), ThreadPoolExecutor(self.workers, thread_name_prefix="k8s-list") as pool:
                listed = (*self.resources, *reports)
                futures = [pool.submit(client.list_objects, resource) for resource in listed]
                try:
                    results = [future.result() for future in futures]
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
        finally:
            client.close()
        for resource, result in zip(listed, results, strict=True):
            if isinstance(result, Problem):
                listing.problems.append(result)
            elif resource in reports:
                listing.reports.extend(result)
            else:
                listing.objects[resource.kind] = result
        return listing
