"""Roll-ups and the posture score: how bad is the estate (or a namespace, a team, a NIST area)?

The score has two parts, both documented in docs/scoring.md:

* **depth** (up to 40 points off): the number of open findings in the top risk band. The first
  ones cost the most (40 × (1 − 0.9ⁿ)), so one critical-risk finding is visible in the grade
  but ten of them are not ten times worse than five.
* **breadth** (up to 60 points off): risk-weighted findings per asset, D, saturating as
  60 × D / (D + 5), so a big estate is not punished for its size and a small one for its emptiness.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from posture.scoring.estate import DIMENSIONS, Estate
from posture.scoring.formula import round_half_up

#: Risk bands, highest first: (name, lowest risk in the band, weight in the breadth term).
RISK_BANDS: tuple[tuple[str, int, float], ...] = (
    ("critical", 80, 10.0),
    ("high", 60, 4.0),
    ("medium", 40, 1.0),
    ("low", 20, 0.25),
    ("minimal", 0, 0.0),
)
DEPTH_MAX, DEPTH_BASE = 40.0, 0.9
BREADTH_MAX, BREADTH_HALF = 60.0, 5.0
#: Grade thresholds on the 0–100 score, best first.
GRADES: tuple[tuple[str, float], ...] = (("A", 90.0), ("B", 80.0), ("C", 70.0), ("D", 60.0), ("F", 0.0))


def band_of(risk: int) -> str:
    for name, lowest, _weight in RISK_BANDS:
        if risk >= lowest:
            return name
    return RISK_BANDS[-1][0]


#: ``band_of`` for every risk 0–100, for loops that run once per finding.
BAND_OF_RISK: tuple[str, ...] = tuple(band_of(risk) for risk in range(101))


def grade_of(score: float) -> str:
    for grade, lowest in GRADES:
        if score >= lowest:
            return grade
    return GRADES[-1][0]


def posture_score(bands: Mapping[str, int], assets: int) -> float:
    """100 minus depth minus breadth, one decimal (see the module docstring)."""
    depth = DEPTH_MAX * (1.0 - DEPTH_BASE ** bands.get("critical", 0))
    weighted = sum(weight * bands.get(name, 0) for name, _lowest, weight in RISK_BANDS)
    density = weighted / max(assets, 1)
    breadth = BREADTH_MAX * density / (density + BREADTH_HALF)
    return max(0.0, round_half_up(100.0 - depth - breadth, 1))


@dataclass
class Tally:
    """Open findings of one group: counts per risk band and per severity, the worst and the total risk."""

    bands: dict[str, int] = field(default_factory=dict)
    severities: dict[str, int] = field(default_factory=dict)
    open: int = 0
    max_risk: int = 0
    risk_sum: int = 0

    def add(self, risk: int, severity: str, times: int = 1) -> None:
        band = band_of(risk)
        self.bands[band] = self.bands.get(band, 0) + times
        self.severities[severity] = self.severities.get(severity, 0) + times
        self.open += times
        self.risk_sum += risk * times
        self.max_risk = max(self.max_risk, risk)

    def add_group(self, band: str, severity: str, count: int, max_risk: int, risk_sum: int) -> None:
        """``count`` findings of one band and severity at once (a GROUP BY row)."""
        self.bands[band] = self.bands.get(band, 0) + count
        self.severities[severity] = self.severities.get(severity, 0) + count
        self.open += count
        self.risk_sum += risk_sum
        self.max_risk = max(self.max_risk, max_risk)

    def absorb(self, other: Tally) -> None:
        for band, n in other.bands.items():
            self.bands[band] = self.bands.get(band, 0) + n
        for severity, n in other.severities.items():
            self.severities[severity] = self.severities.get(severity, 0) + n
        self.open += other.open
        self.risk_sum += other.risk_sum
        self.max_risk = max(self.max_risk, other.max_risk)

    def summary(self, assets: int) -> dict[str, Any]:
        """The JSON kept in a score snapshot: score, grade, risk (100 − score) and the counts."""
        value = posture_score(self.bands, assets)
        return {
            "score": value,
            "grade": grade_of(value),
            "risk": round_half_up(100.0 - value, 1),
            "assets": assets,
            "open": self.open,
            "max_risk": self.max_risk,
            "bands": dict(self.bands),
            "severities": dict(self.severities),
        }


def merge_tallies(tallies: Iterable[Tally]) -> Tally:
    total = Tally()
    for tally in tallies:
        total.absorb(tally)
    return total


def snapshot_counts(estate: Estate, counted: Mapping[tuple[int, str, str, str, str], Sequence[int]],
            accepted: int) -> dict[str, Any]:
    """Estate, NIST area, phase and structural groups (namespace, cluster, host, registry, team).

    ``counted`` holds [count, max risk, risk sum] of the open findings per (asset, area, phase,
    severity, band), counted while scoring; each asset's tally is then spread over its groups.
    """
    by_asset: dict[int, Tally] = defaultdict(Tally)
    by_category: dict[str, Tally] = defaultdict(Tally)
    by_phase: dict[str, Tally] = defaultdict(Tally)
    for (asset_id, category, phase, severity, band), (count, max_risk, risk_sum) in counted.items():
        for tally in (by_asset[asset_id], by_category[category], by_phase[phase]):
            tally.add_group(band, severity, count, max_risk, risk_sum)
    assets = estate.asset_count
    groups: dict[str, dict[str, Tally]] = {dim: defaultdict(Tally) for dim in DIMENSIONS}
    for asset_id, tally in by_asset.items():
        for dim, keys in estate.groups(asset_id).items():
            for key in keys:
                groups[dim][key].absorb(tally)
    members = estate.members()
    estate_tally = merge_tallies(by_asset.values())
    return {
        "formula": 1,
        "estate": {**estate_tally.summary(assets), "accepted": accepted},
        "groups": {
            "category": {k: t.summary(assets) for k, t in sorted(by_category.items())},
            "phase": {k: t.summary(assets) for k, t in sorted(by_phase.items())},
            **{
                dim: {k: t.summary(members.get((dim, k), 1)) for k, t in sorted(groups[dim].items())}
                for dim in DIMENSIONS
            },
        },
    }
