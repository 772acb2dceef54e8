"""``posture summary``: one overview, four writers (text, Markdown, HTML, JSON), one per module."""

from __future__ import annotations

from collections.abc import Callable

from posture.reports import summary_html, summary_json, summary_markdown, summary_text
from posture.reports.overview import Overview

_WRITERS: dict[str, Callable[[Overview], str]] = {
    "text": summary_text.render,
    "markdown": summary_markdown.render,
    "html": summary_html.render,
    "json": summary_json.render,
}
FORMATS = tuple(_WRITERS)


def render_summary(overview: Overview, fmt: str) -> str:
    return _WRITERS[fmt](overview)
