"""The exceptions file (schema version 1): accepted risks kept as code, next to what they accept.

A YAML file a team keeps in version control and reviews like code; Posture applies it on every run
(``posture collect --exceptions FILE`` or ``exceptions_file`` in the configuration) and a CI pipeline
lints it (``posture exceptions check FILE``). The schema is documented in ``docs/exceptions.md``.

This module only reads and writes the text: no database. Every problem is reported as
``PATH:LINE: problem``, all of them at once, so ``check`` can list every mistake in one pass; the
entries become :class:`posture.acceptance.Acceptance` records (source ``file``, key = the entry's
``id``, origin ``PATH:LINE``) that the store applies (:func:`posture.store.exceptions.apply_acceptances`).
Aliases are expanded within :mod:`collectors.yamlaliases`' budget, like every YAML Posture reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from collectors.yamlaliases import BudgetLoader
from posture.acceptance import Acceptance, Reach

VERSION = 1

#: A file field naming a scope dimension → the :class:`~posture.acceptance.Reach` field it sets.
SCOPE_FIELDS: dict[str, str] = {
    "finding": "fingerprint",
    "vulnerability": "vuln_id",
    "package": "package",
    "version": "version",
    "rule": "rule_id",
    "asset": "asset",
    "namespace": "namespace",
    "cluster": "cluster",
    "host": "host",
    "team": "team",
    "pattern": "pattern",
}

#: Longest text each field may hold (what the store keeps; a longer value is an error, never cut).
_LIMITS: dict[str, int] = {
    "id": 200, "owner": 256, "reason": 4000, "finding": 64, "vulnerability": 128, "aliases": 128,
    "package": 512, "version": 256, "rule": 128, "asset": 1024, "namespace": 256, "cluster": 256, "host": 256,
    "team": 256, "pattern": 1024,
}
_TEXT_FIELDS = ("id", "owner", "reason", *SCOPE_FIELDS)
_FIELDS = frozenset({*_TEXT_FIELDS, "created", "expires", "until_fix", "aliases"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def expiry_of(day: date) -> datetime:
    """An exception that ``expires`` on a day no longer holds from the start of that day (UTC)."""
    return datetime.combine(day, time(), UTC)


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry: its id, the day it says it was created, and what it accepts."""

    id: str
    created: date
    acceptance: Acceptance


@dataclass(frozen=True)
class ExceptionsFile:
    """A parsed file: the valid entries, and one ``PATH:LINE: problem`` line per problem found."""

    path: str
    entries: list[Entry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def acceptances(self) -> list[Acceptance]:
        return [e.acceptance for e in self.entries]

    @property
    def document(self) -> str:
        """The name the store knows the file by: its file name, so a checkout in another directory (a
        CI job's) updates the same exceptions instead of revoking them and creating new ones."""
        return Path(self.path).name


class _Problem(Exception):
    """A problem at a node (its line) or at a line number."""

    def __init__(self, at: Node | int, message: str) -> None:
        super().__init__(message)
        self.line = at if isinstance(at, int) else at.start_mark.line + 1


def read(path: str) -> ExceptionsFile:
    """The file at ``path``, parsed (a file that cannot be read is one error at line 1)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        return ExceptionsFile(path, errors=[f"{path}:1: cannot read: {reason}"])
    return parse(text, path)


def parse(text: str, path: str) -> ExceptionsFile:
    """Every entry of ``text`` and every problem, each with the line it is on."""
    loader = BudgetLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        return ExceptionsFile(path, errors=[f"{path}:{line}: invalid YAML: {exc.problem or exc.context}"])
    except yaml.YAMLError as exc:  # an alias budget exceeded: where the reader stopped
        return ExceptionsFile(path, errors=[f"{path}:{loader.get_mark().line + 1}: {exc}"])
    finally:
        loader.dispose()
    entries: list[Entry] = []
    errors: list[str] = []
    try:
        items = _top(root)
    except _Problem as exc:
        return ExceptionsFile(path, errors=[f"{path}:{exc.line}: {exc}"])
    first_line: dict[str, int] = {}
    for node in items:
        try:
            entry = _entry(loader, node, path)
        except _Problem as exc:
            errors.append(f"{path}:{exc.line}: {exc}")
            continue
        line = node.start_mark.line + 1
        if entry.id in first_line:
            errors.append(f"{path}:{line}: duplicate id {entry.id!r} (first at line {first_line[entry.id]})")
            continue
        first_line[entry.id] = line
        entries.append(entry)
    return ExceptionsFile(path, entries, errors)


def _top(root: Node | None) -> list[Node]:
    """The entries' nodes, once the top level says ``version: 1`` and holds only ``exceptions``."""
    if root is None:
        raise _Problem(1, "empty file: expected 'version: 1' and 'exceptions:'")
    fields = _mapping(root, "the file")
    unknown = sorted(set(fields) - {"version", "exceptions"})
    if unknown:
        raise _Problem(fields[unknown[0]][0], f"unknown field {unknown[0]!r} (expected version, exceptions)")
    if "version" not in fields:
        raise _Problem(root, "missing 'version: 1'")
    version = fields["version"][1]
    if not (isinstance(version, ScalarNode) and version.value == str(VERSION)):
        raise _Problem(version, f"unsupported version {_shown(version)} (this Posture reads version {VERSION})")
    if "exceptions" not in fields:
        raise _Problem(root, "missing 'exceptions:' (a list, possibly empty: [])")
    items = fields["exceptions"][1]
    if isinstance(items, ScalarNode) and items.tag.endswith(":null"):
        return []
    if not isinstance(items, SequenceNode):
        raise _Problem(items, "'exceptions' must be a list of entries")
    return list(items.value)


def _mapping(node: Node, what: str) -> dict[str, tuple[Node, Node]]:
    """A mapping's fields by name (key node, value node); a duplicate field is an error, not the last wins."""
    if not isinstance(node, MappingNode):
        raise _Problem(node, f"{what} must be a mapping of fields")
    fields: dict[str, tuple[Node, Node]] = {}
    for key, value in node.value:
        if not isinstance(key, ScalarNode):
            raise _Problem(key, "a field name must be text")
        if key.value in fields:
            raise _Problem(key, f"duplicate field {key.value!r}")
        fields[key.value] = (key, value)
    return fields


def _entry(loader: BudgetLoader, node: Node, path: str) -> Entry:
    fields = _mapping(node, "an entry")
    unknown = sorted(set(fields) - _FIELDS)
    if unknown:
        raise _Problem(fields[unknown[0]][0], f"unknown field {unknown[0]!r}")
    for required in ("id", "owner", "reason", "created"):
        if required not in fields:
            raise _Problem(node, f"missing {required!r}")
    text = {name: _text(loader, fields[name][1], name) for name in _TEXT_FIELDS if name in fields}
    created = _date(loader, fields["created"][1], "created")
    expires = _date(loader, fields["expires"][1], "expires") if "expires" in fields else None
    until_fix = _flag(loader, fields["until_fix"][1]) if "until_fix" in fields else False
    if expires is None and not until_fix:
        raise _Problem(node, "missing expiry: give 'expires: YYYY-MM-DD' or 'until_fix: true'")
    if expires is not None and until_fix:
        raise _Problem(fields["until_fix"][0], "give either 'expires' or 'until_fix: true', not both")
    aliases = _aliases(loader, fields["aliases"][1]) if "aliases" in fields else ()
    try:
        scope = Reach(aliases=aliases, **{SCOPE_FIELDS[k]: v for k, v in text.items() if k in SCOPE_FIELDS})
    except ValueError as exc:
        raise _Problem(node, str(exc)) from None
    acceptance = Acceptance(
        scope, text["reason"], text["owner"], "file", key=text["id"], origin=f"{path}:{node.start_mark.line + 1}",
        expires_at=expiry_of(expires) if expires else None, until_fix=until_fix, created_at=expiry_of(created),
    )
    return Entry(text["id"], created, acceptance)


def _value(loader: BudgetLoader, node: Node) -> Any:
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, yaml.YAMLError) as exc:  # an implicit timestamp that is no date (2026-02-30)
        raise _Problem(node, f"invalid value {_shown(node)}: {exc}") from None


def _text(loader: BudgetLoader, node: Node, name: str) -> str:
    value = _value(loader, node)
    if not isinstance(value, str) or not value.strip():
        raise _Problem(node, f"{name!r} must be non-empty text, not {_shown(node)}")
    if len(value) > _LIMITS[name]:
        raise _Problem(node, f"{name!r} is longer than {_LIMITS[name]} characters")
    return value


def _date(loader: BudgetLoader, node: Node, name: str) -> date:
    value = _value(loader, node)
    if isinstance(value, str) and _DATE.match(value):
        try:
            value = date.fromisoformat(value)
        except ValueError as exc:
            raise _Problem(node, f"{name!r}: invalid date {value!r}: {exc}") from None
    if not isinstance(value, date) or isinstance(value, datetime):
        raise _Problem(node, f"{name!r} must be a date (YYYY-MM-DD), not {_shown(node)}")
    return value


def _flag(loader: BudgetLoader, node: Node) -> bool:
    value = _value(loader, node)
    if not isinstance(value, bool):
        raise _Problem(node, f"'until_fix' must be true or false, not {_shown(node)}")
    return value


def _aliases(loader: BudgetLoader, node: Node) -> tuple[str, ...]:
    if not isinstance(node, SequenceNode):
        raise _Problem(node, "'aliases' must be a list of vulnerability ids")
    return tuple(_text(loader, item, "aliases") for item in node.value)


def _shown(node: Node) -> str:
    """A value as the message quotes it: short, so a message stays one line."""
    if isinstance(node, ScalarNode):
        return repr(node.value[:40])
    return "a list" if isinstance(node, SequenceNode) else "a mapping"


def dump(entries: Sequence[Entry]) -> str:
    """A schema-v1 file stating ``entries`` (what ``posture exceptions export`` writes; :func:`parse`
    reads it back to the same entries)."""
    return yaml.safe_dump({"version": VERSION, "exceptions": list(_dumped(entries))},
                          sort_keys=False, allow_unicode=True, width=100)


def _dumped(entries: Sequence[Entry]) -> Iterator[dict[str, Any]]:
    for entry in entries:
        accepted = entry.acceptance
        out: dict[str, Any] = {"id": entry.id, "owner": accepted.owner, "reason": accepted.reason,
                               "created": entry.created}
        if accepted.until_fix:
            out["until_fix"] = True
        elif accepted.expires_at is not None:
            out["expires"] = accepted.expires_at.date()
        for name, attribute in SCOPE_FIELDS.items():
            value = getattr(accepted.scope, attribute)
            if value:
                out[name] = value
            if name == "vulnerability" and accepted.scope.aliases:
                out["aliases"] = list(accepted.scope.aliases)
        yield out
