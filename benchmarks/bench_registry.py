"""Registry collector benchmark: 1,000 repositories x 5 tags in under 60 s; unchanged again in under 10 s.

    python benchmarks/bench_registry.py [--repositories 1000] [--tags 5] [--concurrency 16]

Starts its own docker-registry (Debian's ``docker-registry``) on a free loopback port with its
storage in a temporary directory, populates it over the Distribution API (one tiny shared layer
and a distinct config per tag, so every tag is its own image: 5,000 manifest and config fetches),
then measures through ``posture.pipeline.collect`` into a fresh SQLite store:

1. the first collection (catalog, tag lists, manifests, configs, rules, store);
2. a second collection with nothing changed, where the store's known digests make it one HEAD
   per tag (the figures show the request counts).

The registry it started is stopped (by its PID) and its storage removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "registry"))

from registry_helpers import Pusher, config_blob, image_manifest, tiny_layer  # noqa: E402

from collectors.registry import RegistryCollector, RegistryTarget  # noqa: E402
from collectors.registry.client import ClientSettings  # noqa: E402
from posture.cli.collect import source_context  # noqa: E402
from posture.db import make_engine, resolve_url, settle  # noqa: E402
from posture.migrations import upgrade  # noqa: E402
from posture.pipeline import collect  # noqa: E402
from posture.rules import image as image_rules  # noqa: E402
from posture.rules import registry as registry_rules  # noqa: E402
from posture.rules.base import RuleRegistry  # noqa: E402

FIRST_BUDGET_S = 60.0
SECOND_BUDGET_S = 10.0
RULES = RuleRegistry([*registry_rules.RULES, *image_rules.RULES])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc), to tell the server's share of a run."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_registry(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
        # The cache Debian's packaged config enables too: blob descriptors kept in memory.
        f"storage:\n  cache:\n    blobdescriptor: inmemory\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = (workdir / "registry.log").open("wb")
    process = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/v2/", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.terminate()
    raise SystemExit("docker-registry did not start; see " + str(workdir / "registry.log"))


async def populate(url: str, repositories: int, tags: int, concurrency: int = 64) -> None:
    """Pushes directly: the layer once then mounted, per tag a new config (POST + PUT) and a manifest PUT."""
    layer = tiny_layer()
    media = "application/vnd.oci.image.manifest.v1+json"
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        pusher = Pusher(client, url)
        first = "bench/team00/app0000"
        await pusher.blob(first, layer.compressed)

        async def one_repository(r: int) -> None:
            async with slots:
                repo = f"bench/team{r % 20:02d}/app{r:04d}"
                if repo != first:
                    await pusher.mount(repo, layer.digest, first)
                for t in range(tags):
                    config = config_blob(layer, env=[f"APP={r}", f"RELEASE={t}"], created=f"2025-0{1 + t}-01T00:00:00Z")
                    await pusher.blob(repo, config, check=False)
                    await pusher.manifest(repo, f"1.{t}.0", image_manifest(config, layer), media)

        await asyncio.gather(*(one_repository(r) for r in range(repositories)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repositories", type=int, default=1000)
    parser.add_argument("--tags", type=int, default=5)
    parser.add_argument(
        "--concurrency", type=int, default=ClientSettings().concurrency, help="requests in flight (the collector's)"
    )
    args = parser.parse_args()
    settings = ClientSettings(concurrency=args.concurrency)
    with tempfile.TemporaryDirectory(prefix="posture-bench-registry-") as tmp:
        workdir = Path(tmp)
        process, url = start_registry(workdir)
        try:
            started = time.perf_counter()
            asyncio.run(populate(url, args.repositories, args.tags))
            total_tags = args.repositories * args.tags
            took = time.perf_counter() - started
            print(f"populated {args.repositories} repositories x {args.tags} tags in {took:.1f} s")

            db_url = resolve_url(f"sqlite:///{workdir / 'posture.db'}")
            engine = make_engine(db_url)
            upgrade(engine, db_url)
            target = RegistryTarget("http", url.removeprefix("http://"), insecure=True)
            ok = True
            for label, budget in (("first run", FIRST_BUDGET_S), ("second run (unchanged)", SECOND_BUDGET_S)):
                context = source_context(engine)
                collector = RegistryCollector(
                    target,
                    context.secrets,
                    known_digests=context.known_digests,
                    known_tags=context.known_tags,
                    settings=settings,
                )
                started, server_before, own_before = time.perf_counter(), cpu_seconds(process.pid), time.process_time()
                result = collect(engine, collector, RULES)
                elapsed = time.perf_counter() - started
                settle(engine)  # its WAL checkpoint runs on a background thread (posture.walcheckpoint), untimed
                server_cpu, own_cpu = cpu_seconds(process.pid) - server_before, time.process_time() - own_before
                stats = result.stats
                requests = ", ".join(f"{m} {n}" for m, n in sorted(collector.stats.by_method.items()))
                verdict = "ok" if elapsed < budget and result.status.value == "complete" else "OVER BUDGET"
                ok = ok and verdict == "ok"
                print(
                    f"{label}: {elapsed:.1f} s (budget {budget:.0f} s) {verdict}; status {result.status.value}; "
                    f"{total_tags} tags; requests: {requests} ({collector.stats.total / total_tags:.2f} per tag); "
                    f"assets {stats.get('assets')} (new {stats.get('assets_new')}, "
                    f"changed {stats.get('assets_changed')}), "
                    f"findings {stats.get('findings')}"
                )
                per_request = 1000 / max(collector.stats.total, 1)
                print(
                    f"    CPU: posture {own_cpu:.1f} s ({own_cpu * per_request:.2f} ms/request), docker-registry "
                    f"{server_cpu:.1f} s ({server_cpu * per_request:.2f} ms/request); {os.cpu_count()} CPUs, "
                    f"load average {os.getloadavg()[0]:.1f}"
                )
            engine.dispose()
        finally:
            process.terminate()
            process.wait(timeout=30)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
