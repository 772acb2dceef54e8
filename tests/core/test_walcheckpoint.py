"""The write-ahead log is folded back in the background after big writes, never inside the commit.

What a checkpoint does is visible in the database file alone: rows still only in the log are
missing from a copy of the main file without its ``-wal``.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from posture.db import make_engine, resolve_url, settle, write_session
from posture.walcheckpoint import CHECKPOINT_ROWS, Checkpointer


def _rows_in_main_file(db: Path, tmp_path: Path) -> int:
    copy = tmp_path / "main-only.db"
    shutil.copyfile(db, copy)  # the main file alone: whatever is only in the log is not there
    with closing(sqlite3.connect(copy)) as conn:
        found = conn.execute("SELECT count(*) FROM t").fetchone()
    return int(found[0])


def _engine_on_a_table(db: Path) -> Engine:
    with closing(sqlite3.connect(db)) as conn:  # closing the only connection folds the log back
        conn.execute("CREATE TABLE t (n INTEGER)")
        conn.commit()
    return make_engine(resolve_url(str(db)))


def test_big_writes_are_checkpointed_in_the_background_small_ones_wait(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    engine = _engine_on_a_table(db)
    with write_session(engine) as session:
        session.execute(text("INSERT INTO t VALUES (:n)"), [{"n": n} for n in range(100)])
    settle(engine)
    assert _rows_in_main_file(db, tmp_path) == 0  # 100 rows are not due
    with engine.connect() as conn:  # and no commit folds the log back itself
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0

    with write_session(engine) as session:
        session.execute(text("INSERT INTO t VALUES (:n)"), [{"n": n} for n in range(CHECKPOINT_ROWS)])
    settle(engine)
    assert _rows_in_main_file(db, tmp_path) == CHECKPOINT_ROWS + 100
    engine.dispose()


def test_a_rolled_back_write_counts_nothing(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    engine = _engine_on_a_table(db)
    try:
        with write_session(engine) as session:
            session.execute(text("INSERT INTO t VALUES (:n)"), [{"n": n} for n in range(CHECKPOINT_ROWS)])
            raise RuntimeError("abandon")
    except RuntimeError:
        pass
    with write_session(engine) as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
    settle(engine)
    assert _rows_in_main_file(db, tmp_path) == 0
    engine.dispose()


def test_a_removed_database_is_neither_checkpointed_nor_recreated(tmp_path: Path) -> None:
    gone = tmp_path / "gone.db"
    checkpointer = Checkpointer(str(gone))
    checkpointer.count(CHECKPOINT_ROWS)
    checkpointer.start_if_due()
    checkpointer.wait()
    assert not gone.exists()
