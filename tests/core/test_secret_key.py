"""The secret hash key lives outside the database (issue 23, item 3).

Where the key comes from (a key file created 0600 once, ``POSTURE_SECRET_KEY_FILE``,
``POSTURE_SECRET_KEY``), what is refused (each with one line that never shows the key), what the
store keeps (a check id only), how a previous release's key moves out of the store, and that a copy
of the database alone does not let anyone verify a guessed secret.
"""

from __future__ import annotations

import hashlib
import hmac
import multiprocessing
import os
import re
import secrets
import stat
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from posture.db import make_engine, resolve_url, write_session
from posture.secretkey import SecretKeyError, check_id, create_key_file, installation_key

ROOT = Path(__file__).resolve().parents[2]
KEY_A = "a1" * 32
KEY_B = "b2" * 32
SECRET = "Tr0ub4dor&3-horse-battery"  # a known secret planted in a manifest


def _key(engine: Engine, env: Mapping[str, str]) -> bytes:
    with write_session(engine) as session:
        return installation_key(session, env)


def _meta(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {str(k): str(v) for k, v in conn.execute(text("SELECT key, value FROM meta"))}


def _write_key(path: Path, content: str, mode: int = 0o600) -> Path:
    path.write_text(content)
    path.chmod(mode)
    return path


def _refused(engine: Engine, env: Mapping[str, str], *fragments: str) -> str:
    with pytest.raises(SecretKeyError) as caught:
        _key(engine, env)
    message = str(caught.value)
    assert "\n" not in message and KEY_A not in message and KEY_B not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- the default key file ---------------------------------------------------------------------------

def test_the_first_use_creates_a_0600_key_file_and_the_store_keeps_only_its_check_id(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    key = _key(sqlite_engine, env)
    path = tmp_path / "config" / "posture" / "secret.key"
    assert path.read_text().strip() == key.hex() and len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _meta(sqlite_engine) == {"secret_key_check": check_id(key)}
    assert _key(sqlite_engine, env) == key  # the next run reads it back


def _create(path: str, key: bytes, start: Any, results: Any) -> None:
    start.wait()  # every process links its own key at the same moment
    results.put(create_key_file(Path(path), key, path).key.hex())


def test_concurrent_first_runs_keep_one_key(tmp_path: Path) -> None:
    path = tmp_path / "config" / "posture" / "secret.key"
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(6), context.Queue()
    workers = [context.Process(target=_create, args=(str(path), secrets.token_bytes(32), start, results))
               for _ in range(6)]
    for worker in workers:
        worker.start()
    keys = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert len(set(keys)) == 1 and path.read_text().strip() == keys[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["secret.key"]  # no temporary file left behind


@pytest.mark.parametrize(
    ("content", "mode", "problem"),
    [
        (KEY_A, 0o640, "open to group or others (mode 0640)"),
        (KEY_A, 0o604, "open to group or others (mode 0604)"),
        (KEY_A[:62], 0o600, "at least 64 hex digits"),
        ("not hex at all " * 5, 0o600, "at least 64 hex digits"),
    ],
)
def test_a_bad_key_file_is_refused_with_one_line(
    sqlite_engine: Engine, tmp_path: Path, content: str, mode: int, problem: str
) -> None:
    path = _write_key(tmp_path / "key", content, mode)
    _refused(sqlite_engine, {"POSTURE_SECRET_KEY_FILE": str(path)}, f"POSTURE_SECRET_KEY_FILE {path}: ", problem)
    assert _meta(sqlite_engine) == {}  # nothing stored


def test_a_good_key_file_is_used_as_it_is(sqlite_engine: Engine, tmp_path: Path) -> None:
    """The other side of each refusal: 0600 (and 0400), exactly 64 hex digits, a trailing newline."""
    for mode in (0o600, 0o400):
        path = _write_key(tmp_path / f"key-{mode:o}", KEY_A + "\n", mode)
        assert _key(sqlite_engine, {"POSTURE_SECRET_KEY_FILE": str(path)}) == bytes.fromhex(KEY_A)


def test_a_key_file_that_is_not_a_regular_file_is_refused_without_blocking(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo, 0o600)
    _refused(sqlite_engine, {"POSTURE_SECRET_KEY_FILE": str(fifo)}, "not a regular file")
    (tmp_path / "dir").mkdir(mode=0o700)
    _refused(sqlite_engine, {"POSTURE_SECRET_KEY_FILE": str(tmp_path / "dir")}, "not a regular file")


def test_a_named_key_file_that_does_not_exist_is_refused_not_invented(sqlite_engine: Engine, tmp_path: Path) -> None:
    _refused(sqlite_engine, {"POSTURE_SECRET_KEY_FILE": str(tmp_path / "missing")}, "no such file")
    assert not (tmp_path / "missing").exists()


# -- POSTURE_SECRET_KEY -----------------------------------------------------------------------------

def test_the_key_from_the_environment_is_used_and_no_file_is_made(sqlite_engine: Engine, tmp_path: Path) -> None:
    env = {"POSTURE_SECRET_KEY": KEY_A, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    assert _key(sqlite_engine, env) == bytes.fromhex(KEY_A)
    assert not (tmp_path / "config").exists()


@pytest.mark.parametrize("value", [KEY_A[:62], "zz" * 32])
def test_a_short_or_malformed_key_in_the_environment_is_refused(sqlite_engine: Engine, value: str) -> None:
    message = _refused(sqlite_engine, {"POSTURE_SECRET_KEY": value}, "POSTURE_SECRET_KEY: ", "at least 64 hex digits")
    assert value not in message


def test_both_options_at_once_are_refused(sqlite_engine: Engine, tmp_path: Path) -> None:
    path = _write_key(tmp_path / "key", KEY_A)
    _refused(sqlite_engine, {"POSTURE_SECRET_KEY": KEY_A, "POSTURE_SECRET_KEY_FILE": str(path)}, "both set")


# -- one store, one key -----------------------------------------------------------------------------

def test_another_key_than_the_stores_is_refused(engine: Engine) -> None:
    """On SQLite and on a PostgreSQL store shared by collectors: the same key passes, another is refused."""
    assert _key(engine, {"POSTURE_SECRET_KEY": KEY_A}) == bytes.fromhex(KEY_A)
    _refused(engine, {"POSTURE_SECRET_KEY": KEY_B}, "not the secret key this database",
             check_id(bytes.fromhex(KEY_A)), "POSTURE_SECRET_KEY_FILE or POSTURE_SECRET_KEY")
    assert _key(engine, {"POSTURE_SECRET_KEY": KEY_A}) == bytes.fromhex(KEY_A)
    assert _meta(engine) == {"secret_key_check": check_id(bytes.fromhex(KEY_A))}


def test_a_store_whose_key_is_elsewhere_does_not_get_a_new_key_file(sqlite_engine: Engine, tmp_path: Path) -> None:
    """A second collector of a shared store, with no key configured: refused, and no key file made."""
    _key(sqlite_engine, {"POSTURE_SECRET_KEY": KEY_A})
    config = tmp_path / "config"
    _refused(sqlite_engine, {"XDG_CONFIG_HOME": str(config)}, "not here", str(config / "posture" / "secret.key"))
    assert not (config / "posture" / "secret.key").exists()


def test_the_cli_refuses_a_wrong_key_with_one_line_and_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "posture.db"
    manifests = _manifest(tmp_path)
    first = _collect(db, manifests, POSTURE_SECRET_KEY=KEY_A)
    assert first.returncode == 0, first.stderr
    runs = _runs(db)
    wrong = _collect(db, manifests, POSTURE_SECRET_KEY=KEY_B)
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr.count("\n") == 1 and "not the secret key this database" in wrong.stderr
    assert KEY_B not in wrong.stderr and _runs(db) == runs


def _db_command(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POSTURE_")}
    return subprocess.run([sys.executable, "-m", "posture.cli.main", "db", *args, "--db", f"sqlite:///{db}"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=240)


def test_a_lost_key_is_forgotten_on_request_and_then_a_new_key_is_accepted(tmp_path: Path) -> None:
    db = tmp_path / "posture.db"
    manifests = _manifest(tmp_path)
    assert _collect(db, manifests, POSTURE_SECRET_KEY=KEY_A).returncode == 0
    refused = _collect(db, manifests, POSTURE_SECRET_KEY=KEY_B)
    assert refused.returncode == 2 and "posture db forget-secret-key" in refused.stderr
    forgot = _db_command(db, "forget-secret-key")
    assert forgot.returncode == 0 and forgot.stdout.endswith(": secret key forgotten\n"), forgot.stderr
    assert _collect(db, manifests, POSTURE_SECRET_KEY=KEY_B).returncode == 0  # the new key is recorded
    assert _collect(db, manifests, POSTURE_SECRET_KEY=KEY_A).returncode == 2  # and is now the only one


def test_forgetting_a_store_without_a_key_says_so(tmp_path: Path) -> None:
    done = _db_command(tmp_path / "posture.db", "forget-secret-key")
    assert done.returncode == 0 and done.stdout.endswith(": no secret key recorded\n"), done.stderr


# -- the previous release's key, kept in the store --------------------------------------------------

def _legacy(engine: Engine, key: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('secret_hash_key', :v)"), {"v": key})


def test_a_legacy_key_moves_to_the_key_file_and_leaves_no_byte_in_the_database(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    _legacy(sqlite_engine, KEY_A)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    assert _key(sqlite_engine, env) == bytes.fromhex(KEY_A)  # same key: secret fingerprints continue
    assert (tmp_path / "config" / "posture" / "secret.key").read_text().strip() == KEY_A
    assert _meta(sqlite_engine) == {"secret_key_check": check_id(bytes.fromhex(KEY_A))}
    sqlite_engine.dispose()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("posture.db*"))
    assert KEY_A.encode() not in stored and bytes.fromhex(KEY_A) not in stored


def test_without_secure_delete_the_bytes_would_stay(sqlite_engine: Engine, tmp_path: Path) -> None:
    """The other side of the byte check above: a plain DELETE leaves the key in the file."""
    _legacy(sqlite_engine, KEY_A)
    with sqlite_engine.begin() as conn:
        conn.execute(text("PRAGMA secure_delete = OFF"))
        conn.execute(text("DELETE FROM meta WHERE key = 'secret_hash_key'"))
    sqlite_engine.dispose()
    assert KEY_A.encode() in b"".join(p.read_bytes() for p in tmp_path.glob("posture.db*"))


def test_a_legacy_key_moves_to_a_named_key_file_that_does_not_exist_yet(engine: Engine, tmp_path: Path) -> None:
    """The upgrade of a store shared by collectors (SQLite and PostgreSQL)."""
    _legacy(engine, KEY_A)
    path = tmp_path / "shared" / "posture.key"
    assert _key(engine, {"POSTURE_SECRET_KEY_FILE": str(path)}) == bytes.fromhex(KEY_A)
    assert path.read_text().strip() == KEY_A and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _meta(engine) == {"secret_key_check": check_id(bytes.fromhex(KEY_A))}


def test_a_legacy_key_that_differs_from_the_configured_one_is_refused_and_kept(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    _legacy(sqlite_engine, KEY_A)
    _refused(sqlite_engine, {"POSTURE_SECRET_KEY": KEY_B}, "previous release's secret key",
             "set POSTURE_SECRET_KEY_FILE (not POSTURE_SECRET_KEY) to a path with no file yet")
    assert _meta(sqlite_engine) == {"secret_hash_key": KEY_A}  # nothing changed: the choice is the operator's
    assert _key(sqlite_engine, {"POSTURE_SECRET_KEY": KEY_A}) == bytes.fromhex(KEY_A)  # the same key is accepted
    assert "secret_hash_key" not in _meta(sqlite_engine)


# -- a stolen database ------------------------------------------------------------------------------

def _manifest(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "api.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: shop}\n"
        "spec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n"
        "    spec:\n      containers:\n      - name: api\n        image: shop/api:1\n"
        f"        env:\n        - {{name: DB_PASSWORD, value: '{SECRET}'}}\n"
    )
    return folder


def _collect(db: Path, manifests: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POSTURE_")} | env
    return subprocess.run(
        [sys.executable, "-m", "posture.cli.main", "collect", "--db", f"sqlite:///{db}", "--manifests",
         str(manifests), "--manifests-cluster", "prod"],
        cwd=ROOT, env=environ, capture_output=True, text=True, timeout=240,
    )


def _runs(db: Path) -> int:
    engine = make_engine(resolve_url(f"sqlite:///{db}"))
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM collection_run")).scalar_one())
    finally:
        engine.dispose()


def _candidate_keys(stored: bytes, meta: Mapping[str, str]) -> set[bytes]:
    """Everything in a copy of the database that could be a key: every meta value, every hex string."""
    found = {m.group() for m in re.finditer(rb"[0-9a-fA-F]{16,}", stored)}
    keys = {bytes.fromhex(h[: len(h) // 2 * 2].decode()) for h in found} | found
    return keys | {v.encode() for v in meta.values()} | {bytes.fromhex(v) for v in meta.values()
                                                          if re.fullmatch(r"([0-9a-f]{2})+", v)}


def test_the_database_alone_does_not_verify_a_guessed_secret(tmp_path: Path, fresh_config_dir: Path) -> None:
    db = tmp_path / "posture.db"
    done = _collect(db, _manifest(tmp_path))
    assert done.returncode in (0, 3), done.stderr
    stolen = b"".join(p.read_bytes() for p in tmp_path.glob("posture.db*"))
    engine = make_engine(resolve_url(f"sqlite:///{db}"))
    try:
        meta = _meta(engine)
    finally:
        engine.dispose()
    assert SECRET.encode() not in stolen

    def verifies(key: bytes) -> bool:
        return hmac.new(key, SECRET.encode(), hashlib.sha256).hexdigest().encode() in stolen

    candidates = _candidate_keys(stolen, meta)
    assert len(candidates) > 10  # digests, ids and the key check id were all tried
    assert not any(verifies(key) for key in candidates)
    real = bytes.fromhex((fresh_config_dir / "posture" / "secret.key").read_text())
    assert real not in candidates and verifies(real)  # with the key file, the guess is confirmed
