"""What every command shares: the database URL, the engine, the rule registry, error reporting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeVar

import click
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from posture.config import ConfigError, Settings, load_settings
from posture.db import DatabaseError, explain, make_engine, redact_url, resolve_url
from posture.errors import CommandFailure
from posture.migrations import require_current, upgrade
from posture.rules import default_registry
from posture.rules.base import RuleRegistry

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(CommandFailure, click.ClickException):
    """A one-line error for the user; ``exit_code`` 2 for usage and input errors, 1 otherwise.

    The commands translate every layer's failure (posture.errors) into this one click exception, which
    ``posture.cli.main`` prints cleaned and exits with. Named for the command, not the project, so it is
    not read as the root of all Posture errors (that is ``posture.errors.PostureFailure``).
    """

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class AppContext:
    db_url: str | None = None
    _engine: Engine | None = field(default=None, repr=False)

    @cached_property
    def url(self) -> str:
        try:
            return resolve_url(self.db_url)
        except DatabaseError as exc:
            raise CommandError(str(exc), 2) from None

    @cached_property
    def settings(self) -> Settings:
        """The configuration file (and ``POSTURE_NOTIFY``); a broken one is a usage error."""
        try:
            return load_settings()
        except ConfigError as exc:
            raise CommandError(str(exc), 2) from None

    @cached_property
    def registry(self) -> RuleRegistry:
        max_age = self.settings.max_image_age_days
        return default_registry() if max_age is None else default_registry(max_image_age_days=max_age)

    def _make(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = make_engine(self.url)
            except DatabaseError as exc:
                raise self.database_error(exc) from None
        return self._engine

    def engine_for_write(self) -> Engine:
        """An engine on a schema brought to head (collect, demo, notify write)."""
        engine = self._make()
        self._guard(lambda: upgrade(engine, self.url))
        return engine

    def engine_for_read(self) -> Engine:
        engine = self._make()
        self._guard(lambda: require_current(engine, self.url))
        return engine

    def _guard(self, action: Callable[[], None]) -> None:
        try:
            action()
        except (DatabaseError, SQLAlchemyError) as exc:
            raise self.database_error(exc) from None

    def database_error(self, exc: DatabaseError | SQLAlchemyError) -> CommandError:
        """The one line for a database failure, wherever in a command it happened: the URL as
        :func:`~posture.db.redact_url` shows it, the problem as :func:`~posture.db.explain` words it;
        exit 2 for a database Posture cannot use, 1 for one that failed."""
        url = redact_url(self.url)
        if isinstance(exc, SQLAlchemyError):
            exc = explain(exc, self.url)
        return CommandError(f"database {url}: {exc}", 2 if exc.unusable else 1)


pass_app = click.make_pass_decorator(AppContext, ensure=True)


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(AppContext).db_url = value


def db_option(func: F) -> F:
    """``--db URL`` accepted on the group and on every command (``POSTURE_DB`` otherwise)."""
    return click.option(
        "--db",
        metavar="URL",
        expose_value=False,
        is_eager=True,
        callback=_set_db,
        help="Database URL (sqlite:///path or postgresql://user@host/db); "
        "default $POSTURE_DB or ~/.local/share/posture/posture.db.",
    )(func)
