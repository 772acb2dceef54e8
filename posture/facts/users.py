"""Whether the user a container runs as is root (UID 0), decided once for IMG-ROOT-USER, the score's
``root`` privilege and the TUI's trace.

``USER`` in an image or ``--user`` on a container is ``user[:group]``; only the user part decides,
whatever the group (``0:1000`` is root, ``1000:0`` is not). Empty means no USER at all, and an image
without one runs as root. A numeric user is a UID the runtime reads as a number (runc's
``strconv.Atoi``), so ``00`` and ``+0`` are root as well.
"""

from __future__ import annotations

import re

_ROOT_NAMES = frozenset({"", "root"})
_NUMBER = re.compile(r"^[+-]?[0-9]+$")


def is_root_user(user: str) -> bool:
    """``""``, ``root``, ``0``, ``0:0``, ``root:staff``, ``00`` → True; ``app``, ``1000``, ``1000:0`` → False."""
    name = user.strip().split(":", 1)[0]
    return name in _ROOT_NAMES or (_NUMBER.match(name) is not None and int(name) == 0)
