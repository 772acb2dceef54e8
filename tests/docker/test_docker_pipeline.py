"""The Docker collector through the real pipeline and store: idempotent re-runs, failures that keep data."""

from __future__ import annotations

import pytest
import requests.exceptions
from sqlalchemy.engine import Engine

from collectors.docker.collector import DockerCollector
from collectors.docker.endpoint import from_url
from posture.db import read_session
from posture.pipeline import collect
from posture.rules import docker as docker_rules
from posture.rules import image as image_rules
from posture.rules.base import RuleRegistry
from posture.secrets import SecretScanner
from posture.store.queries import FindingFilter, count_findings
from posture.taxonomy import RunStatus
from tests.docker.estate import HASH_KEY, Estate

REGISTRY = RuleRegistry([*docker_rules.RULES, *image_rules.RULES])


@pytest.fixture
def store(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


def _collector(estate: Estate) -> DockerCollector:
    return DockerCollector(from_url(estate.url), SecretScanner(HASH_KEY), workers=4)


def _open_findings(store: Engine) -> int:
    with read_session(store) as session:
        return count_findings(session, FindingFilter(statuses=("open",)))


def test_second_collection_with_nothing_changed_writes_nothing_new(estate: Estate, store: Engine) -> None:
    first = collect(store, _collector(estate), REGISTRY)
    assert first.status is RunStatus.COMPLETE, first.error
    assert first.stats["new"] > 20 and first.scope == f"docker:{estate.url}"  # shown by its label
    second = collect(store, _collector(estate), REGISTRY)
    assert second.status is RunStatus.COMPLETE
    assert (
        second.stats["assets_new"],
        second.stats["assets_changed"],
        second.stats["new"],
        second.stats["resolved"],
    ) == (
        0,
        0,
        0,
        0,
    )
    assert second.stats["findings"] == first.stats["findings"]


def test_engine_failing_mid_run_records_a_failed_run_and_keeps_data(
    estate: Estate, store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert collect(store, _collector(estate), REGISTRY).status is RunStatus.COMPLETE
    before = _open_findings(store)

    broken = _collector(estate)
    _ = broken.scope  # connected; the engine then goes away while containers are listed
    lost = requests.exceptions.ConnectionError(ConnectionRefusedError(111, "Connection refused"))
    monkeypatch.setattr(broken._client, "containers", lambda **_: (_ for _ in ()).throw(lost))
    result = collect(store, broken, REGISTRY)

    assert result.status is RunStatus.FAILED
    assert result.error == f"docker {estate.url}: cannot connect (Connection refused)"
    assert _open_findings(store) == before
