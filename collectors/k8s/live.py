"""The live Kubernetes collector: one kubeconfig context (or the in-cluster account) is one scope.

It lists the resource types of :data:`~collectors.k8s.resources.RESOURCES` (read-only, never
Secrets) a few at a time, then hands the raw objects to the shared normalizer, the same one the
manifest collector uses, so a live object and its manifest give the same records. trivy-operator's
reports (:data:`~collectors.k8s.resources.OPERATOR_RESOURCES`), where the operator is installed, go
to the report parser (:mod:`collectors.k8s.operator_reports`) in the same run.

The scope and the keys of every object are the cluster's identity (:func:`~collectors.k8s.keys.live_cluster_id`,
its ``kube-system`` namespace UID, read once before anything else); the context name is only the
label. A cluster whose identity cannot be read is not collected: storing it under a guessed key
would either merge it with another cluster or leave a copy of every finding that never joins the
real ones once the permission is granted.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from collectors.bounds import Bounds
from collectors.k8s.apiclient import BOUNDS, PAGE_SIZE, ListClient
from collectors.k8s.keys import live_cluster_id, rekeyed
from collectors.k8s.kubeconfig import ClusterTarget
from collectors.k8s.normalize import records_from_objects
from collectors.k8s.operator_reports import report_records
from collectors.k8s.resources import OPERATOR_RESOURCES, RESOURCES, Resource
from collectors.scanners.vulnids import StoredVulnLookup
from posture.gcpause import gc_paused
from posture.records import AssetRecord, AssetRef, CollectorError, Problem, Record, ScopeKind, ScopeRef
from posture.secrets import SecretScanner

DEFAULT_TIMEOUT = 30.0
#: Resource types listed at once: enough to hide latency, few enough not to trip API priority and fairness.
DEFAULT_WORKERS = 4
#: The object whose UID identifies a cluster; the read-only ClusterRole's ``get`` on namespaces covers it.
KUBE_SYSTEM = "/api/v1/namespaces/kube-system"


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


@dataclass(eq=False)
class LiveCollector:
    """Collects one cluster through its API server."""

    target: ClusterTarget
    secrets: SecretScanner | None = None
    timeout: float = DEFAULT_TIMEOUT
    #: Response cap and request / run deadlines (:data:`~collectors.k8s.apiclient.BOUNDS`).
    bounds: Bounds = BOUNDS
    workers: int = DEFAULT_WORKERS
    page_size: int = PAGE_SIZE
    resources: tuple[Resource, ...] = RESOURCES
    report_resources: tuple[Resource, ...] = OPERATOR_RESOURCES
    #: The store's VULN findings by artifact, so an operator's CVE joins another scanner's finding.
    stored_vulns: StoredVulnLookup | None = None
    #: The configured label/annotation naming the owning team (``team_label``).
    team_label: str = "team"
    #: The identity of the one cluster the store knows by this context name, so a run that cannot
    #: reach the cluster is recorded failed in that cluster's history.
    known_identity: str | None = None
    _client: ListClient | None = field(default=None, init=False, repr=False)
    _identity: str | None = field(default=None, init=False, repr=False)
    _error: CollectorError | None = field(default=None, init=False, repr=False)

    @property
    def scope(self) -> ScopeRef:
        """The cluster's identity, read from the cluster once; the context name is the label and the
        scope a previous release kept under it is adopted. A cluster that cannot be identified is
        scoped as the cluster last collected under this context, else as ``context:<name>`` (never an
        identity, never adopted); :meth:`collect` then raises, so that run is recorded failed."""
        if self._identity is None and self._error is None:
            try:
                self._connect()
            except CollectorError as exc:
                self._error = exc
        label = self.target.name
        if self._identity is not None:
            return ScopeRef(ScopeKind.KUBERNETES, self._identity, label=label, legacy=(label,))
        return ScopeRef(ScopeKind.KUBERNETES, self.known_identity or f"context:{label}", label=label)

    def collect(self) -> Iterator[Record]:
        listing = self.fetch()
        yield from listing.problems
        complete = frozenset(listing.objects)
        assert self._identity is not None  # fetch() read it or raised
        cluster, legacy = self._identity, self.target.name
        # Parsing and normalizing build millions of small containers that all survive the run; the
        # cyclic collector would walk them over and over (2.5x the parse time for 10,000 pods) and
        # free nothing. Reference counting still frees everything dropped on the way.
        known: set[AssetRef] = set()
        with gc_paused():
            for record in records_from_objects(
                listing.drain(),
                cluster,
                secrets=self.secrets,
                complete_kinds=complete,
                cluster_attributes=listing.cluster,
                team_label=self.team_label,
                cluster_name=self.target.name,
            ):
                if isinstance(record, AssetRecord):
                    known.add(record.ref)
                    record = _with_legacy_key(record, cluster, legacy)
                yield record
            for record in report_records(
                listing.reports,
                label=self.target.label,
                cluster=cluster,
                secrets=self.secrets,
                known=known,
                stored_vulns=self.stored_vulns,
            ):
                yield _with_legacy_key(record, cluster, legacy) if isinstance(record, AssetRecord) else record

    def _connect(self) -> ListClient:
        """A client to the cluster, opened once, and the cluster's identity read through it."""
        if self._error is not None:
            raise self._error
        if self._client is None:
            client = ListClient(
                self.target.configuration(),
                self.target.label,
                timeout=self.timeout,
                page_size=self.page_size,
                bounds=self.bounds,
            )
            try:
                self._identity = _identity(client)
            except CollectorError:
                client.close()
                raise
            self._client = client
        return self._client

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
        # Sequential first request (the identity): an unreachable or misconfigured cluster fails once, clearly.
        client = self._connect()
        self._client = None
        try:
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


def _identity(client: ListClient) -> str:
    """The cluster's identity (its ``kube-system`` UID), or one line naming what is missing."""
    found = client.get_object(KUBE_SYSTEM)
    metadata = found.get("metadata") if isinstance(found, dict) else None
    uid = metadata.get("uid") if isinstance(metadata, dict) else None
    identity = live_cluster_id(uid) if isinstance(uid, str) else None
    if identity is None:
        reason = found if isinstance(found, str) else "the answer has no usable metadata.uid"
        raise CollectorError(
            f"{client.label}: cannot read the cluster's identity, the kube-system namespace UID "
            f"(get namespaces/kube-system: {reason}); grant get on namespaces (see posture k8s rbac)"
        )
    return identity


def _with_legacy_key(record: AssetRecord, cluster: str, legacy_cluster: str) -> AssetRecord:
    """``record`` with the key the previous release gave it (under the context name), so an upgraded
    store keeps the asset's findings and history."""
    old = rekeyed(record.key, cluster, legacy_cluster)
    return record if old is None else replace(record, legacy_keys=(*record.legacy_keys, old))
