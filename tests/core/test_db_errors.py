"""Database and input-file failures are one line on stderr (issue 23, item 9), never a traceback.

Each case runs the real CLI in a subprocess with a timeout, so a regression that hangs (a FIFO
opened for reading) fails the test instead of hanging the suite. The exit codes are the README's:
2 for a database Posture cannot use or a file it refuses up front, 1 for a database that failed
(read-only, full, locked, unreachable) or a report that failed its run.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from posture.db import redact_url, resolve_url
from posture.filekinds import special_file

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "tests" / "data" / "reports" / "trivy" / "trivy-alpine-39.json"
OTHER_REPORT = ROOT / "tests" / "data" / "reports" / "trivy" / "trivy-centos-7.json"
DEADLINE = 60


def posture(*args: str, stdin: str | None = None, limit: Callable[[], None] | None = None) -> tuple[int, list[str]]:
    """Exit code and stderr lines of one CLI run, which must end within DEADLINE seconds."""
    proc = subprocess.run(
        [sys.executable, "-m", "posture.cli.main", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE, input=stdin, preexec_fn=limit,
    )
    return proc.returncode, proc.stderr.splitlines()


def one_error(*args: str, limit: Callable[[], None] | None = None) -> tuple[int, str]:
    code, lines = posture(*args, limit=limit)
    assert len(lines) == 1, lines
    assert lines[0].startswith("posture: error: ") and "Traceback" not in lines[0]
    return code, lines[0]


def collect(db: str | Path, report: Path = REPORT) -> list[str]:
    return ["collect", "--db", str(db), "--report", str(report)]


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


@pytest.fixture
def unix_socket(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "s.json"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        yield path


# --- what --db points at ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [os.urandom(8192), b"just some text, not a database\n" * 10])
def test_a_file_that_is_not_sqlite(tmp_path: Path, content: bytes) -> None:
    db = tmp_path / "notes.db"
    db.write_bytes(content)
    code, line = one_error(*collect(db))
    assert code == 2 and line.endswith("not a SQLite database (is --db the right file?)")
    assert db.read_bytes() == content  # nothing written into it


def test_special_files_as_database(fifo: Path, unix_socket: Path) -> None:
    for path, kind in ((fifo, "a FIFO (named pipe)"), (Path("/dev/null"), "a character device"),
                       (unix_socket, "a socket")):
        code, line = one_error(*collect(path))
        assert code == 2 and line.endswith(f"{path}: is {kind}, not a regular file"), line


def test_a_locked_database_past_the_busy_timeout(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    assert posture(*collect(db))[0] == 0
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer that does not let go
    try:
        code, line = one_error(*collect(f"sqlite:///{db}?timeout=1", OTHER_REPORT))
    finally:
        holder.close()
    assert code == 1 and "locked: another process held its write lock for 1 s" in line
    assert posture(*collect(f"sqlite:///{db}?timeout=1", OTHER_REPORT))[0] == 0  # once it is released


def test_a_bad_busy_timeout_is_a_usage_error(tmp_path: Path) -> None:
    code, line = one_error(*collect(f"sqlite:///{tmp_path / 'p.db'}?timeout=soon"))
    assert code == 2 and "timeout='soon' in the URL is not a number of seconds" in line


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A small filesystem of the test's own, unmounted afterwards (needs root, as in CI's container)."""
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        if os.environ.get("POSTURE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_a_read_only_database(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "8m") as mnt:
        db = mnt / "p.db"
        assert posture(*collect(db))[0] == 0
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        for target in (db, mnt / "new.db"):  # an existing file, and a new one in a read-only directory
            code, line = one_error(*collect(target, OTHER_REPORT))
            assert code == 1 and "read-only: Posture cannot write to it" in line, line


def test_a_full_disk(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full", "4m") as mnt:
        db = mnt / "p.db"
        assert posture(*collect(db))[0] == 0
        with open(mnt / "filler", "wb") as filler, contextlib.suppress(OSError):
            while True:  # take every byte left
                filler.write(b"\0" * 65536)
                filler.flush()
        code, line = one_error(*collect(db, OTHER_REPORT))
        assert code == 1 and "the disk is full" in line, line


def test_a_file_size_limit(tmp_path: Path) -> None:
    """RLIMIT_FSIZE (``ulimit -f``): the write fails as SQLite's I/O error, still one line."""

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 * 1024, 16 * 1024))

    code, line = one_error(*collect(tmp_path / "p.db"), limit=small_files)
    assert code == 1 and "I/O error, the disk may be full or the file too large" in line, line


def test_a_read_only_postgresql_database(fresh_postgres_db: str) -> None:
    read_only = f"{fresh_postgres_db}?options=-c%20default_transaction_read_only%3Don"
    code, line = one_error(*collect(read_only))
    assert code == 1 and "read-only: Posture cannot write to it" in line, line
    assert posture(*collect(fresh_postgres_db))[0] == 0


# --- credentials in a database URL -------------------------------------------------------------------------------

SECRETS = ("pw-userinfo", "pw-query", "pw-ssl", "/secret/client.key", "/secret/pgpass")
HOSTILE_URL = (
    "postgresql://alice:pw-userinfo@127.0.0.1:1/posture?password=pw-query&sslpassword=pw-ssl"
    "&sslkey=/secret/client.key&passfile=/secret/pgpass&sslmode=disable"
)


def test_no_credential_of_a_url_is_echoed() -> None:
    code, line = one_error(*collect(HOSTILE_URL))
    assert code == 1 and "sslmode=disable" in line and "alice" in line  # what is harmless is still shown
    assert not [secret for secret in SECRETS if secret in line], line


def test_an_unparseable_url_is_not_echoed() -> None:
    code, line = one_error(*collect("postgresql://alice:pw-userinfo@db:port/x?password=pw-query"))
    assert code == 2 and "database URL is not valid" in line
    assert "pw-" not in line


def test_redact_url_hides_every_query_value_but_the_harmless_ones() -> None:
    shown = redact_url(resolve_url(HOSTILE_URL))
    assert shown == (
        "postgresql+psycopg://alice:***@127.0.0.1:1/posture?passfile=***&password=***&sslkey=***"
        "&sslmode=disable&sslpassword=***"
    )


# --- special files as inputs -----------------------------------------------------------------------------------


FILE_OR_DIR = "a regular file or a directory"


def test_special_file_decides_on_the_kind_alone(tmp_path: Path, fifo: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert special_file(tmp_path / "f") is None
    assert special_file(tmp_path / "missing") is None  # the caller's open says what is wrong
    assert special_file(tmp_path, directory_ok=True) is None
    assert special_file(tmp_path) == "is a directory, not a regular file"
    assert special_file(fifo, directory_ok=True) == f"is a FIFO (named pipe), not {FILE_OR_DIR}"


def test_special_files_as_inputs(tmp_path: Path, fifo: Path, unix_socket: Path) -> None:
    db = tmp_path / "p.db"
    cases = [
        (["--report", str(fifo)], 1, f"{fifo}: is a FIFO (named pipe), not a regular file"),
        (["--report", "/dev/zero"], 1, "/dev/zero: is a character device, not a regular file"),
        (["--report", str(unix_socket)], 1, f"{unix_socket}: is a socket, not a regular file"),
        (["--docker-snapshot", str(fifo)], 2, f"docker snapshot {fifo}: is a FIFO (named pipe), not a regular file"),
        (["--docker-snapshot", "/dev/zero"], 2, "docker snapshot /dev/zero: is a character device, not a regular file"),
        (["--manifests", str(fifo)], 2, f"manifests: {fifo}: is a FIFO (named pipe), not {FILE_OR_DIR}"),
        (["--manifests", "/dev/null"], 2, f"manifests: /dev/null: is a character device, not {FILE_OR_DIR}"),
    ]
    for args, want_code, want in cases:
        code, lines = posture("collect", "--db", str(db), *args)
        assert (code, len(lines)) == (want_code, 1), (args, lines)
        assert lines[0].endswith(want), (args, lines)


def test_special_files_inside_a_manifest_set(tmp_path: Path) -> None:
    """A FIFO in a set, or a link to one, is never opened: a problem line each, the run partial (exit 3)."""
    root = tmp_path / "set"
    root.mkdir()
    (root / "ok.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n")
    os.mkfifo(tmp_path / "outside")
    os.mkfifo(root / "pipe.yaml")
    (root / "link.yaml").symlink_to(tmp_path / "outside")
    code, lines = posture("collect", "--db", str(tmp_path / "p.db"), "--manifests", str(root))
    assert code == 3
    assert sorted(line.split(": ", 3)[-1] for line in lines) == [
        f"{root / 'link.yaml'}: cannot read (is a FIFO (named pipe), not a regular file)",
        f"{root / 'pipe.yaml'}: cannot read (is a FIFO (named pipe), not a regular file)",
    ]


def test_a_report_on_stdin_is_still_read(tmp_path: Path) -> None:
    code, lines = posture("collect", "--db", str(tmp_path / "p.db"), "--report", "-", stdin=REPORT.read_text())
    assert (code, lines) == (0, [])
