"""``posture watch``: cycles on its interval, stops cleanly on SIGTERM, never collects a scope twice at once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from posture.cli.main import cli
from posture.db import make_engine, resolve_url
from posture.locks import lock_key, try_lock
from posture.model import run_table, scope_table

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "tests" / "data" / "k8s-manifests" / "kubescape" / "rule-privileged-container__pod__pod.yaml"


def _runs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(run_table)).scalar_one())


def test_watch_cycles_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    env = {**os.environ, "POSTURE_CONFIG": str(tmp_path / "none.toml"), "POSTURE_NOTIFY": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "posture.cli.main", "watch", "--db", url, "--interval", "1s", "--manifests",
         str(MANIFEST)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    engine = make_engine(resolve_url(url))
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (tmp_path / "p.db").exists():
                try:
                    if _runs(engine) >= 2:
                        break
                except Exception:  # the schema may not exist yet
                    pass
            time.sleep(0.2)
        assert _runs(engine) >= 2, "watch did not run two cycles"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        engine.dispose()
    assert proc.returncode == 0, err
    assert "SIGTERM received" in err and "posture watch: stopped" in err
    assert len(re.findall(r"^posture [\d.]+ \([A-F]\)$", out, re.MULTILINE)) >= 2  # the score, each cycle


def test_watch_skips_a_scope_another_process_is_collecting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    runner = CliRunner()
    env = {"POSTURE_CONFIG": str(tmp_path / "none.toml"), "POSTURE_NOTIFY": ""}
    args = ["watch", "--db", url, "--once", "--manifests", str(MANIFEST)]
    assert runner.invoke(cli, args, env=env).exit_code == 0
    engine = make_engine(resolve_url(url))
    with engine.connect() as conn:
        kind, name = conn.execute(select(scope_table.c.kind, scope_table.c.name)).one()
    before = _runs(engine)
    with try_lock(engine, f"scope:{kind}:{name}") as held:
        assert held
        busy = runner.invoke(cli, args, env=env)
    assert busy.exit_code == 0 and "another collection is running; skipped" in busy.output
    assert _runs(engine) == before
    engine.dispose()


def test_locks_are_exclusive_and_released(tmp_path: Path) -> None:
    engine = make_engine(resolve_url(f"sqlite:///{tmp_path / 'p.db'}"))
    with try_lock(engine, "a") as first, try_lock(engine, "a") as second, try_lock(engine, "b") as other:
        assert first and not second and other
    with try_lock(engine, "a") as again:
        assert again
    assert lock_key("a") == lock_key("a") != lock_key("b")
    engine.dispose()


def test_postgres_advisory_locks(fresh_postgres_db: str) -> None:
    engine = make_engine(resolve_url(fresh_postgres_db))
    try:
        with try_lock(engine, "scope:kubernetes:prod") as first, try_lock(engine, "scope:kubernetes:prod") as second:
            assert first and not second
        with try_lock(engine, "scope:kubernetes:prod") as again:
            assert again
    finally:
        engine.dispose()
