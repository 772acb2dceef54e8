"""Risk scoring. This first cut gives each severity its base risk; the full, published formula
(exploitability, fix, exposure, privilege, use, prevalence) builds on these bases."""

from __future__ import annotations

from posture.taxonomy import Severity

#: A finding's risk before any context factor, on the 0–100 scale.
BASE_RISK: dict[Severity, int] = {
    Severity.CRITICAL: 90,
    Severity.HIGH: 70,
    Severity.MEDIUM: 45,
    Severity.LOW: 20,
    Severity.INFO: 5,
}
