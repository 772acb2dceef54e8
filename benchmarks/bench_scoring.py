"""Scoring and diffing one run of 100,000 findings on SQLite (budget: under 3 s together).

    python benchmarks/bench_scoring.py [--findings 100000] [--db PATH]

Builds, with bulk inserts in a temporary SQLite database, an estate of realistic shape: images with
scanner CVEs (a pool of 8,333 distinct CVEs, each with its own CVSS and EPSS, spread over the images
as a shared base image spreads them; fix state, aliases, a description of a few hundred bytes), the Docker
containers, Kubernetes workloads and pods running them (joined by manifest-digest aliases as
kubelets report them), KEV entries for one CVE in 40 and EPSS scores for every CVE, and
one collection run that recorded all 100,000 findings as new (a baseline: the worst case for both
scoring, which then writes every finding, and the diff, which then lists every finding). Then it
times:

* the first scoring of the run (every risk and explanation written, the snapshot kept),
* a quiet run's re-scoring and diff: the same findings seen again, 1 % of them changed (the usual
  case: only the changed findings are re-scored),
* the diff of that run (``posture diff`` between the previous run and it): every change
  classified, the riskiest 20 per category labelled as the table shows them; and every change
  labelled, as ``--format json`` lists them.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from posture.db import make_engine, read_session, resolve_url, settle, write_session
from posture.migrations import upgrade
from posture.model import (
    alias_table,
    asset_table,
    finding_event_table,
    finding_table,
    relation_table,
    run_table,
    scope_table,
)
from posture.scoring import BASE_RISK
from posture.store.diff import diff_entries, label, load_diff, run_window, top
from posture.store.scoring import ScoringSettings, score_estate
from posture.store.scoring_inputs import epss_table, kev_table
from posture.taxonomy import NIST, Severity

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SEVERITIES = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
WEIGHTS = [4, 16, 40, 30, 10]
DESCRIPTION = "A flaw was found in the package's parser that allows a remote attacker to cause memory corruption. " * 4


def _asset(kind: str, key: str, name: str, phase: str, parent: tuple[str, str] | None = None, /,
           **attributes: Any) -> dict[str, Any]:
    return {"kind": kind, "key": key, "name": name, "phase": phase, "parent_kind": parent[0] if parent else None,
            "parent_key": parent[1] if parent else None, "attributes": attributes, "first_seen": NOW,
            "last_seen": NOW, "gone_at": None}


def _pod_summary(rnd: random.Random) -> dict[str, Any]:
    return {
        "labels": {"app": "x"},
        "securityContext": {"runAsNonRoot": rnd.random() < 0.6},
        "hostNetwork": rnd.random() < 0.03,
        "containers": [{"name": "main", "image": "app:1", "ports": [],
                        "securityContext": {"privileged": rnd.random() < 0.05}}],
        "volumes": [],
    }


def build(engine: Any, findings: int, seed: int = 7) -> int:
    """Fill the database; returns the id of the run that recorded every finding."""
    rnd = random.Random(seed)
    images = max(50, findings // 40)
    with write_session(engine) as session:
        conn = session.connection()
        scope_id = conn.execute(insert(scope_table).returning(scope_table.c.id),
                                {"kind": "kubernetes", "name": "bench", "created_at": NOW}).scalar_one()
        runs = [conn.execute(insert(run_table).returning(run_table.c.id), {
            "scope_id": scope_id, "started_at": NOW - timedelta(hours=h, minutes=2),
            "finished_at": NOW - timedelta(hours=h), "status": "complete", "stats": {}}).scalar_one()
            for h in (1, 0)]
        rows: list[dict[str, Any]] = [_asset("k8s-cluster", "bench", "bench", "run"),
                                      _asset("docker-engine", "engine-1", "host-1", "run"),
                                      _asset("registry", "reg.example", "reg.example", "distribute")]
        namespaces = [f"team-{n:02d}" for n in range(30)]
        rows += [_asset("k8s-namespace", f"bench/Namespace/{ns}", ns, "run", ("k8s-cluster", "bench"), name=ns,
                        labels={"team": ns}) for ns in namespaces]
        rows += [_asset("image", f"sha256:{n:064x}", f"app-{n}", "build", user="root" if n % 3 else "app")
                 for n in range(images)]
        workloads = images
        for n in range(workloads):
            ns = namespaces[n % len(namespaces)]
            rows.append(_asset("k8s-workload", f"bench/{ns}/Deployment/w{n}", f"{ns}/Deployment/w{n}", "run",
                               ("k8s-namespace", f"bench/Namespace/{ns}"), namespace=ns, team=ns, labels={},
                               replicas=2, exposed=n % 9 == 0, pod=_pod_summary(rnd)))
            for r in range(2):
                rows.append(_asset("k8s-pod", f"bench/{ns}/Pod/w{n}-{r}", f"{ns}/Pod/w{n}-{r}", "run",
                                   ("k8s-namespace", f"bench/Namespace/{ns}"), namespace=ns, phase="Running",
                                   owner=f"{ns}/Deployment/w{n}", labels={}))
        for n in range(images // 2):
            rows.append(_asset("container", f"engine-1/{n:012x}", f"svc-{n}", "run", ("docker-engine", "engine-1"),
                               running=n % 5 != 0, privileged=n % 17 == 0, user="", mounts=[], labels={},
                               ports=[{"container_port": "80/tcp", "host_ip": "0.0.0.0", "host_port": str(8000 + n)}]
                               if n % 7 == 0 else []))
        ids = [r.id for r in conn.execute(insert(asset_table).returning(asset_table.c.id, sort_by_parameter_order=True),
                                          rows)]
        by_key = {(row["kind"], row["key"]): i for row, i in zip(rows, ids, strict=True)}
        image_ids = [by_key[("image", f"sha256:{n:064x}")] for n in range(images)]
        conn.execute(insert(alias_table), [{"kind": "image", "alias": f"sha256:m{n:063x}", "asset_id": image_ids[n]}
                                           for n in range(images)])
        relations = []
        for n in range(workloads):
            ns = namespaces[n % len(namespaces)]
            wid = by_key[("k8s-workload", f"bench/{ns}/Deployment/w{n}")]
            target = f"sha256:m{n % images:063x}"  # kubelets report the manifest digest: an alias
            relations.append((wid, "runs", "image", target))
            for r in range(2):
                pid = by_key[("k8s-pod", f"bench/{ns}/Pod/w{n}-{r}")]
                relations += [(pid, "runs", "image", target), (pid, "owned-by", "k8s-workload",
                                                               f"bench/{ns}/Deployment/w{n}")]
        for n in range(images // 2):
            relations.append((by_key[("container", f"engine-1/{n:012x}")], "runs", "image",
                              f"sha256:{(n * 7) % images:064x}"))
        conn.execute(insert(relation_table), [{"scope_id": scope_id, "source_id": s, "relation": r,
                                               "target_kind": k, "target_key": t} for s, r, k, t in relations])
        # CVEs as scanners report them: a pool of distinct CVEs, each with one severity, CVSS and
        # EPSS, found in many images (the same openssl flaw is in every image built on one base).
        pool = [(rnd.choices(SEVERITIES, WEIGHTS)[0], round(rnd.uniform(2.0, 10.0), 1)) for _ in range(findings // 12)]
        runners = [by_key[("k8s-workload", f"bench/{namespaces[n % 30]}/Deployment/w{n}")] for n in range(workloads)]
        finding_rows = []
        for n in range(findings):
            vuln = n % 5 != 0
            number = rnd.randrange(len(pool))
            severity, cvss = pool[number] if vuln else (rnd.choices(SEVERITIES, WEIGHTS)[0], 0.0)
            cve = f"CVE-2024-{number:06d}"
            evidence: dict[str, Any] = {"fix_available": n % 3 == 0, "installed": "1.0"}
            if vuln:
                evidence.update(vulnerability=cve, description=DESCRIPTION, package=f"pkg{n % 500}",
                                cvss={"source": "nvd", "score": cvss},
                                scanners={"trivy": {"id": cve, "severity": severity.value}})
                if n % 50 == 0:
                    evidence["aliases"] = [f"GHSA-{n:04d}-xxxx-yyyy"]
            finding_rows.append({
                "fingerprint": f"{n:040x}", "rule_id": "VULN" if vuln else f"K8S-{n % 20:03d}",
                "asset_id": image_ids[n % images] if vuln else runners[n % workloads],
                "discriminator": f"{cve}|pkg|{n}" if vuln else "", "title": f"{cve} in pkg" if vuln else "check",
                "severity": severity.value, "severity_rank": severity.rank, "phase": "build" if vuln else "run",
                "category": "image" if vuln else "orchestrator",
                "references": [{"framework": NIST, "id": "3.1.1" if vuln else "3.4.3"}], "evidence": evidence,
                "content_hash": f"{n:032x}", "status": "accepted" if n % 101 == 0 else "open",
                "risk": BASE_RISK[severity], "risk_factors": {}, "first_seen": NOW, "last_seen": NOW,
            })
        fids = [r.id for r in conn.execute(insert(finding_table).returning(finding_table.c.id,
                                                                           sort_by_parameter_order=True), finding_rows)]
        conn.execute(insert(finding_event_table), [
            {"finding_id": fid, "run_id": runs[1], "at": NOW, "event": "new", "severity": row["severity"],
             "risk": row["risk"], "detail": {}} for fid, row in zip(fids, finding_rows, strict=True)])
        conn.execute(insert(kev_table), [{"cve": f"CVE-2024-{n:06d}", "ransomware": False}
                                         for n in range(0, len(pool), 40)])
        conn.execute(insert(epss_table), [{"cve": f"CVE-2024-{n:06d}", "epss": rnd.random() ** 4,
                                           "percentile": rnd.random()} for n in range(len(pool))])
    return runs[1]


class Timer:
    """Wall and CPU time of a block: on a shared machine the CPU time is the steadier figure."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu

    def report(self, detail: str) -> None:
        print(f"{self.label + ':':16}{self.wall:6.2f} s wall {self.cpu:6.2f} s CPU  ({detail})")


def add_quiet_run(engine: Any, previous: int, changed: int) -> int:
    """A later run of the same scope that saw the same 100,000 findings, of which ``changed`` got a
    history event (half resolved, half made more severe, their content changed): the usual case."""
    later = NOW + timedelta(hours=1)
    with write_session(engine) as session:
        conn = session.connection()
        scope_id = conn.execute(select(run_table.c.scope_id).where(run_table.c.id == previous)).scalar_one()
        run_id = conn.execute(insert(run_table).returning(run_table.c.id), {
            "scope_id": scope_id, "started_at": later - timedelta(minutes=2), "finished_at": later,
            "status": "complete", "stats": {}}).scalar_one()
        ids = list(conn.execute(select(finding_table.c.id).order_by(finding_table.c.id).limit(changed)).scalars())
        resolved, regressed = ids[: changed // 2], ids[changed // 2 :]
        conn.execute(update(finding_table).where(finding_table.c.id.in_(resolved)).values(status="resolved"))
        conn.execute(update(finding_table).where(finding_table.c.id.in_(regressed))
                     .values(severity="critical", severity_rank=4, content_hash="f" * 32))
        conn.execute(insert(finding_event_table), [
            {"finding_id": fid, "run_id": run_id, "at": later, "event": "resolved" if fid in resolved else "regressed",
             "severity": "critical", "risk": 0, "detail": {}} for fid in ids])
    return run_id


def main() -> int:
    """Prints every figure; returns 1 when scoring + ``posture diff`` of either run is over 3 s (the JSON
    diff, every change labelled, is printed for reference)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="SQLite file to use (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.db"
        url = resolve_url(f"sqlite:///{path}")
        engine = make_engine(url)
        upgrade(engine, url)
        started = time.perf_counter()
        run_id = build(engine, args.findings)
        settle(engine)
        print(f"built {args.findings:,} findings in {time.perf_counter() - started:.1f} s (setup, not timed)")

        with Timer("first scoring") as first, write_session(engine) as session:
            outcome = score_estate(session, run_id=run_id, now=NOW, settings=ScoringSettings())
        first.report(f"{len(outcome.risks):,} findings scored and written, posture {outcome.score:g} ({outcome.grade})")
        with Timer("WAL checkpoint") as checkpoint:
            settle(engine)
        checkpoint.report("after the scoring's commit, on a background thread (posture.walcheckpoint): not counted")
        quiet_run = add_quiet_run(engine, run_id, changed=args.findings // 100)
        settle(engine)
        with Timer("re-scoring") as steady, write_session(engine) as session:
            again = score_estate(session, run_id=quiet_run, now=NOW, settings=ScoringSettings())
        steady.report(f"a quiet run: {again.rescored:,} findings re-scored, {len(again.regressions)} regressions")
        with Timer("diff, quiet") as quiet, read_session(engine) as session:
            window = run_window(session, None, quiet_run)
            changed = diff_entries(session, window)
            label(session, top(changed, 20), window)
        quiet.report(f"{len(changed):,} changes in the quiet run")
        with Timer("diff") as diffing, read_session(engine) as session:
            window = run_window(session, None, run_id)
            entries = diff_entries(session, window)
            shown = label(session, top(entries, 20), window)
        diffing.report(f"{len(entries):,} changes classified, the riskiest {len(shown)} labelled (posture diff)")
        with Timer("diff, all") as everything, read_session(engine) as session:
            rows = load_diff(session, run_window(session, None, run_id))
        everything.report(f"{len(rows):,} changes classified and labelled (posture diff --format json)")
        over = False
        for case, scoring, diffed in (("baseline run", first, diffing), ("quiet run", steady, quiet)):
            total = scoring.wall + diffed.wall
            over |= total >= 3.0
            verdict = "within" if total < 3.0 else "OVER"
            print(f"scoring + diff, {case}: {total:.2f} s wall, {scoring.cpu + diffed.cpu:.2f} s CPU "
                  f"({verdict} the 3 s budget)")
        if hasattr(os, "getloadavg"):
            print(f"load average (1 min) after measuring: {os.getloadavg()[0]:.2f}")
        engine.dispose()
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
