"""Docker collector benchmark: 500 containers and 200 images collected and evaluated in under 10 s.

    python benchmarks/bench_docker.py [--docker URL] [--containers 500] [--images 200] [--workers 8]

Without ``--docker`` it uses the test engine of ``scripts/services.sh`` (starting it if needed).
It creates the images (``docker import`` of a one-file tarball, each with its own labels, env and
USER, so every image has its own config digest) and the containers (created, not started, with a
mix of risky settings), then measures:

1. collect + evaluate: the collector's records and every Docker and image rule over them;
2. the same through ``posture.pipeline.collect`` into a fresh SQLite store (collect + rules + store);
3. a second pipeline run with nothing changed, which must write nothing new.

Everything it created carries the label ``posture.bench=docker`` and is removed at the end.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.docker.collector import DockerCollector  # noqa: E402 - after the path set-up
from collectors.docker.endpoint import from_url  # noqa: E402
from posture.db import make_engine, resolve_url  # noqa: E402
from posture.migrations import upgrade  # noqa: E402
from posture.pipeline import collect  # noqa: E402
from posture.records import AssetRecord, RelationRecord  # noqa: E402
from posture.rules import docker as docker_rules  # noqa: E402
from posture.rules import image as image_rules  # noqa: E402
from posture.rules.base import RuleRegistry, Snapshot, evaluate_all  # noqa: E402
from posture.secrets import SecretScanner  # noqa: E402

LABEL = ("posture.bench", "docker")
BUDGET_S = 10.0


def test_engine_url() -> str:
    """The services engine, started when it is not running (same as the test fixtures)."""
    if os.environ.get("POSTURE_TEST_DOCKER_HOST"):
        return os.environ["POSTURE_TEST_DOCKER_HOST"]
    subprocess.run(
        ["bash", str(ROOT / "scripts/services.sh"), "start", "dockerd"], check=True, stdout=subprocess.DEVNULL
    )
    env = subprocess.run(["bash", str(ROOT / "scripts/services.sh"), "env"], check=True, capture_output=True, text=True)
    for line in env.stdout.splitlines():
        if line.startswith("export POSTURE_TEST_DOCKER_HOST="):
            return line.split("=", 1)[1].strip("'\"")
    raise SystemExit("bench_docker: scripts/services.sh env did not name a docker engine")


def _tarball(index: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        data = f"bench image {index}\n".encode()
        info = tarfile.TarInfo(f"etc/bench-{index}")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def create_images(client: Any, count: int, workers: int) -> list[str]:
    def one(i: int) -> str:
        changes = [
            f"LABEL {LABEL[0]}={LABEL[1]}",
            f"LABEL bench.index={i} bench.team=team-{i % 7}",
            f"ENV APP_MODE=bench{i} DB_PASSWORD=bench-password-{i}" if i % 10 == 0 else f"ENV APP_MODE=bench{i}",
            "USER 1000" if i % 3 == 0 else "USER root",
            'CMD ["/bin/sh"]',
        ]
        client.import_image_from_data(_tarball(i), repository="posture-bench/img", tag=f"v{i}", changes=changes)
        return f"posture-bench/img:v{i}"

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(count)))


def create_containers(client: Any, images: list[str], count: int, workers: int) -> None:
    def one(i: int) -> None:
        host_config = client.create_host_config(
            privileged=i % 50 == 0,
            cap_add=["NET_ADMIN"] if i % 9 == 0 else None,
            port_bindings={80: ("0.0.0.0", 10000 + i)} if i % 4 == 0 else None,
            binds=["/etc:/host/etc:ro"] if i % 25 == 0 else None,
            mem_limit="64m" if i % 2 == 0 else None,
            pids_limit=100 if i % 3 == 0 else None,
            read_only=i % 5 == 0,
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 3} if i % 6 == 0 else None,
            network_mode="none",
        )
        client.create_container(
            images[i % len(images)],
            command=["/bin/sh"],
            name=f"posture-bench-{i}",
            labels={LABEL[0]: LABEL[1]},
            environment={"API_TOKEN": f"ghp_{i:036d}"} if i % 20 == 0 else None,
            ports=[80] if i % 4 == 0 else None,
            host_config=host_config,
        )

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(count)))


def cleanup(client: Any, workers: int) -> None:
    label = f"{LABEL[0]}={LABEL[1]}"
    containers = client.containers(all=True, filters={"label": label})
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda c: client.remove_container(c["Id"], force=True, v=True), containers))
    for image in client.images(filters={"label": label}):
        client.remove_image(image["Id"], force=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docker", metavar="URL", help="engine to use (default: the scripts/services.sh engine)")
    parser.add_argument("--containers", type=int, default=500)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    url = args.docker or test_engine_url()
    client = docker.APIClient(base_url=url, version="auto", timeout=120)
    scanner = SecretScanner(b"benchmark-hash-key-0123456789abc")
    registry = RuleRegistry([*docker_rules.RULES, *image_rules.RULES])

    cleanup(client, args.workers)
    started = time.perf_counter()
    images = create_images(client, args.images, args.workers)
    create_containers(client, images, args.containers, args.workers)
    print(f"setup: {args.images} images, {args.containers} containers created in {time.perf_counter() - started:.1f} s")
    try:
        t0 = time.perf_counter()
        records = list(DockerCollector(from_url(url), scanner, workers=args.workers).collect())
        t1 = time.perf_counter()
        assets = [r for r in records if isinstance(r, AssetRecord)]
        relations = [r for r in records if isinstance(r, RelationRecord)]
        verdicts = list(evaluate_all(registry, Snapshot(assets, relations), assets))
        t2 = time.perf_counter()
        total = t2 - t1 + (t1 - t0)
        print(f"collect: {t1 - t0:.2f} s ({len(assets)} assets, {len(relations)} relations, workers={args.workers})")
        print(f"evaluate: {t2 - t1:.2f} s ({len(verdicts)} findings)")
        verdict = "OK" if total < BUDGET_S else "OVER BUDGET"
        print(f"collect + evaluate: {total:.2f} s (budget {BUDGET_S:.0f} s) -> {verdict}")

        with tempfile.TemporaryDirectory() as tmp:
            db_url = resolve_url(f"sqlite:///{tmp}/bench.db")
            engine = make_engine(db_url)
            upgrade(engine, db_url)
            runs = []
            for label in ("first", "second (nothing changed)"):
                t = time.perf_counter()
                result = collect(engine, DockerCollector(from_url(url), scanner, workers=args.workers), registry)
                runs.append(result)
                stats = result.stats
                print(
                    f"pipeline {label}: {time.perf_counter() - t:.2f} s, {result.status.value}: "
                    f"{stats.get('assets')} assets ({stats.get('assets_new')} new, "
                    f"{stats.get('assets_changed')} changed), "
                    f"{stats.get('findings')} findings ({stats.get('new')} new, {stats.get('resolved')} resolved)"
                )
            engine.dispose()
        second = runs[-1].stats
        idle = second.get("assets_new") == 0 and second.get("assets_changed") == 0 and second.get("new") == 0
        print(f"second run wrote nothing new: {'yes' if idle else 'NO'}")
        return 0 if total < BUDGET_S and idle else 1
    finally:
        t = time.perf_counter()
        cleanup(client, args.workers)
        print(f"cleanup: {time.perf_counter() - t:.1f} s")


if __name__ == "__main__":
    raise SystemExit(main())
