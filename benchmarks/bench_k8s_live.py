"""Live Kubernetes collection at scale: 10,000 pods (1,000 Deployments x 10, with their ReplicaSets).

    python benchmarks/bench_k8s_live.py [--deployments 1000] [--pods-per-deployment 10]

A replaying API server (tests/k8s/replay_server.py) serves the cluster from its own process, so the
figures are Posture's alone: the real ``kubernetes`` client lists every resource type with
pagination (500 per page) over HTTP, the shared normalizer builds records, the Kubernetes rules
evaluate them and the pipeline stores them in SQLite. Goal (issue 4): under 5 s, under 1 GB.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing
import pkgutil
import resource
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "k8s")]

from live_support import write_kubeconfig  # noqa: E402
from replay_server import ReplayServer, scaled_cluster  # noqa: E402

import posture.rules  # noqa: E402
from collectors.k8s.kubeconfig import KubeconfigContext  # noqa: E402
from collectors.k8s.live import LiveCollector  # noqa: E402
from posture.db import make_engine, resolve_url  # noqa: E402
from posture.migrations import upgrade  # noqa: E402
from posture.pipeline import collect  # noqa: E402
from posture.rules import default_registry  # noqa: E402
from posture.rules.base import Rule, RuleRegistry  # noqa: E402

TOKEN = "bench-token"


def serve(deployments: int, pods_per_deployment: int, conn: Connection) -> None:
    server = ReplayServer(scaled_cluster(deployments, pods_per_deployment), token=TOKEN)
    conn.send(
        (
            server.url,
            {path: len(items) for path, items in server.items.items() if items},
            sum(len(i) for i in server.items.get("/api/v1/pods", [])),
        )
    )
    server.serve_forever()


def kubernetes_registry() -> RuleRegistry:
    """The default registry when it lists Kubernetes rules, else every ``posture.rules.k8s_*`` module's RULES."""
    registry = default_registry()
    if any(rule.id.startswith("K8S-") for rule in registry):
        return registry
    rules: list[Rule] = []
    for module in pkgutil.iter_modules(posture.rules.__path__):
        if module.name.startswith("k8s"):
            rules.extend(getattr(importlib.import_module(f"posture.rules.{module.name}"), "RULES", []))
    return RuleRegistry(rules)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--pods-per-deployment", type=int, default=10)
    args = parser.parse_args()

    ctx = multiprocessing.get_context("fork")
    receiver, sender = ctx.Pipe(duplex=False)
    server = ctx.Process(target=serve, args=(args.deployments, args.pods_per_deployment, sender), daemon=True)
    server.start()
    try:
        url, counts, pod_bytes = receiver.recv()
        with tempfile.TemporaryDirectory() as tmp:
            kubeconfig = write_kubeconfig(Path(tmp) / "kubeconfig", {"bench": (url, {"token": TOKEN})})
            collector = LiveCollector(KubeconfigContext(str(kubeconfig), "bench"))
            db_url = resolve_url(f"sqlite:///{tmp}/posture.db")
            engine = make_engine(db_url)
            upgrade(engine, db_url)
            registry = kubernetes_registry()
            summary = ", ".join(f"{n} {path.rsplit('/', 1)[1]}" for path, n in counts.items())
            print(f"cluster: {summary}")
            k8s_rules = sum(rule.id.startswith("K8S-") for rule in registry)
            print(f"pod list on the wire: {pod_bytes / 1e6:.1f} MB; {k8s_rules} Kubernetes rules of {len(registry)}")
            print(f"baseline RSS before collecting: {rss_mb():.0f} MB")

            started, cpu = time.perf_counter(), time.process_time()
            listing = collector.fetch()
            fetched, fetched_cpu = time.perf_counter() - started, time.process_time() - cpu
            objects = sum(len(v) for v in listing.objects.values())
            del listing
            print(f"list only (HTTP + orjson, {objects} objects): {fetched:.2f} s (CPU {fetched_cpu:.2f} s)")

            results = []
            for label in ("first run (all new)", "second run (unchanged)"):
                started, cpu = time.perf_counter(), time.process_time()
                result = collect(engine, collector, registry)
                elapsed, elapsed_cpu = time.perf_counter() - started, time.process_time() - cpu
                results.append(elapsed)
                stats = result.stats
                print(
                    f"{label}: collect + evaluate + store {elapsed:.2f} s (CPU {elapsed_cpu:.2f} s); "
                    f"status {result.status.value}, "
                    f"{stats.get('assets', 0)} assets, {stats.get('findings', 0)} findings, {stats.get('new', 0)} new"
                )
            engine.dispose()
        peak = rss_mb()
        verdict = "PASS" if max(results) < 5.0 and peak < 1024 else "FAIL"
        print(f"peak RSS: {peak:.0f} MB (goal < 1024 MB); slowest run {max(results):.2f} s (goal < 5 s): {verdict}")
    finally:
        server.terminate()
        server.join()


if __name__ == "__main__":
    main()
