"""Storing assets, called directly on SQLite: identity by natural key or alias, per kind; what an upsert
changes (and counts) and what it keeps; legacy keys claimed once, only from the run's own scopes;
sightings per scope (an asset another scope still sees is never marked gone); relations per scope.
Each is a verdict a silent slip would change: one asset split in two or two merged into one (findings
and history follow the row), an asset of one scope overwritten or dropped by another's run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from posture.db import read_session, write_session
from posture.model import alias_table, asset_sighting_table, asset_table, relation_table
from posture.records import UNCHANGED, AssetKind, AssetRecord, AssetRef, RelationRecord, ScopeKind, ScopeRef
from posture.store.assets import (
    AssetIndex,
    Sighted,
    chunks,
    content_hash,
    lookup,
    record_sightings,
    replace_relations,
    stored_attributes,
    upsert_assets,
)
from posture.store.runs import ensure_scope, start_run
from posture.taxonomy import Phase
from tests.store_template import copy_store, migrated_sqlite

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
IMG = "sha256:" + "a" * 64
MANIFEST = "sha256:" + "b" * 64


def image(key: str = IMG, name: str = "app:1.0", **kw: Any) -> AssetRecord:
    return AssetRecord(AssetKind.IMAGE, key, name, Phase.BUILD, **kw)


def container(key: str, **kw: Any) -> AssetRecord:
    return AssetRecord(AssetKind.CONTAINER, key, key.rsplit("/", 1)[-1], Phase.RUN, **kw)


# -- pure helpers ------------------------------------------------------------------------------------
def test_content_hash_is_pinned_ignores_key_order_and_stringifies_what_json_cannot_hold() -> None:
    """blake2b-128 of sorted-key JSON: stored as ``asset.attributes_hash`` and the findings' content
    hashes, so a change re-writes every row on the next run (a migration, not a silent edit)."""
    assert content_hash({"b": 1, "a": [True, None]}) == "6a0f35aa86c886528608b4dea5d46072"
    assert content_hash({"a": [True, None], "b": 1}) == content_hash({"b": 1, "a": [True, None]})
    assert content_hash({"price": Decimal("1.50")}) == content_hash({"price": "1.50"})
    assert content_hash({"a": 1}) != content_hash({"a": 2})


def test_chunks_are_500_long_and_cover_every_item_once() -> None:
    """500 keys per IN (...): under SQLite's historic 999 bound-parameter limit."""
    items = list(range(1001))
    parts = list(chunks(items))
    assert [len(p) for p in parts] == [500, 500, 1]
    assert [x for p in parts for x in p] == items
    assert [list(p) for p in chunks([1, 2, 3], 2)] == [[1, 2], [3]]
    assert list(chunks([])) == []


# -- a small store ------------------------------------------------------------------------------------
@dataclass
class Store:
    engine: Engine
    clock: datetime = T0

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    def upsert(self, *records: AssetRecord, claim_from: tuple[int, ...] = ()) -> tuple[AssetIndex, dict[str, int]]:
        now = self.tick()
        with write_session(self.engine) as s:
            return upsert_assets(s, list(records), now, claim_from)

    def scope(self, name: str) -> int:
        with write_session(self.engine) as s:
            return ensure_scope(s, ScopeRef(ScopeKind.REPORT, name), T0).id

    def sight(self, scope_id: int, asset_ids: set[int], *, complete: bool = True) -> Sighted:
        now = self.tick()
        with write_session(self.engine) as s:
            run_id = start_run(s, scope_id, now)
            return record_sightings(s, scope_id, run_id, asset_ids, complete, now)

    def rows(self) -> dict[tuple[str, str], Any]:
        with read_session(self.engine) as s:
            return {(r.kind, r.key): r for r in s.execute(select(asset_table))}

    def row(self, key: str, kind: AssetKind = AssetKind.IMAGE) -> Any:
        return self.rows()[(kind.value, key)]

    def aliases(self) -> set[tuple[str, str, int]]:
        with read_session(self.engine) as s:
            return {(r.kind, r.alias, r.asset_id) for r in s.execute(select(alias_table))}

    def sightings(self) -> set[tuple[int, int]]:
        """(asset id, scope id) pairs."""
        with read_session(self.engine) as s:
            return {(r.asset_id, r.scope_id) for r in s.execute(select(asset_sighting_table))}

    def lookup(self, *refs: AssetRef) -> dict[AssetRef, tuple[int, str]]:
        with read_session(self.engine) as s:
            return lookup(s, refs)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated empty store per module, copied for each test: migrating costs more than the test."""
    return migrated_sqlite(tmp_path_factory.mktemp("assets"))


@pytest.fixture
def store(migrated: Path, tmp_path: Path) -> Iterator[Store]:
    engine = copy_store(migrated, tmp_path)
    yield Store(engine)
    engine.dispose()


# -- identity -------------------------------------------------------------------------------------
def test_a_new_asset_is_stored_with_every_column(store: Store) -> None:
    engine = AssetRef(AssetKind.DOCKER_ENGINE, "engine-1")
    record = container("engine-1/c0", attributes={"privileged": True}, parent=engine)
    index, counts = store.upsert(record)
    assert counts == {"assets_new": 1, "assets_changed": 0}
    row = store.row("engine-1/c0", AssetKind.CONTAINER)
    assert index.ids == {record.ref: row.id} and index.canonical == {record.ref: record.ref}
    assert (row.name, row.phase, row.parent_kind, row.parent_key) == ("c0", "run", "docker-engine", "engine-1")
    assert row.attributes == {"privileged": True} and row.attributes_hash == content_hash({"privileged": True})
    assert (row.first_seen, row.last_seen, row.gone_at) == (store.clock, store.clock, None)
    orphan = store.upsert(container("engine-1/c1"))[0]
    assert store.row("engine-1/c1", AssetKind.CONTAINER).parent_kind is None
    assert store.row("engine-1/c1", AssetKind.CONTAINER).parent_key is None
    assert len(set(orphan.ids.values()) | set(index.ids.values())) == 2


def test_a_restated_asset_keeps_its_row_and_an_identical_one_changes_nothing(store: Store) -> None:
    first, _ = store.upsert(image(attributes={"user": "root"}))
    again, counts = store.upsert(image(attributes={"user": "root"}))
    assert again.ids == first.ids and counts == {"assets_new": 0, "assets_changed": 0}
    assert len(store.rows()) == 1


@pytest.mark.parametrize(("change", "column", "value"), [
    ({"name": "app:2.0"}, "name", "app:2.0"),
    ({"phase": Phase.DISTRIBUTE}, "phase", "distribute"),
    ({"parent": AssetRef(AssetKind.REPOSITORY, "reg/app")}, "parent_key", "reg/app"),
    ({"attributes": {"user": "app"}}, "attributes", {"user": "app"}),
])
def test_each_changed_column_is_written_and_counted(store: Store, change: dict[str, Any], column: str,
                                                     value: Any) -> None:
    base: dict[str, Any] = {"name": "app:1.0", "phase": Phase.BUILD, "attributes": {"user": "root"}}
    store.upsert(AssetRecord(AssetKind.IMAGE, IMG, **base))
    _, counts = store.upsert(AssetRecord(AssetKind.IMAGE, IMG, **(base | change)))
    assert counts == {"assets_new": 0, "assets_changed": 1}
    row = store.row(IMG)
    assert getattr(row, column) == value
    assert row.attributes_hash == content_hash(row.attributes)
    untouched = {"name": "app:1.0", "phase": "build", "parent_key": None, "attributes": {"user": "root"}}
    assert {k: getattr(row, k) for k in untouched if k != column} == {k: v for k, v in untouched.items()
                                                                      if k != column}


def test_a_dropped_parent_is_cleared(store: Store) -> None:
    store.upsert(image(parent=AssetRef(AssetKind.REPOSITORY, "reg/app")))
    _, counts = store.upsert(image())
    assert counts["assets_changed"] == 1
    assert (store.row(IMG).parent_kind, store.row(IMG).parent_key) == (None, None)


def test_an_asset_stated_unchanged_keeps_its_stored_attributes(store: Store) -> None:
    """A registry manifest the store already holds is stated with ``_unchanged``: its attributes stay."""
    store.upsert(image(attributes={"user": "root"}))
    _, counts = store.upsert(image(attributes={UNCHANGED: True}))
    assert counts["assets_changed"] == 0 and store.row(IMG).attributes == {"user": "root"}
    store.upsert(image(attributes={UNCHANGED: False, "user": "app"}))  # a false marker is no marker
    assert store.row(IMG).attributes == {UNCHANGED: False, "user": "app"}


def test_a_gone_asset_stated_again_is_revived(store: Store) -> None:
    index, _ = store.upsert(image())
    a = store.scope("a")
    store.sight(a, set(index.ids.values()))
    assert store.sight(a, set()) == Sighted(dropped=1, gone=1)
    assert store.row(IMG).gone_at is not None
    _, counts = store.upsert(image())
    assert counts == {"assets_new": 0, "assets_changed": 1} and store.row(IMG).gone_at is None


def test_an_asset_stated_twice_in_one_run_is_one_row_with_the_last_statement(store: Store) -> None:
    index, counts = store.upsert(image(name="app:1.0"), image(name="app:latest"))
    assert counts["assets_new"] == 1 and store.row(IMG).name == "app:latest" and len(index.ids) == 1


def test_an_image_known_by_an_alias_is_one_row_under_its_first_key(store: Store) -> None:
    """Docker states the config digest, a registry the manifest digest of the same image: one row."""
    first, _ = store.upsert(image(aliases=(MANIFEST,)))
    asset_id = first.ids[AssetRef(AssetKind.IMAGE, IMG)]
    assert store.aliases() == {("image", MANIFEST, asset_id)}
    by_alias, counts = store.upsert(image(MANIFEST, name="reg/app@sha256", aliases=(IMG,)))
    manifest = AssetRef(AssetKind.IMAGE, MANIFEST)
    assert counts == {"assets_new": 0, "assets_changed": 1}  # the name is restated
    assert by_alias.ids == {manifest: asset_id}
    assert by_alias.canonical == {manifest: AssetRef(AssetKind.IMAGE, IMG)}
    assert by_alias.resolve(manifest) == AssetRef(AssetKind.IMAGE, IMG)
    assert set(store.rows()) == {("image", IMG)}
    assert store.aliases() == {("image", MANIFEST, asset_id)}  # the stored key is never its own alias


def test_a_record_under_a_new_key_is_found_by_one_of_its_aliases(store: Store) -> None:
    """A registry states a manifest digest the store has never seen, with the config digest it holds as an
    alias: the same row, and the new digest becomes one of its aliases."""
    index, _ = store.upsert(image(aliases=(MANIFEST,)))
    asset_id = index.ids[AssetRef(AssetKind.IMAGE, IMG)]
    new = "sha256:" + "d" * 64
    for alias in (IMG, MANIFEST):  # the stored key, or a stored alias
        found, counts = store.upsert(image(new, aliases=(alias,)))
        assert found.ids == {AssetRef(AssetKind.IMAGE, new): asset_id} and counts["assets_new"] == 0
    assert set(store.rows()) == {("image", IMG)}
    assert store.aliases() == {("image", MANIFEST, asset_id), ("image", new, asset_id)}


def test_a_new_alias_of_a_stored_asset_is_added_once(store: Store) -> None:
    index, _ = store.upsert(image())
    asset_id = index.ids[AssetRef(AssetKind.IMAGE, IMG)]
    other = "sha256:" + "c" * 64
    store.upsert(image(aliases=(MANIFEST,)))
    store.upsert(image(aliases=(MANIFEST, other)))
    assert store.aliases() == {("image", MANIFEST, asset_id), ("image", other, asset_id)}


def test_the_same_key_of_another_kind_is_another_asset(store: Store) -> None:
    index, counts = store.upsert(image("shared"), container("shared"))
    assert counts["assets_new"] == 2 and len(set(index.ids.values())) == 2
    found = store.lookup(AssetRef(AssetKind.IMAGE, "shared"), AssetRef(AssetKind.TAG, "shared"))
    assert list(found) == [AssetRef(AssetKind.IMAGE, "shared")]


def test_lookup_finds_by_key_or_alias_and_alias_only_within_its_kind(store: Store) -> None:
    index, _ = store.upsert(image(aliases=(MANIFEST,)), container("engine-1/c0"))
    img = index.ids[AssetRef(AssetKind.IMAGE, IMG)]
    refs = [AssetRef(AssetKind.IMAGE, IMG), AssetRef(AssetKind.IMAGE, MANIFEST),
            AssetRef(AssetKind.CONTAINER, MANIFEST), AssetRef(AssetKind.IMAGE, "sha256:none"),
            AssetRef(AssetKind.CONTAINER, "engine-1/c0")]
    assert store.lookup(*refs) == {
        AssetRef(AssetKind.IMAGE, IMG): (img, IMG),
        AssetRef(AssetKind.IMAGE, MANIFEST): (img, IMG),
        AssetRef(AssetKind.CONTAINER, "engine-1/c0"): (index.ids[AssetRef(AssetKind.CONTAINER, "engine-1/c0")],
                                                        "engine-1/c0"),
    }


def test_stored_attributes_by_key_or_alias(store: Store) -> None:
    store.upsert(image(attributes={"user": "root"}, aliases=(MANIFEST,)), container("e/c0"))
    with read_session(store.engine) as s:
        found = stored_attributes(s, [AssetRef(AssetKind.IMAGE, MANIFEST), AssetRef(AssetKind.IMAGE, IMG),
                                      AssetRef(AssetKind.IMAGE, "sha256:none"), AssetRef(AssetKind.CONTAINER, "e/c0")])
    assert found == {AssetRef(AssetKind.IMAGE, MANIFEST): {"user": "root"},
                     AssetRef(AssetKind.IMAGE, IMG): {"user": "root"},
                     AssetRef(AssetKind.CONTAINER, "e/c0"): {}}


def test_many_assets_across_chunks_each_keep_their_own_row(store: Store) -> None:
    records = [container(f"e/c{n}", attributes={"n": n}) for n in range(1003)]
    index, counts = store.upsert(*records)
    assert counts["assets_new"] == 1003 and len(set(index.ids.values())) == 1003
    changed = [container(f"e/c{n}", attributes={"n": -n if n % 500 == 0 else n}) for n in range(1003)]
    again, counts = store.upsert(*changed)
    assert again.ids == index.ids and counts == {"assets_new": 0, "assets_changed": 2}  # c0 is unchanged (-0)
    rows = store.rows()
    assert {k[1]: r.attributes["n"] for k, r in rows.items()} == {f"e/c{n}": -n if n % 500 == 0 else n
                                                                   for n in range(1003)}


# -- legacy keys ----------------------------------------------------------------------------------
def test_a_legacy_row_the_runs_scope_sights_is_claimed_once(store: Store) -> None:
    old, _ = store.upsert(container("old/c0"))
    old_id = old.ids[AssetRef(AssetKind.CONTAINER, "old/c0")]
    a = store.scope("a")
    store.sight(a, {old_id})
    index, counts = store.upsert(container("new/c0", legacy_keys=("old/c0",)), claim_from=(a,))
    ref = AssetRef(AssetKind.CONTAINER, "new/c0")
    assert index.ids == {ref: old_id} and index.canonical == {ref: AssetRef(AssetKind.CONTAINER, "old/c0")}
    assert counts["assets_new"] == 0 and store.aliases() == {("container", "new/c0", old_id)}
    # a second record with the same legacy key may not take the row another key has claimed
    second, counts = store.upsert(container("other/c0", legacy_keys=("old/c0",)), claim_from=(a,))
    assert counts["assets_new"] == 1 and second.ids[AssetRef(AssetKind.CONTAINER, "other/c0")] != old_id


def test_a_legacy_row_is_not_claimed_without_claim_scopes(store: Store) -> None:
    store.upsert(container("old/c0"))
    _, counts = store.upsert(container("new/c0", legacy_keys=("old/c0",)))
    assert counts["assets_new"] == 1 and store.aliases() == set()


def test_a_legacy_row_another_scope_sights_is_never_claimed(store: Store) -> None:
    old, _ = store.upsert(container("old/c0"))
    old_id = old.ids[AssetRef(AssetKind.CONTAINER, "old/c0")]
    a, b = store.scope("a"), store.scope("b")
    store.sight(a, {old_id})
    store.sight(b, {old_id})
    index, counts = store.upsert(container("new/c0", legacy_keys=("old/c0",)), claim_from=(a,))
    assert counts["assets_new"] == 1 and index.ids[AssetRef(AssetKind.CONTAINER, "new/c0")] != old_id
    assert store.aliases() == set()


def test_a_legacy_row_no_scope_sights_is_claimed_but_only_of_the_same_kind(store: Store) -> None:
    old, _ = store.upsert(container("old/c0"), image("old/c0"))
    index, _ = store.upsert(container("new/c0", legacy_keys=("old/c0",)), claim_from=(store.scope("a"),))
    assert index.ids[AssetRef(AssetKind.CONTAINER, "new/c0")] == old.ids[AssetRef(AssetKind.CONTAINER, "old/c0")]


def test_a_record_found_by_its_own_key_claims_nothing(store: Store) -> None:
    stored, _ = store.upsert(container("new/c0"), container("old/c0"))
    index, _ = store.upsert(container("new/c0", legacy_keys=("old/c0",)), claim_from=(store.scope("a"),))
    assert index.ids == {AssetRef(AssetKind.CONTAINER, "new/c0"): stored.ids[AssetRef(AssetKind.CONTAINER,
                                                                                       "new/c0")]}
    assert store.aliases() == set()


# -- sightings -----------------------------------------------------------------------------------
def test_sightings_are_per_scope_and_gone_only_when_no_scope_sees_the_asset(store: Store) -> None:
    index, _ = store.upsert(image(), container("e/c0"), container("e/c1"))
    img, c0, c1 = (index.ids[r] for r in (AssetRef(AssetKind.IMAGE, IMG), AssetRef(AssetKind.CONTAINER, "e/c0"),
                                          AssetRef(AssetKind.CONTAINER, "e/c1")))
    a, b = store.scope("a"), store.scope("b")
    assert store.sight(a, {img, c0, c1}) == Sighted(0, 0)
    assert store.sight(b, {img}) == Sighted(0, 0)
    assert store.sightings() == {(img, a), (c0, a), (c1, a), (img, b)}
    assert store.sight(a, {c0}, complete=False) == Sighted(dropped=0, gone=0)  # a partial run forgets nothing
    assert store.sightings() == {(img, a), (c0, a), (c1, a), (img, b)}
    seen_at = store.clock
    assert store.row("e/c0", AssetKind.CONTAINER).last_seen == seen_at
    assert store.row("e/c1", AssetKind.CONTAINER).last_seen < seen_at
    assert store.sight(a, {c0}) == Sighted(dropped=2, gone=1)  # the image is still b's
    assert store.sightings() == {(c0, a), (img, b)}
    assert store.row(IMG).gone_at is None
    gone_at = store.clock
    assert store.row("e/c1", AssetKind.CONTAINER).gone_at == gone_at
    assert store.sight(b, set()) == Sighted(dropped=1, gone=1)
    assert store.row(IMG).gone_at == store.clock
    assert store.row("e/c1", AssetKind.CONTAINER).gone_at == gone_at


def test_a_sighting_records_the_last_run_of_its_own_scope_only(store: Store) -> None:
    index, _ = store.upsert(image())
    img = next(iter(index.ids.values()))
    a, b = store.scope("a"), store.scope("b")
    store.sight(a, {img})
    store.sight(b, {img})
    with read_session(store.engine) as s:
        before = dict(s.execute(select(asset_sighting_table.c.scope_id, asset_sighting_table.c.last_run_id)).all())
    store.sight(a, {img})
    with read_session(store.engine) as s:
        after = dict(s.execute(select(asset_sighting_table.c.scope_id, asset_sighting_table.c.last_run_id)).all())
    assert after[b] == before[b] and after[a] > before[a]


def test_an_asset_already_gone_keeps_when_it_went(store: Store) -> None:
    index, _ = store.upsert(image())
    img = next(iter(index.ids.values()))
    a, b = store.scope("a"), store.scope("b")
    store.sight(a, {img})
    store.sight(a, set())
    went = store.row(IMG).gone_at
    with write_session(store.engine) as s:  # a stale sighting by b, dropped later
        s.execute(insert(asset_sighting_table), [{"asset_id": img, "scope_id": b, "last_run_id": 1}])
    assert store.sight(b, set()) == Sighted(dropped=1, gone=1)
    assert store.row(IMG).gone_at == went


# -- relations ------------------------------------------------------------------------------------
def test_relations_are_stored_per_scope_resolved_to_canonical_keys_and_dropped_only_by_a_complete_run(
        store: Store) -> None:
    index, _ = store.upsert(image(aliases=(MANIFEST,)), container("e/c0"), container("e/c1"))
    c0, c1 = AssetRef(AssetKind.CONTAINER, "e/c0"), AssetRef(AssetKind.CONTAINER, "e/c1")
    via_alias, _ = store.upsert(image(MANIFEST))
    index.canonical |= via_alias.canonical
    manifest, unknown = AssetRef(AssetKind.IMAGE, MANIFEST), AssetRef(AssetKind.CONTAINER, "e/none")
    a, b = store.scope("a"), store.scope("b")

    def replace(scope: int, relations: list[RelationRecord], complete: bool = True) -> int:
        with write_session(store.engine) as s:
            return replace_relations(s, scope, relations, index, complete)

    def edges() -> set[tuple[int, int, str, str]]:
        R = relation_table.c
        with read_session(store.engine) as s:
            return {(r.scope_id, r.source_id, r.relation, r.target_key) for r in
                    s.execute(select(R.scope_id, R.source_id, R.relation, R.target_key))}

    runs = [RelationRecord(c0, "runs", manifest), RelationRecord(c1, "runs", manifest),
            RelationRecord(unknown, "runs", manifest)]
    assert replace(a, runs) == 2  # an edge from an asset the run did not state is skipped
    assert replace(b, runs[:1]) == 1
    expected = {(a, index.ids[c0], "runs", IMG), (a, index.ids[c1], "runs", IMG), (b, index.ids[c0], "runs", IMG)}
    assert edges() == expected
    assert replace(a, runs) == 0 and edges() == expected
    assert replace(a, runs[:1], complete=False) == 0 and edges() == expected
    assert replace(a, runs[:1]) == 0
    assert edges() == {(a, index.ids[c0], "runs", IMG), (b, index.ids[c0], "runs", IMG)}
