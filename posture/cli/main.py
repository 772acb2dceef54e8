"""Entry point: the ``posture`` group, its commands, and one-line errors with stable exit codes."""

from __future__ import annotations

import sys

import click

from posture.cli.collect import collect_command
from posture.cli.context import AppContext, PostureError, db_option
from posture.cli.db import db_group
from posture.cli.demo import demo_command
from posture.cli.diff import diff_command
from posture.cli.enrich import enrich_command
from posture.cli.k8s import k8s_group
from posture.cli.listing import assets_command, findings_command, rules_command
from posture.cli.notify import notify_command
from posture.cli.score import score_command
from posture.cli.summary import summary_command
from posture.cli.tui import open_tui_by_default, tui_command
from posture.cli.watch import watch_command


@click.group(invoke_without_command=True)
@db_option
@click.version_option(package_name="posture")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Posture: container security posture across build, distribute and run.

    Collect from Docker engines, Kubernetes, registries and scanner reports; browse findings in the
    terminal UI; get one chat message when a new risk appears.
    """
    app = ctx.ensure_object(AppContext)
    if ctx.invoked_subcommand is None and not open_tui_by_default(app):
        click.echo(ctx.get_help())


for command in (
    collect_command, findings_command, assets_command, rules_command, db_group, tui_command, summary_command,
    diff_command, notify_command, watch_command, enrich_command, score_command, demo_command, k8s_group,
):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: usage and input errors exit 2 with one line, never a traceback."""
    try:
        cli.main(args=argv, prog_name="posture", standalone_mode=False)
    except PostureError as exc:
        click.echo(f"posture: error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("posture: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        path = exc.ctx.command_path if exc.ctx else ""
        hint = f" (see posture {path.split(' ', 1)[1]} --help)" if " " in path else ""
        click.echo(f"posture: error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"posture: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
