"""The published risk formula (docs/scoring.md): a base from CVSS or severity, times six context factors.

Why multiply: each factor answers an independent question ("can it be exploited?", "can an attacker
reach it?", "what does a compromise give?"), and a finding is as dangerous as all answers together;
a stored-only image halves nothing the CVSS says but does make the same flaw less urgent.

Why the base stops at 60: the remaining 40 points are earned by context, so a critical CVE alone
is "high", and only a critical CVE that is also exploitable, reachable or privileged reaches the
top band. Every factor, its multiplier and its contribution in points is returned, so the score
can be explained line by line; a finding stores the inputs (``finding.risk_factors``) and
:func:`explain` recomputes that explanation from them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

import orjson

from posture.taxonomy import Severity

#: The base is 6 × a CVSS-like 0–10 score: at most 60 points before context.
BASE_SCALE = 6.0

#: A severity's CVSS equivalent, used when a finding has no CVSS score (mid-points of the CVSS v3 bands).
SEVERITY_CVSS: Mapping[Severity, float] = {
    Severity.CRITICAL: 9.5,
    Severity.HIGH: 7.5,
    Severity.MEDIUM: 5.5,
    Severity.LOW: 2.5,
    Severity.INFO: 0.5,
}

#: The CVSS v3 range of each severity. A CVSS score is clamped into its finding's severity range: the
#: scanner's severity (often the distribution's own assessment of the package as built) says how bad
#: the flaw is here, CVSS orders flaws within that range.
SEVERITY_CVSS_RANGE: Mapping[Severity, tuple[float, float]] = {
    Severity.CRITICAL: (9.0, 10.0),
    Severity.HIGH: (7.0, 8.9),
    Severity.MEDIUM: (4.0, 6.9),
    Severity.LOW: (0.1, 3.9),
    Severity.INFO: (0.1, 0.9),
}

#: A finding's risk with every factor neutral; the pipeline stores it until the finding is scored.
BASE_RISK: Mapping[Severity, int] = {s: math.floor(BASE_SCALE * v + 0.5) for s, v in SEVERITY_CVSS.items()}

KEV_MULTIPLIER = 1.5
#: (minimum EPSS probability, multiplier), first match wins; below the last band EPSS lowers the risk.
EPSS_BANDS: tuple[tuple[float, float], ...] = ((0.5, 1.35), (0.1, 1.2), (0.01, 1.05), (0.0, 0.9))
FIX_AVAILABLE_MULTIPLIER = 1.15
EXPOSED_MULTIPLIER = 1.3
#: Privilege multipliers; the strongest privilege present counts (they describe one escape, not several).
PRIVILEGE_MULTIPLIERS: Mapping[str, float] = {
    "privileged": 1.3,
    "docker-socket": 1.3,
    "host-pid": 1.2,
    "host-network": 1.2,
    "host-ipc": 1.2,
    "root": 1.1,
}
PREVALENCE_STEP = 0.05  # per doubling of the number of containers and pods running it
PREVALENCE_CAP = 1.3


class Use(StrEnum):
    """Whether the asset behind a finding runs now."""

    RUNNING = "running"  # a running container or pod
    DEPLOYED = "deployed"  # declared or stopped: a workload without running pods, a stopped container
    STORED = "stored"  # an image only held in a registry or a report: nothing runs it
    NOT_APPLICABLE = "n/a"  # hosts, clusters, registries: the question does not arise


USE_MULTIPLIERS: Mapping[Use, float] = {Use.RUNNING: 1.0, Use.DEPLOYED: 0.8, Use.STORED: 0.6, Use.NOT_APPLICABLE: 1.0}


@dataclass(frozen=True, slots=True)
class FindingFacts:
    """What the finding itself says: severity, CVSS base score, and exploitability data for its CVE."""

    severity: Severity
    cvss: float | None = None
    kev: bool = False
    epss: float | None = None
    fix_available: bool | None = None  # None: the question does not apply (not a vulnerability)


@dataclass(frozen=True, slots=True)
class Context:
    """What the estate says about the asset: whether it runs, is reachable, how privileged, how widespread."""

    use: Use = Use.NOT_APPLICABLE
    exposed: bool = False
    privileges: frozenset[str] = frozenset()
    prevalence: int = 0  # containers and pods running it (images), pods of a workload, else 1


@dataclass(frozen=True, slots=True)
class Score:
    risk: int
    factors: dict[str, Any] = field(default_factory=dict)


def round_half_up(value: float, digits: int = 0) -> float:
    """Rounding the documentation can reproduce by hand (Python's round() is banker's rounding)."""
    scale = 10.0**digits
    return math.floor(value * scale + 0.5) / scale


#: The factors in the order they apply.
FACTORS = ("base", "exploitability", "fix", "exposure", "privilege", "use", "prevalence", "cap")

#: A factor as shown: its value and its multiplier.
Factor = tuple[Any, float]


def _json_items(values: list[Any]) -> str:
    """``values`` as JSON without the enclosing brackets: a fragment of the stored inputs list."""
    return orjson.dumps(values).decode()[1:-1]


@lru_cache(maxsize=16384)
def _facts_part(facts: FindingFacts) -> tuple[float, str, tuple[Factor, Factor], str]:
    """Base points, the base as shown, the exploitability and fix factors, and the facts' stored
    form; cached because many findings share CVSS, KEV, EPSS and fix."""
    if facts.cvss is not None and 0.0 < facts.cvss <= 10.0:
        low, high = SEVERITY_CVSS_RANGE[facts.severity]
        used = min(max(facts.cvss, low), high)
        shown = f"CVSS {facts.cvss:g}"
        if used != facts.cvss:
            shown += f", {facts.severity.value}: {used:g}"
        base = BASE_SCALE * used
    else:
        equivalent = SEVERITY_CVSS[facts.severity]
        shown, base = f"{facts.severity.value} (CVSS-equivalent {equivalent:g})", BASE_SCALE * equivalent
    if facts.kev:
        exploit: Factor = ("in CISA KEV", KEV_MULTIPLIER)
    elif facts.epss is None:
        exploit = ("no data", 1.0)
    else:
        exploit = (f"EPSS {facts.epss:.3f}", next(m for lowest, m in EPSS_BANDS if facts.epss >= lowest))
    if facts.fix_available is None:
        fix: Factor = ("n/a", 1.0)
    else:
        fix = ("available", FIX_AVAILABLE_MULTIPLIER) if facts.fix_available else ("none", 1.0)
    stored = _json_items([facts.severity.value, facts.cvss, facts.kev, facts.epss, facts.fix_available])
    return base, shown, (exploit, fix), stored


def prevalence_multiplier(count: int) -> float:
    """+5 % per doubling of the number of running copies, at most +30 % (64 copies)."""
    if count <= 1:
        return 1.0
    return min(PREVALENCE_CAP, 1.0 + PREVALENCE_STEP * math.log2(count))


@lru_cache(maxsize=16384)
def _context_part(context: Context) -> tuple[tuple[Factor, Factor, Factor, Factor], str]:
    """The asset's factors and its stored form; cached because every finding of one asset shares them."""
    applicable = context.use is not Use.NOT_APPLICABLE
    if context.exposed:
        exposure: Factor = ("internet-exposed", EXPOSED_MULTIPLIER)
    else:
        exposure = ("internal" if applicable else "n/a", 1.0)
    ordered = sorted(context.privileges, key=lambda p: (-PRIVILEGE_MULTIPLIERS.get(p, 1.0), p))
    if ordered:
        privilege: Factor = (", ".join(ordered), max(PRIVILEGE_MULTIPLIERS.get(p, 1.0) for p in ordered))
    else:
        privilege = ("none" if applicable else "n/a", 1.0)
    use: Factor = (context.use.value, USE_MULTIPLIERS[context.use])
    prevalence: Factor = ("n/a", 1.0)
    if applicable:
        prevalence = (context.prevalence, round_half_up(prevalence_multiplier(context.prevalence), 3))
    stored = _json_items([context.use.value, context.exposed, sorted(context.privileges), context.prevalence])
    return (exposure, privilege, use, prevalence), stored


def scored_inputs(facts: FindingFacts, context: Context) -> tuple[int, str]:
    """The risk, and what it was computed from as stored in ``finding.risk_factors``: ``"i":[…]``.

    Scoring stores the inputs, not the explanation: :func:`explain` recomputes the factors from
    them with this formula when a finding is shown, so writing 100,000 re-scored findings writes a
    few dozen bytes each, and this, which runs once per finding and run, only multiplies.
    """
    value, _shown, own, facts_stored = _facts_part(facts)
    factors, context_stored = _context_part(context)
    for _value, multiplier in own + factors:
        value *= multiplier
    return math.floor(min(value, 100.0) + 0.5), f'"i":[{facts_stored},{context_stored}]'


def score(facts: FindingFacts, context: Context) -> Score:
    """The risk 0–100 and its explanation: factor → value, multiplier and contribution in points.

    Contributions are the points each factor adds (or removes) when applied in the documented order,
    so base + contributions = the product before the cap; a ``cap`` entry records what 100 cut off.
    Multipliers are used as shown (three decimals), so the explanation reproduces the risk exactly:
    the same products in the same order as :func:`scored_inputs`.
    """
    value, shown, own, _stored = _facts_part(facts)
    factors, _context_stored = _context_part(context)
    explained: dict[str, Any] = {"base": {"value": shown, "contribution": round_half_up(value, 1)}}
    for name, (factor_value, multiplier) in zip(FACTORS[1:-1], own + factors, strict=True):
        after = value * multiplier
        explained[name] = {"value": factor_value, "multiplier": multiplier,
                           "contribution": round_half_up(after - value, 1)}
        value = after
    if value > 100.0:
        explained["cap"] = {"value": 100, "contribution": round_half_up(100.0 - value, 1)}
    return Score(math.floor(min(value, 100.0) + 0.5), explained)


def explain(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored ``risk_factors`` in its published shape: the ``scored`` entry, then per factor its
    ``value``, ``multiplier`` (none for ``base`` and ``cap``) and ``contribution`` (docs/scoring.md),
    recomputed from the stored inputs."""
    if not stored:
        return {}
    out = {"scored": stored["scored"]} if "scored" in stored else {}
    inputs = _decode(stored.get("i"))
    if inputs is not None:
        out.update(score(*inputs).factors)
    else:
        out.update(_as_stored(stored))
    return out


def _as_stored(stored: Mapping[str, Any]) -> dict[str, Any]:
    """An explanation an earlier formula version stored itself, shown as stored until the next run
    re-scores the finding: version 1 in its published shape, version 2 as ``"f"``,
    ``[value, multiplier, contribution]`` per factor in :data:`FACTORS` order."""
    out: dict[str, Any] = {name: stored[name] for name in FACTORS if isinstance(stored.get(name), Mapping)}
    entries = stored.get("f")
    for name, entry in zip(FACTORS, entries if isinstance(entries, list) else [], strict=False):
        if isinstance(entry, list) and len(entry) == 3:
            value, multiplier, contribution = entry
            shown = {"value": value, "multiplier": multiplier, "contribution": contribution}
            out[name] = shown if multiplier is not None else {"value": value, "contribution": contribution}
    return out


def _decode(entry: Any) -> tuple[FindingFacts, Context] | None:
    """The (facts, context) :func:`scored_inputs` stored, or None for anything else (an older form)."""
    if not isinstance(entry, list) or len(entry) != 9:
        return None
    severity, cvss, kev, epss, fix, use, exposed, privileges, prevalence = entry
    try:
        facts = FindingFacts(Severity(severity), json_number(cvss), kev is True, json_number(epss),
                             fix if isinstance(fix, bool) else None)
        context = Context(Use(use), exposed is True, frozenset(p for p in privileges if isinstance(p, str)),
                          prevalence if isinstance(prevalence, int) else 0)
    except (ValueError, TypeError):
        return None
    return facts, context


def json_number(value: Any) -> float | None:
    """A JSON number as a float; None for anything else (``true`` is not 1, ``"9.8"`` is not 9.8)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
