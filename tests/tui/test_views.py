"""Pilot tests: every view and key path of the TUI, over the two-run fixture estate."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from textual.widgets import DataTable, Input, Select, Tree

from posture.db import read_session
from posture.model import exception_table, finding_table
from posture.taxonomy import Severity
from tests.tui.tui_estate import NOW, RULES
from tests.tui.tui_helpers import AppFactory, screen_text, settle, static_text
from tui.screens.accept_risk import AcceptRiskScreen, parse_expiry
from tui.screens.asset_detail import AssetDetailScreen
from tui.screens.assets import AssetsScreen
from tui.screens.diff import DiffScreen
from tui.screens.filters import FiltersScreen
from tui.screens.finding_detail import FindingDetailScreen
from tui.screens.findings import FindingsScreen
from tui.screens.help import HelpScreen
from tui.screens.overview import OverviewScreen
from tui.screens.trace import TraceScreen
from tui.widgets.filter_bar import FilterBar
from tui.widgets.finding_table import FindingTable

SIZE = (120, 36)


def _table(app: object) -> FindingTable:
    return app.screen.query_one(FindingTable)  # type: ignore[attr-defined, no-any-return]


async def test_overview_shows_score_counts_top_risks_changes_and_health(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, OverviewScreen)
        text = screen_text(app)
        assert "66 / 100" in text
        assert "grade D" in text
        assert "+5.5 since previous" in text
        # Open findings: 3 critical (two privileged containers, CVE-0001), 4 high, 1 low.
        assert "CRIT" in text and "total open" in text
        rows = app.screen.query_one("#top", DataTable)
        assert rows.row_count == 8
        changes = static_text(app, "#changes")
        assert "new 1" in changes and "regressed 1" in changes and "resolved 1" in changes
        health = static_text(app, "#health")
        assert "partial" in health and "403 listing the catalog" in health
        assert "complete" in health and "kubernetes:prod" in health


async def test_number_keys_switch_views_and_keep_each_views_state(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key, screen in (
            ("2", FindingsScreen),
            ("3", AssetsScreen),
            ("4", TraceScreen),
            ("5", DiffScreen),
            ("1", OverviewScreen),
        ):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, screen), key
        await pilot.press("2", "s")
        await settle(pilot)
        await pilot.press("1", "2")
        assert app.screen.order == "severity"  # type: ignore[attr-defined]


async def test_slash_on_overview_opens_the_findings_filter_enter_applies_escape_clears(
    app_factory: AppFactory,
) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        bar = app.screen.query_one(FilterBar)
        assert bar.has_focus
        await pilot.press(*"cve")
        await settle(pilot)
        assert _table(app).total == 2
        assert {_table(app).row_at(i).rule_id for i in range(2)} == {"VULN"}  # type: ignore[union-attr]
        await pilot.press("enter")
        assert _table(app).has_focus and bar.has_class("-open")
        await pilot.press("escape")
        await settle(pilot)
        assert _table(app).total == 8
        assert not bar.has_class("-open")
        assert app.screen.flt.text is None  # type: ignore[attr-defined]


async def test_text_filter_matches_rule_title_and_asset_name(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "slash", *"payments")
        await settle(pilot)
        assert [_table(app).row_at(0).rule_id] == ["K8S-T01"]  # type: ignore[union-attr]
        assert _table(app).total == 1
        bar = app.screen.query_one(FilterBar)
        bar.value = "dkr-t01"
        await settle(pilot)
        assert _table(app).total == 2


async def test_sort_cycles_risk_severity_age(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        table = _table(app)
        risks = [table.row_at(i).risk for i in range(table.total)]  # type: ignore[union-attr]
        assert risks == sorted(risks, reverse=True)
        await pilot.press("s")
        await settle(pilot)
        ranks = [table.row_at(i).severity_rank for i in range(table.total)]  # type: ignore[union-attr]
        assert ranks == sorted(ranks, reverse=True)
        await pilot.press("s")
        await settle(pilot)
        seen = [table.row_at(i).first_seen for i in range(table.total)]  # type: ignore[union-attr]
        assert seen == sorted(seen) and seen[0] < seen[-1]
        assert "sort:age" in static_text(app, "#findings-status")


async def test_filters_dialog_by_severity_status_and_source(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "f")
        await settle(pilot)
        assert isinstance(app.screen, FiltersScreen)
        app.screen.query_one("#severity", Select).value = "critical"
        await pilot.click("#apply")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        assert app.screen.flt.min_severity is Severity.CRITICAL
        assert _table(app).total == 3
        await pilot.press("f")
        await settle(pilot)
        app.screen.query_one("#severity", Select).value = "any"
        app.screen.query_one("#status", Select).value = "resolved"
        await pilot.click("#apply")
        await settle(pilot)
        assert _table(app).total == 1 and _table(app).row_at(0).title == "CVE-2024-0002 in openssl"  # type: ignore[union-attr]
        await pilot.press("f")
        await settle(pilot)
        app.screen.query_one("#status", Select).value = "open"
        app.screen.query_one("#source", Select).value = "docker"
        await pilot.click("#apply")
        await settle(pilot)
        assert {_table(app).row_at(i).rule_id for i in range(_table(app).total)} == {"DKR-T01"}  # type: ignore[union-attr]
        await pilot.press("f", "escape")
        assert isinstance(app.screen, FindingsScreen)


async def test_enter_opens_the_finding_with_evidence_references_remediation_history(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "slash", *"0003", "enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, FindingDetailScreen)
        body = static_text(app, "#finding-body")
        for expected in (
            "VULN",
            "CVE-2024-0003 in openssl",
            "fixed_version",
            "3.0.14",
            "NIST SP 800-190",
            "3.1.1",
            "Upgrade the package.",
            "report:trivy:api.json",
            "first seen",
            "History",
            "new",
        ):
            assert expected in body, expected
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, AssetDetailScreen)
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, FindingsScreen)


async def test_regressed_finding_shows_its_history(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "slash", *"k8s", "enter", "enter")
        await settle(pilot)
        body = static_text(app, "#finding-body")
        assert "regressed" in body and "previous_severity=medium" in body
        assert "exposed" in body and "CIS Kubernetes Benchmark" in body


async def test_accept_risk_writes_an_exception_and_accepts_the_finding(app_factory: AppFactory, engine: Engine) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "slash", *"reg-t", "enter", "enter")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, AcceptRiskScreen)
        await pilot.press(*"internal network only", "enter", *"platform-team", "enter")
        app.screen.query_one("#expiry", Input).value = "30d"
        await pilot.click("#accept")
        await settle(pilot)
        assert isinstance(app.screen, FindingDetailScreen)
        assert "accepted" in static_text(app, "#finding-body").split("\n")[0]
        assert "platform-team" in static_text(app, "#finding-body")
    with read_session(engine) as session:
        exc = session.execute(select(exception_table)).mappings().one()
        status = session.execute(select(finding_table.c.status).where(finding_table.c.rule_id == "REG-T01")).scalar()
    # the default scope is the narrowest: this one finding
    assert (exc["fingerprint"] is not None, exc["rule_id"], exc["owner"]) == (True, None, "platform-team")
    assert exc["expires_at"].replace(tzinfo=None) == (NOW + timedelta(days=30)).replace(tzinfo=None)
    assert status == "accepted"


async def test_accept_risk_requires_reason_and_owner(app_factory: AppFactory, engine: Engine) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "enter")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        await pilot.click("#accept")
        await settle(pilot)
        assert isinstance(app.screen, AcceptRiskScreen)
        assert "required" in static_text(app, "#accept-error")
        await pilot.press("escape")
        assert isinstance(app.screen, FindingDetailScreen)
    with read_session(engine) as session:
        assert session.execute(select(exception_table)).first() is None


def test_expiry_parsing() -> None:
    assert parse_expiry("", NOW) is None
    assert (parse_expiry("30d", NOW) - NOW).days == 30  # type: ignore[operator]
    assert (parse_expiry("+2w", NOW) - NOW).days == 14  # type: ignore[operator]
    assert parse_expiry("2030-01-31", NOW).isoformat() == "2030-02-01T00:00:00+00:00"  # type: ignore[union-attr]
    for bad in ("yesterday", "2020-01-01", "0d"):
        with pytest.raises(ValueError):
            parse_expiry(bad, NOW)


async def test_read_only_disables_accept_risk(app_factory: AppFactory, engine: Engine) -> None:
    app = app_factory(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "enter")
        await settle(pilot)
        assert isinstance(app.screen, FindingDetailScreen)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, FindingDetailScreen)
        assert "read-only" in screen_text(app)
    with read_session(engine) as session:
        assert session.execute(select(exception_table)).first() is None


async def test_assets_tree_drills_from_cluster_to_pod_and_into_details(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        tree = app.screen.query_one(Tree)
        roots = [str(n.label) for n in tree.root.children]
        assert roots == ["Kubernetes (1)", "Docker (1)", "Registries (1)", "Images (1)"]
        await pilot.press("right", "down", "right", "down", "right")  # Kubernetes > prod > payments
        await settle(pilot)
        labels = [str(n.label) for n in tree.root.children[0].children[0].children[0].children]
        assert any("payments/Deployment/api" in label for label in labels)
        assert not any("api-7d9f" in label for label in labels), "a pod hangs under its workload"
        workload = next(
            n for n in tree.root.children[0].children[0].children[0].children if "Deployment/api" in str(n.label)
        )
        tree.move_cursor(workload)
        await pilot.press("right")
        assert any("Pod/api-7d9f" in str(n.label) for n in workload.children)
        assert "1 open" in str(workload.label)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, AssetDetailScreen)
        text = screen_text(app)
        assert "Exposure path" in text and "payments/Ingress/api" in text and "payments/Service/api" in text
        assert "K8S-T01" in text and "← owned-by" in text and "→ runs" in text
        await pilot.press("escape")
        assert isinstance(app.screen, AssetsScreen)


async def test_assets_search(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("slash", *"7d9f", "enter")
        tree = app.screen.query_one(Tree)
        assert [str(n.label) for n in tree.root.children] == ["Matches (1)"]
        assert "api-7d9f" in str(tree.root.children[0].children[0].label)
        await pilot.press("escape")
        assert len(tree.root.children) == 4


async def test_lifecycle_trace_joins_build_distribute_run(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(pilot)
        body = static_text(app, "#trace-body")
        assert "Combined risk" in body and "6 open findings across the lifecycle" in body
        build, rest = body.split("DISTRIBUTE")
        distribute, run = rest.split("RUN")
        assert "vulnerabilities: 2 open" in build and "secrets: 1 open" in build
        assert "user: root (no USER)" in build and "healthcheck: none" in build and "1 found (values redacted)" in build
        assert "registry.test → registry.test/shop/api → registry.test/shop/api:1.4" in distribute
        for runner in ("web (container)", "payments/Deployment/api (k8s-workload)", "payments/Pod/api-7d9f (k8s-pod)"):
            assert runner in run, runner
        assert "DKR-T01" in run and "privileged · runs as root · publishes 0.0.0.0:8080" in run
        assert "exposed via LoadBalancer" in run
        await pilot.press("slash", *"zzz")
        await settle(pilot)
        assert app.screen.query_one("#trace-images", DataTable).row_count == 1  # the "no image matches" line


async def test_diff_defaults_to_the_previous_run_and_lists_changes(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await settle(pilot, rounds=5)
        status = static_text(app, "#diff-status")
        assert "new 1" in status and "regressed 1" in status and "resolved 1" in status
        table = app.screen.query_one("#diff-table", DataTable)
        changes = {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[4]) for i in range(table.row_count)}
        assert changes == {
            "new": "CVE-2024-0003 in openssl",
            "resolved": "CVE-2024-0002 in openssl",
            "regressed": "Workload may run as root",
        }
        await pilot.press("slash", *"0003", "enter")
        assert table.row_count == 1
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FindingDetailScreen)


async def test_help_palette_and_quit(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        assert "accept the risk" in screen_text(app)
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"critical and")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        assert app.screen.flt.min_severity is Severity.CRITICAL
        assert _table(app).total == 3
        await pilot.press("q")
    assert app.return_code == 0


async def test_q_types_into_the_filter_instead_of_quitting(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "slash", "q", "1")
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, FindingsScreen)
        assert app.screen.query_one(FilterBar).value == "q1"


async def test_a_failing_read_is_one_notification_and_the_app_stays_usable(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = app_factory()

    def broken() -> None:
        raise RuntimeError("database is locked\nsecond line")

    monkeypatch.setattr(app.ctx.store, "counts", broken)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        messages = [n.message for n in app._notifications]
        assert messages == ["RuntimeError: database is locked second line"]
        await pilot.press("2")
        await settle(pilot)
        assert _table(app).total == 8


async def test_narrow_terminal_still_shows_every_overview_panel(app_factory: AppFactory, tmp_path: Path) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        for title in ("Posture score", "Open by severity", "By NIST 800-190 area", "By lifecycle phase"):
            assert title in text, title
        await pilot.press("2")
        await settle(pilot)
        header = screen_text(app).split("\n")[2]
        assert "RISK" in header and "TITLE" in header and "AGE" in header and len(header.rstrip()) <= 80


async def test_a_notification_deep_link_opens_the_view_it_names(engine: Engine) -> None:
    """``posture tui --view diff`` (what a chat digest prints) and ``--filter TEXT`` open where they say."""
    from tui.app import make_app

    app = make_app(engine, start="diff", registry=RULES, clock=lambda: NOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DiffScreen)
    app = make_app(engine, filter_text="openssl", registry=RULES, clock=lambda: NOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, FindingsScreen)
        assert _table(app).total == 2 and "openssl" in screen_text(app)
