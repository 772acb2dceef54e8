"""Two SQL expressions whose best spelling differs between SQLite and PostgreSQL.

* :func:`contains_ci`: case-insensitive "contains". SQLite's ``LIKE`` already ignores ASCII case
  (and its ``lower()`` folds ASCII only), so ``lower(x) LIKE …`` only costs a function call per
  row there: ~30 ms per 100,000 rows, a sixth of a filter keystroke's budget. PostgreSQL's
  ``LIKE`` is case-sensitive and has ``ILIKE``.
* :func:`unindexed`: ``+column`` on SQLite stops its planner from walking an index for a condition
  that matches most rows (``status = 'open'``), where a random table read per row costs five times
  a plain scan. PostgreSQL plans from statistics, so the column stays as it is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import Boolean

_ESCAPE = "\\"


class _ContainsCI(FunctionElement[bool]):
    type = Boolean()
    inherit_cache = True


class _Unindexed(FunctionElement[Any]):
    inherit_cache = True


def contains_ci(column: ColumnElement[Any], text: str) -> ColumnElement[bool]:
    """``column`` contains ``text``, ignoring case; ``%`` and ``_`` in ``text`` are literal."""
    literal_text = text.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")
    return _ContainsCI(column, literal(f"%{literal_text}%"))


def unindexed(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``column`` as a value the SQLite planner will not use an index for."""
    element = _Unindexed(column)
    element.type = column.type  # so bound values are processed as the column's (datetimes, enums)
    return element


def _pair(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    column, pattern = element.clauses.clauses
    return compiler.process(column, **kw), compiler.process(pattern, **kw)


@compiles(_ContainsCI)
def _ilike(element: _ContainsCI, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = _pair(element, compiler, **kw)
    return f"{column} ILIKE {pattern} ESCAPE '{_ESCAPE}'"


@compiles(_ContainsCI, "sqlite")
def _like(element: _ContainsCI, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern = _pair(element, compiler, **kw)
    return f"{column} LIKE {pattern} ESCAPE '{_ESCAPE}'"


@compiles(_Unindexed)
def _plain(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_Unindexed, "sqlite")
def _unary_plus(element: _Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)
