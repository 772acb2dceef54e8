"""Whether a path given on the command line is a file Posture may open: the one place that decides it.

Opening a FIFO for reading blocks until a writer comes (forever, for a stray ``mkfifo``), a
character device can stream without end, and a socket cannot be opened at all. Every path Posture
reads or stores into (``--report``, ``--docker-snapshot``, ``--manifests`` and the files of a set,
``--db``, ``--kev``/``--epss``) is looked at with ``stat`` first, never opened, and refused in one
line unless it is a regular file (or a directory, where one is expected).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def special_file(path: str | os.PathLike[str], *, directory_ok: bool = False) -> str | None:
    """The problem with ``path`` when it is not a regular file (``"is a FIFO (named pipe), not a regular
    file"``), else None. A path that cannot be looked at (missing, no permission, a dangling link) is
    None too: the caller's own open says what is wrong with it, as it did before."""
    try:
        mode = os.stat(Path(path)).st_mode
    except (OSError, ValueError):
        return None
    if stat.S_ISREG(mode) or (directory_ok and stat.S_ISDIR(mode)):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    wanted = "a regular file or a directory" if directory_ok else "a regular file"
    return f"is {kind}, not {wanted}"
