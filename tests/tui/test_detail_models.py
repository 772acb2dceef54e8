"""The detail read models (posture/store/detail_models.py) declare every column the queries copy from
their table: a column added to the finding, event or asset table is a key the TypedDict must name, or the
screens would read it untyped."""

from __future__ import annotations

from posture.model import asset_table, finding_event_table, finding_table
from posture.store.detail_models import AssetDetail, AssetRow, FindingDetail, FindingEventRow

FINDING_EXTRAS = {"asset_kind", "asset_key", "asset_name", "asset_attributes", "exception", "sources"}


def test_the_finding_detail_is_the_finding_row_with_its_asset_exception_and_sources() -> None:
    assert set(FindingDetail.__required_keys__) == set(finding_table.c.keys()) | FINDING_EXTRAS
    assert not FindingDetail.__optional_keys__


def test_event_and_asset_rows_are_their_tables() -> None:
    assert set(FindingEventRow.__required_keys__) == set(finding_event_table.c.keys())
    assert set(AssetRow.__required_keys__) == set(asset_table.c.keys())
    assert set(AssetDetail.__required_keys__) > set(AssetRow.__required_keys__)

