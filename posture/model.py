"""The one SQL model of the estate. Alembic owns the schema; nothing here creates tables.

Assets and findings are shared across source scopes (one image digest is seen by a Docker
engine, a registry and a scanner report), so "still present" is tracked per scope in the
``*_sighting`` tables: an asset is gone, and a finding resolved, only when no scope that saw it
still does after a *complete* run of that scope.

Timestamps are timezone-aware UTC (SQLModel's UTCDateTime stores them on both databases).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, MetaData, Table, UniqueConstraint, text
from sqlmodel import Field, SQLModel

# Constraint names identical on SQLite and PostgreSQL, so batch migrations can drop them by name.
SQLModel.metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _json() -> Any:
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def _json_list() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Meta(SQLModel, table=True):
    """Installation-wide values such as the check id of the secret hash key (never the key: posture.secretkey)."""

    __tablename__ = "meta"
    key: str = Field(primary_key=True, max_length=64)
    value: str


class Scope(SQLModel, table=True):
    """A source scope: one engine, cluster, registry, manifest set or report subject.

    ``name`` is the identity the source itself gives (see :class:`posture.records.ScopeRef`);
    ``label`` the name people know it by, refreshed by every run, so renaming a kubeconfig
    context or a host changes what is shown and nothing else.
    """

    __tablename__ = "scope"
    __table_args__ = (UniqueConstraint("kind", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    name: str = Field(max_length=512)
    label: str = Field(default="", max_length=512, sa_column_kwargs={"server_default": ""})
    #: The name a previous release gave the source, when this scope took that scope over: another
    #: source that release kept in the same scope (two engines sharing one key file) may still claim
    #: its own assets from here (:func:`posture.store.runs.claim_scopes`).
    adopted: str = Field(default="", max_length=512, sa_column_kwargs={"server_default": ""})
    created_at: datetime


class CollectionRun(SQLModel, table=True):
    __tablename__ = "collection_run"
    id: int | None = Field(default=None, primary_key=True)
    scope_id: int = Field(foreign_key="scope.id", index=True)
    started_at: datetime
    finished_at: datetime | None = None
    status: str = Field(max_length=16, index=True)
    error: str | None = None
    stats: dict[str, Any] = _json()
    #: What the run judged (:meth:`posture.coverage.Coverage.as_dict`; {} = everything its source states):
    #: a finding outside it is never resolved by the run, and ``posture diff`` shows it beside each resolution.
    coverage: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default=text("'{}'"))
    )


class Asset(SQLModel, table=True):
    __tablename__ = "asset"
    __table_args__ = (UniqueConstraint("kind", "key"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    key: str = Field(max_length=1024)
    name: str = Field(max_length=1024)
    phase: str = Field(max_length=16)
    parent_kind: str | None = Field(default=None, max_length=32)
    parent_key: str | None = Field(default=None, max_length=1024)
    attributes: dict[str, Any] = _json()
    #: Hash of ``attributes``, so a run can tell "unchanged" without reading every attribute blob back.
    attributes_hash: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})
    first_seen: datetime
    last_seen: datetime
    gone_at: datetime | None = Field(default=None, index=True)


class AssetAlias(SQLModel, table=True):
    """Another key of the same asset (an image's manifest digests beside its config digest)."""

    __tablename__ = "asset_alias"
    __table_args__ = (UniqueConstraint("kind", "alias"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)
    alias: str = Field(max_length=1024)
    asset_id: int = Field(foreign_key="asset.id", index=True)


class AssetSighting(SQLModel, table=True):
    __tablename__ = "asset_sighting"
    asset_id: int = Field(foreign_key="asset.id", primary_key=True)
    scope_id: int = Field(foreign_key="scope.id", primary_key=True, index=True)
    last_run_id: int = Field(foreign_key="collection_run.id")


class Relation(SQLModel, table=True):
    """A typed edge from a collected asset to another asset's natural key (which may not exist yet)."""

    __tablename__ = "relation"
    __table_args__ = (
        UniqueConstraint("scope_id", "source_id", "relation", "target_kind", "target_key"),
        Index("ix_relation_target", "target_kind", "target_key"),
    )
    id: int | None = Field(default=None, primary_key=True)
    scope_id: int = Field(foreign_key="scope.id", index=True)
    source_id: int = Field(foreign_key="asset.id", index=True)
    relation: str = Field(max_length=32)
    target_kind: str = Field(max_length=32)
    target_key: str = Field(max_length=1024)


class Finding(SQLModel, table=True):
    __tablename__ = "finding"
    __table_args__ = (
        Index("ix_finding_status_risk", "status", "risk"),
        # Covers every column the overview counts by, so painting it never reads the wide rows.
        Index("ix_finding_counts", "status", "severity", "category", "phase", "first_seen"),
        # The findings table's other two orders (keyset paging): walked, not sorted, page by page.
        Index("ix_finding_severity_order", "severity_rank", "risk", "id"),
        Index("ix_finding_age_order", "first_seen", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64, unique=True)
    rule_id: str = Field(max_length=128, index=True)
    asset_id: int = Field(foreign_key="asset.id", index=True)
    discriminator: str = Field(default="", max_length=1024)
    title: str = Field(max_length=1024)
    severity: str = Field(max_length=16)
    severity_rank: int
    phase: str = Field(max_length=16)
    category: str = Field(max_length=16)
    references: list[dict[str, str]] = _json_list()
    evidence: dict[str, Any] = _json()
    content_hash: str = Field(max_length=64)
    status: str = Field(max_length=16)
    risk: int = 0
    risk_factors: dict[str, Any] = _json()
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    exception_id: int | None = Field(default=None, foreign_key="risk_exception.id")


class FindingSighting(SQLModel, table=True):
    __tablename__ = "finding_sighting"
    finding_id: int = Field(foreign_key="finding.id", primary_key=True)
    scope_id: int = Field(foreign_key="scope.id", primary_key=True, index=True)
    last_run_id: int = Field(foreign_key="collection_run.id")
    #: Hash of what this scope last stated (title, severity, evidence): an unchanged re-ingest is
    #: recognised without reading the merged evidence, and two scanners never overwrite each other.
    content_hash: str = Field(default="", max_length=32, sa_column_kwargs={"server_default": ""})


class FindingEvent(SQLModel, table=True):
    """History: every change of a finding's state, so any two points in time can be diffed."""

    __tablename__ = "finding_event"
    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", index=True)
    run_id: int | None = Field(default=None, foreign_key="collection_run.id", index=True)
    at: datetime = Field(index=True)
    event: str = Field(max_length=32)
    severity: str = Field(max_length=16)
    risk: int = 0
    detail: dict[str, Any] = _json()


class RiskException(SQLModel, table=True):
    """An accepted risk: its reach (:class:`posture.acceptance.Reach`, every column set must hold), who
    accepted it, why and until when, and where it was decided (``source``: tui, cli, file or vex;
    ``source_key``: its identity there, so a file or VEX document applied again updates it)."""

    __tablename__ = "risk_exception"
    __table_args__ = (Index("ix_risk_exception_source", "source", "source_key"),)
    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str | None = Field(default=None, max_length=64)
    vuln_id: str | None = Field(default=None, max_length=128)
    aliases: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default=text("'[]'"))
    )
    package: str | None = Field(default=None, max_length=512)
    #: The package's installed version (a VEX statement names one); the package at any version when unset.
    package_version: str | None = Field(default=None, max_length=256)
    rule_id: str | None = Field(default=None, max_length=128)
    #: An asset's key, name or alias.
    asset_key: str | None = Field(default=None, max_length=1024)
    namespace: str | None = Field(default=None, max_length=256)
    cluster: str | None = Field(default=None, max_length=256)
    host: str | None = Field(default=None, max_length=256)
    team: str | None = Field(default=None, max_length=256)
    pattern: str | None = Field(default=None, max_length=1024)
    reason: str
    owner: str = Field(max_length=256)
    created_at: datetime
    expires_at: datetime | None = None
    until_fix: bool = False
    expired_at: datetime | None = None
    source: str = Field(default="tui", max_length=16, sa_column_kwargs={"server_default": "tui"})
    source_key: str = Field(default="", max_length=512, sa_column_kwargs={"server_default": ""})
    origin: str = Field(default="", max_length=1024, sa_column_kwargs={"server_default": ""})
    justification: str | None = Field(default=None, max_length=64)
    revoked_at: datetime | None = None
    revoked_by: str | None = Field(default=None, max_length=256)


class OutboxMessage(SQLModel, table=True):
    """A notification to deliver, written in the same transaction as the findings it announces."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("channel", "event", "subject"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=64)
    event: str = Field(max_length=32)
    subject: str = Field(max_length=256)
    run_id: int | None = Field(default=None, foreign_key="collection_run.id")
    payload: dict[str, Any] = _json()
    status: str = Field(max_length=16, index=True)
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None


class SinkCursor(SQLModel, table=True):
    """How far one event sink has acknowledged the event stream (``finding_event.id``), and its retry state.

    Every writer is serialized (:func:`posture.db.write_session`), so event ids commit in ascending
    order and a cursor never passes an event that commits later (:mod:`posture.notify.stream`).
    """

    __tablename__ = "sink_cursor"
    sink: str = Field(primary_key=True, max_length=64)
    last_event_id: int = 0
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    updated_at: datetime


class ScoreSnapshot(SQLModel, table=True):
    """The estate's posture score after a run, kept for trends."""

    __tablename__ = "score_snapshot"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = Field(default=None, foreign_key="collection_run.id")
    taken_at: datetime = Field(index=True)
    score: float
    grade: str = Field(max_length=2)
    counts: dict[str, Any] = _json()


class KevEntry(SQLModel, table=True):
    """CISA Known Exploited Vulnerabilities catalog entry."""

    __tablename__ = "kev"
    cve: str = Field(primary_key=True, max_length=64)
    date_added: str | None = Field(default=None, max_length=16)
    vendor: str | None = None
    product: str | None = None
    ransomware: bool = False


class EpssScore(SQLModel, table=True):
    """FIRST EPSS probability of exploitation in the next 30 days."""

    __tablename__ = "epss"
    cve: str = Field(primary_key=True, max_length=64)
    epss: float
    percentile: float


def _table(model: type[SQLModel]) -> Table:
    """The Core table of a model, typed, for the bulk statements of the store."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


asset_table = _table(Asset)
alias_table = _table(AssetAlias)
asset_sighting_table = _table(AssetSighting)
relation_table = _table(Relation)
finding_table = _table(Finding)
finding_sighting_table = _table(FindingSighting)
finding_event_table = _table(FindingEvent)
run_table = _table(CollectionRun)
scope_table = _table(Scope)
exception_table = _table(RiskException)
outbox_table = _table(OutboxMessage)
sink_cursor_table = _table(SinkCursor)
score_table = _table(ScoreSnapshot)
