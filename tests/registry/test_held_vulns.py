"""REG-HELD-FIXABLE-CRITICAL (NIST 3.2.2): a registry tag and a scanner's CVE meet in the store.

End to end against the real plain docker-registry and ``posture collect``, then the partial-run
and gone-tag rules with two stub sources on the real pipeline and store.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from posture.acceptance import Acceptance, Reach
from posture.cli.main import cli
from posture.cli.sources.registry import known_tags
from posture.clock import utcnow
from posture.config import Settings
from posture.db import make_engine, read_session, resolve_url, write_session
from posture.migrations import upgrade
from posture.model import asset_table, finding_table
from posture.pipeline import collect
from posture.records import (
    AssetKind,
    AssetRecord,
    AssetRef,
    ObservationRecord,
    Problem,
    Record,
    RelationRecord,
    ScopeKind,
    ScopeRef,
)
from posture.rules import default_registry
from posture.run_stages import RunStages
from posture.store.exceptions import create_exception
from posture.taxonomy import Phase, RunStatus, Severity
from tests.registry.registry_helpers import config_blob, tiny_layer
from tests.registry.test_live import push_plain
from tests.services import PlainRegistry

RULE = "REG-HELD-FIXABLE-CRITICAL"


def trivy_report(path: Path, reference: str, manifest: str, config: str, vulns: list[dict[str, str]]) -> Path:
    """A minimal Trivy JSON report of one image, named by config and manifest digest."""
    repo = reference.rsplit(":", 1)[0]
    doc = {
        "SchemaVersion": 2,
        "ArtifactName": reference,
        "ArtifactType": "container_image",
        "Metadata": {"ImageID": config, "RepoTags": [reference], "RepoDigests": [f"{repo}@{manifest}"]},
        "Results": [
            {"Target": f"{reference} (alpine 3.9.4)", "Class": "os-pkgs", "Type": "alpine", "Vulnerabilities": vulns}
        ],
    }
    path.write_text(json.dumps(doc))
    return path


CRITICAL_FIXED = {
    "VulnerabilityID": "CVE-2019-14697",
    "PkgName": "musl",
    "InstalledVersion": "1.1.20-r4",
    "FixedVersion": "1.1.20-r5",
    "Severity": "CRITICAL",
}
CRITICAL_UNFIXED = {
    "VulnerabilityID": "CVE-2099-0001",
    "PkgName": "busybox",
    "InstalledVersion": "1.29.3-r10",
    "Severity": "CRITICAL",
}
HIGH_FIXED = {
    "VulnerabilityID": "CVE-2019-1549",
    "PkgName": "libcrypto1.1",
    "InstalledVersion": "1.1.1b-r1",
    "FixedVersion": "1.1.1d-r0",
    "Severity": "HIGH",
}


def held(db: str) -> list[Any]:
    engine = make_engine(resolve_url(db))
    try:
        with read_session(engine) as session:
            stmt = (
                select(finding_table.c.status, finding_table.c.evidence, asset_table.c.key, asset_table.c.kind)
                .join(asset_table, asset_table.c.id == finding_table.c.asset_id)
                .where(finding_table.c.rule_id == RULE)
            )
            return list(session.execute(stmt))
    finally:
        engine.dispose()


def test_registry_tag_and_trivy_report_of_one_digest(registry_plain: PlainRegistry, tmp_path: Path) -> None:
    prefix = f"pt{secrets.token_hex(4)}"
    reference = f"{registry_plain.host}/{prefix}/app:1.0.0"
    manifest, config = push_plain(registry_plain, f"{prefix}/app", "1.0.0", config_blob(tiny_layer(), user="app"))
    db = f"sqlite:///{tmp_path / 'posture.db'}"
    vulns = [CRITICAL_FIXED, CRITICAL_UNFIXED, HIGH_FIXED]
    old = trivy_report(tmp_path / "old.json", reference, manifest, config, vulns)
    args = [
        "collect",
        "--db",
        db,
        "--registry",
        f"{registry_plain.url}/{prefix}",
        "--insecure-registry",
        registry_plain.host,
    ]

    first = CliRunner().invoke(cli, [*args, "--report", str(old)])
    assert first.exit_code == 0, first.output
    [(status, evidence, key, kind)] = held(db)
    assert (status, key, kind) == ("open", reference, "tag")
    assert evidence == {"digest": manifest, "vulnerabilities": ["CVE-2019-14697"], "count": 1}

    again = CliRunner().invoke(cli, args)  # a registry run alone re-derives it, unchanged
    assert again.exit_code == 0, again.output
    assert [r.status for r in held(db)] == ["open"]

    new = trivy_report(tmp_path / "new.json", reference, manifest, config, [CRITICAL_UNFIXED, HIGH_FIXED])
    fixed = CliRunner().invoke(cli, ["collect", "--db", db, "--report", str(new)])
    assert fixed.exit_code == 0, fixed.output
    assert [r.status for r in held(db)] == ["resolved"]


# --- the partial-run and gone-tag rules, with stub sources ---------------------------------------

REGISTRY = ScopeRef(ScopeKind.REGISTRY, "stub:5000")
IMAGE = AssetRef(AssetKind.IMAGE, "sha256:" + "c" * 64)
TAG = AssetRef(AssetKind.TAG, "stub:5000/app:1.0.0")
TAG_ATTRIBUTES = {
    "tag": "1.0.0",
    "digest": "sha256:" + "d" * 64,
    "media_type": "application/vnd.oci.image.index.v1+json",
    "images": [{"platform": "linux/amd64", "manifest_digest": "sha256:" + "e" * 64}],
}


class Stub:
    def __init__(self, scope: ScopeRef, records: list[Record]) -> None:
        self.scope = scope
        self._records = records

    def collect(self) -> Iterator[Record]:
        yield from self._records


def registry_run(*, tag: bool = True, problem: bool = False) -> Stub:
    records: list[Record] = [AssetRecord(AssetKind.REGISTRY, "stub:5000", "stub:5000", Phase.DISTRIBUTE)]
    if tag:
        records += [
            AssetRecord(TAG.kind, TAG.key, TAG.key, Phase.DISTRIBUTE, TAG_ATTRIBUTES),
            AssetRecord(IMAGE.kind, IMAGE.key, "stub:5000/app:1.0.0", Phase.BUILD, {"config": {"user": "app"}}),
            RelationRecord(TAG, "points-to", IMAGE),
        ]
    if problem:
        records.append(Problem("registry stub:5000: app:2.0.0: rate limited (429)"))
    return Stub(REGISTRY, records)


def report_run(*, fixable: bool = True) -> Stub:
    evidence = {"vulnerability": "CVE-2019-14697", "fix_available": fixable}
    return Stub(
        ScopeRef(ScopeKind.REPORT, "trivy:" + IMAGE.key),
        [
            AssetRecord(IMAGE.kind, IMAGE.key, "app", Phase.BUILD, {"_unchanged": True}),
            ObservationRecord(
                "VULN", IMAGE, "CVE-2019-14697|musl|1.1.20-r4", "CVE-2019-14697 in musl", Severity.CRITICAL, evidence
            ),
        ],
    )


def statuses(engine: Engine) -> list[str]:
    with read_session(engine) as session:
        return list(session.execute(select(finding_table.c.status).where(finding_table.c.rule_id == RULE)).scalars())


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, engine: Engine) -> Iterator[Engine]:
    """The SQLite store, and a fresh PostgreSQL database (the JSON reads differ per dialect)."""
    if request.param == "sqlite":
        yield engine
        return
    url = resolve_url(request.getfixturevalue("fresh_postgres_db"))
    eng = make_engine(url)
    upgrade(eng, url)
    yield eng
    eng.dispose()


def test_a_partial_run_never_resolves_and_a_gone_tag_does(store: Engine) -> None:
    engine = store
    stages = RunStages(Settings())
    rules = default_registry()
    assert collect(engine, registry_run(), rules, stages=stages).status is RunStatus.COMPLETE
    assert statuses(engine) == []  # no scanner data yet
    with read_session(engine) as session:  # what a second registry run is handed for this index tag
        assert known_tags(session) == {TAG.key: TAG_ATTRIBUTES}
    reported = collect(engine, report_run(), rules, stages=stages)
    assert statuses(engine) == ["open"]
    assert [(c.event, c.rule_id) for c in reported.changes if c.rule_id == RULE] == [("new", RULE)]

    partial = collect(engine, registry_run(tag=False, problem=True), rules, stages=stages)
    assert partial.status is RunStatus.PARTIAL and statuses(engine) == ["open"]

    gone = collect(engine, registry_run(tag=False), rules, stages=stages)
    assert gone.status is RunStatus.COMPLETE and gone.stats["assets_gone"] >= 1
    assert statuses(engine) == ["resolved"]
    assert [c.event for c in gone.changes if c.rule_id == RULE] == ["resolved"]
    with read_session(engine) as session:
        assert known_tags(session) == {}  # a gone tag is not offered


def test_an_accepted_vulnerability_resolves_it_only_on_a_complete_run(engine: Engine) -> None:
    stages = RunStages(Settings())
    rules = default_registry()
    collect(engine, registry_run(), rules, stages=stages)
    collect(engine, report_run(), rules, stages=stages)
    with write_session(engine) as session:  # what `posture accept` does: the CVE is no longer open
        create_exception(session, Acceptance(Reach(rule_id="VULN"), "mitigated", "sec", "cli"), utcnow())
    partial = collect(engine, registry_run(problem=True), rules, stages=stages)
    assert partial.status is RunStatus.PARTIAL and statuses(engine) == ["open"]
    complete = collect(engine, registry_run(), rules, stages=stages)
    assert complete.status is RunStatus.COMPLETE and statuses(engine) == ["resolved"]


def test_a_critical_without_a_fix_is_not_held(engine: Engine) -> None:
    stages = RunStages(Settings())
    rules = default_registry()
    collect(engine, registry_run(), rules, stages=stages)
    collect(engine, report_run(fixable=False), rules, stages=stages)
    assert statuses(engine) == []
