"""Hostile API endpoints: every network client ends within its deadline, under its memory bound, with
one line naming the source and a failed run in the store.

A scripted server on loopback (tests/hostile_server.py) answers the Docker client (``tcp://``), the
Kubernetes live collector (a kubeconfig pointing at it) and the registry client with an endless body
(chunked, and under a huge Content-Length), a one-byte-a-second trickle of the body, a hang, endless
headers, a status line and headers trickled a byte a second (at once, or after a silence longer than
the deadline) and a redirect loop. Each collection runs in its own process (tests/hostile_driver.py,
with short deadlines given to the collectors' constructors and the product's own size caps), so its
peak resident size is its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.hostile_driver import REQUEST_S, RUN_S
from tests.hostile_server import MODES, hostile

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
MAX_GROWTH_KIB = 500 * 1024
#: The collection ends by the request deadline; scheduling and the store's write add a little.
SLACK_S = 1.5

_MEASURES = ("baseline ", "elapsed ", "peak ")
SOURCES = {
    "docker": "docker tcp://127.0.0.1:{port}: ",
    "kubernetes": 'kubernetes context "hostile": ',
    "registry": "registry 127.0.0.1:{port}: ",
}
#: Modes that stay under every cap: only the request deadline ends them (the read time-out is longer).
SLOW = {"trickle", "hang", "trickle-headers", "slow-status"}


def run_driver(kind: str, url: str, tmp_path: Path) -> tuple[int, float, int, str]:
    """(exit code, collection seconds, peak RSS growth in KiB, stderr) of one collection."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    process = subprocess.Popen(
        [sys.executable, str(TESTS / "hostile_driver.py"), kind, url, f"sqlite:///{tmp_path / 'p.db'}", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"{kind}: the collection was still running after 60 s")
    lines = dict(line.split(" ", 1) for line in out.decode().splitlines() if line.startswith(_MEASURES))
    return (
        process.returncode,
        float(lines.get("elapsed", "inf")),
        int(lines.get("peak", "0")) - int(lines.get("baseline", "0")),
        err.decode(),
    )


def stored_runs(tmp_path: Path) -> list[tuple[str, str]]:
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT status, error FROM collection_run")).all()
    finally:
        engine.dispose()
    return [(str(status), str(error)) for status, error in rows]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_a_hostile_endpoint_fails_the_run_in_time_in_bounded_memory_with_one_line(
    kind: str, mode: str, tmp_path: Path
) -> None:
    with hostile(mode) as server:
        code, elapsed, growth, stderr = run_driver(kind, server.url, tmp_path)
    assert code == 1, stderr
    assert elapsed <= REQUEST_S + SLACK_S < RUN_S, stderr
    assert growth < MAX_GROWTH_KIB, f"{kind} {mode}: grew by {growth // 1024} MiB"
    (line,) = stderr.strip().splitlines()
    assert line.startswith("posture: " + SOURCES[kind].format(port=server.port)), line
    if mode in SLOW:
        assert line.endswith(f": no complete answer within {REQUEST_S:g} s"), line
    assert "Traceback" not in stderr
    ((status, error),) = stored_runs(tmp_path)
    assert status == "failed" and error == line.removeprefix("posture: ")
