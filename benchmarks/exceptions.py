"""10,000 exceptions applied to a run of 100,000 findings (budget: under 1 s more than without them).

    python benchmarks/exceptions.py [--exceptions 10000] [--findings 100000]

A run's reconcile matches every finding it produces against the exceptions in force
(:class:`posture.store.exceptions.ExceptionMatcher`); with none in force it skips that entirely. So what
exceptions add to a run is: loading them, reading the aliases of the run's assets (an exception may name
an image by a manifest digest), building each finding's candidate and matching it. This times exactly
that, on a temporary SQLite store holding the exceptions, against the same run without any.

The run: 100,000 findings, 80 % scanner CVEs on 2,000 images (a pool of 8,333 CVEs, a third with a GHSA
alias, spread as a shared base image spreads them) and 20 % configuration findings on 4,000 Kubernetes
workloads in 40 namespaces. The exceptions, as an estate that has used them for a while holds them:
70 % a CVE on one image (by key or name), 15 % a CVE in one package, 5 % a CVE everywhere, 4 % a rule on
one workload, 2 % a whole asset, 1.5 % a namespace (some with a rule), 1 % a glob, 0.5 % a rule and 1 %
one finding. About a third of the findings end up covered (the CVE-wide and namespace-wide ones
reach far).

Exit status 1 when over budget.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from posture.db import make_engine, read_session, resolve_url, write_session
from posture.gcpause import gc_paused
from posture.migrations import upgrade
from posture.model import alias_table, asset_table, exception_table
from posture.records import AssetKind, AssetRef
from posture.rules.base import Rule
from posture.store.exceptions import ExceptionMatcher, aliases_of
from posture.store.findings import Produced, _candidate
from posture.taxonomy import Phase, Severity

BUDGET_S = 1.0
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
IMAGES, WORKLOADS, NAMESPACES, CVES = 2_000, 4_000, 40, 8_333
VULN = Rule(id="VULN", title="Vulnerable package", severity=Severity.HIGH, phase=Phase.BUILD,
            nist="3.1.1", remediation="Upgrade the package.")
CONFIG = [Rule(id=f"K8S-PSS-{n}", title=f"Check {n}", severity=Severity.MEDIUM, phase=Phase.RUN,
               nist="3.4.3", remediation="Fix it.") for n in range(25)]
PACKAGES = ["openssl", "glibc", "zlib", "curl", "busybox", "libxml2", "expat", "sqlite", "ncurses", "pcre2"]


def _cve(n: int) -> str:
    return f"CVE-2024-{10000 + n}"


def _ghsa(n: int) -> str:
    return f"GHSA-{n:04x}-abcd-efgh"


def build_run(rnd: random.Random, total: int) -> tuple[list[Produced], list[dict[str, Any]], list[dict[str, Any]]]:
    """The run's findings, and the asset and alias rows the store holds for them."""
    assets: list[dict[str, Any]] = []
    aliases: list[dict[str, Any]] = []
    produced: list[Produced] = []
    images = []
    for i in range(IMAGES):
        key = f"sha256:{i:064x}"
        images.append((AssetRef(AssetKind.IMAGE, key), i + 1, f"registry.example/app{i % 300}:{i}"))
        assets.append(_asset_row(i + 1, "image", key, images[-1][2], {}))
        aliases.append({"asset_id": i + 1, "kind": "image", "alias": f"sha256:{i + 10**9:064x}"})
    workloads = []
    for w in range(WORKLOADS):
        namespace = f"team-{w % NAMESPACES}"
        name = f"{namespace}/Deployment/svc{w}"
        ref = AssetRef(AssetKind.WORKLOAD, f"prod/{name}")
        workloads.append((ref, IMAGES + w + 1, name, {"namespace": namespace}))
        assets.append(_asset_row(IMAGES + w + 1, "k8s-workload", ref.key, name, {"namespace": namespace}))
    vulns = int(total * 0.8)
    for n in range(vulns):
        ref, asset_id, name = images[n % IMAGES]
        cve = (n // IMAGES * 7 + n % IMAGES * 13) % CVES  # each image its own 40 CVEs, shared across images
        evidence: dict[str, Any] = {"vulnerability": _cve(cve), "package": PACKAGES[cve % len(PACKAGES)],
                                    "fix_available": cve % 3 == 0}
        if cve % 3 == 1:
            evidence["aliases"] = [_ghsa(cve)]
        produced.append(Produced(rule=VULN, asset=ref, asset_id=asset_id, asset_name=name, asset_attributes={},
                                 discriminator=f"{_cve(cve)}|{evidence['package']}|1.0",
                                 title=f"{_cve(cve)} in {evidence['package']}", severity=Severity.HIGH,
                                 evidence=evidence))
    for n in range(total - vulns):
        ref, asset_id, name, attributes = workloads[n % WORKLOADS]
        rule = CONFIG[n // WORKLOADS % len(CONFIG)]
        produced.append(Produced(rule=rule, asset=ref, asset_id=asset_id, asset_name=name,
                                 asset_attributes=attributes, discriminator="", title=rule.title,
                                 severity=rule.severity, evidence={}))
    return produced, assets, aliases


def _asset_row(asset_id: int, kind: str, key: str, name: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"id": asset_id, "kind": kind, "key": key, "name": name, "phase": "build", "attributes": attributes,
            "first_seen": NOW, "last_seen": NOW}


def build_exceptions(rnd: random.Random, total: int, produced: list[Produced]) -> list[dict[str, Any]]:
    """``total`` exception rows of the mix the module doc describes."""
    vulns = [p for p in produced if p.rule is VULN]
    configs = [p for p in produced if p.rule is not VULN]
    mix: list[tuple[float, Callable[[], dict[str, Any]]]] = [
        (0.70, lambda: _on_image(rnd.choice(vulns), rnd)),
        (0.15, lambda: _vuln_fields(rnd.choice(vulns)) | {"package": rnd.choice(PACKAGES)}),
        (0.05, lambda: _vuln_fields(rnd.choice(vulns))),
        (0.04, lambda: {"rule_id": (p := rnd.choice(configs)).rule.id, "asset_key": p.asset_name}),
        (0.02, lambda: {"asset_key": rnd.choice(produced).asset.key}),
        (0.015, lambda: {"namespace": f"team-{rnd.randrange(NAMESPACES)}",
                         **({"rule_id": rnd.choice(CONFIG).id} if rnd.random() < 0.5 else {})}),
        (0.01, lambda: {"pattern": f"team-{rnd.randrange(NAMESPACES)}/Deployment/svc{rnd.randrange(100)}*"}),
        (0.005, lambda: {"rule_id": rnd.choice(CONFIG).id}),
        (0.01, lambda: {"fingerprint": rnd.choice(produced).fingerprint}),
    ]
    rows = []
    for share, make in mix:
        for _ in range(round(total * share)):
            rows.append({**_UNSET, **make(), "reason": "accepted in review", "owner": "security", "created_at": NOW,
                         "expires_at": NOW + timedelta(days=rnd.randrange(1, 365)), "until_fix": rnd.random() < 0.2,
                         "source": "file", "source_key": f"exceptions.yaml#{len(rows)}", "origin": "exceptions.yaml"})
    return rows[:total]


#: Every scope column, unset (one bulk insert needs the same columns in every row).
_UNSET: dict[str, Any] = dict.fromkeys(("fingerprint", "vuln_id", "package", "rule_id", "asset_key", "namespace",
                                       "cluster", "host", "team", "pattern")) | {"aliases": []}


def _vuln_fields(p: Produced) -> dict[str, Any]:
    return {"vuln_id": p.evidence["vulnerability"], "aliases": list(p.evidence.get("aliases", []))}


def _on_image(p: Produced, rnd: random.Random) -> dict[str, Any]:
    return _vuln_fields(p) | {"asset_key": p.asset.key if rnd.random() < 0.5 else p.asset_name}


def apply(session: Any, produced: list[tuple[str, Produced]]) -> tuple[float, int]:
    """What a run's reconcile does with the exceptions in force (its findings come with their
    fingerprints, which a run computes anyway): seconds taken and findings covered."""
    start = time.perf_counter()
    with gc_paused():  # as a run is (posture.pipeline.collect)
        matcher = ExceptionMatcher.load(session, NOW)
        covered = 0
        if not matcher.empty:
            aliases = aliases_of(session, {p.asset_id for _, p in produced}) if matcher.names_assets else {}
            for fp, item in produced:
                covered += matcher.match(_candidate(item, fp, aliases)) is not None
    return time.perf_counter() - start, covered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exceptions", type=int, default=10_000)
    parser.add_argument("--findings", type=int, default=100_000)
    args = parser.parse_args(argv)
    rnd = random.Random(14)
    with tempfile.TemporaryDirectory(prefix="posture-bench-") as tmp:
        os.environ["XDG_CONFIG_HOME"] = tmp  # never ~/.config/posture/secret.key
        url = resolve_url(f"sqlite:///{tmp}/bench.db")
        engine = make_engine(url)
        upgrade(engine, url)
        produced, assets, aliases = build_run(rnd, args.findings)
        with write_session(engine) as session:
            session.execute(insert(asset_table), assets)
            session.execute(insert(alias_table), aliases)
        run = [(item.fingerprint, item) for item in produced]
        with read_session(engine) as session:
            without = min(apply(session, run)[0] for _ in range(5))
        rows = build_exceptions(rnd, args.exceptions, produced)
        with write_session(engine) as session:
            session.execute(insert(exception_table), rows)
        with read_session(engine) as session:
            timed = [apply(session, run) for _ in range(5)]
        engine.dispose()
    with_s, covered = min(timed)
    added = with_s - without
    verdict = "ok" if added < BUDGET_S else "OVER BUDGET"
    print(f"{len(rows)} exceptions, {len(produced)} findings, {covered} covered")
    print(f"without exceptions:  {without:6.3f} s  (a run with none in force does not match at all)")
    print(f"with exceptions:     {with_s:6.3f} s  (load, asset aliases, candidates, match; best of 5)")
    print(f"added by exceptions: {added:6.3f} s  (budget {BUDGET_S:.0f} s) -> {verdict}")
    return 0 if added < BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
