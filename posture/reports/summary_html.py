"""The summary as one self-contained HTML file: inline CSS and SVG, no script, no external request,
readable on screen and on paper (print styles keep tables whole and colours optional)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from posture.reports.chart import trend_svg
from posture.reports.overview import AGE_BUCKETS, GROUP_COLUMNS, GROUP_LIMIT, GROUP_NUMERIC, GroupRisk, Overview
from posture.textsafe import clean

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;margin:2rem auto;
max-width:60rem;padding:0 1rem}
h1{font-size:1.6rem;margin:0}h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #d0d7de}
.muted{color:#57606a}.score{display:flex;gap:2rem;align-items:center;flex-wrap:wrap;margin:1rem 0}
.big{font-size:3rem;font-weight:700}.grade{font-size:2rem;font-weight:700;border:3px solid currentColor;
border-radius:.4rem;padding:0 .6rem}
.cards{display:flex;gap:.6rem;flex-wrap:wrap}.card{border:1px solid #d0d7de;border-radius:.4rem;padding:.4rem .8rem;
min-width:6.5rem}.card b{display:block;font-size:1.3rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0}th,td{text-align:left;padding:.25rem .5rem;
border-bottom:1px solid #eaeef2;vertical-align:top}th{background:#f6f8fa}td.n,th.n{text-align:right;
font-variant-numeric:tabular-nums}
.critical{color:#a40e26}.high{color:#cf222e}.medium{color:#9a6700}.low{color:#0969da}.info{color:#57606a}
.new,.regressed,.failed{color:#cf222e}.resolved,.complete{color:#1a7f37}.partial{color:#9a6700}
.bar{background:#cf222e;height:.6rem;display:inline-block;vertical-align:middle;border-radius:.2rem}
svg .grid{stroke:#d0d7de;stroke-width:1}svg .axis{font-size:11px;fill:#57606a}
svg .line{stroke:#0969da;stroke-width:2.5}svg .dot{fill:#0969da}
@media print{body{margin:0;max-width:none;font-size:11pt}h2{break-after:avoid}table,tr,.score{break-inside:avoid}
a{color:inherit}}
"""


def e(value: object, limit: int | None = 120) -> str:
    """Untrusted text for HTML: cleaned, then escaped (quotes too, for attributes)."""
    return escape(clean("" if value is None else value, limit=limit), quote=True)


def n(value: int) -> str:
    return f"{value:,}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: frozenset[int] = frozenset()) -> str:
    """Cells are already-escaped HTML."""
    head = "".join(f'<th class="n">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(o: Overview) -> str:
    head, counts = o.headline, o.counts
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>Posture summary {head.generated_at:%Y-%m-%d}</title><style>{_CSS}</style></head><body>",
        f'<h1>Posture summary</h1><p class="muted">Generated {head.generated_at:%Y-%m-%d %H:%M} UTC</p>',
        _score(o),
        "<h2>Open findings</h2>",
        f'<p>{n(counts.open_total)} open, {n(counts.accepted)} accepted as risks.</p><div class="cards">',
        *(f'<div class="card"><span class="{s}">{s}</span><b>{n(c)}</b></div>' for s, c in counts.by_severity.items()),
        "</div>",
        table(["lifecycle phase", "open"], [[p, n(c)] for p, c in counts.by_phase.items()], frozenset({1})),
        "<h2>SLA ageing</h2>",
        _ageing(o),
        *(f"<h2>{title}</h2>{_groups(groups)}" for title, groups in o.group_sections()),
        "<h2>Top risks</h2>",
        table(
            ["risk", "severity", "rule", "title", "asset"],
            [
                [
                    str(t.risk),
                    f'<span class="{e(t.severity)}">{e(t.severity)}</span>',
                    e(t.rule_id),
                    e(t.title),
                    e(t.asset_name, 80),
                ]
                for t in head.top
            ],
            frozenset({0}),
        )
        if head.top
        else "<p>No open findings.</p>",
        "<h2>Changes in the latest run of each source</h2><p>",
        ", ".join(
            f'<span class="{k}">{k}</span> <b>{n(head.change_counts.get(k, 0))}</b>'
            for k in ("new", "regressed", "resolved", "accepted")
        ),
        "</p>",
        table(
            ["change", "risk", "rule", "title", "asset"],
            [
                [
                    f'<span class="{c.change}">{e(c.event if c.event == "reopened" else c.change)}</span>',
                    str(c.risk),
                    e(c.rule_id),
                    e(c.title),
                    e(c.asset_name, 80),
                ]
                for c in head.changes
            ],
            frozenset({1}),
        )
        if head.changes
        else "",
        "<h2>Collection health</h2>",
        table(
            ["status", "source", "finished", "error"],
            [
                [
                    f'<span class="{e(h.status)}">{e(h.status)}</span>',
                    e(f"{h.kind}:{h.name}", 80),
                    f"{h.finished_at:%Y-%m-%d %H:%M}" if h.finished_at else "-",
                    e(h.error or "", 200),
                ]
                for h in head.health
            ],
        )
        if head.health
        else "<p>Nothing collected yet.</p>",
        "</body></html>",
    ]
    return "".join(parts) + "\n"


def _score(o: Overview) -> str:
    head = o.headline
    score = head.score
    if score is None:
        return '<div class="score"><span class="big muted">not scored yet</span></div>'
    delta = ""
    if len(head.trend) > 1:
        change = score.score - head.trend[-2].score
        delta = f'<div class="{"resolved" if change >= 0 else "new"}">{change:+.1f} since previous</div>'
    return (
        f'<div class="score"><div><span class="big">{score.score:.0f}</span><span class="muted"> / 100</span>{delta}'
        f'</div><span class="grade">{e(score.grade)}</span><div>{trend_svg(head.trend)}</div></div>'
    )


def _ageing(o: Overview) -> str:
    buckets = [label for label, _ in AGE_BUCKETS]
    rows = [[f'<span class="{s}">{s}</span>', *(n(a.get(b, 0)) for b in buckets)] for s, a in o.counts.ageing.items()]
    return table(["severity", *(escape(b) for b in buckets)], rows, frozenset(range(1, len(buckets) + 1)))


def _groups(groups: list[GroupRisk]) -> str:
    """Score, grade and the figures behind them; the bar is the risk (100 − score) on a 0–100 scale."""
    if not groups:
        return '<p class="muted">None.</p>'
    rows = [
        [
            e(g.name, 60),
            *(escape(cell) for cell in g.figures()),
            f'<span class="bar" style="width:{max(2, round(100 - g.score))}px"></span>',
        ]
        for g in groups[:GROUP_LIMIT]
    ]
    return table([*GROUP_COLUMNS, "risk"], rows, GROUP_NUMERIC)
