"""Visible identity (issue 13): ``posture assets --sources`` and an asset's detail name each source by
its label and its identity, with what its newest run judged."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from posture.cli.main import cli
from posture.db import make_engine, read_session, resolve_url
from posture.model import asset_table
from posture.store.estate_queries import asset_detail

REPORTS = Path(__file__).resolve().parent.parent / "data" / "reports"


def test_sources_and_asset_detail_show_label_identity_and_coverage(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'posture.db'}"
    bench = tmp_path / "kube-bench.json"
    bench.write_bytes((REPORTS / "crafted/kube-bench.json").read_bytes())
    runner = CliRunner()
    done = runner.invoke(cli, ["collect", "--db", db, "--report", str(bench), "--report-host", "node-a",
                               "--report-severity", "HIGH,CRITICAL"])
    assert done.exit_code == 0, done.output
    listed = runner.invoke(cli, ["assets", "--db", db, "--sources", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    (source,) = json.loads(listed.output)
    assert (source["kind"], source["label"], source["identity"]) == ("report", "node-a", "kube-bench:host:node-a")
    assert source["status"] == "complete" and source["coverage"]["severities"] == ["critical", "high"]
    table = runner.invoke(cli, ["assets", "--db", db, "--sources"], env={"COLUMNS": "200"})
    assert "kube-bench:host:node-a" in table.output and "severities critical,high" in table.output
    engine = make_engine(resolve_url(db))
    try:
        with read_session(engine) as session:
            asset_id = session.execute(select(asset_table.c.id)).scalar_one()
            detail = asset_detail(session, asset_id)
    finally:
        engine.dispose()
    assert detail is not None
    assert detail["sources"] == [{"kind": "report", "identity": "kube-bench:host:node-a", "label": "node-a"}]
