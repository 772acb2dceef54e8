"""Nothing earlier is lost: a complete run, then a partial one (5xx, 404 and 429 tags), then a failed
one (connection refused), through the real pipeline and store, against the scripted server."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from collectors.registry import RegistryCollector
from posture.cli.collect import source_context
from posture.db import read_session
from posture.model import asset_table, finding_table
from posture.pipeline import RunResult, collect
from posture.rules import default_registry
from posture.taxonomy import RunStatus
from tests.registry.fake_server import Answer, FakeServer
from tests.registry.test_failures import FAST, serve_catalog, serve_image, target

TAGS = {"a/app": ["1.0", "2.0"], "b/app": ["latest"], "c/app": ["3.0"]}


def run_once(engine: Engine, server: FakeServer) -> RunResult:
    context = source_context(engine)
    collector = RegistryCollector(
        target(server), context.secrets, known_digests=context.known_digests, credentials=lambda: None, settings=FAST
    )
    return collect(engine, collector, default_registry())


def store_state(engine: Engine) -> tuple[list[Any], list[Any]]:
    with read_session(engine) as session:
        findings = session.execute(
            select(finding_table.c.fingerprint, finding_table.c.status, finding_table.c.content_hash).order_by(
                finding_table.c.fingerprint
            )
        ).all()
        assets = session.execute(
            select(asset_table.c.kind, asset_table.c.key, asset_table.c.gone_at).order_by(asset_table.c.key)
        ).all()
    return list(findings), list(assets)


def fail_tag(server: FakeServer, repo: str, tag: str, answer: Answer) -> None:
    for method in ("HEAD", "GET"):
        server.on(method, f"/v2/{repo}/manifests/{tag}", answer)


def test_partial_and_failed_runs_keep_everything(engine: Engine) -> None:
    with FakeServer() as server:
        serve_catalog(server, TAGS)
        for (repo, tag), arch in zip(
            [(r, t) for r, tags in TAGS.items() for t in tags], ("amd64", "arm64", "s390x", "ppc64le"), strict=True
        ):
            serve_image(server, repo, tag, arch=arch)
        first = run_once(engine, server)
        assert first.status is RunStatus.COMPLETE, first.error
        before = store_state(engine)
        assert before[0] and all(status == "open" for _fp, status, _h in before[0])
        assert {"REG-LATEST-TAG", "REG-ANON-PULL"} <= rule_ids(engine)

        fail_tag(server, "a/app", "2.0", Answer(502, b"bad gateway"))
        fail_tag(server, "b/app", "latest", Answer(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'))
        fail_tag(server, "c/app", "3.0", Answer(429, b"", {"Retry-After": "3600"}))
        partial = run_once(engine, server)
        assert partial.status is RunStatus.PARTIAL
        assert len(partial.problems) == 3
        assert (partial.stats["resolved"], partial.stats["assets_gone"]) == (0, 0)
        assert store_state(engine) == before
        refused_at = target(server)

    failed = collect(
        engine,
        RegistryCollector(refused_at, source_context(engine).secrets, credentials=lambda: None, settings=FAST),
        default_registry(),
    )
    assert failed.status is RunStatus.FAILED and failed.error is not None and "connection refused" in failed.error
    assert store_state(engine) == before


def rule_ids(engine: Engine) -> set[str]:
    with read_session(engine) as session:
        return set(session.execute(select(finding_table.c.rule_id)).scalars())
