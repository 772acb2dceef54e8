"""What the store's detail queries return to a reader (the TUI's finding, asset and trace screens).

The list rows are dataclasses (:class:`posture.store.tui_queries.FindingRow`, ``EstateIndex``); the
detail queries return nested records, typed here as ``TypedDict`` so mypy checks every key a query
writes against every key a screen reads, while the values stay the plain dicts the queries build
(JSON-like, compared as such by the tests). Attributes and evidence stay ``dict[str, Any]``: they are
each source's own shape (:mod:`posture.attributes` types the Docker ones).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NotRequired, TypedDict

from posture.store.exceptions import ExceptionDetail

# -- one finding ----------------------------------------------------------------------------------


class FindingBrief(TypedDict):
    """A finding as a list of them shows it (the trace's findings on each asset)."""

    id: int
    asset_id: int
    risk: int
    severity: str
    severity_rank: int
    rule_id: str
    title: str
    references: list[dict[str, str]]
    evidence: dict[str, Any]


class FindingDetail(FindingBrief):
    """A finding's row, its asset, the exception that accepts it and the sources that see it."""

    fingerprint: str
    discriminator: str
    phase: str
    category: str
    content_hash: str
    status: str
    #: :func:`posture.scoring.formula.explain`'s published shape, not the stored inputs.
    risk_factors: dict[str, Any]
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    exception_id: int | None
    asset_kind: str
    asset_key: str
    asset_name: str
    asset_attributes: dict[str, Any]
    #: :func:`posture.store.exceptions.exception_details`'s entry, None when nothing accepts it.
    exception: ExceptionDetail | None
    #: ``<kind>:<name>`` of every source that sees it now.
    sources: list[str]


class FindingEventRow(TypedDict):
    """One state change of a finding."""

    id: int
    finding_id: int
    run_id: int | None
    at: datetime
    event: str
    severity: str
    risk: int
    detail: dict[str, Any]


# -- one asset ------------------------------------------------------------------------------------


class AssetFinding(TypedDict):
    id: int
    risk: int
    severity: str
    status: str
    rule_id: str
    title: str


class SourceSeeing(TypedDict):
    """A source that sees the asset: the name people know it by (``label``) and its ``identity``."""

    kind: str
    identity: str
    label: str


class OutgoingRelation(TypedDict):
    """An edge from the asset; ``id`` and ``name`` only where its target is a known asset."""

    relation: str
    kind: str
    key: str
    id: NotRequired[int]
    name: NotRequired[str]


class IncomingRelation(TypedDict):
    relation: str
    id: int
    kind: str
    key: str
    name: str


class ExposureStep(TypedDict):
    """One ``exposes``/``routes-to`` hop towards the asset (an Ingress, a Service, a published port)."""

    relation: str
    id: int
    kind: str
    name: str
    #: The exposing asset's ``type`` attribute (a Service's ``LoadBalancer``), when it has one.
    type: Any
    exposed: bool


class AssetRow(TypedDict):
    """An asset's stored row."""

    id: int
    kind: str
    key: str
    name: str
    phase: str
    parent_kind: str | None
    parent_key: str | None
    attributes: dict[str, Any]
    attributes_hash: str
    first_seen: datetime
    last_seen: datetime
    gone_at: datetime | None


class AssetDetail(AssetRow):
    """The asset's row, its aliases, open findings, sources, related assets both ways and exposure paths."""

    aliases: list[str]
    findings: list[AssetFinding]
    sources: list[SourceSeeing]
    outgoing: list[OutgoingRelation]
    incoming: list[IncomingRelation]
    exposure: list[list[ExposureStep]]


# -- an image across the lifecycle ----------------------------------------------------------------


class ImageChoice(TypedDict):
    """An image to trace: its own open findings' count and top risk, and how many assets run it."""

    id: int
    key: str
    name: str
    risk: int
    findings: int
    running: int


class TraceAsset(TypedDict):
    """A tag pointing to the image or an asset running it, with its open findings and their top risk."""

    id: int
    kind: str
    key: str
    name: str
    attributes: dict[str, Any]
    parent_kind: str | None
    parent_key: str | None
    findings: list[FindingBrief]
    risk: int


class TraceTag(TraceAsset):
    """A tag, with the names of its repository and registry (``registry → repository → tag``)."""

    repository: str | None
    registry: str | None
