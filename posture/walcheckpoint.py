"""WAL checkpoints of a SQLite store, off the committing thread.

SQLite folds its write-ahead log back into the database file when a commit leaves the log over
1,000 pages, inside that commit: after a transaction that rewrote 100,000 findings that is a fifth
of a second spent after the work is already durable in the log. As the SQLite documentation
suggests for writers that care about latency (https://www.sqlite.org/wal.html#ckpt), Posture's
connections turn the automatic checkpoint off, and after write transactions that changed many rows
a background thread runs a PASSIVE checkpoint, which never blocks readers or writers. The thread is
not a daemon, so a command still waits for it before exiting: the log is folded back every run, not
left to grow. Smaller commits accumulate until they add up to the same amount; when the last
connection to a database closes, SQLite checkpoints what is left.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

log = logging.getLogger(__name__)

#: Rows changed (as SQLite counts them) that make a checkpoint due: about what fills 1,000 pages
#: of log, SQLite's own threshold, with findings' evidence.
CHECKPOINT_ROWS = 5_000
_BUSY_S = 60.0


class Checkpointer:
    """One SQLite database file's background checkpoints."""

    def __init__(self, path: str) -> None:
        self._uri = Path(path).resolve().as_uri() + "?mode=rw"  # never creates a file that was removed
        self._lock = threading.Lock()
        self._pending = 0
        self._thread: threading.Thread | None = None

    def count(self, rows: int) -> None:
        """A transaction is committing ``rows`` changes."""
        with self._lock:
            self._pending += rows

    def start_if_due(self) -> None:
        """After a commit: a checkpoint in the background once enough changes have accumulated."""
        with self._lock:
            if self._pending < CHECKPOINT_ROWS or (self._thread is not None and self._thread.is_alive()):
                return
            self._pending = 0
            self._thread = threading.Thread(target=self._checkpoint, name="posture-wal-checkpoint")
            self._thread.start()

    def wait(self) -> None:
        """Until the checkpoint in progress, if any, is done."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()

    def _checkpoint(self) -> None:
        try:
            with closing(sqlite3.connect(self._uri, uri=True, timeout=_BUSY_S)) as connection:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # the database was removed, or is locked for longer: the next one will do
            log.debug("WAL checkpoint of %s skipped: %s", self._uri, exc)
