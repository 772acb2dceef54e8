"""The stale-image threshold comes from the configuration file (``max_image_age_days``)."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from posture.clock import utcnow
from posture.config import ConfigError, parse
from posture.records import AssetKind, AssetRecord
from posture.rules import default_registry
from posture.rules.base import Snapshot, evaluate_all
from posture.taxonomy import Phase
from tests.docker.docker_support import run_posture


def _stale_hits(max_age: int | None, age_days: int) -> list[str]:
    created = (utcnow() - timedelta(days=age_days)).isoformat().replace("+00:00", "Z")
    image = AssetRecord(AssetKind.IMAGE, "sha256:" + "a" * 64, "app:1.0", Phase.BUILD, {"config": {"created": created}})
    registry = default_registry() if max_age is None else default_registry(max_image_age_days=max_age)
    verdicts = evaluate_all(registry, Snapshot([image], [], {}), [image])
    return [v.rule.id for v in verdicts if v.rule.id == "IMG-STALE"]


@pytest.mark.parametrize(
    ("max_age", "age_days", "stale"),
    [(None, 100, False), (None, 400, True), (30, 100, True), (30, 10, False), (1000, 400, False)],
)
def test_the_configured_age_decides_stale(max_age: int | None, age_days: int, stale: bool) -> None:
    assert bool(_stale_hits(max_age, age_days)) is stale


def test_config_key_is_parsed_and_checked() -> None:
    assert parse({"max_image_age_days": 30}).max_image_age_days == 30
    assert parse({}).max_image_age_days is None
    expected = r"^cfg: max_image_age_days: expected a whole number of days from 1 to 36500$"
    with pytest.raises(ConfigError, match=expected):
        parse({"max_image_age_days": 0}, "cfg")


def _rules(config: Path) -> subprocess.CompletedProcess[str]:
    return run_posture("rules", "--format", "json", POSTURE_CONFIG=str(config))


def test_posture_rules_shows_the_configured_age(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("max_image_age_days = 30\n")
    result = _rules(config)
    assert result.returncode == 0, result.stderr
    assert '"Image older than 30 days"' in result.stdout
    config.write_text('max_image_age_days = "soon"\n')
    bad = _rules(config)
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == [
        f"posture: error: {config}: max_image_age_days: expected a whole number of days from 1 to 36500"
    ]
