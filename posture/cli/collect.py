"""``posture collect``: run every requested source, one collection run per source scope."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any

import click
from sqlalchemy.engine import Engine

from posture.cli.context import AppContext, CommandError, db_option, pass_app
from posture.cli.delivery import after_collect, echo_queued, notify_settings
from posture.cli.exceptions import apply_exceptions, parsed_exceptions
from posture.cli.gate import EXIT_GATE, enforce, fail_on_option
from posture.cli.output import echo
from posture.cli.sources import SourceContext, docker, kubernetes, manifests, registry, reports
from posture.db import read_session, write_session
from posture.pipeline import RunResult, collect
from posture.records import Collector
from posture.run_stages import RunStages
from posture.secretkey import installation_key
from posture.secrets import SecretScanner
from posture.store.queries import FindingFilter, gate_counts
from posture.store.source_state import clusters_by_name, engines_by_url, known_digests, manifest_sets, report_runs
from posture.taxonomy import RunStatus, Severity
from posture.textsafe import clean

#: Source plug-ins in collection order: what is run is collected before what scans it.
SOURCES: Sequence[ModuleType] = (docker, kubernetes, manifests, registry, reports)

#: Exit codes: 0 all complete, 1 a run failed or ``--fail-on`` failed, 3 a run was partial (collected with
#: problems) and the gate, if any, passed; usage and input errors exit 2.
EXIT_FAILED = 1
EXIT_PARTIAL = 3


def source_context(engine: Engine, settings: Mapping[str, Any] | None = None) -> SourceContext:
    with write_session(engine) as session:
        key = installation_key(session)
    with read_session(engine) as session:
        digests = known_digests(session)
        history = reports.report_history(report_runs(session))
        engines = engines_by_url(session)
        tags = registry.known_tags(session)
        clusters = clusters_by_name(session)
        sets = manifest_sets(session)
    return SourceContext(
        secrets=SecretScanner(key),
        known_digests=digests,
        known_tags=tags,
        docker_engines=engines,
        report_history=history,
        clusters=clusters,
        manifest_sets=sets,
        stored_vulns=reports.stored_vulns(engine),
        settings=settings or {},
    )


def build_collectors(params: Mapping[str, Any], context: SourceContext) -> list[Collector]:
    collectors: list[Collector] = []
    for source in SOURCES:
        collectors.extend(source.build(params, context))
    return collectors


def run_all(
    app: AppContext, collectors: Sequence[Collector], stages: RunStages, confirmed: bool = False
) -> list[RunResult]:
    engine = app.engine_for_write()
    return [collect(engine, c, app.registry, stages=stages, confirmed=confirmed) for c in collectors]


def report(results: Sequence[RunResult]) -> int:
    """One line per run on stderr; returns the exit code."""
    code = 0
    for res in results:
        stats = res.stats
        if res.status is RunStatus.FAILED:
            echo(f"posture: {clean(res.error or 'failed')}", err=True)
            code = EXIT_FAILED
            continue
        line = (
            f"{clean(res.scope)}: {res.status.value}, {stats.get('assets', 0)} assets, "
            f"{stats.get('findings', 0)} findings ({stats.get('new', 0)} new, {stats.get('resolved', 0)} resolved)"
        )
        echo(line)
        for note in res.notes:
            echo(f"posture: {clean(res.scope)}: {clean(note)}", err=True)
        if res.status is RunStatus.PARTIAL:
            for problem in res.problems[:10]:
                echo(f"posture: {clean(res.scope)}: {clean(problem)}", err=True)
            code = max(code, EXIT_PARTIAL) if code != EXIT_FAILED else code
    return code


def with_source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Every source's options on a command (``collect`` and ``watch`` take the same sources)."""
    for source in reversed(SOURCES):
        for option in reversed(source.OPTIONS):
            func = option(func)
    return func


@click.command("collect")
@db_option
@with_source_options
@click.option(
    "--exceptions",
    "exceptions_file",
    metavar="FILE",
    help="An exceptions file (docs/exceptions.md) to apply before collecting; default: exceptions_file in the "
    "configuration. A broken file stops the command before anything is stored.",
)
@click.option(
    "--confirm-resolved",
    "confirmed",
    is_flag=True,
    help="Resolve findings that vanished from sources that did not visibly change (same image digest, same "
    "configuration) even past the guard that otherwise keeps an unusual share of them open.",
)
@fail_on_option(
    "Exit 1 when this collection holds an open finding at or above this severity (accepted ones do not "
    "count); one line on stderr says why it failed or passed. A failed run exits 1 as well, its own line first."
)
@pass_app
def collect_command(
    app: AppContext, /, confirmed: bool, exceptions_file: str | None, fail_on: str | None, **params: Any
) -> None:
    """Collect from Docker engines, Kubernetes clusters and manifests, registries and scanner reports."""
    exceptions = parsed_exceptions(app, exceptions_file)  # a broken file: nothing is stored, no run starts
    engine = app.engine_for_write()
    context = source_context(engine, app.settings.source_settings())
    collectors = build_collectors(params, context) or docker.from_docker_host(params, context)
    if not collectors:
        raise CommandError(
            "nothing to collect: give a source (--docker, --kube-context, --manifests, --registry, --report …) "
            "or set DOCKER_HOST; see posture collect --help",
            2,
        )
    if exceptions is not None:
        apply_exceptions(app, exceptions)
    queued: list[str] = []
    results = run_all(app, collectors, RunStages(notify_settings(app), queued), confirmed)
    code = report(results)
    echo_queued(queued)
    after_collect(app)
    if fail_on and gate(app, results, Severity(fail_on)):
        code = EXIT_GATE
    if code:
        raise SystemExit(code)


def gate(app: AppContext, results: Sequence[RunResult], threshold: Severity) -> bool:
    """``--fail-on``: whether the findings this collection's runs hold open reach ``threshold`` (a failed
    run holds none: its own line and exit code say so; when every run failed the gate fails). Judged
    after the stages that follow each run, so exceptions applied by this very command count as accepted."""
    runs = tuple(r.run_id for r in results if r.status is not RunStatus.FAILED)
    if not runs:  # nothing was judged: never a pass
        echo(f"posture: fail-on {threshold.value}: not judged, no run of this collection completed", err=True)
        return True
    with read_session(app.engine_for_read()) as session:
        counts = gate_counts(session, FindingFilter(run_ids=runs), threshold)
    return enforce(threshold, counts, "from this collection")
