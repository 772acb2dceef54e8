"""IMG-UNTAGGED on real ``docker inspect`` data: an engine image no tag names is flagged; a tagged one,
a registry image (tags are their own assets) and a report-only image (no config read) are not."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from collectors.docker.normalize import image_record
from posture.records import AssetKind, AssetRecord
from posture.rules import image as image_rules
from posture.rules.base import RuleRegistry, Snapshot, evaluate_all
from posture.secrets import SecretScanner
from posture.taxonomy import Phase

INSPECT: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "data" / "docker-inspect" / "image-inspect-running.json").read_text()
)
REGISTRY = RuleRegistry(image_rules.RULES)
SCANNER = SecretScanner(b"untagged-test-hash-key-0123456789")


def _rules(image: AssetRecord) -> set[str]:
    return {v.rule.id for v in evaluate_all(REGISTRY, Snapshot([image]), [image])}


def test_an_engine_image_without_tags_is_flagged() -> None:
    dangling = copy.deepcopy(INSPECT)
    dangling["RepoTags"] = []
    assert "IMG-UNTAGGED" in _rules(image_record(dangling, [], SCANNER))


def test_tagged_registry_and_report_only_images_are_not() -> None:
    assert "IMG-UNTAGGED" not in _rules(image_record(INSPECT, [], SCANNER))
    digest = "sha256:" + "a" * 64
    # A registry image has an id, layers and a config like an engine's, and no tags of its own.
    registry_image = AssetRecord(AssetKind.IMAGE, digest, "r/app", Phase.BUILD,
                                 {"id": digest, "repo_tags": [], "layers": [], "config": {}})
    report_image = AssetRecord(AssetKind.IMAGE, digest, "app", Phase.BUILD,
                               {"repo_tags": [], "source": "scanner-report"})
    assert "IMG-UNTAGGED" not in _rules(registry_image) | _rules(report_image)
