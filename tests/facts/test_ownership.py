"""posture/facts/ownership.py: the team a label or annotation names under the configured key, the same
answer for the collector (attributes["team"]) and the estate's team groups (test_agreement.py)."""

from __future__ import annotations

import pytest

from posture.facts.ownership import names_team, team_of


@pytest.mark.parametrize(
    ("key", "team_label", "names"),
    [
        ("team", "team", True),
        ("example.com/team", "team", True),
        ("a/b/team", "team", True),
        ("teams", "team", False),
        ("example.com/teams", "team", False),
        ("myteam", "team", False),
        ("example.com/owner", "example.com/owner", True),
        ("other.com/owner", "example.com/owner", False),  # a prefixed key is matched exactly
        ("owner", "example.com/owner", False),
    ],
)
def test_names_team(key: str, team_label: str, names: bool) -> None:
    assert names_team(key, team_label) is names


def test_labels_before_annotations_the_object_before_its_template() -> None:
    assert team_of("team", [{"team": "a"}, {"team": "b"}], [{"team": "c"}]) == "a"
    assert team_of("team", [{}, {"team": "b"}], [{"team": "c"}]) == "b"
    assert team_of("team", [{}, {}], [{"x.io/team": "c"}, {"team": "d"}]) == "c"
    assert team_of("team", [{"app": "x"}], [{"note": "y"}]) is None
    assert team_of("team", []) is None


def test_the_exact_key_wins_then_prefixed_keys_in_sorted_order() -> None:
    assert team_of("team", [{"z.io/team": "z", "team": "exact", "a.io/team": "a"}]) == "exact"
    assert team_of("team", [{"z.io/team": "z", "a.io/team": "a"}]) == "a"
    assert team_of("team", [{"a.io/team": "", "z.io/team": "z"}]) == "z"  # an empty value names nobody
    assert team_of("team", [{"team": ""}], [{"team": "ann"}]) == "ann"


def test_a_configured_key() -> None:
    assert team_of("owner", [{"team": "t"}], [{"corp.io/owner": "o"}]) == "o"
    assert team_of("corp.io/owner", [{"owner": "x", "other.io/owner": "y"}]) is None
    assert team_of("corp.io/owner", [{"corp.io/owner": "p"}]) == "p"
