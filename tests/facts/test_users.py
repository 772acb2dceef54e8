"""posture/facts/users.py: whether ``user[:group]`` is root, on both sides of each form (Docker's USER and
``--user``; runc reads a numeric user with strconv.Atoi, so 00 and +0 are UID 0)."""

from __future__ import annotations

import pytest

from posture.facts.users import is_root_user

CASES = [
    ("", True),
    ("  ", True),
    ("root", True),
    (" root ", True),
    ("0", True),
    ("00", True),
    ("+0", True),
    ("-0", True),
    ("0:0", True),
    ("0:1000", True),
    ("root:staff", True),
    ("root:0", True),
    ("1000", False),
    ("1000:0", False),
    ("10", False),
    ("01", False),
    ("app", False),
    ("app:root", False),
    ("rooty", False),
    ("Root", False),  # user names are case-sensitive: "Root" is another account
    ("0x0", False),
    ("nobody", False),
]


@pytest.mark.parametrize(("user", "root"), CASES)
def test_is_root_user(user: str, root: bool) -> None:
    assert is_root_user(user) is root
