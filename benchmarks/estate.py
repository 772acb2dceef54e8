"""A synthetic estate of realistic shape, bulk-inserted, for the TUI and report benchmarks.

Going through the pipeline would take minutes for 100,000 findings and measure the store, not the
reader; the shape (clusters → namespaces → workloads → pods, engines → containers, registries →
repositories → tags → images, ``runs``/``points-to``/``owned-by`` edges, history events and score
snapshots) is what the TUI queries walk, so that is what this reproduces.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from posture.db import write_session
from posture.model import (
    asset_table,
    finding_event_table,
    finding_sighting_table,
    finding_table,
    relation_table,
    run_table,
    scope_table,
    score_table,
)
from posture.scoring import BASE_RISK
from posture.taxonomy import NIST, Category, Phase, Severity

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
_RULES: list[tuple[str, Phase, Category, str]] = [
    *[(f"DKR-{n:03d}", Phase.RUN, Category.CONTAINER, "3.4.3") for n in range(1, 13)],
    *[(f"K8S-{n:03d}", Phase.RUN, Category.ORCHESTRATOR, "3.3.1") for n in range(1, 15)],
    *[(f"IMG-{n:03d}", Phase.BUILD, Category.IMAGE, "3.1.2") for n in range(1, 8)],
    *[(f"REG-{n:03d}", Phase.DISTRIBUTE, Category.REGISTRY, "3.2.1") for n in range(1, 5)],
    ("VULN", Phase.BUILD, Category.IMAGE, "3.1.1"),
]
_SEVERITIES = [Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO]
_WEIGHTS = [3, 12, 40, 35, 10]


def build_estate(engine: Engine, *, findings: int = 100_000, assets: int = 20_000, seed: int = 7) -> None:
    """Fill an empty, migrated database with ``assets`` assets and ``findings`` findings."""
    rnd = random.Random(seed)
    with write_session(engine) as session:
        conn = session.connection()
        scopes = _scopes(conn)
        runs = _runs(conn, scopes)
        asset_rows, by_kind = _assets(assets)
        ids = _insert_returning(conn, asset_table, asset_rows)
        kind_ids = {kind: [ids[i] for i in idx] for kind, idx in by_kind.items()}
        key_of = {ids[i]: row["key"] for i, row in enumerate(asset_rows)}
        conn.execute(insert(relation_table), _relations(rnd, kind_ids, key_of, scopes))
        finding_rows = _findings(rnd, findings, kind_ids)
        fids = _insert_returning(conn, finding_table, finding_rows)
        last_run = {scope: ids_[-1] for scope, ids_ in runs.items()}
        conn.execute(
            insert(finding_sighting_table),
            [
                {"finding_id": fid, "scope_id": scopes["kubernetes"], "last_run_id": last_run["kubernetes"]}
                for fid, row in zip(fids, finding_rows, strict=True)
                if row["status"] != "resolved"
            ],
        )
        conn.execute(insert(finding_event_table), _events(rnd, fids, finding_rows, runs))
        conn.execute(insert(score_table), _scores(runs))


def _insert_returning(conn: Any, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    result = conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
    return [r.id for r in result]


def _scopes(conn: Any) -> dict[str, int]:
    names = {"docker": "engine:bench", "kubernetes": "prod-eu", "registry": "registry.example.com", "report": "trivy"}
    out = {}
    for kind, name in names.items():
        out[kind] = conn.execute(
            insert(scope_table).returning(scope_table.c.id), {"kind": kind, "name": name, "created_at": NOW}
        ).scalar_one()
    return out


def _runs(conn: Any, scopes: dict[str, int]) -> dict[str, list[int]]:
    runs: dict[str, list[int]] = {}
    for kind, scope_id in scopes.items():
        for day in range(14, -1, -1):
            start = NOW - timedelta(days=day, minutes=5)
            status = "partial" if (kind == "registry" and day == 0) else "complete"
            run_id = conn.execute(
                insert(run_table).returning(run_table.c.id),
                {
                    "scope_id": scope_id,
                    "started_at": start,
                    "finished_at": start + timedelta(minutes=2),
                    "status": status,
                    "error": "registry.example.com: 403 on catalog" if status == "partial" else None,
                    "stats": {},
                },
            ).scalar_one()
            runs.setdefault(kind, []).append(run_id)
    return runs


def _asset(
    kind: str, key: str, name: str, phase: Phase, parent: tuple[str, str] | None, **attrs: Any
) -> dict[str, Any]:
    return {
        "kind": kind,
        "key": key,
        "name": name,
        "phase": phase.value,
        "parent_kind": parent[0] if parent else None,
        "parent_key": parent[1] if parent else None,
        "attributes": attrs,
        "first_seen": NOW - timedelta(days=30),
        "last_seen": NOW,
        "gone_at": None,
    }


def _assets(total: int) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """Proportions: 25% images, 10% tags, 30% pods, 10% workloads, 20% containers, rest structure."""
    rows: list[dict[str, Any]] = []
    by_kind: dict[str, list[int]] = {}

    def add(row: dict[str, Any]) -> None:
        by_kind.setdefault(row["kind"], []).append(len(rows))
        rows.append(row)

    cluster = "prod-eu"
    add(_asset("k8s-cluster", cluster, cluster, Phase.RUN, None))
    namespaces = [f"team-{n:02d}" for n in range(40)]
    for ns in namespaces:
        add(_asset("k8s-namespace", f"{cluster}/{ns}", ns, Phase.RUN, ("k8s-cluster", cluster), labels={"team": ns}))
    add(_asset("docker-engine", "engine:bench", "bench-host", Phase.RUN, None))
    add(_asset("registry", "registry.example.com", "registry.example.com", Phase.DISTRIBUTE, None))
    repos = [f"registry.example.com/app-{n:03d}" for n in range(100)]
    for repo in repos:
        add(_asset("repository", repo, repo, Phase.DISTRIBUTE, ("registry", "registry.example.com")))
    left = total - len(rows)
    counts = {
        "image": left * 25 // 100,
        "tag": left * 10 // 100,
        "k8s-workload": left * 10 // 100,
        "k8s-pod": left * 30 // 100,
    }
    counts["container"] = left - sum(counts.values())
    for n in range(counts["image"]):
        digest = f"sha256:{n:064x}"
        add(
            _asset(
                "image",
                digest,
                f"{repos[n % len(repos)]}@{digest[:19]}",
                Phase.BUILD,
                None,
                user="root" if n % 3 else "app",
            )
        )
    for n in range(counts["tag"]):
        repo = repos[n % len(repos)]
        add(_asset("tag", f"{repo}:v{n}", f"{repo}:v{n}", Phase.DISTRIBUTE, ("repository", repo)))
    for n in range(counts["k8s-workload"]):
        ns = namespaces[n % len(namespaces)]
        add(
            _asset(
                "k8s-workload",
                f"{cluster}/{ns}/Deployment/app-{n}",
                f"{ns}/app-{n}",
                Phase.RUN,
                ("k8s-namespace", f"{cluster}/{ns}"),
                namespace=ns,
                labels={"team": ns},
            )
        )
    for n in range(counts["k8s-pod"]):
        ns = namespaces[n % len(namespaces)]
        add(
            _asset(
                "k8s-pod",
                f"{cluster}/{ns}/Pod/app-{n}-x{n % 7}",
                f"{ns}/app-{n}-x{n % 7}",
                Phase.RUN,
                ("k8s-namespace", f"{cluster}/{ns}"),
                namespace=ns,
            )
        )
    for n in range(counts["container"]):
        add(
            _asset(
                "container",
                f"engine:bench/{n:012x}",
                f"svc-{n}",
                Phase.RUN,
                ("docker-engine", "engine:bench"),
                privileged=n % 10 == 0,
            )
        )
    return rows, by_kind


def _relations(
    rnd: random.Random, kind_ids: dict[str, list[int]], key_of: dict[int, str], scopes: dict[str, int]
) -> list[dict[str, Any]]:
    images = kind_ids["image"]
    workloads = kind_ids["k8s-workload"]
    out: list[dict[str, Any]] = []

    def edge(scope: str, source: int, relation: str, kind: str, target: int) -> None:
        out.append(
            {
                "scope_id": scopes[scope],
                "source_id": source,
                "relation": relation,
                "target_kind": kind,
                "target_key": key_of[target],
            }
        )

    for n, pod in enumerate(kind_ids["k8s-pod"]):
        workload = workloads[n % len(workloads)]
        edge("kubernetes", pod, "owned-by", "k8s-workload", workload)
        image = images[n % len(images)]
        edge("kubernetes", pod, "runs", "image", image)
        if n < len(workloads):
            edge("kubernetes", workload, "runs", "image", image)
    for n, container in enumerate(kind_ids["container"]):
        edge("docker", container, "runs", "image", images[(n * 7) % len(images)])
    for tag in kind_ids["tag"]:
        edge("registry", tag, "points-to", "image", rnd.choice(images))
    return out


def _findings(rnd: random.Random, total: int, kind_ids: dict[str, list[int]]) -> list[dict[str, Any]]:
    targets = {
        Phase.RUN: kind_ids["k8s-workload"] + kind_ids["k8s-pod"] + kind_ids["container"],
        Phase.BUILD: kind_ids["image"],
        Phase.DISTRIBUTE: kind_ids["tag"] + kind_ids["repository"],
    }
    rows = []
    for n in range(total):
        rule_id, phase, category, nist = _RULES[n % len(_RULES)] if n % 2 else _RULES[-1]
        severity = rnd.choices(_SEVERITIES, _WEIGHTS)[0]
        status = "resolved" if n % 11 == 0 else ("accepted" if n % 97 == 0 else "open")
        age = timedelta(days=rnd.randint(0, 120), minutes=n % 60)
        rows.append(
            {
                "fingerprint": f"{n:040x}",
                "rule_id": rule_id,
                "asset_id": rnd.choice(targets[phase]),
                "discriminator": f"CVE-2024-{n:05d}|pkg{n % 300}|1.{n % 9}" if rule_id == "VULN" else f"c{n % 3}",
                "title": f"CVE-2024-{n:05d} in pkg{n % 300}"
                if rule_id == "VULN"
                else f"{rule_id} check failed ({n % 3})",
                "severity": severity.value,
                "severity_rank": severity.rank,
                "phase": phase.value,
                "category": category.value,
                "references": [{"framework": NIST, "id": nist}],
                "evidence": {"fix_available": n % 4 == 0, "installed": f"1.{n % 9}"},
                "content_hash": f"{n:032x}",
                "status": status,
                "risk": min(100, BASE_RISK[severity] + rnd.randint(0, 9)),
                "risk_factors": {"base": BASE_RISK[severity], "fix": n % 4 == 0},
                "first_seen": NOW - age,
                "last_seen": NOW,
                "resolved_at": NOW - timedelta(days=1) if status == "resolved" else None,
                "exception_id": None,
            }
        )
    return rows


def _events(
    rnd: random.Random, fids: list[int], rows: list[dict[str, Any]], runs: dict[str, list[int]]
) -> list[dict[str, Any]]:
    k8s = runs["kubernetes"]
    out = []
    for fid, row in zip(fids, rows, strict=True):
        age_days = min((NOW - row["first_seen"]).days, len(k8s) - 1)
        out.append(
            {
                "finding_id": fid,
                "run_id": k8s[-1 - age_days],
                "at": row["first_seen"],
                "event": "new",
                "severity": row["severity"],
                "risk": row["risk"],
                "detail": {},
            }
        )
        if row["status"] == "resolved":
            out.append(
                {
                    "finding_id": fid,
                    "run_id": k8s[-1],
                    "at": NOW - timedelta(minutes=3),
                    "event": "resolved",
                    "severity": row["severity"],
                    "risk": row["risk"],
                    "detail": {},
                }
            )
        elif rnd.random() < 0.01:
            out.append(
                {
                    "finding_id": fid,
                    "run_id": k8s[-1],
                    "at": NOW - timedelta(minutes=3),
                    "event": "regressed",
                    "severity": row["severity"],
                    "risk": row["risk"],
                    "detail": {"previous_severity": "low"},
                }
            )
    return out


def _scores(runs: dict[str, list[int]]) -> list[dict[str, Any]]:
    out = []
    for n, run_id in enumerate(runs["kubernetes"]):
        score = 52.0 + 2.5 * n - (6 if n == 9 else 0)
        grade = "A" if score >= 90 else "B" if score >= 80 else "C" if score >= 70 else "D" if score >= 60 else "F"
        out.append(
            {
                "run_id": run_id,
                "taken_at": NOW - timedelta(days=len(runs["kubernetes"]) - 1 - n),
                "score": score,
                "grade": grade,
                "counts": {},
            }
        )
    return out
