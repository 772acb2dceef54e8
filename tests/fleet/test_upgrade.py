"""Upgrading a store made by the previous release (issue 13): every finding, run and exception kept,
and the next collections of the same sources resolve nothing and file nothing new.

The previous release is the project's own commit :data:`PREVIOUS_RELEASE`, taken out of this
repository's history with ``git archive`` and run in a subprocess, so the store under test is
exactly what that release wrote: its scope names (manifest paths, file stems, context names, the
engine ID alone) and its asset keys. Then this release upgrades the schema and collects the same
sources under their new identities, on SQLite and on a real PostgreSQL server. The previous release
kept the secret hash key in the store (issue 23): it moves to this release's key file and leaves no
byte in the SQLite file.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from posture.db import make_engine, read_session, resolve_url
from posture.migrations import SCHEMA_HEAD
from posture.model import exception_table, finding_table, run_table
from tests.k8s.live_support import write_kubeconfig
from tests.k8s.replay_server import ReplayServer, corpus_cluster, with_cluster_uid
from tests.services import Dockerd

ROOT = Path(__file__).resolve().parents[2]
#: The last commit before source identities (issue 13): what users run today.
PREVIOUS_RELEASE = "7a7dbb9"
REPORTS = ROOT / "tests/data/reports"
MANIFESTS = ROOT / "tests/data/k8s-manifests/kubernetes-goat"


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's code, from this repository's own history (a shallow clone fetches it first)."""
    missing = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"],
                             capture_output=True, timeout=30).returncode != 0
    if missing:
        subprocess.run(["git", "-C", str(ROOT), "fetch", "--quiet", "--unshallow"], capture_output=True, timeout=300)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_RELEASE, "posture", "collectors", "alembic",
         "alembic.ini"],
        capture_output=True, timeout=120,
    )
    assert archive.returncode == 0, (
        f"git archive {PREVIOUS_RELEASE} failed (a shallow clone lacks the previous release): "
        + archive.stderr.decode(errors="replace")
    )
    where = tmp_path_factory.mktemp("previous-release")
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(where, filter="data")
    return where


def _posture(code: Path, db: str, *args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Posture from ``code`` on ``db``; ``home`` (default ``code``) holds its configuration and secret key file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "POSTURE_"))}
    home = home or code
    env.update(PYTHONPATH=str(code), POSTURE_DB=db, HOME=str(home), XDG_CONFIG_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "posture.cli.main", *args], cwd=code, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'posture.db'}"
    else:
        yield str(request.getfixturevalue("fresh_postgres_db"))


TOKEN = "upgrade-token"
CONTEXT = "kubernetes-admin@kubernetes"


def _sources(tmp_path: Path, engine_url: str, cluster_url: str) -> dict[str, list[str]]:
    """Each source as the previous release collected it, and the arguments this release needs for the same one."""
    bench = tmp_path / "node-a.json"  # the old release named a bench report's scope by its file's stem
    shutil.copy(REPORTS / "crafted/kube-bench.json", bench)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", {CONTEXT: (cluster_url, {"token": TOKEN})})
    return {
        "docker engine": ["--docker", engine_url],
        "cluster": ["--kubeconfig", str(kubeconfig), "--kube-context", CONTEXT],
        "image report": ["--report", str(REPORTS / "trivy/trivy-alpine-39.json")],
        "bench report": ["--report", str(bench)],
        "repository report": ["--report", str(REPORTS / "trivy/trivy-gomod.json")],
        "manifests": ["--manifests", str(MANIFESTS), "--manifests-cluster", "prod-eu"],
    }


#: What this release must be told that the previous one guessed (issue 13: identity from the user).
NEW_ARGUMENTS = {"bench report": ["--report-host", "node-a"], "repository report": ["--report-name", "gomod"]}


def _counts(db: str) -> dict[str, int]:
    engine = make_engine(resolve_url(db))
    try:
        with read_session(engine) as session:
            return {
                "findings": session.execute(select(func.count()).select_from(finding_table)).scalar_one(),
                "open": session.execute(
                    select(func.count()).select_from(finding_table).where(finding_table.c.status == "open")
                ).scalar_one(),
                "accepted": session.execute(
                    select(func.count()).select_from(finding_table).where(finding_table.c.status == "accepted")
                ).scalar_one(),
                "runs": session.execute(select(func.count()).select_from(run_table)).scalar_one(),
                "exceptions": session.execute(select(func.count()).select_from(exception_table)).scalar_one(),
            }
    finally:
        engine.dispose()


def _accept_one_rule(code: Path, db: str) -> None:
    """An accepted risk, written by the previous release's own store code."""
    script = (
        "from datetime import UTC, datetime\n"
        "from posture.db import make_engine, resolve_url, write_session\n"
        "from posture.model import RiskException\n"
        "from posture.store.exceptions import create_exception\n"
        f"engine = make_engine(resolve_url({db!r}))\n"
        "with write_session(engine) as s:\n"
        "    create_exception(s, RiskException(rule_id='SCAN-CIS-K8S', reason='compensating control',"
        " owner='ops', created_at=datetime.now(UTC)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", script], cwd=code, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.fixture
def cluster() -> Iterator[ReplayServer]:
    """A live cluster (the replaying API server) with a kube-system namespace UID, as every cluster has."""
    lists = with_cluster_uid(corpus_cluster(), "5b0e8a1c-2f3d-4e5a-9b6c-7d8e9f0a1b2c")
    with ReplayServer(lists, token=TOKEN) as server:
        yield server


def test_an_upgraded_store_keeps_everything_and_the_next_runs_change_nothing(
    previous_release: Path, db: str, tmp_path: Path, dockerd: Dockerd, cluster: ReplayServer
) -> None:
    sources = _sources(tmp_path, dockerd.url, cluster.url)
    for name, args in sources.items():
        old = _posture(previous_release, db, "collect", *args)
        assert old.returncode == 0, f"{name}: {old.stderr}"
    _accept_one_rule(previous_release, db)
    before = _counts(db)
    assert before["findings"] >= 20 and before["accepted"] >= 1 and before["exceptions"] == 1

    legacy_key = _meta(db).get("secret_hash_key")
    assert legacy_key is not None and len(legacy_key) == 64  # the previous release kept its key in the store
    home = tmp_path / "home"
    upgraded = _posture(ROOT, db, "db", "upgrade", home=home)
    assert upgraded.returncode == 0, upgraded.stderr
    assert _counts(db) == before

    for attempt in ("first run after the upgrade", "second run"):
        for name, args in sources.items():
            new = _posture(ROOT, db, "collect", *args, *NEW_ARGUMENTS.get(name, []), home=home)
            assert new.returncode == 0, f"{attempt}, {name}: {new.stderr}"
            assert "(0 new, 0 resolved)" in new.stdout, f"{attempt}, {name}: {new.stdout}{new.stderr}"
        after = _counts(db)
        assert {k: after[k] for k in ("findings", "open", "accepted", "exceptions")} == {
            k: before[k] for k in ("findings", "open", "accepted", "exceptions")
        }, attempt
    engine = make_engine(resolve_url(db))
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert version == SCHEMA_HEAD
    # The key moved out of the store into the key file (so secret findings kept their fingerprints above)
    key_file = home / "posture" / "secret.key"
    assert key_file.read_text().strip() == legacy_key and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "secret_hash_key" not in _meta(db) and legacy_key not in _meta(db).values()
    if db.startswith("sqlite:///"):  # and its bytes are overwritten, not left in a free page of the file
        stored = b"".join(p.read_bytes() for p in Path(db[len("sqlite:///"):]).parent.glob("posture.db*"))
        assert legacy_key.encode() not in stored and bytes.fromhex(legacy_key) not in stored


def _meta(db: str) -> dict[str, str]:
    engine = make_engine(resolve_url(db))
    try:
        with engine.connect() as conn:
            return {str(k): str(v) for k, v in conn.execute(text("SELECT key, value FROM meta"))}
    finally:
        engine.dispose()
