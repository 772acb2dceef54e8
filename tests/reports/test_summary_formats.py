"""``posture summary`` writers: the same figures in text, Markdown, HTML and JSON, hostile names inert."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from posture.reports.chart import sparkline, trend_svg
from posture.reports.overview import (
    Counts,
    GroupRisk,
    Headline,
    Overview,
    ScorePoint,
    SourceHealth,
    TopRisk,
    snapshot_groups,
)
from posture.reports.summary import FORMATS, render_summary
from posture.store.tui_queries import Change

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HOSTILE = "[x](javascript:alert(1)) <img src=x onerror=alert(1)> a|b \x1b]52;c;ZXZpbA==\x07 \u202egnp.exe"


def _overview(scored: bool = True) -> Overview:
    trend = [
        ScorePoint(NOW - timedelta(days=2 - i), s, g)
        for i, (s, g) in enumerate([(55.0, "F"), (61.0, "D"), (66.5, "D")])
    ]
    head = Headline(
        generated_at=NOW,
        trend=trend if scored else [],
        top=[
            TopRisk(
                7,
                95,
                "critical",
                "DKR-T01",
                "Container runs privileged",
                HOSTILE,
                "container",
                "container",
                NOW - timedelta(days=40),
            )
        ],
        change_counts={"new": 2, "resolved": 1, "regressed": 1},
        changes=[Change(7, "new", "reopened", "critical", 95, "DKR-T01", "Container runs privileged", HOSTILE)],
        health=[SourceHealth("registry", "registry.test", "partial", NOW, NOW, "registry.test: 403 " + HOSTILE)],
    )
    counts = Counts(
        by_severity={"critical": 3, "high": 4, "medium": 0, "low": 1, "info": 0},
        by_area={"image": 4, "registry": 1, "orchestrator": 1, "container": 2, "host": 0},
        by_phase={"build": 4, "distribute": 1, "run": 3},
        ageing={"critical": {"0-7d": 1, "8-30d": 0, "31-90d": 2, ">90d": 0}},
        accepted=2,
    )
    return Overview(
        head,
        counts,
        by_team=[GroupRisk(HOSTILE, 41.0, "F", 5, 2, 1, 95), GroupRisk("payments", 88.5, "B", 1, 0, 1, 45)],
        by_namespace=[GroupRisk("prod/payments", 88.5, "B", 1, 0, 1, 45)],
        by_area=[GroupRisk("container", 52.0, "F", 2, 2, 0, 95), GroupRisk("image", 70.0, "C", 4, 1, 2, 80)],
    )


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_no_control_or_bidi_character_reaches_a_human_format(fmt: str) -> None:
    out = render_summary(_overview(), fmt)
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out


def test_json_escapes_control_characters_and_keeps_the_data() -> None:
    out = render_summary(_overview(), "json")
    assert "\x1b" not in out and "\x07" not in out and "\\u001b]52" in out


def test_text() -> None:
    out = render_summary(_overview(), "text")
    assert "Score: 66/100, grade D (+5.5 since previous)" in out
    assert f"Trend: {sparkline([55.0, 61.0, 66.5])} (3 snapshots)" in out
    assert "Open findings: 8 (accepted risks: 2)" in out
    assert "critical 3  high 4  medium 0  low 1  info 0" in out
    assert "Changes in the latest run of each source: new 2, regressed 1, resolved 1, accepted 0" in out
    assert "reopened" in out and "partial" in out
    team = next(line for line in out.splitlines() if line.startswith("payments"))
    assert team.split() == ["payments", "88.5", "B", "1", "0", "1", "45"]
    area = out.split("Risk by NIST SP 800-190 area\n")[1].split("\n\n")[0].splitlines()
    assert area[0].split() == ["name", "score", "grade", "open", "critical", "high", "max", "risk"]
    assert [line.split() for line in area[2:]] == [
        ["container", "52", "F", "2", "2", "0", "95"],
        ["image", "70", "C", "4", "1", "2", "80"],
    ]
    assert "prod/payments" in out.split("Risk by namespace\n")[1]


def test_markdown_escapes_links_html_and_table_cells() -> None:
    out = render_summary(_overview(), "markdown")
    assert "**Score: 66/100, grade D** (+5.5 since previous)" in out
    assert "](javascript" not in out and out.count("<img") == out.count("\\<img") > 0
    assert "\\[x\\]\\(javascript:alert\\(1\\)\\)" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "DKR-T01" in line]
    assert rows and all(line.count(" | ") == 4 for line in rows), "a | in a name must not add a cell"


def test_html_is_one_self_contained_printable_file() -> None:
    out = render_summary(_overview(), "html")

    class Tags(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.tags: list[str] = []
            self.refs: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.tags.append(tag)
            self.refs += [v or "" for k, v in attrs if k in ("src", "href")]

    parser = Tags()
    parser.feed(out)
    assert "script" not in parser.tags and "img" not in parser.tags and "link" not in parser.tags
    assert parser.refs == [], "nothing is fetched from elsewhere"
    assert "svg" in parser.tags and "polyline" in parser.tags
    assert "&lt;img src=x onerror=alert(1)&gt;" in out
    assert "@media print" in out and "<title>Posture summary 2025-06-01</title>" in out
    assert ">66<" in out and ">D<" in out and "+5.5 since previous" in out


def _section_rows(html: str, title: str) -> list[list[str]]:
    """The body rows of the table under the ``<h2>`` titled ``title``, as cell texts."""

    class Rows(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None
            self.in_body = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "tbody":
                self.in_body = True
            elif tag == "tr" and self.in_body:
                self.rows.append([])
            elif tag == "td" and self.in_body:
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if tag == "td" and self.cell is not None:
                self.rows[-1].append("".join(self.cell))
                self.cell = None
            elif tag == "tbody":
                self.in_body = False

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    section = html.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0]
    parser = Rows()
    parser.feed(section)
    return parser.rows


def test_html_risk_by_area_team_and_namespace_are_scores_not_counts() -> None:
    out = render_summary(_overview(), "html")
    area = _section_rows(out, "Risk by NIST SP 800-190 area")
    assert [row[:7] for row in area] == [
        ["container", "52", "F", "2", "2", "0", "95"],
        ["image", "70", "C", "4", "1", "2", "80"],
    ]
    assert 'style="width:48px"' in out and 'style="width:30px"' in out, "the bar is the risk, 100 - score"
    assert _section_rows(out, "Risk by team")[1][:3] == ["payments", "88.5", "B"]
    assert _section_rows(out, "Risk by namespace")[0][:3] == ["prod/payments", "88.5", "B"]
    assert "<th>NIST SP 800-190 area</th>" not in out, "no bare count table stands in for the risk"


def test_json_carries_every_figure() -> None:
    data = json.loads(render_summary(_overview(), "json"))
    assert data["score"] == {"score": 66.5, "grade": "D", "taken_at": "2025-06-01T12:00:00+00:00"}
    assert [p["score"] for p in data["trend"]] == [55.0, 61.0, 66.5]
    assert data["open"]["total"] == 8 and data["open"]["by_area"]["container"] == 2 and data["accepted"] == 2
    assert data["by_team"][1] == {
        "name": "payments",
        "score": 88.5,
        "grade": "B",
        "open": 1,
        "critical": 0,
        "high": 1,
        "max_risk": 45,
    }
    assert [(g["name"], g["score"]) for g in data["by_area"]] == [("container", 52.0), ("image", 70.0)]
    assert data["changes"]["counts"]["new"] == 2 and data["changes"]["top"][0]["event"] == "reopened"
    assert data["top_risks"][0]["asset"]["name"] == HOSTILE, "JSON keeps data as it is; consumers escape"
    assert data["health"][0]["status"] == "partial"


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_estate_not_scored_yet(fmt: str) -> None:
    out = render_summary(_overview(scored=False), fmt)
    assert ("not scored yet" in out) if fmt != "json" else json.loads(out)["score"] is None


def test_trend_chart_scales_scores_into_the_plot() -> None:
    svg = trend_svg(
        [ScorePoint(NOW, 0.0, "F"), ScorePoint(NOW, 100.0, "A"), ScorePoint(NOW, 150.0, "A")], width=200, height=100
    )
    points = svg.split('points="')[1].split('"')[0].split()
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] > ys[1] == ys[2], "100 is the top; above 100 is clamped"
    assert "Not enough scored runs" in trend_svg([ScorePoint(NOW, 50.0, "F")])
    assert sparkline([0, 50, 100]) == "▁▅█"


def test_snapshot_groups_riskiest_first_and_a_missing_dimension_is_empty() -> None:
    def summary(score: float, grade: str, max_risk: int, **severities: int) -> dict[str, object]:
        return {
            "score": score,
            "grade": grade,
            "open": sum(severities.values()),
            "max_risk": max_risk,
            "severities": severities,
        }

    counts = {
        "groups": {
            "team": {
                "web": summary(90.0, "A", 30, low=1),
                "data": summary(45.5, "F", 97, critical=2, high=1),
                "api": summary(45.5, "F", 99, critical=1),
            }
        }
    }
    assert snapshot_groups(counts, "team") == [
        GroupRisk("api", 45.5, "F", 1, 1, 0, 99),
        GroupRisk("data", 45.5, "F", 3, 2, 1, 97),
        GroupRisk("web", 90.0, "A", 1, 0, 0, 30),
    ]
    assert snapshot_groups(counts, "namespace") == [] and snapshot_groups({}, "team") == []
    assert snapshot_groups(None, "team") == []
