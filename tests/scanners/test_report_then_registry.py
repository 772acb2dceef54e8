"""An image first named by a scanner report: no config-based findings, and the registry still reads its config.

Against the real plain docker-registry: an image with ``USER 1000`` is pushed over the Distribution
API, a Trivy report naming it by config and manifest digest is ingested, then the registry is
collected through ``posture collect`` on the same database.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.engine import Engine

from collectors.scanners import ReportCollector
from posture.cli.main import cli
from posture.db import make_engine, read_session, resolve_url
from posture.model import asset_table, finding_table
from posture.pipeline import collect
from posture.records import AssetKind, AssetRecord, Record, ScopeKind, ScopeRef
from posture.rules.base import RuleRegistry
from posture.secrets import SecretScanner
from posture.store.source_state import known_digests
from posture.taxonomy import Phase
from tests.registry.registry_helpers import Pusher, config_blob, tiny_layer
from tests.services import PlainRegistry

TRIVY = "trivy/trivy-alpine-39.json"
CONFIG_RULES = {"IMG-ROOT-USER", "IMG-NO-HEALTHCHECK", "IMG-STALE"}


def _push(registry: PlainRegistry, repo: str, tag: str) -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        async with httpx.AsyncClient() as client:
            config = config_blob(tiny_layer(), user="1000")
            return await Pusher(client, registry.url).image(repo, tag, config, tiny_layer())

    return asyncio.run(go())


def _report_for(data: Path, tmp_path: Path, reference: str, manifest: str, config: str) -> Path:
    doc = json.loads((data / TRIVY).read_text())
    repo = reference.rsplit(":", 1)[0]
    doc["ArtifactName"] = reference
    doc["Metadata"].update(ImageID=config, RepoTags=[reference], RepoDigests=[f"{repo}@{manifest}"])
    path = tmp_path / "trivy-pushed.json"
    path.write_text(json.dumps(doc))
    return path


def _invoke(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result


def _image_state(db: str, key: str) -> tuple[dict[str, Any], set[str]]:
    engine = make_engine(resolve_url(db))
    try:
        with read_session(engine) as session:
            row = session.execute(
                select(asset_table.c.id, asset_table.c.attributes).where(asset_table.c.key == key)
            ).one()
            rules = session.execute(
                select(finding_table.c.rule_id).where(
                    finding_table.c.asset_id == row.id, finding_table.c.status == "open"
                )
            )
            return dict(row.attributes), set(rules.scalars())
    finally:
        engine.dispose()


def test_registry_reads_the_config_of_an_image_a_report_named_first(
    registry_plain: PlainRegistry, data: Path, tmp_path: Path
) -> None:
    prefix = f"pt{secrets.token_hex(4)}"
    reference = f"{registry_plain.host}/{prefix}/app:1.0"
    manifest, config = _push(registry_plain, f"{prefix}/app", "1.0")
    report = _report_for(data, tmp_path, reference, manifest, config)
    db = f"sqlite:///{tmp_path / 'posture.db'}"

    _invoke("collect", "--db", db, "--report", str(report))
    attributes, rules = _image_state(db, config)
    assert "_unchanged" not in attributes and "config" not in attributes
    assert attributes["source"] == "scanner-report"
    assert "VULN" in rules and not rules & CONFIG_RULES  # the report says nothing about USER or HEALTHCHECK

    registry = f"{registry_plain.url}/{prefix}"
    _invoke("collect", "--db", db, "--registry", registry, "--insecure-registry", registry_plain.host)
    attributes, rules = _image_state(db, config)
    assert attributes["config"]["user"] == "1000"  # fetched: the report's digest did not count as known
    assert "IMG-ROOT-USER" not in rules
    assert "IMG-NO-HEALTHCHECK" in rules  # judged now that the config is known: the image has none
    assert "VULN" in rules


@dataclass
class _Engine:
    """A source stating one image with its config, as the Docker and registry collectors do."""

    image: AssetRecord

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.DOCKER, "engine:test")

    def collect(self) -> Iterator[Record]:
        yield self.image


def test_only_images_with_a_config_are_known_to_the_registry_walk(
    any_engine: Engine, registry: RuleRegistry, secrets: SecretScanner, data: Path
) -> None:
    collect(any_engine, ReportCollector(str(data / TRIVY), secrets=secrets), registry)
    with read_session(any_engine) as session:
        assert known_digests(session) == frozenset()  # named by the report only: its config is still unread
    image = AssetRecord(AssetKind.IMAGE, "sha256:" + "c" * 64, "app", Phase.BUILD, {"config": {}}, None, ("sha256:m",))
    collect(any_engine, _Engine(image), registry)
    with read_session(any_engine) as session:
        assert known_digests(session) == {"sha256:" + "c" * 64, "sha256:m"}
