"""Which team owns an asset, from its labels and annotations under the configured key (``team_label``).

The Kubernetes collector records the answer on each workload and pod; the estate's ``team`` groups,
exception reach by team and the event stream read it back. Both sides call :func:`team_of` on the same
labels and annotations, so a configured key other than ``team`` (or a prefixed one such as
``example.com/team``) cannot mean one team at collection and another when scoring.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def names_team(key: str, team_label: str) -> bool:
    """Whether a label or annotation ``key`` names the owning team under ``team_label``: the key itself,
    or for an unprefixed one any ``<prefix>/<team_label>`` (``example.com/team``)."""
    return key == team_label or ("/" not in team_label and key.endswith("/" + team_label))


def _named(source: Mapping[str, object], team_label: str) -> str | None:
    """The key itself first, then prefixed keys in sorted order (a mapping's order is not meaningful)."""
    exact = source.get(team_label)
    if exact:
        return str(exact)
    for key in sorted(str(k) for k in source):
        value = source.get(key)
        if value and names_team(key, team_label):
            return str(value)
    return None


def team_of(team_label: str, labels: Iterable[Mapping[str, object]],
            annotations: Iterable[Mapping[str, object]] = ()) -> str | None:
    """The first team named: every labels mapping in order (the object's before its pod template's),
    then the annotations the same way (teams that keep ownership out of selectors annotate instead)."""
    for source in (*labels, *annotations):
        found = _named(source, team_label)
        if found is not None:
            return found
    return None
