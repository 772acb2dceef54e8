"""Untrusted strings (names, labels, env keys, report text) made safe for a terminal.

A container label can carry an OSC 52 escape that writes the operator's clipboard, or bidi
overrides that make ``evil.sh`` read as ``hs.live``. Everything from a source passes through
:func:`clean` before it reaches a terminal; markup is never interpreted (callers wrap the result
in ``rich.text.Text``, which does not parse markup).
"""

from __future__ import annotations

import re

# C0 and C1 control characters and DEL, then the Unicode bidi embedding/override/isolate marks.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINEBREAKS = re.compile("[\n\t]")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: object, *, multiline: bool = False, limit: int | None = None) -> str:
    """Strip control and bidi characters; fold line breaks to spaces unless ``multiline``."""
    value = _BIDI.sub("", _CONTROL.sub("", str(text)))
    if not multiline:
        value = _LINEBREAKS.sub(" ", value)
    if limit is not None and len(value) > limit:
        value = value[: max(limit - 1, 0)] + "…"
    return value
