"""Source plug-ins of ``posture collect``: each module contributes its options and builds collectors.

A source module exposes ``OPTIONS`` (click option decorators added to ``posture collect``) and
``build(params, context) -> list[Collector]``; it returns an empty list when none of its options
were given. Modules are listed explicitly in :data:`SOURCES`, in collection order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from collectors.k8s.keys import is_live_cluster
from collectors.scanners.collector import ReportHistory
from collectors.scanners.vulnids import StoredVulnLookup
from posture.records import Collector
from posture.secrets import SecretScanner


@dataclass(frozen=True)
class SourceContext:
    """What the composition root hands to collectors: never a database handle; values, and one read-only lookup."""

    secrets: SecretScanner
    #: Image digests (config and manifest) the store already holds, so a registry collector can
    #: skip fetching manifests and configs it has seen.
    known_digests: frozenset[str] = frozenset()
    #: Multi-arch registry tags (``host/repository:tag``) → their stored attributes, so an index
    #: whose digest has not changed is not fetched again.
    known_tags: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: Docker engine URL → the engine key last collected there, so a run that cannot connect is
    #: recorded in that engine's history rather than under its URL.
    docker_engines: Mapping[str, str] = field(default_factory=dict)
    #: Report scope name → the reports ingested for it (newest time, hashes), so an older or repeated
    #: one resolves nothing.
    report_history: Mapping[str, ReportHistory] = field(default_factory=dict)
    #: Artifact keys → the VULN findings stored on them, read when each report is parsed (not when
    #: this context is made), so the second report of one command meets the first one's findings.
    stored_vulns: StoredVulnLookup | None = None
    #: Cluster name → the keys of the clusters stored under it (live clusters by their identity).
    clusters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Manifest-set key → the ``--manifests-cluster`` it was last collected under.
    manifest_sets: Mapping[str, str] = field(default_factory=dict)
    #: The configuration collectors are told of (:meth:`posture.config.Settings.source_settings`).
    settings: Mapping[str, Any] = field(default_factory=dict)

    def live_clusters_named(self, name: str) -> tuple[str, ...]:
        """The identities of the live clusters the store knows by ``name`` (their kubeconfig context)."""
        return tuple(key for key in self.clusters.get(name, ()) if is_live_cluster(key))

    @property
    def team_label(self) -> str:
        """The label or annotation naming the owning team, which the Kubernetes collectors keep."""
        key = self.settings.get("team_label")
        return key if isinstance(key, str) and key else "team"


class Source(Protocol):
    OPTIONS: Sequence[Callable[[Any], Any]]

    def build(self, params: Mapping[str, Any], context: SourceContext) -> list[Collector]: ...
