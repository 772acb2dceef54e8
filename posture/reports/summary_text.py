"""The summary as plain text for a terminal or an e-mail body: every untrusted string cleaned."""

from __future__ import annotations

from collections.abc import Sequence

from posture.reports.chart import sparkline
from posture.reports.overview import AGE_BUCKETS, GROUP_COLUMNS, GROUP_LIMIT, GROUP_NUMERIC, GroupRisk, Overview
from posture.textsafe import clean


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: frozenset[int] = frozenset()) -> list[str]:
    """Aligned columns; ``right`` names the columns to right-align (numbers)."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def n(value: int) -> str:
    return f"{value:,}"


def render(o: Overview) -> str:
    head, counts = o.headline, o.counts
    out = [f"Posture summary, {head.generated_at:%Y-%m-%d %H:%M} UTC", ""]
    score = head.score
    if score is None:
        out.append("Score: not scored yet")
    else:
        line = f"Score: {score.score:.0f}/100, grade {score.grade}"
        if len(head.trend) > 1:
            line += f" ({score.score - head.trend[-2].score:+.1f} since previous)"
        out += [line, f"Trend: {sparkline([p.score for p in head.trend])} ({len(head.trend)} snapshots)"]
    out += ["", f"Open findings: {n(counts.open_total)} (accepted risks: {n(counts.accepted)})"]
    out.append("  " + "  ".join(f"{k} {n(v)}" for k, v in counts.by_severity.items()))
    out.append("By lifecycle phase: " + ", ".join(f"{k} {n(v)}" for k, v in counts.by_phase.items()))
    buckets = [label for label, _ in AGE_BUCKETS]
    out += ["", "SLA ageing (open findings by age)"]
    out += table(
        ["severity", *buckets],
        [[s, *(n(a.get(b, 0)) for b in buckets)] for s, a in counts.ageing.items()],
        frozenset(range(1, len(buckets) + 1)),
    )
    for title, groups in o.group_sections():
        out += ["", title]
        out += _groups(groups) if groups else ["  none"]
    out += ["", "Top risks"]
    out += (
        table(
            ["risk", "severity", "rule", "title", "asset"],
            [
                [str(t.risk), t.severity, clean(t.rule_id), clean(t.title, limit=60), clean(t.asset_name, limit=50)]
                for t in head.top
            ],
            frozenset({0}),
        )
        if head.top
        else ["  no open findings"]
    )
    out += [
        "",
        "Changes in the latest run of each source: "
        + ", ".join(f"{k} {n(head.change_counts.get(k, 0))}" for k in ("new", "regressed", "resolved", "accepted")),
    ]
    out += (
        table(
            ["change", "risk", "rule", "title", "asset"],
            [
                [
                    c.event if c.event == "reopened" else c.change,
                    str(c.risk),
                    clean(c.rule_id),
                    clean(c.title, limit=60),
                    clean(c.asset_name, limit=50),
                ]
                for c in head.changes
            ],
            frozenset({1}),
        )
        if head.changes
        else []
    )
    out += ["", "Collection health"]
    out += (
        table(
            ["status", "source", "finished", "error"],
            [
                [
                    h.status,
                    clean(f"{h.kind}:{h.name}", limit=60),
                    f"{h.finished_at:%Y-%m-%d %H:%M}" if h.finished_at else "-",
                    clean(h.error or "", limit=80),
                ]
                for h in head.health
            ],
        )
        if head.health
        else ["  nothing collected yet"]
    )
    return "\n".join(out) + "\n"


def _groups(groups: list[GroupRisk]) -> list[str]:
    return table(
        GROUP_COLUMNS,
        [[clean(g.name, limit=50), *g.figures()] for g in groups[:GROUP_LIMIT]],
        GROUP_NUMERIC,
    )
