"""What a channel reads, exactly: the digest of a few representative events (a new critical finding, a
regression, a resolution, a scope's risk rising, an accepted risk, a revoked one, a failing collector,
an expiring exception, a baseline), the tables of headings and summary words, the service limits, and
the helpers that name an asset, a detail, a first step and a source.

Exact texts are pinned on purpose: a heading, a count, an arrow or an owner that silently changes is a
message that tells the on-call engineer something else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from posture.notify.policy import (
    DEFAULT_EVENTS,
    EVENTS,
    EXCEPTION_ENDINGS,
    FINDING_EVENTS,
    SCOPE_KEYS,
    SERVICE_LIMITS,
    Item,
    Limit,
    Message,
    Route,
    Thresholds,
    asset_text,
    finding_detail,
    first_step,
    message_limit,
    neutralise,
    open_command,
    queue_line,
    render_digest,
    source_label,
    team_of,
)
from posture.taxonomy import Severity

FOOTER = "Open it in the terminal: posture tui --view diff"

#: A new critical finding on a Docker host, owned by a team.
CRITICAL: dict[str, Any] = {
    "rule_id": "DKR-PRIVILEGED", "title": "Container runs privileged", "severity": "critical", "risk": 88,
    "asset": "web-1", "asset_kind": "container", "detail": "privileged = true",
    "remediation": "Drop --privileged. Grant only the capabilities it needs.",
    "groups": {"host": ["docker-7"], "team": ["payments"]},
}


def test_a_new_critical_finding_reads_exactly_so() -> None:
    message = render_digest([Item("new", CRITICAL)], run_id=12, scope="kubernetes:prod-eu")
    assert message.title == "Posture: 1 new risk on cluster prod-eu"
    assert message.body == "\n".join([
        "1 new risk on cluster prod-eu (run 12)",
        "",
        "New risks (1)",
        "Team payments (1)",
        "- [critical, risk 88] Container runs privileged: privileged = true (DKR-PRIVILEGED)",
        "  on host docker-7 / container web-1; owner: team payments",
        "  fix: Drop --privileged.",
        "  open: posture findings --rule DKR-PRIVILEGED --search web-1",
        "",
        f"{FOOTER}  (or: posture diff --to 12)",
    ])


def test_a_regression_shows_both_sides_of_each_change() -> None:
    regressed = {"rule_id": "CVE-RULE", "title": "Vulnerable package", "severity": "critical",
                 "previous_severity": "high", "risk": 91, "previous_risk": 72, "asset": "shop/api:1.2",
                 "asset_kind": "tag", "detail": "CVE-2024-1 in openssl 3, fixed in 3",
                 "groups": {"registry": ["reg"], "team": ["shop"]}}
    message = render_digest([Item("regressed", regressed)], run_id=5)
    assert message.title == "Posture: 1 regression"
    assert message.body == "\n".join([
        "1 regression (run 5)",
        "",
        "Regressed (1)",
        "Team shop (1)",
        "- [high→critical, risk 72→91] Vulnerable package: CVE-2024-1 in openssl 3, fixed in 3 (CVE-RULE)",
        "  on registry reg / tag shop/api:1.2; owner: team shop",
        "  open: posture findings --rule CVE-RULE --search shop/api:1.2",
        "",
        f"{FOOTER}  (or: posture diff --to 5)",
    ])


@pytest.mark.parametrize(("change", "said"), [
    ({"previous_severity": "critical", "previous_risk": 91}, "[critical, risk 91]"),  # unchanged: no arrow
    ({"previous_severity": None, "previous_risk": None}, "[critical, risk 91]"),
    ({"previous_severity": "", "previous_risk": 0}, "[critical, risk 0→91]"),  # a previous risk 0 is a risk
    ({"previous_severity": "high"}, "[high→critical, risk 91]"),
    ({"previous_risk": 81}, "[critical, risk 81→91]"),
])
def test_a_risk_shows_what_it_was_only_when_it_changed(change: dict[str, Any], said: str) -> None:
    payload = {"rule_id": "R", "title": "T", "asset": "a", "severity": "critical", "risk": 91, **change}
    assert f"- {said} T (R)\n" in render_digest([Item("regressed", payload)]).body


def test_a_finding_without_severity_risk_title_or_rule_still_reads() -> None:
    body = render_digest([Item("new", {})]).body
    assert "No team label (1)\n- [?, risk ?]  (?)\n  on ?; owner: no team label\n  open: posture findings --rule '?'" \
           " --search '?'\n" in body


def test_a_resolution_is_announced_with_what_the_run_judged() -> None:
    resolved = {**CRITICAL, "coverage": "rules DKR-*"}
    message = render_digest([Item("resolved", resolved)], run_id=8)
    assert message.title == "Posture: 1 resolved"
    assert message.body.split("\n")[:5] == [
        "1 resolved (run 8)", "", "Resolved (1) by run 8, which judged: rules DKR-*", "Team payments (1)",
        "- [critical, risk 88] Container runs privileged: privileged = true (DKR-PRIVILEGED)"]
    # The coverage is neutralised (it names a source) and absent coverage adds nothing.
    hostile = render_digest([Item("resolved", {**CRITICAL, "coverage": "<!channel> see evil.com"})], run_id=8).body
    assert "which judged: ‹!channel› see evil[.]com\n" in hostile
    assert "Resolved (1)\nTeam payments (1)" in render_digest([Item("resolved", CRITICAL)], run_id=8).body


def test_a_scope_whose_risk_rose_reads_exactly_so() -> None:
    payload = {"dimension": "namespace", "group": "eu-1/prod", "risk": 55.5, "previous_risk": 42.0, "score": 44.5,
               "grade": "D", "threshold": 50.0}
    riskier = {**payload, "group": "eu-1/dev", "risk": 61, "score": 39}
    message = render_digest([Item("scope-risk", payload), Item("scope-risk", riskier)], run_id=5)
    assert message.title == "Posture: 2 scopes past their threshold"
    assert message.body == "\n".join([
        "2 scopes past their threshold (run 5)",
        "",
        "Risk rose past the threshold (2)",
        "- namespace eu-1/dev: risk 42.0→61 (score 39, grade D; threshold 50.0)",  # riskiest first
        "- namespace eu-1/prod: risk 42.0→55.5 (score 44.5, grade D; threshold 50.0)",
        "",
        f"{FOOTER}  (or: posture diff --to 5)",
    ])


def test_an_accepted_risk_says_who_accepted_it_why_and_for_what() -> None:
    accepted = {**CRITICAL, "accepted": True, "exception": {
        "id": 4, "owner": "alice", "reason": "legacy until Q3", "scope": "rule DKR-PRIVILEGED", "revoked_by": None}}
    body = render_digest([Item("new", accepted)]).body
    assert ("- [critical, risk 88] Container runs privileged: privileged = true (DKR-PRIVILEGED)"
            " (accepted under exception 4 by alice: legacy until Q3; scope rule DKR-PRIVILEGED)\n") in body
    assert body.endswith(f"\n\n{FOOTER}")  # no run: no diff command
    assert body.startswith("1 new risk\n\nNew risks (1)\n")


def test_a_revoked_acceptance_says_who_revoked_it() -> None:
    revoked = {**CRITICAL, "accepted": False, "exception": {
        "id": 4, "owner": "alice", "reason": "legacy", "scope": "rule DKR-PRIVILEGED", "revoked_by": "bob"}}
    message = render_digest([Item("exception-revoked", revoked)])
    assert message.title == "Posture: 1 revoked acceptance"
    assert ("\nAccepted risk revoked (1)\nTeam payments (1)\n- [critical, risk 88] Container runs privileged:"
            " privileged = true (DKR-PRIVILEGED) (exception 4 by alice: legacy; revoked by bob)\n") in message.body
    expired = {**revoked, "exception": {**revoked["exception"], "revoked_by": None}}
    said = render_digest([Item("exception-expired", expired)]).body
    assert "(DKR-PRIVILEGED) (exception 4 by alice: legacy)\n" in said
    assert "(DKR-PRIVILEGED)\n" in render_digest([Item("exception-expired", {**CRITICAL, "exception": "4"})]).body


def test_collector_expiring_and_baseline_lines_read_exactly_so() -> None:
    collector = {"scope": "kubernetes:prod-eu", "statuses": ["partial", "failed"], "runs": 2, "error": "403 Forbidden"}
    expiring = {"exception_id": 9, "covers": "rule R on namespace eu-1/prod", "reason": "vendor fix pending",
                "owner": "alice", "expires_at": "2026-12-10 09:00 UTC"}
    baseline = {"scope": "kubernetes:prod-eu", "matched": 3, "severities": {"critical": 1, "high": 2, "medium": 0},
                "bar": "high or worse", "top": [{"rule_id": "R1", "title": "t1", "severity": "critical", "risk": 80,
                                                 "asset": "a1", "groups": {"team": ["ops"]}}]}
    message = render_digest([Item("baseline", baseline), Item("exception-expiring", expiring),
                             Item("collector", collector)], run_id=3)
    assert message.title == "Posture: 1 collector failing, 1 acceptance expiring, 1 first collection (baseline)"
    assert message.body == "\n".join([
        "1 collector failing, 1 acceptance expiring, 1 first collection (baseline) (run 3)",
        "",
        "Collector failing (1)",
        "- kubernetes:prod-eu: last runs partial, failed: 403 Forbidden",
        "",
        "Accepted risk expiring soon (1)",
        "- exception 9 (rule R on namespace eu-1/prod) owned by alice expires 2026-12-10 09:00 UTC: vendor fix pending",
        "",
        "Baseline (1)",
        "- cluster prod-eu: 3 open findings this channel would be told about (1 critical, 2 high; high or worse);"
        " from now on only changes are announced",
        "- [critical, risk 80] t1 (R1)",  # the baseline's top findings: not grouped by team
        "  on a1; owner: team ops",
        "  open: posture findings --rule R1 --search a1",
        "  and 2 more",
        "",
        f"{FOOTER}  (or: posture diff --to 3)",
    ])


def test_collector_and_baseline_defaults() -> None:
    body = render_digest([Item("collector", {"scope": "docker:h"}), Item("baseline", {"scope": "docker:h"})]).body
    assert "- docker:h: last runs : no error text\n" in body
    assert ("- docker:h: 0 open findings this channel would be told about (none; its threshold);"
            " from now on only changes are announced\n\n") in body
    assert "more" not in body


#: The section headings, in digest order (EVENTS); what a reader scans for.
HEADINGS = {
    "collector": "Collector failing",
    "scope-risk": "Risk rose past the threshold",
    "new": "New risks",
    "reopened": "Reopened",
    "regressed": "Regressed",
    "exception-expired": "Accepted risk expired",
    "exception-revoked": "Accepted risk revoked",
    "exception-expiring": "Accepted risk expiring soon",
    "baseline": "Baseline",
    "resolved": "Resolved",
}
#: The summary words (one, several) of each event: the title of every message.
SUMMARY = {
    "collector": ("collector failing", "collectors failing"),
    "scope-risk": ("scope past its threshold", "scopes past their threshold"),
    "new": ("new risk", "new risks"),
    "reopened": ("reopened", "reopened"),
    "regressed": ("regression", "regressions"),
    "exception-expired": ("expired acceptance", "expired acceptances"),
    "exception-revoked": ("revoked acceptance", "revoked acceptances"),
    "exception-expiring": ("acceptance expiring", "acceptances expiring"),
    "baseline": ("first collection (baseline)", "first collections (baseline)"),
    "resolved": ("resolved", "resolved"),
}


def _one(event: str, n: int = 0) -> Item:
    return Item(event, {"rule_id": f"R{n}", "title": f"t{n}", "asset": f"a{n}", "severity": "high", "risk": 50 + n,
                        "scope": "docker:h", "matched": 0})


@pytest.mark.parametrize("event", EVENTS)
def test_each_event_has_its_heading_and_summary_words(event: str) -> None:
    one = render_digest([_one(event)])
    assert one.title == f"Posture: 1 {SUMMARY[event][0]}"
    assert f"\n\n{HEADINGS[event]} (1)" in one.body
    two = render_digest([_one(event, 1), _one(event, 2)])
    assert two.title == f"Posture: 2 {SUMMARY[event][1]}"
    assert f"\n\n{HEADINGS[event]} (2)" in two.body


def test_sections_and_summary_follow_the_event_order() -> None:
    message = render_digest([_one(e) for e in reversed(EVENTS)])
    assert message.title == "Posture: " + ", ".join(f"1 {SUMMARY[e][0]}" for e in EVENTS)
    positions = [message.body.index(f"\n{HEADINGS[e]} (1)") for e in EVENTS]
    assert positions == sorted(positions)
    assert tuple(HEADINGS) == EVENTS


def test_an_empty_digest_and_an_unknown_event_say_nothing_new() -> None:
    assert render_digest([]).title == "Posture: nothing new"
    assert render_digest([Item("mystery", {"title": "x"})]).body == f"nothing new\n\n{FOOTER}"


def test_a_long_title_is_cut_and_the_run_is_not_said_without_one() -> None:
    message = render_digest([_one(e) for e in EVENTS], scope="docker:" + "h" * 400)
    assert len(message.title) == 250 and message.title.endswith("…")
    message = render_digest([_one("new")], scope="docker:" + "h" * 400)
    assert message.body.startswith("1 new risk on docker:hhh") and "(run" not in message.body
    assert render_digest([_one("new")], run_id=0).body.split("\n")[0] == "1 new risk (run 0)"


def test_findings_are_riskiest_first_then_by_title_and_teams_by_their_riskiest() -> None:
    items = [Item("new", {"title": t, "risk": r, "groups": {"team": [team]} if team else {}})
             for t, r, team in [("b", 50, "x"), ("a", 50, "x"), ("c", 70, ""), ("d", "high", "x"), ("e", 60, "y")]]
    lines = [line for line in render_digest(items).body.split("\n") if line.startswith(("- ", "Team", "No team"))]
    assert lines == ["No team label (1)", "- [?, risk 70] c (?)", "Team y (1)", "- [?, risk 60] e (?)",
                     "Team x (3)", "- [?, risk 50] a (?)", "- [?, risk 50] b (?)", "- [?, risk high] d (?)"]


def test_top_counts_findings_across_teams_and_the_rest_is_and_n_more() -> None:
    items = [Item("new", {"title": f"t{n}", "risk": 90 - n, "groups": {"team": [f"team{n // 2}"]}}) for n in range(7)]
    body = render_digest(items, top=3).body
    assert [x for x in body.split("\n") if x.startswith(("- ", "Team", "  and"))] == [
        "Team team0 (2)", "- [?, risk 90] t0 (?)", "- [?, risk 89] t1 (?)", "Team team1 (2)", "- [?, risk 88] t2 (?)",
        "  and 4 more"]
    assert "and" not in render_digest(items, top=7).body.split(FOOTER)[0].replace("command", "")
    others = [Item("scope-risk", {"group": f"g{n}", "risk": n}) for n in range(4)]
    cut = render_digest(others, top=2).body
    assert "g3" in cut and "g2" in cut and "g1" not in cut and "\n  and 2 more\n" in cut
    assert "more" not in render_digest(others, top=4).body


def test_the_baseline_lists_its_top_findings_up_to_top_and_counts_the_rest() -> None:
    tops = [{"title": f"t{n}", "risk": 80 - n} for n in range(3)]
    body = render_digest([Item("baseline", {"scope": "s", "matched": 9, "top": tops})], top=2).body
    assert [x for x in body.split("\n") if x.startswith(("- [", "  and"))] == [
        "- [?, risk 80] t0 (?)", "- [?, risk 79] t1 (?)", "  and 7 more"]
    whole = render_digest([Item("baseline", {"scope": "s", "matched": 3, "top": tops})], top=3).body
    assert "more" not in whole and "t2 (?)" in whole


def test_a_team_is_named_by_up_to_three_of_its_labels() -> None:
    assert team_of({"groups": {"team": ["a", "b", "c", "d"]}}) == "a, b, c"
    assert team_of({"groups": {"team": []}}) is None and team_of({}) is None
    body = render_digest([Item("new", {"title": "t", "groups": {"team": ["a", "b"]}})]).body
    assert "Team a, b (1)\n" in body and "owner: team a, b\n" in body


# -- cutting to a service's size --------------------------------------------------------------------
def test_the_service_limits_are_the_documented_ones() -> None:
    """README "Teams: chat notifications": Slack 2,800 characters, Discord 1,900 (title included),
    Teams 24,000 bytes; mail uncut."""
    assert dict(SERVICE_LIMITS) == {
        "slack": Limit(2800), "discord": Limit(1900, with_title=True), "msteams": Limit(24000, utf8=True),
        "workflow": Limit(24000, utf8=True), "workflows": Limit(24000, utf8=True), "mailto": None, "mailtos": None}
    assert message_limit("SLACK://T/B/X") == Limit(2800)
    assert message_limit("mailtos://u@example.com", 100) is None
    assert message_limit("json://host", 0) is None and message_limit("json://host") is None
    assert message_limit("json://host", 512) == Limit(512)


def test_a_limit_counts_characters_or_utf8_bytes() -> None:
    assert Limit(10).measure("é→") == 2
    assert Limit(10, utf8=True).measure("é→") == 5


def _sized(n: int) -> list[Item]:
    return [Item("new", {"title": f"é{i:02}" * 10, "risk": 90 - i}) for i in range(n)]


@pytest.mark.parametrize(("limit", "shown"), [
    # Body 623 characters (663 UTF-8 bytes) with 4 findings, title 21: each limit is the first that holds 4
    # (the 60 kept for "and N more" less the 14 it takes leave 46 unused), one less holds 3.
    (Limit(669), 4), (Limit(668), 3),
    (Limit(709, utf8=True), 4), (Limit(708, utf8=True), 3),
    (Limit(691, with_title=True), 4), (Limit(690, with_title=True), 3),
])
def test_a_cut_digest_fits_exactly_as_the_service_counts_it(limit: Limit, shown: int) -> None:
    cut = render_digest(_sized(20), top=100, limit=limit)
    counted = limit.measure(cut.body) + (limit.measure(cut.title) + 1 if limit.with_title else 0)
    assert counted <= limit.size and cut.body.endswith(FOOTER)
    assert cut.body.count("\n- [") == shown and f"\n  and {20 - shown} more\n" in cut.body
    assert render_digest(_sized(20), top=100).body.count("\n- [") == 20


def test_other_sections_are_cut_to_the_budget_too() -> None:
    others = [Item("scope-risk", {"dimension": "team", "group": f"g{n:02}", "risk": 90 - n}) for n in range(30)]
    body = render_digest(others, top=100, limit=Limit(600)).body
    assert len(body) <= 600 and body.count("\n- team g") < 30
    assert f"\n  and {30 - body.count(chr(10) + '- team g')} more\n" in body
    assert body.count("\n- team g") == len(render_digest(others, top=100, limit=Limit(600)).body.split("\n- ")) - 1


def test_a_team_heading_is_never_left_without_a_finding_and_every_finding_is_counted() -> None:
    items = [Item("new", {"title": f"{n}" * 80, "risk": 90 - n, "groups": {"team": [f"t{n % 3}"]}}) for n in range(9)]
    seen = set()
    for size in range(300, 2400, 7):
        lines = render_digest(items, top=100, limit=Limit(size)).body.split("\n")
        for i, line in enumerate(lines):
            if line.startswith("Team "):
                assert lines[i + 1].startswith("- ["), size
        shown = sum(1 for line in lines if line.startswith("- ["))
        more = next((int(x.split()[1]) for x in lines if x.startswith("  and ")), 0)
        assert shown + more == 9, size
        seen.add(shown)
    assert seen == set(range(10))


# -- the helpers a line is made of -------------------------------------------------------------------
@pytest.mark.parametrize(("evidence", "detail"), [
    ({"vulnerability": "CVE-1", "installed": "1.0"}, "CVE-1 in 1.0, no fixed version yet"),
    ({"vulnerability": "CVE-1", "fixed": "2.0"}, "CVE-1, fixed in 2.0"),
    ({"vulnerability": "", "field": "spec.hostIPC", "value": True}, "hostIPC = true"),
    ({"cap_add": "SYS_ADMIN", "field": "spec.x"}, "x"),  # not a list: not the capability form
    ({"cap_add": []}, "capabilities added: "),
    ({"field": "spec.hostPID"}, "hostPID"),
    ({"field": "spec.hostPID", "value": False}, "hostPID = false"),
    ({"field": "spec.hostPID", "value": 0}, "hostPID = 0"),
    ({"field": "spec.volumes", "value": ["a", "b"]}, "volumes = a, b"),
    ({"field": "", "value": 1}, "disc"),
    ({"field": 7}, "disc"),
    ({"field": "metadata.spec.x"}, "metadata.spec.x"),
    ({"field": "spec.ephemeralContainers[dbg].securityContext.privileged", "value": True},
     "container dbg: securityContext.privileged = true"),
    ({"field": "spec.sidecars[x].image"}, "sidecars[x].image"),
])
def test_the_detail_of_a_finding(evidence: dict[str, Any], detail: str) -> None:
    assert finding_detail("disc", evidence) == detail


@pytest.mark.parametrize(("remediation", "step"), [
    (None, None), ("", None),
    ("Set runAsNonRoot. Then redeploy.", "Set runAsNonRoot."),
    ("Upgrade openssl to 3.0.7! It fixes it.", "Upgrade openssl to 3.0.7!"),
    ("Why run it privileged? Drop it.", "Why run it privileged?"),
    ("  Pin the image by digest  ", "Pin the image by digest"),
    ("Use v1.2 instead.", "Use v1.2 instead."),  # a dot inside a word ends no sentence
    ("Remove it.\nThen redeploy.", "Remove it."),
])
def test_the_first_step_is_the_first_sentence(remediation: str | None, step: str | None) -> None:
    assert first_step(remediation) == step


@pytest.mark.parametrize(("scope", "label"), [
    ("manifests:/home/me/deploy @ prod-eu", "cluster prod-eu (manifests)"),
    ("manifests:/a @ b @ prod-eu", "cluster prod-eu (manifests)"),
    ("manifests:/home/me/deploy", "manifests:/home/me/deploy"),
    ("kubernetes:prod-eu", "cluster prod-eu"),
    ("docker:unix:///var/run/docker.sock", "docker:unix:///var/run/docker.sock"),
    ("report:a @ b", "report:a @ b"),
])
def test_a_source_is_named_as_its_people_name_it(scope: str, label: str) -> None:
    assert source_label(scope) == label


@pytest.mark.parametrize(("payload", "text"), [
    ({"asset": "other/Pod/p", "asset_kind": "k8s-pod", "groups": {"cluster": ["c1", "c2"], "namespace": ["c1/mining"]}},
     "cluster c1 / namespace mining / other/Pod/p"),
    ({"asset": "Pod/p", "asset_kind": "k8s-pod", "groups": {"namespace": ["x/mining", "y/other"]}},
     "namespace mining / Pod/p"),
    ({"asset": "mining/Pod/p", "asset_kind": "k8s-pod", "groups": {}}, "mining/Pod/p"),
    # Only the namespace and its slash are dropped, not a longer name that starts alike.
    ({"asset": "mining-old/Pod/p", "asset_kind": "k8s-pod", "groups": {"namespace": ["c/mining"]}},
     "namespace mining / mining-old/Pod/p"),
    ({"asset": "web", "asset_kind": "container", "groups": {"host": ["h1", "h2"]}}, "host h1 / container web"),
    ({"asset": "web", "asset_kind": "container"}, "container web"),
    ({"asset": "reg:5000/shop/api", "asset_kind": "repository", "groups": {"registry": ["reg:5000"]}},
     "repository reg:5000/shop/api"),
    ({"asset": "shop/api", "asset_kind": "repository", "groups": {"registry": ["r1", "r2"]}},
     "registry r1 / repository shop/api"),
    ({"asset": "x", "asset_kind": "host", "groups": {"host": ["h"], "cluster": ["c"]}}, "x"),
    ({"asset": "", "asset_kind": None}, "?"),
])
def test_an_asset_is_named_in_human_terms(payload: dict[str, Any], text: str) -> None:
    assert asset_text(payload) == text


def test_the_open_command_quotes_each_word() -> None:
    assert open_command("R-1", "ns/Pod/a b") == "posture findings --rule R-1 --search 'ns/Pod/a b'"
    assert open_command("R;x", "a") == "posture findings --rule 'R;x' --search a"


def test_a_message_is_inert_whoever_builds_it() -> None:
    message = Message("a\nb\x1b", "one\ntwo\x07")
    assert message.title == "a b<U+001B>" and message.body == "one\ntwo<U+0007>"


@pytest.mark.parametrize(("raw", "inert"), [
    ("HTTPS://x.io/a", "hxxpS://x[.]io/a"),
    ("hxxps://x", "hxxps://x"),
    ("sftp://host/x", "sftp[:]//host/x"),
    ("a.b.example.org", "a[.]b[.]example[.]org"),
    ("v1.2.3 and 10.0.0.1", "v1.2.3 and 10.0.0.1"),
    ("www.x", "www[.]x"),
    ("pipe|tick`", "pipe¦tick'"),
])
def test_links_and_markup_become_inert(raw: str, inert: str) -> None:
    assert neutralise(raw) == inert


def test_neutralise_cuts_at_its_limit() -> None:
    assert neutralise("x" * 300, limit=None) == "x" * 300
    assert neutralise("x" * 30, limit=10) == "x" * 9 + "…"


@pytest.mark.parametrize(("counts", "findings", "line"), [
    ({"new": 1}, 1, "notify ops: 1 message queued for src (1 new risk; 1 finding)"),
    ({"scope-risk": 1}, 0, "notify ops: 1 message queued for src (1 scope past its threshold)"),
    ({"resolved": 2, "new": 0, "mystery": 4}, 2, "notify ops: 1 message queued for src (2 resolved; 2 findings)"),
])
def test_the_queue_line(counts: Mapping[str, int], findings: int, line: str) -> None:
    assert queue_line("ops", "src", counts, findings, "unused") == line


# -- defaults, as the documentation states them -----------------------------------------------------
ROOT = Path(__file__).parents[2]


def test_the_default_events_are_every_documented_event_but_resolved() -> None:
    """docs/notifications.md: a route's ``events`` default to "all but `resolved`", and its table names
    every event a route can take."""
    notifications = (ROOT / "docs" / "notifications.md").read_text(encoding="utf-8")
    assert "`events` (default: all but `resolved`)" in notifications
    table = re.findall(r"^\| ((?:`[a-z-]+`(?:, )?)+) \|", notifications, flags=re.M)
    documented = {event for row in table for event in re.findall(r"`([a-z-]+)`", row)}
    assert documented == set(EVENTS)
    assert documented - {"resolved"} == DEFAULT_EVENTS
    assert Route("ops").events == DEFAULT_EVENTS
    assert {"new", "reopened", "regressed", "exception-expired", "exception-revoked", "resolved"} == FINDING_EVENTS
    assert {"exception-expired", "exception-revoked"} == EXCEPTION_ENDINGS
    # docs/notifications.md "Channels and routes": the scope filters a route may set.
    assert SCOPE_KEYS == ("namespace", "team", "registry", "host", "cluster")
    assert "scope filters `namespace`, `team`, `registry`,\n`host`, `cluster`" in notifications


def test_the_default_bars_and_digest_size_are_the_documented_ones() -> None:
    """README "Teams: chat notifications": by default a channel hears a finding that is high or critical,
    or scores risk 60 or more; docs/notifications.md: the top N per section, default 10;
    docs/exceptions.md and posture/config.py: the warning comes 7 days before an expiry."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    defaults = Thresholds()
    assert defaults.new_severity is Severity.HIGH and defaults.new_risk == 60
    assert "that is **high or critical, or** scores risk 60 or more" in readme
    assert defaults.top == 10 and "(`[thresholds] top`, default 10)" in (
        ROOT / "docs" / "notifications.md").read_text(encoding="utf-8")
    assert defaults.exception_warning_days == 7
    assert "exception_warning_days = 7" in (ROOT / "posture" / "config.py").read_text(encoding="utf-8")
    items = [_one("new", n) for n in range(12)]
    assert "\n  and 2 more\n" in render_digest(items).body  # render_digest's own top is the same 10


def test_every_markup_character_has_its_look_alike() -> None:
    """The characters chat services read as mentions, links, code or table markup (README, docs/notifications.md
    "Untrusted text is inert")."""
    assert neutralise("@<>[]`|") == "＠‹›［］'¦"


def test_fractional_risks_sort_too_and_an_untitled_line_sorts_first() -> None:
    scopes = [Item("scope-risk", {"group": g, "risk": r}) for g, r in [("low", 50.5), ("high", 50.75)]]
    body = render_digest(scopes).body
    assert body.index("high: risk") < body.index("low: risk")
    items = [Item("new", {"title": "a", "risk": 50}), Item("new", {"risk": 50})]
    assert "No team label (2)\n- [?, risk 50]  (?)" in render_digest(items).body
