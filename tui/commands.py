"""Command palette entries (ctrl+p): views, sorts and the common filters, findable by name."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from textual.app import SystemCommand

from posture.store.queries import FindingFilter
from posture.taxonomy import Category, FindingStatus, Phase, Severity

VIEWS = (
    ("overview", "Overview", "Score, trend, counts, top risks, changes, collection health"),
    ("findings", "Findings", "Every finding, riskiest first"),
    ("assets", "Assets", "Asset trees by source"),
    ("trace", "Lifecycle trace", "One image from build to run"),
    ("diff", "Diff", "New / resolved / regressed since an earlier run"),
    ("exceptions", "Exceptions", "Accepted risks in force: scope, owner, until when; revoke one"),
)

OPEN = (FindingStatus.OPEN.value,)


def filter_presets() -> Iterator[tuple[str, str, FindingFilter]]:
    for sev in sorted(Severity, key=lambda s: -s.rank)[:3]:
        yield f"Findings: {sev.value} and above", "Open findings at or above this severity", FindingFilter(sev, OPEN)
    for status in FindingStatus:
        yield f"Findings: {status.value}", f"Every {status.value} finding", FindingFilter(statuses=(status.value,))
    yield "Findings: every status", "Open, accepted and resolved", FindingFilter()
    for phase in Phase:
        yield (
            f"Findings: {phase.value} phase",
            "Open findings of this lifecycle phase",
            FindingFilter(statuses=OPEN, phases=(phase.value,)),
        )
    for area in Category:
        yield (
            f"Findings: {area.value} area",
            "Open findings of this NIST SP 800-190 area",
            FindingFilter(statuses=OPEN, categories=(area.value,)),
        )


def commands(
    view: Callable[[str], None], findings: Callable[[FindingFilter | None, str | None], None]
) -> Iterator[SystemCommand]:
    for mode, title, help_text in VIEWS:
        yield SystemCommand(f"View: {title}", help_text, partial(view, mode))
    for order in ("risk", "severity", "age"):
        yield SystemCommand(f"Findings: sort by {order}", "Reorder the findings table", partial(findings, None, order))
    for title, help_text, flt in filter_presets():
        yield SystemCommand(title, help_text, partial(findings, flt, None))
