"""``posture findings``, ``posture assets`` and ``posture rules``: what the store and the rule set hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from sqlmodel import Session

from posture.acceptance import Reach
from posture.cli.context import AppContext, CommandError, db_option, pass_app
from posture.cli.gate import EXIT_GATE, enforce, fail_on_option
from posture.cli.output import SEVERITY_STYLE, cell, console, emit, table, write_json
from posture.coverage import describe
from posture.db import read_session
from posture.store.exceptions import exception_details, would_cover
from posture.store.queries import (
    FindingFilter,
    asset_json,
    finding_json,
    gate_counts,
    iter_assets,
    iter_findings,
    latest_runs,
)
from posture.taxonomy import Category, FindingStatus, Phase, Severity

_SEVERITIES = [s.value for s in Severity]


def _severity(value: str | None) -> Severity | None:
    return Severity(value) if value else None


@click.command("findings")
@db_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv", "sarif"]), default="table", show_default=True
)
@click.option("--min-severity", type=click.Choice(_SEVERITIES), help="Only findings at or above this severity.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in FindingStatus]),
    help="Repeatable; default: open.",
)
@click.option("--all", "all_statuses", is_flag=True, help="Every status, resolved and accepted included.")
@click.option("--phase", "phases", multiple=True, type=click.Choice([p.value for p in Phase]))
@click.option(
    "--category",
    "categories",
    multiple=True,
    type=click.Choice([c.value for c in Category]),
    help="NIST SP 800-190 area.",
)
@click.option("--rule", "rule_ids", multiple=True, help="Only these rule ids.")
@click.option("--search", "text", help="Text in rule id, title or asset name.")
@click.option("--asset", help="Only findings of this asset (its key, name or an image digest).")
@click.option("--namespace", help="Only findings of workloads in this Kubernetes namespace.")
@click.option("--team", help="Only findings of assets this team owns (the configured team label).")
@click.option("--sort", type=click.Choice(["risk", "severity", "age"]), default="risk", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many.")
@fail_on_option(
    "Exit 1 when an open finding these filters select is at or above this severity (for CI pipelines; "
    "--limit does not narrow what is judged); one line on stderr says why it failed or passed."
)
@pass_app
def findings_command(
    app: AppContext,
    fmt: str,
    min_severity: str | None,
    statuses: tuple[str, ...],
    all_statuses: bool,
    phases: tuple[str, ...],
    categories: tuple[str, ...],
    rule_ids: tuple[str, ...],
    text: str | None,
    asset: str | None,
    namespace: str | None,
    team: str | None,
    sort: str,
    limit: int | None,
    fail_on: str | None,
) -> None:
    """List findings, riskiest first."""
    engine = app.engine_for_read()
    chosen = () if all_statuses else (statuses or (FindingStatus.OPEN.value,))
    with read_session(engine) as session:
        scoped = _scoped(session, asset, namespace, team, app.settings.team_label)
        flt = FindingFilter(_severity(min_severity), chosen, phases, categories, rule_ids, text, finding_ids=scoped)
        rows = list(iter_findings(session, flt, sort, limit))
        exceptions = exception_details(session, {r["exception_id"] for r in rows if r["exception_id"] is not None})
        threshold = _severity(fail_on)
        gate = gate_counts(session, flt, threshold) if threshold else None
    remediation = {r.id: r.remediation for r in app.registry}
    documents = [finding_json(r, remediation.get(r["rule_id"]), exceptions.get(r["exception_id"])) for r in rows]
    if fmt == "json":
        write_json(documents)
    elif fmt in ("csv", "sarif"):
        from posture.reports import findings_export

        emit(findings_export(fmt, documents, app.registry, Path.cwd()))
    else:
        console().print(
            table(
                f"{len(rows)} findings",
                ["risk", "severity", "status", "rule", "title", "asset"],
                (
                    [
                        cell(r["risk"]),
                        cell(r["severity"], SEVERITY_STYLE.get(r["severity"], "")),
                        cell(r["status"]),
                        cell(r["rule_id"]),
                        cell(r["title"], limit=60),
                        cell(r["asset_name"], limit=60),
                    ]
                    for r in rows
                ),
            )
        )
    if threshold and gate is not None and enforce(threshold, gate, "selected"):
        raise SystemExit(EXIT_GATE)


def _scoped(
    session: Session, asset: str | None, namespace: str | None, team: str | None, team_label: str
) -> frozenset[int] | None:
    """The findings of an asset, namespace or team, as an exception of that scope would cover them
    (one meaning of "namespace" and "team" for listings, gates and accepted risk); None: not asked."""
    if not (asset or namespace or team):
        return None
    scope = Reach(asset=asset, namespace=namespace, team=team)
    return frozenset(would_cover(session, scope, team_label=team_label, statuses=tuple(FindingStatus)))


@click.command("assets")
@db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--kind", "kinds", multiple=True, help="Only these asset kinds (image, container, k8s-workload, …).")
@click.option("--include-gone", is_flag=True, help="Also assets no source sees any more.")
@click.option("--sources", "list_sources", is_flag=True,
              help="List the sources instead: each one's label, identity, newest run and what that run judged.")
@pass_app
def assets_command(app: AppContext, fmt: str, kinds: tuple[str, ...], include_gone: bool, list_sources: bool) -> None:
    """List collected assets of every lifecycle phase (or, with --sources, the sources that collected them)."""
    engine = app.engine_for_read()
    if list_sources:
        with read_session(engine) as session:
            _print_sources(latest_runs(session), fmt)
        return
    with read_session(engine) as session:
        rows = list(iter_assets(session, kinds, include_gone))
    if fmt == "json":
        write_json([asset_json(r) for r in rows])
        return
    console().print(
        table(
            f"{len(rows)} assets",
            ["kind", "phase", "name", "key"],
            ([cell(r["kind"]), cell(r["phase"]), cell(r["name"], limit=60), cell(r["key"], limit=70)] for r in rows),
        )
    )


def _print_sources(runs: list[dict[str, Any]], fmt: str) -> None:
    sources = [
        {
            "kind": r["scope_kind"],
            "label": r["scope_label"] or r["scope_name"],
            "identity": r["scope_name"],
            "run": r["id"],
            "status": r["status"],
            "finished_at": r["finished_at"],
            "coverage": r["coverage"],
            "notes": (r["stats"] or {}).get("notes", []),
        }
        for r in runs
    ]
    if fmt == "json":
        write_json(sources)
        return
    console().print(
        table(
            f"{len(sources)} sources",
            ["kind", "label", "identity", "newest run", "status", "judged"],
            (
                [cell(s["kind"]), cell(s["label"], limit=40), cell(s["identity"], limit=60), cell(s["run"]),
                 cell(s["status"]), cell(describe(s["coverage"]), limit=60)]
                for s in sources
            ),
        )
    )


@click.command("rules")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_app
def rules_command(app: AppContext, fmt: str) -> None:
    """List every rule with its severity, phase, NIST area and references."""
    rules = list(app.registry)
    if fmt == "json":
        write_json([r.as_dict() for r in rules])
        return
    if not rules:
        raise CommandError("no rules are registered")

    def refs(rule: Any) -> str:
        return ", ".join(f"{r.framework} {r.id}" for r in rule.all_references)

    console().print(
        table(
            f"{len(rules)} rules",
            ["id", "severity", "phase", "category", "title", "references"],
            (
                [
                    cell(r.id),
                    cell(r.severity.value, SEVERITY_STYLE[r.severity.value]),
                    cell(r.phase.value),
                    cell(r.category.value),
                    cell(r.title, limit=60),
                    cell(refs(r), limit=None),
                ]
                for r in rules
            ),
        )
    )
