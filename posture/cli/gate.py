"""``--fail-on SEVERITY``: the CI gate of ``posture findings`` and ``posture collect``.

A gate judges what its command selected and nothing else (one team's pipeline never fails on another
team's findings), counts only open findings (an accepted risk was decided, a resolved one is gone),
and always says in one line on standard error why it failed or passed, so a red build explains itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

import click

from posture.cli.output import echo
from posture.taxonomy import Severity

_F = TypeVar("_F", bound=Callable[..., object])

#: The exit code of a failed gate (usage and input errors exit 2).
EXIT_GATE = 1


def fail_on_option(help_text: str) -> Callable[[_F], _F]:
    """The ``--fail-on`` option, spelled the same on every command that gates."""
    return click.option("--fail-on", type=click.Choice([s.value for s in Severity]), help=help_text)


def verdict(threshold: Severity, counts: Mapping[str, int], what: str) -> tuple[bool, str]:
    """Whether the gate fails, and its line: ``fail-on high: 3 selected findings at or above high
    (2 critical, 1 high)`` or ``fail-on high: passed, no selected finding open at or above high``.
    ``what`` names the findings judged ("selected", "from this collection")."""
    total = sum(counts.values())
    head = f"fail-on {threshold.value}:"
    if not total:
        return False, f"{head} passed, no open finding {what} at or above {threshold.value}"
    by_severity = ", ".join(
        f"{counts[s.value]} {s.value}" for s in sorted(Severity, key=lambda s: -s.rank) if counts.get(s.value)
    )
    noun = "finding" if total == 1 else "findings"
    return True, f"{head} {total} open {noun} {what} at or above {threshold.value} ({by_severity})"


def enforce(threshold: Severity, counts: Mapping[str, int], what: str) -> bool:
    """Print the gate's line on standard error; whether it failed (the caller exits :data:`EXIT_GATE`)."""
    failed, line = verdict(threshold, counts, what)
    echo(f"posture: {line}", err=True)
    return failed
