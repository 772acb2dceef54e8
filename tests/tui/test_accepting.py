"""Accepting a risk in the TUI covers exactly what the chosen scope says, and the exceptions view revokes.

An extra report adds an image with log4j (CVE-2021-44228 in log4j-core, and the same flaw stated by its
GHSA id in log4j-api), two other CVEs on that image, and log4j on a second image: accepting the CVE on
this asset must take both log4j findings of that image and nothing else.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, RadioButton

from posture.acceptance import Reach
from posture.db import read_session
from posture.model import asset_table, exception_table, finding_table
from posture.pipeline import collect
from posture.records import AssetKind, AssetRecord, AssetRef, ObservationRecord, ScopeKind, ScopeRef
from posture.taxonomy import Phase, Severity
from tests.tui.tui_estate import NOW, RULES, ListCollector
from tests.tui.tui_helpers import AppFactory, settle, static_text
from tui.app import PostureApp
from tui.data import AcceptRequest, Store
from tui.screens.accept_risk import AcceptRiskScreen
from tui.screens.exceptions import ConfirmRevokeScreen, ExceptionsScreen
from tui.screens.finding_detail import FindingDetailScreen

LOG4J, GHSA = "CVE-2021-44228", "GHSA-jfh8-c2jp-5v3q"
IMAGE_C = AssetRef(AssetKind.IMAGE, "sha256:" + "c" * 64)
IMAGE_D = AssetRef(AssetKind.IMAGE, "sha256:" + "d" * 64)
#: (image, discriminator, vulnerability id as the report states it, its aliases, package, fix available)
VULNS = (
    (IMAGE_C, "log4j-core", LOG4J, [GHSA], "log4j-core", False),
    (IMAGE_C, "log4j-api", GHSA, [LOG4J], "log4j-api", False),
    (IMAGE_C, "openssh", "CVE-2024-6387", [], "openssh", False),
    (IMAGE_C, "glibc", "CVE-2023-4911", [], "glibc", True),
    (IMAGE_D, "log4j-core", LOG4J, [GHSA], "log4j-core", False),
)


@pytest.fixture
def log4j(engine: Engine) -> dict[str, int]:
    """The extra report collected into the estate; finding ids by ``image letter/discriminator``."""
    records: list[Any] = [
        AssetRecord(ref.kind, ref.key, f"shop/{ref.key[7]}:1.0", Phase.BUILD, {}) for ref in (IMAGE_C, IMAGE_D)
    ]
    for image, disc, vuln, aliases, package, fix in VULNS:
        evidence = {"vulnerability": vuln, "aliases": aliases, "package": package, "fix_available": fix}
        records.append(ObservationRecord("VULN", image, disc, f"{vuln} in {package}", Severity.CRITICAL, evidence))
    collect(engine, ListCollector(ScopeRef(ScopeKind.REPORT, "trivy:log4j.json"), records), RULES, now=NOW)
    letter = {IMAGE_C.key: "c", IMAGE_D.key: "d"}
    with read_session(engine) as session:
        F, A = finding_table.c, asset_table.c
        rows = session.execute(
            select(F.id, F.discriminator, A.key).join(asset_table, A.id == F.asset_id).where(A.key.in_(letter))
        )
        return {f"{letter[r.key]}/{r.discriminator}": r.id for r in rows}


def _statuses(engine: Engine, ids: dict[str, int]) -> dict[str, str]:
    with read_session(engine) as session:
        F = finding_table.c
        found = {r.id: r.status for r in session.execute(select(F.id, F.status).where(F.id.in_(list(ids.values()))))}
    return {name: found[fid] for name, fid in ids.items()}


async def _open_dialog(pilot: Pilot[None], finding_id: int) -> AcceptRiskScreen:
    app = pilot.app
    assert isinstance(app, PostureApp)
    await app.push_screen(FindingDetailScreen(app.ctx, finding_id))
    await settle(pilot)
    await pilot.press("a")
    await settle(pilot)
    assert isinstance(app.screen, AcceptRiskScreen)
    return app.screen


async def _submit(pilot: Pilot[None], dialog: AcceptRiskScreen, reason: str, owner: str) -> None:
    dialog.query_one("#reason", Input).value = reason
    dialog.query_one("#owner", Input).value = owner
    await pilot.press("ctrl+s")
    await settle(pilot)


async def _choose(pilot: Pilot[None], dialog: AcceptRiskScreen, index: int) -> None:
    dialog.query(RadioButton)[index].value = True
    await settle(pilot)


async def test_a_cve_is_offered_narrowest_first_and_the_preview_lists_exactly_that_cve(
    app_factory: AppFactory, log4j: dict[str, int]
) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        dialog = await _open_dialog(pilot, log4j["c/log4j-core"])
        labels = [str(b.label) for b in dialog.query(RadioButton)]
        assert labels == [
            "this finding only",
            f"this asset, {LOG4J} in log4j-core",
            f"this asset, {LOG4J} in any package",
            f"every asset, {LOG4J}",
            "this asset, every VULN finding",
            "every asset, every VULN finding",
        ]
        assert dialog.query(RadioButton)[0].value
        assert static_text(app, "#accept-preview").splitlines() == [
            "1 open finding(s):", f"VULN  {LOG4J} in log4j-core  shop/c:1.0"]
        await _choose(pilot, dialog, 2)
        preview = static_text(app, "#accept-preview").splitlines()
        assert preview[0] == "2 open finding(s):"
        assert sorted(preview[1:]) == [f"VULN  {LOG4J} in log4j-core  shop/c:1.0",
                                       f"VULN  {GHSA} in log4j-api  shop/c:1.0"]
        await _choose(pilot, dialog, 4)
        preview = static_text(app, "#accept-preview").splitlines()
        assert preview[0] == "4 open finding(s):" and preview[-1] == "… and 1 more"


async def test_accepting_the_cve_on_this_asset_accepts_that_cve_and_its_aliases_only(
    app_factory: AppFactory, engine: Engine, log4j: dict[str, int]
) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        dialog = await _open_dialog(pilot, log4j["c/log4j-core"])
        await _choose(pilot, dialog, 2)
        await _submit(pilot, dialog, "JNDI lookups disabled", "platform-team")
        assert isinstance(app.screen, FindingDetailScreen)
    assert _statuses(engine, log4j) == {
        "c/log4j-core": "accepted", "c/log4j-api": "accepted",  # the CVE and its GHSA alias, on this image
        "c/openssh": "open", "c/glibc": "open",  # other CVEs of the same image
        "d/log4j-core": "open",  # the same CVE on another image
    }
    with read_session(engine) as session:
        [exc] = session.execute(select(exception_table)).mappings().all()
    assert (exc["vuln_id"], exc["aliases"], exc["asset_key"], exc["rule_id"], exc["source"]) == (
        LOG4J, [GHSA], IMAGE_C.key, None, "tui")
    assert exc["expires_at"] is not None and not exc["until_fix"]


async def test_until_a_fix_exists_is_stored_instead_of_an_expiry(
    app_factory: AppFactory, engine: Engine, log4j: dict[str, int]
) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        dialog = await _open_dialog(pilot, log4j["c/glibc"])
        dialog.query_one("#until-fix", Checkbox).value = True
        await settle(pilot)
        assert dialog.query_one("#expiry", Input).disabled
        # glibc has a fixed version already: until-fix covers nothing, and the preview says so first
        assert static_text(app, "#accept-preview") == "no open finding"
        await _choose(pilot, dialog, 3)  # the CVE on every asset
        await _submit(pilot, dialog, "no exploit path", "sre")
    with read_session(engine) as session:
        [exc] = session.execute(select(exception_table)).mappings().all()
    assert (exc["vuln_id"], exc["until_fix"], exc["expires_at"]) == ("CVE-2023-4911", True, None)
    assert _statuses(engine, log4j)["c/glibc"] == "open"


async def test_a_non_vulnerability_finding_cannot_wait_for_a_fix_and_needs_an_expiry(
    app_factory: AppFactory, engine: Engine
) -> None:
    app = app_factory()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("2", "slash", *"reg-t", "enter", "enter", "a")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, AcceptRiskScreen)
        assert not dialog.query("#until-fix")
        dialog.query_one("#expiry", Input).value = ""
        await _submit(pilot, dialog, "internal", "sre")
        assert isinstance(app.screen, AcceptRiskScreen)
        assert "until a fix" in static_text(app, "#accept-error")


async def test_the_exceptions_view_lists_and_revokes(
    app_factory: AppFactory, engine: Engine, log4j: dict[str, int]
) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 36)) as pilot:
        # every VULN finding on image c; then log4j on every asset (image c's log4j stays with the first)
        for finding, index, reason in (("c/openssh", 4, "image retired soon"), ("d/log4j-core", 3, "JNDI off")):
            dialog = await _open_dialog(pilot, log4j[finding])
            await _choose(pilot, dialog, index)
            await _submit(pilot, dialog, reason, "platform-team")
        await pilot.press("6")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ExceptionsScreen)
        table = screen.query_one("#exceptions-table", DataTable)
        assert table.row_count == 2
        detail = static_text(app, "#exception-detail")  # the newest first
        assert f"vulnerability {LOG4J} (aliases {GHSA})" in detail and "JNDI off" in detail
        assert "covers now  1 finding(s)" in detail
        await pilot.press("down")
        await settle(pilot)
        detail = static_text(app, "#exception-detail")
        assert "rule VULN · asset sha256:cccc" in detail and "covers now  4 finding(s)" in detail
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmRevokeScreen)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is screen and table.row_count == 1
        assert "covers now  3 finding(s)" in static_text(app, "#exception-detail")
    assert _statuses(engine, log4j) == {
        "c/log4j-core": "accepted", "c/log4j-api": "accepted",  # the log4j exception covers them: they moved to it
        "c/openssh": "open", "c/glibc": "open",  # reopened
        "d/log4j-core": "accepted",
    }


async def test_read_only_lists_exceptions_but_cannot_revoke(
    app_factory: AppFactory, engine: Engine, log4j: dict[str, int]
) -> None:
    app = app_factory(read_only=True)
    app.ctx.store.accept_risk(AcceptRequest(Reach(vuln_id=LOG4J), "JNDI off", "sre", None, until_fix=True))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("6")
        await settle(pilot)
        assert app.screen.query_one("#exceptions-table", DataTable).row_count == 1
        await pilot.press("x")
        await settle(pilot)
        assert isinstance(app.screen, ExceptionsScreen)
    assert _statuses(engine, log4j)["d/log4j-core"] == "accepted"


def test_accepting_and_revoking_move_the_score_at_once(engine: Engine, log4j: dict[str, int]) -> None:
    """No waiting for the next run: each write re-scores and the overview reads a new snapshot."""
    times = iter(NOW + timedelta(minutes=m) for m in range(1, 10))
    store = Store(engine, RULES, lambda: next(times))
    before = store.headline().score
    assert before is not None
    store.accept_risk(AcceptRequest(Reach(vuln_id=LOG4J), "JNDI lookups disabled", "sec", None, True))
    accepted = store.headline().score
    assert accepted is not None and accepted.taken_at > before.taken_at
    (exc,) = store.exceptions()
    store.revoke(exc.id)
    revoked = store.headline().score
    assert revoked is not None and revoked.taken_at > accepted.taken_at
    assert revoked.score < accepted.score  # the critical log4j findings count against the score again
