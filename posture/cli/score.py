"""``posture score``: the posture score and grade, and the roll-ups behind it."""

from __future__ import annotations

from typing import Any

import click

from posture.cli.context import AppContext, CommandError, db_option, pass_app
from posture.cli.output import cell, console, table, write_json
from posture.db import read_session
from posture.scoring.estate import DIMENSIONS
from posture.scoring.rollup import RISK_BANDS
from posture.store.snapshots import asset_rollup, latest_snapshots

_BY = ("estate", *DIMENSIONS, "category", "phase", "asset")


@click.command("score")
@db_option
@click.option("--by", "by", type=click.Choice(_BY), default="estate", show_default=True,
              help="Roll up by this dimension (category is the NIST SP 800-190 area).")
@click.option("--trend", type=click.IntRange(min=1), default=10, show_default=True, help="Snapshots in the trend.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_app
def score_command(app: AppContext, by: str, trend: int, fmt: str) -> None:
    """Posture score 0–100 and grade A–F (see docs/scoring.md), its trend, and risk by group."""
    engine = app.engine_for_read()
    with read_session(engine) as session:
        snapshots = latest_snapshots(session, trend)
        assets = asset_rollup(session) if by == "asset" else []
    if not snapshots:
        raise CommandError("no score yet: run posture collect first")
    latest = snapshots[0]
    if by == "estate":
        data: Any = {"score": latest["score"], "grade": latest["grade"], "estate": latest["counts"].get("estate", {}),
                     "trend": [{"run_id": s["run_id"], "taken_at": s["taken_at"], "score": s["score"],
                                "grade": s["grade"]} for s in reversed(snapshots)]}
    elif by == "asset":
        data = assets
    else:
        groups = latest["counts"].get("groups", {}).get(by, {})
        data = sorted(({"group": k, **v} for k, v in groups.items()), key=lambda g: (g["score"], g["group"]))
    if fmt == "json":
        write_json(data)
        return
    out = console()
    if by == "estate":
        trend_text = " → ".join(f"{s['score']:g}" for s in data["trend"])
        out.print(f"posture {latest['score']:g} ({latest['grade']}); trend {trend_text}", markup=False)
        bands = data["estate"].get("bands", {})
        counted = [f"{bands[name]} {name}" for name, _low, _weight in RISK_BANDS if bands.get(name)]
        out.print("open findings by risk band: " + (", ".join(counted) or "none"), markup=False)
    elif by == "asset":
        out.print(table("riskiest assets", ["max risk", "open", "kind", "asset"], (
            [cell(a["max_risk"]), cell(a["open"]), cell(a["kind"]), cell(a["name"], limit=70)] for a in data)))
    else:
        out.print(table(f"risk by {by}", ["score", "grade", "open", "max risk", by], (
            [cell(f"{g['score']:g}"), cell(g["grade"]), cell(g["open"]), cell(g["max_risk"]),
             cell(g["group"], limit=70)] for g in data)))
