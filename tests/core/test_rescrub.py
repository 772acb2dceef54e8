"""A store written before the secret gate is scrubbed once, by the next collection of any source.

Raw secrets are planted the way an earlier release stored them (an asset's labels and history, a
finding's title, a finding event, a chat message, a run's error), in rows the next collection does
not rewrite (another source's assets, history, the outbox). The next collection scrubs every one and
leaves its marker; the database (on SQLite, the file's bytes) holds none of them afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Engine

from posture.model import Asset, CollectionRun, Finding, FindingEvent, Meta, OutboxMessage
from posture.pipeline import collect
from posture.records import AssetKind, AssetRecord, Record, ScopeKind, ScopeRef
from posture.store.assets import content_hash
from posture.taxonomy import Phase
from tests.core.fakes import RULES, FakeCollector

PASSWORD = "S3cr3t-Passw0rd-canary"
KEY_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
PEM = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_BODY}\n-----END OPENSSH PRIVATE KEY-----"
GHP = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
AWS = "AKIAQWERTYUIOPASDFGH"
URL_PASSWORD = "hunter2-url-canary"
SECRETS = (PASSWORD, KEY_BODY, GHP, AWS, URL_PASSWORD)
T0 = datetime(2026, 1, 1, tzinfo=UTC)
T1 = datetime(2026, 1, 2, tzinfo=UTC)


@dataclass
class OneAsset:
    """Another source: one engine, so the planted rows of the first are not restated by it."""

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.DOCKER, "engine-other")

    def collect(self) -> Iterator[Record]:
        yield AssetRecord(AssetKind.DOCKER_ENGINE, "engine-other", "other", Phase.RUN, {"version": "25.0"})


def _plant(engine: Engine) -> None:
    """Raw text where an earlier release stored it, and no marker: a store from before the gate."""
    image = {"labels": {"db-password": PASSWORD}, "history": [{"created_by": f"RUN echo '{PEM}' > /root/.ssh/id"}]}
    with engine.begin() as connection:
        connection.execute(update(Asset.__table__).where(Asset.kind == "image").values(attributes=image))  # type: ignore[attr-defined]
        connection.execute(update(Finding.__table__).values(title=f"Privileged container (token {GHP})"))  # type: ignore[attr-defined]
        connection.execute(update(FindingEvent.__table__).values(detail={"description": f"key {AWS} leaked"}))  # type: ignore[attr-defined]
        connection.execute(update(CollectionRun.__table__).values(error=f"GET https://u:{URL_PASSWORD}@h/: 500"))  # type: ignore[attr-defined]
        connection.execute(
            insert(OutboxMessage.__table__).values(  # type: ignore[attr-defined]
                channel="c", event="new", subject=f"new: {GHP}", payload={"body": PEM}, status="sent", created_at=T0
            )
        )
        connection.execute(text("DELETE FROM meta WHERE key = 'stored_text_scrubbed'"))


def _stored(engine: Engine) -> str:
    """Every stored row of every table the secrets were planted in, as text."""
    with engine.connect() as connection:
        tables = (Asset, Finding, FindingEvent, CollectionRun, OutboxMessage, Meta)
        return "\n".join(repr(row) for t in tables for row in connection.execute(select(t.__table__)).all())  # type: ignore[attr-defined]


def _file_bytes(db_url: str) -> bytes:
    path = Path(db_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def _image_attributes(engine: Engine) -> tuple[dict[str, Any], str]:
    with engine.connect() as connection:
        row = connection.execute(
            select(Asset.attributes, Asset.attributes_hash).where(Asset.kind == "image")  # type: ignore[call-overload]
        ).one()
    return row[0], row[1]


def test_text_stored_before_the_gate_is_scrubbed_by_the_next_collection(engine: Engine, db_url: str) -> None:
    collect(engine, FakeCollector(), RULES, now=T0)
    _plant(engine)
    assert all(secret in _stored(engine) for secret in SECRETS)  # planted where the test looks

    collect(engine, OneAsset(), RULES, now=T1)

    stored = _stored(engine)
    assert [secret for secret in SECRETS if secret in stored] == []
    attributes, digest = _image_attributes(engine)
    assert attributes["labels"]["db-password"].startswith("<secret ")
    assert (
        "<secret " in attributes["history"][0]["created_by"]
        and "-----END" not in attributes["history"][0]["created_by"]
    )
    assert digest == content_hash(attributes)  # change detection compares scrubbed with scrubbed
    assert "stored_text_scrubbed" in stored
    if db_url.startswith("sqlite"):
        engine.dispose()
        data = _file_bytes(db_url)
        assert [s for s in SECRETS if s.encode() in data] == []  # no old bytes left in a free part of a page


def test_the_pass_runs_once(engine: Engine) -> None:
    collect(engine, FakeCollector(), RULES, now=T0)
    with engine.begin() as connection:  # planted after the marker: a later pass would scrub it
        connection.execute(update(Finding.__table__).values(title=f"token {GHP}"))  # type: ignore[attr-defined]
    collect(engine, OneAsset(), RULES, now=T1)
    assert GHP in _stored(engine)


def _asset_texts(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(select(Asset.key, Asset.name, Asset.attributes, Asset.attributes_hash)).all()  # type: ignore[call-overload]
    return sorted(tuple(row) for row in rows if row[0] != "engine-other")


def test_text_the_gate_wrote_is_left_as_it_is(engine: Engine) -> None:
    """A marker lost (or a store of this release upgraded twice): the pass changes nothing the gate wrote."""
    collect(engine, FakeCollector(extra=[_labelled()]), RULES, now=T0)
    before = _asset_texts(engine)
    assert any("<secret " in str(row) for row in before)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM meta WHERE key = 'stored_text_scrubbed'"))
    result = collect(engine, FakeCollector(extra=[_labelled()]), RULES, now=T1)
    assert result.stats["assets_changed"] == 0 and not result.changes
    assert _asset_texts(engine) == before


def _labelled() -> AssetRecord:
    return AssetRecord(AssetKind.NAMESPACE, "ns/shop", "shop", Phase.RUN, {"labels": {"db-password": PASSWORD}})
