"""Reading untrusted report files safely: size caps, gzip-bomb guard, nesting limit, YAML alias budget.

Reports come from CI artefacts, chat attachments and other people's scanners. Everything here turns
a bad file into one :class:`CollectorError` line naming the file and the problem, before any parser
sees it: a file larger than the cap; a gzip stream that inflates past its own lower cap or, once past
a few MiB, by more than any real report compresses (a bomb is a small file that inflates a lot: it
is refused after a few MiB, not at the cap); text that is not UTF-8; JSON that does not parse or
nests deeper than any real report does; YAML whose aliases expand past the budget every YAML input
shares (:mod:`collectors.yamlaliases`: the billion-laughs shape).
"""

from __future__ import annotations

import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson
import yaml

from collectors import yamlaliases
from posture.filekinds import special_file
from posture.records import CollectorError

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = b"\xef\xbb\xbf"
_CHUNK = 1 << 20
_FEED = 64 * 1024  # compressed bytes fed at a time, so the ratio is judged as the stream goes
STDIN = "-"


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on one input; the defaults hold a 20,000-CVE Trivy report with room to spare."""

    max_bytes: int = 256 * 1024 * 1024
    max_depth: int = 64
    #: Most a gzip'd report may inflate to: the inflated text is held whole while it is parsed.
    max_inflated: int = 128 * 1024 * 1024
    #: Past ``ratio_floor`` inflated bytes, more than this many per compressed byte is a bomb: JSON
    #: reports compress 10-30x, a run of one repeated byte (the bomb's shape) about 1000x.
    max_ratio: int = 100
    ratio_floor: int = 8 * 1024 * 1024


DEFAULT_LIMITS = Limits()


def display_name(path: str) -> str:
    return "stdin" if path == STDIN else path


def read_bytes(path: str, limits: Limits = DEFAULT_LIMITS) -> bytes | bytearray:
    """The file's content (``-`` is stdin), gunzipped when it starts with the gzip magic."""
    name = display_name(path)
    if path == STDIN:
        raw = _read_capped(sys.stdin.buffer, name, limits.max_bytes)
    else:
        problem = special_file(path)  # a FIFO would block the open forever, a device stream without end
        if problem:
            raise CollectorError(f"{name}: {problem}")
        try:
            size = os.stat(path).st_size
            if size > limits.max_bytes:
                raise CollectorError(f"{name}: file is too large ({size} bytes, limit {limits.max_bytes})")
            with open(path, "rb") as handle:
                raw = _read_capped(handle, name, limits.max_bytes)
        except FileNotFoundError:
            raise CollectorError(f"{name}: no such file") from None
        except PermissionError:
            raise CollectorError(f"{name}: permission denied") from None
        except OSError as exc:
            raise CollectorError(f"{name}: cannot read: {exc.strerror or exc}") from None
    content: bytes | bytearray = gunzip(raw, name, limits) if raw.startswith(_GZIP_MAGIC) else raw
    if not content or content.isspace():  # no strip(): it would copy a file of up to the cap
        raise CollectorError(f"{name}: file is empty")
    return content


def _read_capped(handle: IO[bytes], name: str, cap: int) -> bytes:
    data = handle.read(cap + 1)
    if len(data) > cap:
        raise CollectorError(f"{name}: input is too large (more than {cap} bytes)")
    return data


def gunzip(raw: bytes, name: str, limits: Limits = DEFAULT_LIMITS) -> bytearray:
    """Inflate every gzip member into one buffer (no copy after), refusing a bomb as soon as it shows.

    The stream is fed a slice at a time and at most 1 MiB is inflated per call, so what is held is
    bounded by the output so far, checked after every call against the cap and the ratio guard.
    """
    cap = min(limits.max_bytes, limits.max_inflated)
    out = bytearray()
    view = memoryview(raw)
    offset = 0  # compressed bytes fed so far
    while offset < len(raw):
        inflater = zlib.decompressobj(wbits=31)
        pending: bytes | memoryview = b""
        try:
            while not inflater.eof:
                if not pending and offset < len(raw):
                    pending = view[offset : offset + _FEED]
                    offset += len(pending)
                produced = inflater.decompress(pending, _CHUNK) if pending else inflater.flush(_CHUNK)
                out += produced
                pending = inflater.unconsumed_tail
                _check_inflated(len(out), offset - len(pending), cap, limits, name)
                if not produced and not pending and offset >= len(raw):
                    break
        except zlib.error as exc:
            raise CollectorError(f"{name}: corrupt gzip data ({exc})") from None
        if not inflater.eof:
            raise CollectorError(f"{name}: gzip data is truncated")
        offset -= len(inflater.unused_data)  # back to the start of the next member
        if not raw.startswith(_GZIP_MAGIC, offset):
            break  # trailing padding after the last member, as some tools write
    return out


def _check_inflated(size: int, consumed: int, cap: int, limits: Limits, name: str) -> None:
    if size > cap:
        raise CollectorError(f"{name}: gzip content inflates past the limit of {cap} bytes")
    if size > limits.ratio_floor and size > limits.max_ratio * max(consumed, 1):
        raise CollectorError(
            f"{name}: gzip content inflates more than {limits.max_ratio} times its compressed size "
            f"(a gzip bomb?); refused after {size} bytes"
        )


def looks_like_json(raw: bytes | bytearray) -> bool:
    head = bytes(raw[:_CHUNK]).lstrip(_BOM + b" \t\r\n")[:1]  # a slice: lstrip would copy the whole text
    return head in (b"{", b"[")


def parse_json(raw: bytes | bytearray, name: str, limits: Limits = DEFAULT_LIMITS) -> Any:
    try:
        doc = orjson.loads(memoryview(raw)[len(_BOM) :] if raw.startswith(_BOM) else raw)
    except orjson.JSONDecodeError as exc:
        raise CollectorError(f"{name}: not valid JSON ({_first_line(str(exc))})") from None
    check_depth(doc, name, limits.max_depth)
    return doc


def parse_yaml_documents(raw: bytes | bytearray, name: str, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CollectorError(f"{name}: not UTF-8 text") from None
    try:
        docs = [d for d in yamlaliases.load_all(text) if d is not None]
    except RecursionError:
        raise CollectorError(f"{name}: nesting is deeper than {limits.max_depth} levels") from None
    except yamlaliases.AliasBudgetExceeded as exc:
        raise CollectorError(f"{name}: {exc}") from None
    except yaml.YAMLError as exc:
        raise CollectorError(f"{name}: not valid JSON or YAML ({_first_line(str(exc))})") from None
    for doc in docs:
        check_depth(doc, name, limits.max_depth)
    return docs


def load_documents(raw: bytes | bytearray, name: str, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    """JSON when the content starts like JSON (one document), else YAML (one or more documents)."""
    if looks_like_json(raw):
        return [parse_json(raw, name, limits)]
    docs = parse_yaml_documents(raw, name, limits)
    if not docs:
        raise CollectorError(f"{name}: file holds no document")
    return docs


def check_depth(doc: Any, name: str, max_depth: int) -> None:
    """Refuse structures nested deeper than ``max_depth``.

    Level by level rather than recursively (a deep input cannot exhaust our stack), and with one list
    comprehension per level (not one per node) because a 20,000-CVE report has a few hundred thousand
    containers to visit.
    """
    level: list[Any] = [doc] if type(doc) is dict or type(doc) is list else []
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            raise CollectorError(f"{name}: nesting is deeper than {max_depth} levels")
        level = [
            value
            for node in level
            for value in (node.values() if type(node) is dict else node)
            if type(value) is dict or type(value) is list
        ]


def file_stem(path: str) -> str:
    """A short stable name for a report file (``bench.json.gz`` → ``bench``), ``stdin`` for ``-``."""
    if path == STDIN:
        return "stdin"
    stem = Path(path).name
    for suffix in (".gz", ".json", ".yaml", ".yml", ".log", ".sarif", ".cdx"):
        stem = stem.removesuffix(suffix)
    return stem or Path(path).name


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"
