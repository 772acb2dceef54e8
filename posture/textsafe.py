"""The one sanitizer for untrusted text (names, labels, env keys, report text) leaving Posture.

A container label can carry an OSC 52 escape that writes the operator's clipboard, ``ESC[2J`` that
clears the screen, bidi overrides that make ``evil.sh`` read as ``hs.live``, or zero-width
characters that make ``payments`` and ``pay\u200bments`` look the same in a chat channel. Which
characters are dangerous is decided here, once (:data:`UNSAFE`); what happens to them depends on
where the text goes:

- **Text a person reads** (terminal tables and lines, the TUI, chat messages, CSV, Markdown, HTML,
  the text summary): :func:`clean` makes each one *visible* as ``<U+XXXX>``. Nothing reaches the
  terminal that it could interpret, and a look-alike name differs visibly from the real one (removal
  would make ``pay\u200bments`` equal ``payments``). Line breaks and tabs fold to one space, unless
  the text is ``multiline``; ``\\r\\n`` counts as a line break.
- **Machine formats** (JSON, SARIF): :func:`json_text` writes each one as a JSON ``\\uXXXX`` escape,
  so the data a script reads back is exact and no raw character is in the file.

Markup is never interpreted either: callers wrap the result in ``rich.text.Text`` (which does not
parse markup), and the CLI console has markup off.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

#: Every character Posture never writes raw from untrusted text:
#: C0 controls (not \t, \n), DEL and C1 controls (U+009B is a one-byte CSI);
#: bidi marks, embeddings, overrides and isolates (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069);
#: invisible and zero-width characters: soft hyphen, combining grapheme joiner, Hangul fillers, Khmer
#: inherent vowels, Mongolian vowel separator, U+200B-U+200D, line/paragraph separators, word joiner and
#: invisible operators (U+2060-U+2064), deprecated format characters (U+206A-U+206F), BOM / zero-width
#: no-break space, interlinear annotation marks, and the Unicode tag characters (invisible ASCII).
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f"
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\u3164\ufeff\uffa0\ufff9-\ufffb"
    "\U000e0000-\U000e007f]"
)
_LINEBREAKS = re.compile("\r\n|[\n\t]")
_MARK = "<U+"
_MARKS = re.compile(r"<U\+[0-9A-F]{4,5}>")


def _visible(match: re.Match[str]) -> str:
    return f"{_MARK}{ord(match.group()):04X}>"


def clean(text: object, *, multiline: bool = False, limit: int | None = None) -> str:
    """Text for a person: unsafe characters shown as ``<U+XXXX>``, line breaks folded unless ``multiline``.

    ``limit`` counts the visible result and never cuts a ``<U+XXXX>`` mark in half (a half mark would
    read as part of the name).
    """
    value = str(text)
    value = value.replace("\r\n", "\n") if multiline else _LINEBREAKS.sub(" ", value)
    value = UNSAFE.sub(_visible, value)
    if limit is not None and len(value) > limit:
        end = max(limit - 1, 0)
        inside = next((m.start() for m in _MARKS.finditer(value, max(end - 9, 0)) if m.start() < end < m.end()), end)
        value = value[:inside] + "…"
    return value


def _json_escape(match: re.Match[str]) -> str:
    """A JSON escape for one character; above the BMP, as its UTF-16 surrogate pair (RFC 8259 §7)."""
    units = match.group().encode("utf-16-be")
    return "".join(f"\\u{int.from_bytes(units[i:i + 2], 'big'):04x}" for i in range(0, len(units), 2))


def json_text(data: Any) -> str:
    """``data`` as indented JSON with every unsafe character escaped: exact for a parser, inert in a file.

    Unsafe characters can only occur inside JSON strings (the syntax itself is ASCII), so escaping them
    in the serialised document is the same as escaping them in each string.
    """
    return UNSAFE.sub(_json_escape, orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode()) + "\n"


def json_line(data: Any) -> str:
    """``data`` as compact one-line JSON, unsafe characters escaped as in :func:`json_text` (event streams:
    a JSON-lines file, a syslog message, a webhook body). ASCII text needs only DEL escaped (orjson
    escapes every C0 control), which skips the scan for most documents of a 100,000-event stream."""
    text = orjson.dumps(data, default=str).decode()
    if text.isascii() and "\x7f" not in text:
        return text
    return UNSAFE.sub(_json_escape, text)
