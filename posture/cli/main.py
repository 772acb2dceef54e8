"""Entry point: the ``posture`` group, its commands, and one-line errors with stable exit codes."""

from __future__ import annotations

import importlib
import sys

import click
from sqlalchemy.exc import SQLAlchemyError

from posture.cli.context import AppContext, CommandError, db_option
from posture.cli.output import echo
from posture.config import ConfigError
from posture.db import DatabaseError
from posture.textsafe import clean

#: Command name → "module:attribute". Imported only when that command runs (or ``--help`` lists them):
#: ``collect`` alone pulls in the Docker SDK, paramiko, the Kubernetes client and apprise (about a
#: second), which ``posture tui`` must not pay before its first paint.
COMMANDS: dict[str, str] = {
    "collect": "posture.cli.collect:collect_command",
    "findings": "posture.cli.listing:findings_command",
    "assets": "posture.cli.listing:assets_command",
    "rules": "posture.cli.listing:rules_command",
    "db": "posture.cli.db:db_group",
    "tui": "posture.cli.tui:tui_command",
    "summary": "posture.cli.summary:summary_command",
    "diff": "posture.cli.diff:diff_command",
    "notify": "posture.cli.notify:notify_command",
    "watch": "posture.cli.watch:watch_command",
    "enrich": "posture.cli.enrich:enrich_command",
    "score": "posture.cli.score:score_command",
    "demo": "posture.cli.demo:demo_command",
    "k8s": "posture.cli.k8s:k8s_group",
    "exceptions": "posture.cli.exceptions:exceptions_group",
    "vex": "posture.cli.vex:vex_group",
    "metrics": "posture.cli.metrics:metrics_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use (Click's documented lazy-loading pattern)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):  # pragma: no cover - a wrong entry in COMMANDS
            raise TypeError(f"{target} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> object:
        """Every command runs through here: a database that fails mid-command (read-only, full, locked)
        is one line naming it, as at open, not a traceback; so is a configuration error found mid-command."""
        try:
            return super().invoke(ctx)
        except (DatabaseError, SQLAlchemyError) as exc:
            raise ctx.ensure_object(AppContext).database_error(exc) from None
        except ConfigError as exc:  # e.g. a secret key refused (posture.secretkey): a usage error
            raise CommandError(str(exc), 2) from None


@click.group(cls=LazyGroup, invoke_without_command=True)
@db_option
@click.version_option(package_name="posture")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Posture: container security posture across build, distribute and run.

    Collect from Docker engines, Kubernetes, registries and scanner reports; browse findings in the
    terminal UI; get one chat message when a new risk appears.
    """
    app = ctx.ensure_object(AppContext)
    if ctx.invoked_subcommand is None:
        from posture.cli.tui import open_tui_by_default  # the TUI path imports only what it needs

        if not open_tui_by_default(app):
            echo(ctx.get_help())


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: usage and input errors exit 2 with one line, never a traceback."""
    try:
        cli.main(args=argv, prog_name="posture", standalone_mode=False)
    except CommandError as exc:
        # Messages quote untrusted text (a report's cluster name, a path): the terminal sees it cleaned.
        echo(f"posture: error: {clean(exc.message)}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        echo("posture: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx else ""
        hint = f" (see posture {path.split(' ', 1)[1]} --help)" if " " in path else ""
        echo(f"posture: error: {clean(exc.format_message())}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        echo(f"posture: error: {clean(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
