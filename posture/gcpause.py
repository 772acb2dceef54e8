"""Pausing Python's cyclic garbage collector around bulk work.

Parsing a 20,000-CVE report or a 10,000-pod list, and reconciling it, allocates millions of small
objects that form no reference cycles; the cyclic collector would rescan them again and again as
they accumulate, which measured 2–2.5× slower. Reference counting still frees everything.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Re-entrant: only the outermost pause re-enables the collector."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
