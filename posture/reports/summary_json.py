"""The summary as JSON: the same figures as the other formats, for dashboards and scripts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from posture.reports.overview import GROUP_LIMIT, Overview
from posture.textsafe import json_text


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary_dict(o: Overview) -> dict[str, Any]:
    head, counts = o.headline, o.counts
    score = head.score
    return {
        "generated_at": _iso(head.generated_at),
        "score": {"score": score.score, "grade": score.grade, "taken_at": _iso(score.taken_at)} if score else None,
        "trend": [{"taken_at": _iso(p.taken_at), "score": p.score, "grade": p.grade} for p in head.trend],
        "open": {
            "total": counts.open_total,
            "by_severity": counts.by_severity,
            "by_area": counts.by_area,
            "by_phase": counts.by_phase,
        },
        "accepted": counts.accepted,
        "ageing": counts.ageing,
        "by_team": [vars(g) for g in o.by_team[:GROUP_LIMIT]],
        "by_namespace": [vars(g) for g in o.by_namespace[:GROUP_LIMIT]],
        "by_area": [vars(g) for g in o.by_area[:GROUP_LIMIT]],
        "top_risks": [
            {
                "id": t.id,
                "risk": t.risk,
                "severity": t.severity,
                "rule_id": t.rule_id,
                "title": t.title,
                "asset": {"kind": t.asset_kind, "name": t.asset_name},
                "category": t.category,
                "first_seen": _iso(t.first_seen),
            }
            for t in head.top
        ],
        "changes": {
            "counts": head.change_counts,
            "top": [
                {
                    "finding_id": c.finding_id,
                    "change": c.change,
                    "event": c.event,
                    "severity": c.severity,
                    "risk": c.risk,
                    "rule_id": c.rule_id,
                    "title": c.title,
                    "asset": c.asset_name,
                }
                for c in head.changes
            ],
        },
        "health": [
            {
                "source": f"{h.kind}:{h.name}",
                "identity": h.identity,
                "status": h.status,
                "started_at": _iso(h.started_at),
                "finished_at": _iso(h.finished_at),
                "error": h.error,
            }
            for h in head.health
        ],
    }


def render(o: Overview) -> str:
    return json_text(summary_dict(o))
