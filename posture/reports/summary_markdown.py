"""The summary as Markdown (a wiki page, a merge request, a chat post): untrusted strings escaped so a
name cannot open a link, an image, HTML or a table cell."""

from __future__ import annotations

import re
from collections.abc import Sequence

from posture.reports.chart import sparkline
from posture.reports.overview import AGE_BUCKETS, GROUP_COLUMNS, GROUP_LIMIT, GROUP_NUMERIC, GroupRisk, Overview
from posture.textsafe import clean

#: What Markdown (CommonMark + GFM tables) reads inside a table cell; text only ever lands in cells or
#: after a label, never at the start of a line, so list and heading markers need no escape.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#!|~])")


def md(value: object, limit: int | None = 80) -> str:
    """Untrusted text as literal Markdown: cleaned, every punctuation Markdown reads escaped."""
    return _SPECIAL.sub(r"\\\1", clean("" if value is None else value, limit=limit))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: frozenset[int] = frozenset()) -> list[str]:
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    return [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def n(value: int) -> str:
    return f"{value:,}"


def render(o: Overview) -> str:
    head, counts = o.headline, o.counts
    out = ["# Posture summary", "", f"Generated {head.generated_at:%Y-%m-%d %H:%M} UTC.", ""]
    score = head.score
    if score is None:
        out.append("**Score:** not scored yet.")
    else:
        delta = f" ({score.score - head.trend[-2].score:+.1f} since previous)" if len(head.trend) > 1 else ""
        out.append(f"**Score: {score.score:.0f}/100, grade {score.grade}**{delta}  ")
        out.append(f"Trend: `{sparkline([p.score for p in head.trend])}` ({len(head.trend)} snapshots)")
    out += ["", "## Open findings", "", f"{n(counts.open_total)} open, {n(counts.accepted)} accepted.", ""]
    out += table(["severity", "open"], [[k, n(v)] for k, v in counts.by_severity.items()], frozenset({1}))
    out += [""]
    out += table(["lifecycle phase", "open"], [[k, n(v)] for k, v in counts.by_phase.items()], frozenset({1}))
    buckets = [label for label, _ in AGE_BUCKETS]
    out += ["", "## SLA ageing", ""]
    out += table(
        ["severity", *buckets],
        [[s, *(n(a.get(b, 0)) for b in buckets)] for s, a in counts.ageing.items()],
        frozenset(range(1, len(buckets) + 1)),
    )
    for title, groups in o.group_sections():
        out += ["", f"## {title}", ""]
        out += _groups(groups) if groups else ["None."]
    out += ["", "## Top risks", ""]
    out += (
        table(
            ["risk", "severity", "rule", "title", "asset"],
            [[str(t.risk), t.severity, md(t.rule_id), md(t.title), md(t.asset_name, 60)] for t in head.top],
            frozenset({0}),
        )
        if head.top
        else ["No open findings."]
    )
    out += [
        "",
        "## Changes in the latest run of each source",
        "",
        ", ".join(f"{k} **{n(head.change_counts.get(k, 0))}**" for k in ("new", "regressed", "resolved", "accepted")),
        "",
    ]
    if head.changes:
        out += table(
            ["change", "risk", "rule", "title", "asset"],
            [
                [
                    c.event if c.event == "reopened" else c.change,
                    str(c.risk),
                    md(c.rule_id),
                    md(c.title),
                    md(c.asset_name, 60),
                ]
                for c in head.changes
            ],
            frozenset({1}),
        )
    out += ["", "## Collection health", ""]
    out += (
        table(
            ["status", "source", "finished", "error"],
            [
                [
                    h.status,
                    md(f"{h.kind}:{h.name}", 60),
                    f"{h.finished_at:%Y-%m-%d %H:%M}" if h.finished_at else "-",
                    md(h.error or "", 100),
                ]
                for h in head.health
            ],
        )
        if head.health
        else ["Nothing collected yet."]
    )
    return "\n".join(out) + "\n"


def _groups(groups: list[GroupRisk]) -> list[str]:
    return table(
        GROUP_COLUMNS,
        [[md(g.name, 50), *g.figures()] for g in groups[:GROUP_LIMIT]],
        GROUP_NUMERIC,
    )
