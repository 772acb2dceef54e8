"""Load YAML documents several times faster than ``yaml.load`` with libyaml, for manifest-sized input.

``yaml.CSafeLoader`` parses in C but resolves every scalar and builds every node in Python, which
made loading 70% of the manifest benchmark. Here libyaml's events are turned into dicts and lists
directly, and a plain scalar's value (``"80"`` → 80, ``"true"`` → True) is resolved once per distinct
spelling, with PyYAML's own resolver and constructors, then reused. Anything unusual (an explicit
tag, a merge key ``<<``, a complex mapping key, an alias) is handed to the standard safe loader, so
the result is always what ``yaml.safe_load`` gives, except that timestamps stay strings (as the API's
JSON has them) and aliases are expanded only within :mod:`collectors.yamlaliases`' budget.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from collectors import yamlaliases

# libyaml's loader is several times faster; the pure-Python one is the fallback when PyYAML lacks it.
Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_DEFAULT_TAGS = frozenset({None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})
_NO_KEY = object()
_CACHE_LIMIT = 200_000


class _Unusual(Exception):
    """The document needs the full safe loader."""


class _Scalars:
    """Plain scalar text → Python value, resolved like PyYAML's SafeLoader and remembered."""

    def __init__(self) -> None:
        self._resolver = Resolver()
        self._constructor = SafeConstructor()
        self._values: dict[str, Any] = {}

    def plain(self, text: str) -> Any:
        try:
            return self._values[text]
        except KeyError:
            pass
        tag = self._resolver.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        if tag == _MERGE:
            raise _Unusual
        if tag in (_STR, _TIMESTAMP):
            value: Any = text
        else:
            value = self._constructor.yaml_constructors[tag](self._constructor, ScalarNode(tag, text))
        if len(self._values) >= _CACHE_LIMIT:
            self._values.clear()
        self._values[text] = value
        return value


_SCALARS = _Scalars()


class Unusual(Exception):
    """The text needs the full safe loader (see :func:`load_all`)."""


def load_documents(text: str) -> list[tuple[int, int, Any]]:
    """``(first line, content line, document)`` for every document of ``text``, lines counted from 1:
    where the document starts (its ``---``) and where its content starts (the object's first key,
    what a code review annotation points at).

    Raises :class:`Unusual` when a document needs the full safe loader, ``yaml.YAMLError`` when the
    text is not valid YAML.
    """
    try:
        return _build(text)
    except _Unusual:
        raise Unusual from None


def load_all(text: str) -> list[Any]:
    """Every document of ``text`` (None for an empty one); raises ``yaml.YAMLError`` like PyYAML."""
    try:
        return [document for _, _, document in _build(text)]
    except _Unusual:
        return yamlaliases.load_all(text)


def _build(text: str) -> list[tuple[int, int, Any]]:
    documents: list[tuple[int, int, Any]] = []
    first_line = content_line = 1
    stack: list[list[Any]] = []  # [container, pending mapping key]
    root: list[Any] = [None]
    scalars = _SCALARS

    def add(value: Any) -> None:
        if not stack:
            root[0] = value
            return
        frame = stack[-1]
        container = frame[0]
        if type(container) is list:
            container.append(value)
        elif frame[1] is _NO_KEY:
            if isinstance(value, (dict, list)):
                raise _Unusual
            frame[1] = value
        else:
            container[frame[1]] = value
            frame[1] = _NO_KEY

    events: Iterable[Any] = yaml.parse(text, Loader=Loader)
    for event in events:
        kind = type(event)
        if kind is ScalarEvent:
            if event.tag not in (None, "!"):
                raise _Unusual
            add(scalars.plain(event.value) if not event.style and event.implicit[0] else event.value)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            if event.tag not in _DEFAULT_TAGS:
                raise _Unusual
            if not stack:
                content_line = event.start_mark.line + 1
            new: dict[Any, Any] | list[Any] = {} if kind is MappingStartEvent else []
            add(new)
            stack.append([new, _NO_KEY])
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            stack.pop()
        elif kind is AliasEvent:
            raise _Unusual  # expanded by the budgeted loader, never here
        elif kind is DocumentStartEvent:
            first_line = content_line = event.start_mark.line + 1
        elif kind is DocumentEndEvent:
            documents.append((first_line, content_line, root[0]))
            root[0] = None
    return documents
