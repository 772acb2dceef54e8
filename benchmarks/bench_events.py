"""100,000 finding changes written to the event stream's JSON-lines sink (budget: under 5 s).

    python benchmarks/bench_events.py [--changes 100000]

The store: one Kubernetes cluster of 40 namespaces and 4,000 workloads (team-labelled) running 2,000
images, and one history row per finding (100,000 ``new`` changes, 80 % image CVEs with a reference,
20 % workload configuration findings), all from one collection run, as a large first collection
leaves them. Timed: one :meth:`posture.notify.stream.StreamDeliverer.flush` from an empty cursor to
the end, which reads the history, loads the estate for the groups, encodes every event, appends and
fsyncs the file and commits the cursor. The file is then checked: one line per change, in order.

Runs in a temporary directory with its own ``XDG_CONFIG_HOME`` (the installation key is created there).
Exit status 1 when over budget.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from posture.config import load_settings
from posture.db import make_engine, resolve_url, settle, write_session
from posture.migrations import upgrade
from posture.model import asset_table, finding_event_table, finding_table, relation_table, run_table, scope_table
from posture.notify.stream import StreamDeliverer

BUDGET_S = 5.0
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NAMESPACES, WORKLOADS, IMAGES = 40, 4_000, 2_000


def _assets() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [{"id": 1, "kind": "cluster", "key": "prod", "name": "prod", "phase": "run"}]
    for n in range(NAMESPACES):
        rows.append({"id": 2 + n, "kind": "namespace", "key": f"prod/Namespace/ns{n}", "name": f"Namespace/ns{n}",
                     "phase": "run", "parent_kind": "cluster", "parent_key": "prod",
                     "attributes": {"name": f"ns{n}", "labels": {}}})
    base = 2 + NAMESPACES
    for n in range(WORKLOADS):
        ns = f"ns{n % NAMESPACES}"
        rows.append({"id": base + n, "kind": "workload", "key": f"prod/{ns}/Deployment/app{n}",
                     "name": f"{ns}/Deployment/app{n}", "phase": "run", "parent_kind": "namespace",
                     "parent_key": f"prod/Namespace/{ns}",
                     "attributes": {"kind": "Deployment", "name": f"app{n}", "namespace": ns,
                                    "team": f"team{n % 25}", "labels": {"team": f"team{n % 25}"}}})
    base += WORKLOADS
    for n in range(IMAGES):
        rows.append({"id": base + n, "kind": "image", "key": f"sha256:{n:064x}", "name": f"app{n}@sha256:{n:012x}",
                     "phase": "build", "attributes": {"user": "app"}})
    for row in rows:
        row.setdefault("attributes", {})
        row.update(first_seen=NOW, last_seen=NOW)
    return rows


def build(engine: Any, changes: int) -> None:
    """The store, written with bulk inserts (the benchmark times the stream, not the collection)."""
    assets = _assets()
    workloads = [a for a in assets if a["kind"] == "workload"]
    images = [a for a in assets if a["kind"] == "image"]
    findings, events = [], []
    for n in range(changes):
        if n % 5:
            asset, cve = images[n % IMAGES], f"CVE-2025-{10000 + n % 9000}"
            finding = {"rule_id": "VULN", "discriminator": f"{cve}|openssl", "title": f"{cve} in openssl 3.0.2",
                       "severity": "high", "phase": "build", "category": "3.1.1",
                       "references": [{"framework": "NIST SP 800-190", "id": "3.1.1"}, {"framework": "CVE", "id": cve}]}
        else:
            asset = workloads[n % WORKLOADS]
            finding = {"rule_id": f"K8S-PSS-{n % 25}", "discriminator": "main", "title": "Privileged container",
                       "severity": "critical", "phase": "run", "category": "3.4.3",
                       "references": [{"framework": "NIST SP 800-190", "id": "3.4.3"},
                                      {"framework": "CIS Kubernetes Benchmark", "id": "5.2.1"}]}
        findings.append({**finding, "id": n + 1, "fingerprint": f"{n:064x}", "asset_id": asset["id"],
                         "severity_rank": 4, "evidence": {}, "content_hash": "x", "status": "open", "risk": 55,
                         "risk_factors": {}, "first_seen": NOW, "last_seen": NOW})
        events.append({"finding_id": n + 1, "run_id": 1, "at": NOW, "event": "new", "severity": finding["severity"],
                       "risk": 55, "detail": {}})
    relations = [{"scope_id": 1, "source_id": w["id"], "relation": "runs", "target_kind": "image",
                  "target_key": images[i % IMAGES]["key"]} for i, w in enumerate(workloads)]
    with write_session(engine) as session:
        session.execute(insert(scope_table), [{"id": 1, "kind": "kubernetes", "name": "prod", "created_at": NOW}])
        session.execute(insert(run_table), [{"id": 1, "scope_id": 1, "started_at": NOW, "finished_at": NOW,
                                             "status": "complete", "stats": {}, "coverage": {}}])
        session.execute(insert(asset_table), assets)
        session.execute(insert(relation_table), relations)
        for start in range(0, changes, 20_000):
            session.execute(insert(finding_table), findings[start : start + 20_000])
            session.execute(insert(finding_event_table), events[start : start + 20_000])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="posture-bench-events-") as tmp:
        root = Path(tmp)
        os.environ["XDG_CONFIG_HOME"] = str(root / "config")
        config = root / "config.toml"
        config.write_text('[[sinks]]\nname = "file"\nkind = "jsonl"\npath = "events.jsonl"\n')
        settings = load_settings(config, {})
        url = resolve_url(f"sqlite:///{root / 'posture.db'}")
        engine = make_engine(url)
        upgrade(engine, url)
        started = time.perf_counter()
        build(engine, args.changes)
        settle(engine)
        built = time.perf_counter() - started

        started = time.perf_counter()
        report = StreamDeliverer(engine, settings).flush()
        elapsed = time.perf_counter() - started

        lines = (root / "events.jsonl").read_bytes().splitlines()
        seqs = [json.loads(line)["seq"] for line in lines]
        assert report.sent == args.changes and not report.failed, report
        assert seqs == list(range(1, args.changes + 1)), "the file must hold every change once, in order"
        size = (root / "events.jsonl").stat().st_size
        engine.dispose()
    print(f"store built: {args.changes:,} changes in {built:.2f} s")
    print(f"event stream: {report.sent:,} events written to the jsonl sink in {elapsed:.2f} s "
          f"({report.sent / elapsed:,.0f}/s, {size / 1e6:.1f} MB, {size / max(1, report.sent):.0f} bytes/event)")
    print(f"budget: {BUDGET_S:.1f} s: {'ok' if elapsed <= BUDGET_S else 'OVER BUDGET'}")
    return 0 if elapsed <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
