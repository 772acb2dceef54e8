"""Normalized records: the whole contract between collectors and the store.

A collector turns one source scope (an engine, a cluster context, a registry, a manifest set, a
report) into a stream of these immutable records and knows nothing of the database. The store
reconciles the stream against what it already holds; rules evaluate the asset records.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from posture.acceptance import Acceptance
from posture.coverage import Coverage
from posture.errors import SourceFailure
from posture.taxonomy import Phase, Severity

#: Attribute key a collector sets on an asset it states without re-reading (a registry manifest whose
#: digest the store already holds, an image a scanner report only names): the store keeps the
#: attributes it has, and rules see those.
UNCHANGED = "_unchanged"
#: ``source`` of an image a container engine listed (Docker, Podman): only there does "no tag" mean
#: a dangling or ID-only image; registries keep tags as assets of their own.
ENGINE_SOURCE = "docker-engine"


class AssetKind(StrEnum):
    """Every kind of asset across the lifecycle; the value is stored and shown."""

    IMAGE = "image"
    TAG = "tag"
    REGISTRY = "registry"
    REPOSITORY = "repository"
    DOCKER_ENGINE = "docker-engine"
    CONTAINER = "container"
    CLUSTER = "k8s-cluster"
    NODE = "k8s-node"
    NAMESPACE = "k8s-namespace"
    WORKLOAD = "k8s-workload"
    POD = "k8s-pod"
    SERVICE_ACCOUNT = "k8s-serviceaccount"
    ROLE = "k8s-role"
    BINDING = "k8s-binding"
    NETWORK_POLICY = "k8s-networkpolicy"
    SERVICE = "k8s-service"
    INGRESS = "k8s-ingress"
    CONTROL_PLANE = "k8s-control-plane"
    MANIFEST_SET = "manifest-set"
    REPORT = "report"


class ScopeKind(StrEnum):
    """The source a collection run covers; one run per (kind, name)."""

    DOCKER = "docker"
    KUBERNETES = "kubernetes"
    MANIFESTS = "manifests"
    REGISTRY = "registry"
    REPORT = "report"


@dataclass(frozen=True, slots=True)
class ScopeRef:
    """A source scope: ``name`` is its identity, taken from the source itself (a cluster's
    ``kube-system`` UID, an engine's ID with its host and root directory, the node a bench report
    describes), never from how it was reached or which file it came in, so two sources never share
    one scope and one source never splits into two.

    ``label`` is the name people use (a kubeconfig context, a URL, a file name); it is stored and
    shown beside the identity and may change without the history changing. ``legacy`` names the
    scope the previous release gave this source, so an upgraded store adopts it instead of
    starting over (see :func:`posture.store.runs.ensure_scope`). Neither is part of equality.
    """

    kind: ScopeKind
    name: str
    label: str = field(default="", compare=False)
    legacy: tuple[str, ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return source_name(self.kind.value, self.name, self.label)


def source_name(kind: str, name: str, label: str) -> str:
    """How a scope is shown to people: its label (the name they know) where it has one, else its identity."""
    return f"{kind}:{label or name}"


@dataclass(frozen=True, slots=True)
class AssetRef:
    """Points at an asset by natural key, whether or not it has been collected yet."""

    kind: AssetKind
    key: str


@dataclass(frozen=True, slots=True)
class AssetRecord:
    """One asset as a source sees it.

    ``key`` is the natural key (image: digest; container: engine id + container id; Kubernetes
    objects: cluster/namespace/Kind/name). ``aliases`` are other keys of the same asset: an image
    is known by its config digest to Docker and scanners and by its manifest digests to registries
    and kubelets, and the store joins all of them to one row.
    """

    kind: AssetKind
    key: str
    name: str
    phase: Phase
    attributes: Mapping[str, Any] = field(default_factory=dict)
    parent: AssetRef | None = None
    aliases: tuple[str, ...] = ()
    #: Keys the previous release gave this asset. The store claims a row stored under one of them
    #: once, for the first asset that states it (so an upgraded store keeps its findings), and never
    #: lets a second asset claim the same row (two engines that once shared a key stay apart).
    legacy_keys: tuple[str, ...] = ()

    @property
    def ref(self) -> AssetRef:
        return AssetRef(self.kind, self.key)


@dataclass(frozen=True, slots=True)
class RelationRecord:
    """A typed edge: container/pod ``runs`` image, tag ``points-to`` image, service ``exposes`` workload."""

    source: AssetRef
    relation: str
    target: AssetRef


@dataclass(frozen=True, slots=True)
class ObservationRecord:
    """A finding the source states itself, such as a scanner's CVE for a package in an image.

    The store turns it into a finding of rule ``rule_id``; ``discriminator`` separates several
    findings of one rule on one asset (e.g. ``CVE-2024-1234|openssl|3.0.2``) and, with the rule and
    the asset key, is the whole fingerprint: never a description, severity or score.
    """

    rule_id: str
    asset: AssetRef
    discriminator: str
    title: str
    severity: Severity
    evidence: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Problem:
    """A non-fatal failure (a 403 on one resource type, one broken document): the run is partial."""

    message: str


#: An :class:`~posture.acceptance.Acceptance` is a record too: a source's own VEX statement (a scanner
#: report saying a vulnerability does not affect an image) is an exception of that source's scope.
Record = AssetRecord | RelationRecord | ObservationRecord | Acceptance | Problem


class CollectorError(SourceFailure):
    """A source could not be collected at all; the message is one line naming source and problem."""


class Collector(Protocol):
    """One source scope. ``collect`` yields records or raises :class:`CollectorError`."""

    @property
    def scope(self) -> ScopeRef: ...

    def collect(self) -> Iterator[Record]: ...


@runtime_checkable
class StatesCoverage(Protocol):
    """A collector whose run judged less than everything its source can state (see :mod:`posture.coverage`).

    Called after :meth:`Collector.collect` has been consumed, so a collector can report what it
    found it could not look at. A collector without the method judged everything.
    """

    def coverage(self) -> Coverage: ...
