"""The published risk formula (docs/scoring.md): a base from CVSS or severity, times six context factors.

Why multiply: each factor answers an independent question ("can it be exploited?", "can an attacker
reach it?", "what does a compromise give?"), and a finding is as dangerous as all answers together;
a stored-only image halves nothing the CVSS says but does make the same flaw less urgent.

Why the base stops at 60: the remaining 40 points are earned by context, so a critical CVE alone
is "high", and only a critical CVE that is also exploitable, reachable or privileged reaches the
top band. Every factor, its multiplier and its contribution in points is returned, so the score
can be explained line by line (``finding.risk_factors``).
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


#: The factors in the order they apply: stored by position (:func:`explain` names them again).
FACTORS = ("base", "exploitability", "fix", "exposure", "privilege", "use", "prevalence", "cap")


def _entry(value: Any, multiplier: float | None) -> str:
    """A factor's stored ``[value, multiplier, contribution]`` with a ``%r`` placeholder for the
    contribution, the one part that depends on the factors applied before it."""
    head = orjson.dumps([value, multiplier]).decode()[:-1].replace("%", "%%")
    return f"{head},%r]"


@lru_cache(maxsize=16384)
def _facts_part(facts: FindingFacts) -> tuple[str, float, tuple[float, ...]]:
    """Base and the finding's own factors as a JSON template; cached because many findings share
    CVSS, KEV, EPSS and fix."""
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
        exploit: tuple[str, float] = ("in CISA KEV", KEV_MULTIPLIER)
    elif facts.epss is None:
        exploit = ("no data", 1.0)
    else:
        exploit = (f"EPSS {facts.epss:.3f}", next(m for lowest, m in EPSS_BANDS if facts.epss >= lowest))
    if facts.fix_available is None:
        fix: tuple[str, float] = ("n/a", 1.0)
    else:
        fix = ("available", FIX_AVAILABLE_MULTIPLIER) if facts.fix_available else ("none", 1.0)
    template = '{"f":[' + ",".join([_entry(shown, None), _entry(*exploit), _entry(*fix)])
    return template, base, (exploit[1], fix[1])


def prevalence_multiplier(count: int) -> float:
    """+5 % per doubling of the number of running copies, at most +30 % (64 copies)."""
    if count <= 1:
        return 1.0
    return min(PREVALENCE_CAP, 1.0 + PREVALENCE_STEP * math.log2(count))


@lru_cache(maxsize=16384)
def _context_part(context: Context) -> tuple[str, tuple[float, ...]]:
    """The asset's factors as a JSON template; cached because every finding of one asset shares them."""
    applicable = context.use is not Use.NOT_APPLICABLE
    if context.exposed:
        exposure: tuple[str, float] = ("internet-exposed", EXPOSED_MULTIPLIER)
    else:
        exposure = ("internal" if applicable else "n/a", 1.0)
    if context.privileges:
        ordered = sorted(context.privileges, key=lambda p: (-PRIVILEGE_MULTIPLIERS.get(p, 1.0), p))
        privilege: tuple[str, float] = (", ".join(ordered), max(PRIVILEGE_MULTIPLIERS.get(p, 1.0) for p in ordered))
    else:
        privilege = ("none" if applicable else "n/a", 1.0)
    use = (context.use.value, USE_MULTIPLIERS[context.use])
    prevalence: tuple[Any, float] = ("n/a", 1.0)
    if applicable:
        prevalence = (context.prevalence, round_half_up(prevalence_multiplier(context.prevalence), 3))
    factors = (exposure, privilege, use, prevalence)
    template = "".join("," + _entry(*value) for value in factors)
    return template, tuple(value[1] for value in factors)


_CAP = ",[100,null,%r]"


def score_json(facts: FindingFacts, context: Context) -> tuple[int, str]:
    """The risk and its explanation as the JSON text stored in ``finding.risk_factors``.

    Built from cached templates, because it runs once per finding and run (100,000 times); only the
    contributions, which depend on every factor applied before, are computed here. Stored compactly,
    ``{"f": [[value, multiplier, contribution], ...]}`` in :data:`FACTORS` order: a third of the
    size of the named form, which is most of what writing 100,000 re-scored findings costs.
    """
    facts_template, value, own = _facts_part(facts)
    context_template, contextual = _context_part(context)
    floor = math.floor
    contributions = [floor(value * 10.0 + 0.5) / 10.0]
    for multiplier in own + contextual:
        after = value * multiplier
        contributions.append(floor((after - value) * 10.0 + 0.5) / 10.0)
        value = after
    template = facts_template + context_template
    if value > 100.0:
        contributions.append(floor((100.0 - value) * 10.0 + 0.5) / 10.0)
        template += _CAP
        value = 100.0
    return floor(value + 0.5), "".join((template, "]}")) % tuple(contributions)


def score(facts: FindingFacts, context: Context) -> Score:
    """The risk 0–100 and its explanation: factor → value, multiplier and contribution in points.

    Contributions are the points each factor adds (or removes) when applied in the documented order,
    so base + contributions = the product before the cap; a ``cap`` entry records what 100 cut off.
    Multipliers are used as shown (three decimals), so the explanation reproduces the risk exactly.
    """
    risk, text = score_json(facts, context)
    return Score(risk, explain(orjson.loads(text)))


def explain(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored explanation in its published shape: factor → ``value``, ``multiplier`` (none for
    ``base`` and ``cap``) and ``contribution``, after the ``scored`` entry (docs/scoring.md)."""
    if not stored:
        return {}
    out = {k: v for k, v in stored.items() if k != "f"}
    entries = stored.get("f")
    if isinstance(entries, list):
        for name, entry in zip(FACTORS, entries, strict=False):
            if isinstance(entry, list) and len(entry) == 3:
                value, multiplier, contribution = entry
                named = {"value": value, "multiplier": multiplier, "contribution": contribution}
                out[name] = named if multiplier is not None else {"value": value, "contribution": contribution}
    return out
