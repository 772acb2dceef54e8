"""The exceptions file (schema v1): what a valid entry becomes, and each rule's error with its line."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from posture.acceptance import Reach
from posture.exceptions_file import dump, parse

VALID = """\
version: 1
exceptions:
  - id: musl-dns
    owner: alice@example.com
    reason: resolver not reachable from outside
    created: 2026-01-10
    expires: 2027-03-01
    vulnerability: CVE-2019-14697
    aliases: [GHSA-xxxx-yyyy-zzzz]
    package: musl
  - id: legacy
    owner: ops
    reason: "until the vendor ships a fix"
    created: "2026-01-11"
    until_fix: true
    rule: VULN
    namespace: legacy
"""


def test_a_valid_file_becomes_acceptances_with_their_origin() -> None:
    parsed = parse(VALID, "ex.yaml")
    assert parsed.errors == []
    first, second = parsed.acceptances
    assert first.scope == Reach(vuln_id="CVE-2019-14697", aliases=("GHSA-xxxx-yyyy-zzzz",), package="musl")
    assert (first.source, first.key, first.origin) == ("file", "musl-dns", "ex.yaml:3")
    assert first.expires_at == datetime(2027, 3, 1, tzinfo=UTC) and not first.until_fix
    assert first.created_at == datetime(2026, 1, 10, tzinfo=UTC)
    assert second.until_fix and second.expires_at is None and second.origin == "ex.yaml:11"
    assert second.scope == Reach(rule_id="VULN", namespace="legacy")
    assert parsed.entries[1].created == date(2026, 1, 11)
    assert parsed.document == "ex.yaml"


def test_an_empty_list_is_a_valid_file() -> None:
    assert parse("version: 1\nexceptions: []\n", "f").errors == []


def _edit(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_edit("    package: musl\n", "    package: musl\n    colour: red\n"), "ex.yaml:11: unknown field 'colour'"),
        (_edit("owner: ops", "owner: [ops]"), "ex.yaml:12: 'owner' must be non-empty text, not a list"),
        (_edit("    owner: alice@example.com\n", ""), "ex.yaml:3: missing 'owner'"),
        (_edit('    reason: "until the vendor ships a fix"\n', ""), "ex.yaml:11: missing 'reason'"),
        (_edit("    until_fix: true\n", ""), "ex.yaml:11: missing expiry: give 'expires: YYYY-MM-DD' or"),
        (_edit("    until_fix: true\n", "    until_fix: true\n    expires: 2027-01-01\n"),
         "ex.yaml:15: give either 'expires' or 'until_fix: true', not both"),
        (_edit("until_fix: true", "until_fix: yes please"), "ex.yaml:15: 'until_fix' must be true or false"),
        (_edit("id: legacy", "id: musl-dns"), "ex.yaml:11: duplicate id 'musl-dns' (first at line 3)"),
        (_edit("expires: 2027-03-01", "expires: 2027-02-30"), "ex.yaml:7: invalid value '2027-02-30'"),
        (_edit('created: "2026-01-11"', 'created: "2026-13-11"'), "ex.yaml:14: 'created': invalid date"),
        (_edit("expires: 2027-03-01", "expires: soon"), "ex.yaml:7: 'expires' must be a date (YYYY-MM-DD)"),
        (_edit("    rule: VULN\n    namespace: legacy\n", ""), "ex.yaml:11: an exception needs a scope"),
        (_edit("    vulnerability: CVE-2019-14697\n", ""), "ex.yaml:3: aliases need a vulnerability id"),
        (_edit("    package: musl\n", "    package: musl\n    owner: bob\n"), "ex.yaml:11: duplicate field 'owner'"),
        (_edit("version: 1", "version: 2"), "ex.yaml:1: unsupported version '2'"),
        (_edit("version: 1\n", ""), "ex.yaml:1: missing 'version: 1'"),
        (_edit("version: 1\n", "version: 1\nextra: true\n"), "ex.yaml:2: unknown field 'extra'"),
        ("version: 1\nexceptions: {a: 1}\n", "ex.yaml:2: 'exceptions' must be a list"),
        (_edit("    reason: resolver", "    reason: [resolver"), "ex.yaml:6: invalid YAML"),
        ("", "ex.yaml:1: empty file"),
        (_edit("id: legacy", "id: " + "x" * 201), "ex.yaml:11: 'id' is longer than 200 characters"),
    ],
)
def test_each_rule_reports_its_line(text: str, expected: str) -> None:
    errors = parse(text, "ex.yaml").errors
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_every_problem_is_reported_and_the_valid_entries_kept() -> None:
    text = _edit("owner: ops", "owner: 7").replace("owner: alice@example.com", "owner: ''")
    parsed = parse(text, "ex.yaml")
    assert [e.split(":")[1] for e in parsed.errors] == ["4", "12"] and parsed.entries == []


def test_an_alias_bomb_is_refused_within_the_budget() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    errors = parse("\n".join(lines) + "\n", "bomb.yaml").errors
    assert len(errors) == 1 and errors[0].startswith("bomb.yaml:") and "YAML bomb" in errors[0]


def test_dump_reads_back_to_the_same_entries() -> None:
    entries = parse(VALID, "ex.yaml").entries
    again = parse(dump(entries), "out.yaml").entries
    assert [(e.id, e.created, e.acceptance.scope, e.acceptance.owner, e.acceptance.reason, e.acceptance.expires_at,
             e.acceptance.until_fix) for e in again] == [
        (e.id, e.created, e.acceptance.scope, e.acceptance.owner, e.acceptance.reason, e.acceptance.expires_at,
         e.acceptance.until_fix) for e in entries]
