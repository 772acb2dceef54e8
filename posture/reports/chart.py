"""Trend charts without a plotting library: a text sparkline and an inline SVG line chart."""

from __future__ import annotations

from html import escape

from posture.reports.overview import ScorePoint

_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], lo: float = 0.0, hi: float = 100.0) -> str:
    """One character per value on a fixed 0–100 scale, so two reports compare at a glance."""
    span = (hi - lo) or 1.0
    return "".join(_BARS[min(len(_BARS) - 1, max(0, int((v - lo) / span * (len(_BARS) - 1) + 0.5)))] for v in values)


def trend_svg(points: list[ScorePoint], width: int = 640, height: int = 180) -> str:
    """The score over time as a self-contained SVG (no script, no external reference; prints in colour
    or grey). Returns a note instead of a chart below two points."""
    if len(points) < 2:
        return '<p class="muted">Not enough scored runs for a trend yet.</p>'
    left, right, top, bottom = 36, 12, 10, 28
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + plot_w * i / (len(points) - 1)

    def y(score: float) -> float:
        return top + plot_h * (1 - max(0.0, min(100.0, score)) / 100)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-label="Posture score trend">'
    ]
    for level in (0, 25, 50, 75, 100):
        parts.append(
            f'<line x1="{left}" y1="{y(level):.1f}" x2="{width - right}" y2="{y(level):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y(level) + 4:.1f}" class="axis" text-anchor="end">{level}</text>'
        )
    path = " ".join(f"{x(i):.1f},{y(p.score):.1f}" for i, p in enumerate(points))
    parts.append(f'<polyline points="{path}" class="line" fill="none"/>')
    for i, p in enumerate(points):
        label = escape(f"{p.taken_at:%Y-%m-%d}: {p.score:.1f} ({p.grade})")
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(p.score):.1f}" r="3" class="dot"><title>{label}</title></circle>')
    for i in (0, len(points) - 1):
        anchor = "start" if i == 0 else "end"
        parts.append(
            f'<text x="{x(i):.1f}" y="{height - 8}" class="axis" text-anchor="{anchor}">'
            f"{escape(f'{points[i].taken_at:%Y-%m-%d}')}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
