"""What changed between two moments, from the history events in between (pure: no database).

A diff is *net*: a finding opened and resolved again inside the window is no change; one resolved
and reopened is "reopened", not "new" and "resolved". Each finding lands in at most one category,
chosen by comparing its state before the window with its state after it:

=====================  ======================  ==========================================
before                 after                   category
=====================  ======================  ==========================================
absent                 open                    new
resolved               open                    reopened
open                   open, worse             regressed (a ``regressed`` event: severity
                                               or risk went up)
open or accepted       resolved                resolved
anything else          accepted                accepted (newly accepted risk)
accepted               open                    exception-expired (its exception ran out),
                                               exception-revoked (someone ended it), else
                                               unaccepted
=====================  ======================  ==========================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from posture.taxonomy import Severity

#: Categories in the order a reader wants them.
CATEGORIES: tuple[str, ...] = (
    "new",
    "reopened",
    "regressed",
    "exception-expired",
    "exception-revoked",
    "unaccepted",
    "accepted",
    "resolved",
)

#: Events that end an acceptance and name why (else a reopened accepted finding is "unaccepted").
_ENDINGS = frozenset({"exception-expired", "exception-revoked"})

#: The state a finding is in after each history event; ``regressed`` leaves the state unchanged.
STATE_AFTER: Mapping[str, str] = {
    "new": "open",
    "reopened": "open",
    "unaccepted": "open",
    "exception-expired": "open",
    "exception-revoked": "open",
    "resolved": "resolved",
    "accepted": "accepted",
}


class Event(NamedTuple):
    """One history event; any tuple that starts with these four fields will do (a database row),
    and a fifth, when present, is the run that made it."""

    finding_id: int
    event: str
    severity: str
    risk: int
    run_id: int | None = None


class Before(NamedTuple):
    """A finding's state, severity and risk after its last event before the window.

    Named tuples, here and below, because a baseline run makes 100,000 of each: a frozen dataclass
    costs three times as much to build.
    """

    state: str
    severity: str
    risk: int


class Entry(NamedTuple):
    finding_id: int
    change: str
    severity: str
    risk: int
    previous_severity: str | None = None
    previous_risk: int | None = None
    #: The run of the finding's last event in the window: for a resolved finding, the run that resolved it.
    run_id: int | None = None


def _rank(severity: str) -> int:
    try:
        return Severity(severity).rank
    except ValueError:
        return -1


def classify(before: Mapping[int, Before], events: Iterable[tuple[Any, ...]]) -> list[Entry]:
    """Net changes of the window, by category order, riskiest first within a category.

    ``events`` are the window's events in time order, each starting (finding id, event, severity,
    risk) (:class:`Event`); ``before`` holds the findings that had events earlier (a finding absent
    from it did not exist when the window opened).
    """
    state: dict[int, str] = {}
    last: dict[int, tuple[Any, ...]] = {}
    regressed: set[int] = set()
    ended: dict[int, str] = {}  # why a finding's acceptance ended: exception-expired or -revoked
    after_event = STATE_AFTER.get
    for e in events:
        fid, event = e[0], e[1]
        new_state = after_event(event)
        if new_state is None:
            new_state = state.get(fid) or _state(before, fid)
            if event == "regressed":
                regressed.add(fid)
        elif event in _ENDINGS:
            ended[fid] = event
        else:
            ended.pop(fid, None)  # accepted again, or reopened for another reason since
        state[fid] = new_state
        last[fid] = e
    out: list[Entry] = []
    for fid, after in state.items():
        prior = before.get(fid)
        change = _category(prior.state if prior else None, after, fid in regressed, ended.get(fid))
        if change is None:
            continue
        e = last[fid]
        if change == "regressed" and prior and _rank(e[2]) < _rank(prior.severity):
            continue  # worse then better again within the window: not a regression on balance
        run_id = e[4] if len(e) > 4 else None
        out.append(
            Entry(fid, change, e[2], e[3], prior.severity if prior else None, prior.risk if prior else None, run_id)
        )
    order = {c: i for i, c in enumerate(CATEGORIES)}
    out.sort(key=lambda x: (order[x.change], -x.risk, x.finding_id))
    return out


def _state(before: Mapping[int, Before], finding_id: int) -> str:
    prior = before.get(finding_id)
    return prior.state if prior else "open"


def _category(old: str | None, new: str, regressed: bool, ended: str | None) -> str | None:
    if new == "open":
        if old is None:
            return "new"
        if old == "resolved":
            return "reopened"
        if old == "accepted":
            return ended or "unaccepted"
        return "regressed" if regressed else None
    if new == "resolved":
        return "resolved" if old in ("open", "accepted") else None
    if new == "accepted":
        return "accepted" if old != "accepted" else None
    return None


def counts(entries: Iterable[Entry]) -> dict[str, int]:
    """Entries per category, every category present (zero included) so JSON consumers need no defaults."""
    out = dict.fromkeys(CATEGORIES, 0)
    for entry in entries:
        out[entry.change] += 1
    return out
