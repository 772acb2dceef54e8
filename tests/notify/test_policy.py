"""Routing and rendering, pure: what a hostile string becomes, how a digest is cut, who gets what."""

from __future__ import annotations

import pytest

from posture.notify.policy import Item, Route, Subject, Thresholds, channels_for, neutralise, render_digest
from posture.taxonomy import Severity


@pytest.mark.parametrize(("raw", "forbidden"), [
    ("<!channel> please", ["<!channel>"]),
    ("<!here|here> <@U024BE7LH> <#C024BE7LH>", ["<!", "<@", "<#"]),
    ("@everyone @here @channel", ["@everyone", "@here", "@channel"]),
    ("[click](http://evil.example/x)", ["[click]", "](", "http://", "evil.example"]),
    ("<https://evil.example|Open>", ["https://", "<", "|Open"]),
    ("see www.evil.com now", ["www.evil.com"]),
    ("`rm -rf /` \x1b]52;c;ZXZpbA==\x07 \u202eexe.txt", ["`", "\x1b", "\u202e"]),
    ("ftp://files.example/a javascript://x", ["ftp://", "javascript://"]),
])
def test_neutralise_breaks_mentions_links_and_markup(raw: str, forbidden: list[str]) -> None:
    out = neutralise(raw)
    for token in forbidden:
        assert token not in out
    assert "\n" not in out


def test_neutralise_keeps_text_readable_and_is_idempotent() -> None:
    assert neutralise("http://evil.com/path") == "hxxp://evil[.]com/path"
    assert neutralise("payments") == "payments"
    assert neutralise("openssl 3.0.2 in nginx:1.25.3") == "openssl 3.0.2 in nginx:1.25.3"
    once = neutralise("<!channel> @everyone [click](http://evil)")
    assert neutralise(once) == once
    assert len(neutralise("x" * 500)) == 200


def test_neutralise_redacts_before_anything_else() -> None:
    assert neutralise("key AKIA1234", redact=lambda t: t.replace("AKIA1234", "<secret AK…>")) == "key ‹secret AK…›"


def _finding(n: int, risk: int, event: str = "new") -> Item:
    return Item(event, {"rule_id": f"R{n}", "title": f"title {n}", "asset": f"ns/Deployment/a{n}",
                        "severity": "high", "risk": risk, "groups": {"team": ["t"]}})


def test_digest_groups_events_sorts_by_risk_and_cuts_with_more() -> None:
    items = [_finding(n, 50 + n) for n in range(12)] + [_finding(99, 70, "resolved")]
    items.append(Item("regressed", {"rule_id": "V", "title": "CVE", "asset": "img", "severity": "critical",
                                    "previous_severity": "high", "risk": 90, "previous_risk": 70}))
    message = render_digest(items, top=3, run_id=7, scope="kubernetes:prod")
    body = message.body
    assert message.title == "Posture: 12 new risks, 1 regression, 1 resolved on kubernetes:prod"
    assert body.index("New risks (12)") < body.index("Regressed (1)") < body.index("Resolved (1)")
    assert "R11: title 11 on ns/Deployment/a11 (team t)" in body and "R0:" not in body
    assert "+9 more" in body
    assert "[high→critical, risk 70→90] V: CVE on img" in body
    assert body.endswith("Open it in the terminal: posture tui --view diff  (or: posture diff --to 7)")


def test_a_resolution_says_what_the_resolving_run_judged() -> None:
    resolved = Item("resolved", {**_finding(1, 40).payload, "coverage": "severities critical,high"})
    body = render_digest([resolved], run_id=9, scope="report:trivy.json").body
    assert "Resolved (1) by run 9, which judged: severities critical,high" in body
    assert "Resolved (1)\n" in render_digest([_finding(1, 40, "resolved")], run_id=9).body


def test_routing_by_threshold_severity_and_scope() -> None:
    routes = [Route("all"), Route("crit", min_severity=Severity.CRITICAL, min_risk=0),
              Route("pay", scope={"team": ("pay*",), "namespace": ("prod",)}),
              Route("res", events=frozenset({"resolved"}), min_risk=0)]
    thresholds = Thresholds(new_risk=60)
    shop = {"team": ["payments"], "namespace": ["eu-1/prod"]}
    assert channels_for(routes, Subject("new", "high", 65, shop), thresholds) == {"all", "pay"}
    assert channels_for(routes, Subject("new", "critical", 30, shop), thresholds) == {"crit"}
    assert channels_for(routes, Subject("new", "high", 65, {"team": ["search"]}), thresholds) == {"all"}
    assert channels_for(routes, Subject("resolved", "high", 90, shop), thresholds) == {"res"}
    assert channels_for(routes, Subject("collector", groups={"cluster": ["eu-1"]}), thresholds) == {"all", "crit"}
