"""Collect one source into a store with short deadlines, as ``posture collect`` would: run as a child
process by tests/test_hostile_endpoints.py, which measures its wall time and peak memory.

``python tests/hostile_driver.py docker|kubernetes|registry URL DB_URL WORKDIR``. Deadlines are the
collectors' constructor parameters (the product's defaults are minutes, too long for a test); the
size caps are the product's own. Prints on stdout ``baseline <KiB>`` (the peak resident size before
collecting), ``elapsed <seconds>`` (the collection's wall time) and ``peak <KiB>`` (the process's
peak resident size, from the kernel), then what ``posture collect`` prints; exits with its exit code.
"""

from __future__ import annotations

import dataclasses
import resource
import sys
import time
from pathlib import Path

import yaml

from collectors.bounds import Bounds
from collectors.docker.client import BOUNDS as DOCKER_BOUNDS
from collectors.docker.collector import DockerCollector
from collectors.docker.endpoint import from_url
from collectors.k8s.apiclient import BOUNDS as K8S_BOUNDS
from collectors.k8s.kubeconfig import KubeconfigContext
from collectors.k8s.live import LiveCollector
from collectors.registry.client import ClientSettings
from collectors.registry.collector import RegistryCollector
from collectors.registry.target import parse_registry_url
from posture.cli.collect import report, source_context
from posture.db import make_engine, resolve_url
from posture.migrations import upgrade
from posture.pipeline import collect
from posture.records import Collector
from posture.rules import default_registry
from posture.secrets import SecretScanner

#: Longer than a request's deadline, so that the deadline, not a read time-out, is what ends each case.
READ_TIMEOUT_S = 10.0
REQUEST_S = 3.0
RUN_S = 6.0


def short(bounds: Bounds) -> Bounds:
    return dataclasses.replace(bounds, request_s=REQUEST_S, run_s=RUN_S)


def build(kind: str, url: str, secrets: SecretScanner, workdir: Path) -> Collector:
    if kind == "docker":
        endpoint = from_url(url.replace("http://", "tcp://"))
        return DockerCollector(endpoint, secrets, timeout=READ_TIMEOUT_S, bounds=short(DOCKER_BOUNDS))
    if kind == "kubernetes":
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "hostile", "cluster": {"server": url}}],
            "users": [{"name": "hostile", "user": {"token": "t"}}],
            "contexts": [{"name": "hostile", "context": {"cluster": "hostile", "user": "hostile"}}],
            "current-context": "hostile",
        }
        path = workdir / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        target = KubeconfigContext(str(path), "hostile")
        return LiveCollector(target, secrets, timeout=READ_TIMEOUT_S, bounds=short(K8S_BOUNDS))
    authority = url.removeprefix("http://")
    target = parse_registry_url(url, insecure_hosts=(authority,))
    settings = ClientSettings(
        timeout_s=READ_TIMEOUT_S, request_deadline_s=REQUEST_S, run_deadline_s=RUN_S, retries=1, backoff_s=0.1
    )
    return RegistryCollector(target, secrets, settings=settings, credentials=lambda: None)


def main(kind: str, url: str, db_url: str, workdir: str) -> int:
    resolved = resolve_url(db_url)
    engine = make_engine(resolved)
    upgrade(engine, resolved)
    context = source_context(engine)
    print(f"baseline {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)
    started = time.monotonic()
    collector = build(kind, url, context.secrets, Path(workdir))
    result = collect(engine, collector, default_registry())
    print(f"elapsed {time.monotonic() - started:.2f}", flush=True)
    print(f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)
    return report([result])


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
