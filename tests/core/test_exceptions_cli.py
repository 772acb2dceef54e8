"""``posture exceptions`` and ``collect --exceptions`` against the real store (SQLite and PostgreSQL):
a file entry and a command-line exception cover the same findings the same way; editing, removing
and expiring entries; check, list, export; a broken file changes nothing."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from posture.acceptance import Reach
from posture.cli.exceptions import apply_file
from posture.cli.main import cli
from posture.config import Channel, Settings
from posture.db import make_engine, resolve_url, write_session
from posture.exceptions_file import parse
from posture.model import exception_table, finding_event_table, finding_table, outbox_table, run_table
from posture.notify.policy import Route
from posture.rules import default_registry
from tui.data import AcceptRequest, Store

REPORT = str(Path(__file__).resolve().parents[1] / "data" / "reports" / "trivy" / "trivy-alpine-39.json")
MUSL = "CVE-2019-14697"  # on musl and musl-utils; the report's other CVEs are on libssl and libcrypto


def _run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)


def _file(tmp_path: Path, *entries: str, name: str = "exceptions.yaml") -> str:
    path = tmp_path / name
    path.write_text("version: 1\nexceptions:" + ("\n" + "\n".join(entries) if entries else " []") + "\n")
    return str(path)


def _entry(reason: str = "resolver not reachable", extra: str = "", expires: str = "2099-01-01") -> str:
    return (f"  - id: musl-dns\n    owner: alice\n    reason: {reason}\n    created: 2026-01-10\n"
            f"    expires: {expires}\n    vulnerability: {MUSL}\n{extra}")


def _findings(db_url: str) -> dict[str, tuple[str, str, int | None]]:
    """package → (vulnerability, status, exception id), one per package/vulnerability pair."""
    engine = make_engine(resolve_url(db_url))
    with engine.connect() as conn:
        rows = conn.execute(select(finding_table.c.evidence, finding_table.c.status, finding_table.c.exception_id))
        out = {f"{r.evidence['package']}/{r.evidence['vulnerability']}": (r.status, r.exception_id) for r in rows}
    engine.dispose()
    return out  # type: ignore[return-value]


def _events(db_url: str) -> Counter[str]:
    engine = make_engine(resolve_url(db_url))
    with engine.connect() as conn:
        found = Counter(e for (e,) in conn.execute(select(finding_event_table.c.event)))
    engine.dispose()
    return found


def _accepted(findings: dict[str, Any]) -> set[str]:
    return {k for k, (status, _) in findings.items() if status == "accepted"}


def test_a_file_entry_and_a_cli_exception_cover_the_same(db_url: str, tmp_path: Path) -> None:
    path = _file(tmp_path, _entry(extra="    package: musl\n"))
    collected = _run(db_url, "collect", "--report", REPORT, "--exceptions", path)
    assert collected.exit_code == 0, collected.output
    by_file = _findings(db_url)
    assert _accepted(by_file) == {f"musl/{MUSL}"}  # not musl-utils, not another CVE on the image
    events_by_file = _events(db_url)
    assert events_by_file == Counter({"new": 6, "accepted": 1})

    removed = _run(db_url, "exceptions", "apply", _file(tmp_path))  # the entry gone: revoked, finding reopens
    assert removed.exit_code == 0 and "1 revoked, 1 findings reopened" in removed.output
    assert _accepted(_findings(db_url)) == set() and _events(db_url)["exception-revoked"] == 1

    added = _run(db_url, "exceptions", "add", "--vulnerability", MUSL, "--package", "musl", "--owner", "alice",
                 "--reason", "resolver not reachable", "--expires", "2099-01-01")
    assert added.exit_code == 0 and "accepts 1 open findings" in added.output
    by_cli = _findings(db_url)
    assert {k: v[0] for k, v in by_cli.items()} == {k: v[0] for k, v in by_file.items()}
    assert _events(db_url) - events_by_file == Counter({"accepted": 1, "exception-revoked": 1})

    exc_id = by_cli[f"musl/{MUSL}"][1]
    revoked = _run(db_url, "exceptions", "revoke", str(exc_id), "--by", "bob")
    assert revoked.exit_code == 0 and "1 findings reopened" in revoked.output
    assert _accepted(_findings(db_url)) == set()


def test_a_file_entry_and_a_tui_exception_cover_the_same(db_url: str, tmp_path: Path) -> None:
    path = _file(tmp_path, _entry(extra="    package: musl\n"))
    assert _run(db_url, "collect", "--report", REPORT, "--exceptions", path).exit_code == 0
    by_file, events_by_file = _findings(db_url), _events(db_url)
    assert _run(db_url, "exceptions", "apply", _file(tmp_path)).exit_code == 0  # the entry gone: reopened
    engine = make_engine(resolve_url(db_url))
    try:
        store = Store(engine, default_registry(), lambda: datetime.now(UTC))
        accepted = store.accept_risk(AcceptRequest(Reach(vuln_id=MUSL, package="musl"), "resolver not reachable",
                                                   "alice", datetime(2099, 1, 1, tzinfo=UTC)))
    finally:
        engine.dispose()
    by_tui = _findings(db_url)
    assert accepted == 1 and {k: v[0] for k, v in by_tui.items()} == {k: v[0] for k, v in by_file.items()}
    assert _events(db_url) - events_by_file == Counter({"accepted": 1, "exception-revoked": 1})


def test_editing_an_entry_updates_its_exception_in_place(db_url: str, tmp_path: Path) -> None:
    path = _file(tmp_path, _entry())
    assert _run(db_url, "collect", "--report", REPORT, "--exceptions", path).exit_code == 0
    first = _findings(db_url)
    assert _accepted(first) == {f"musl/{MUSL}", f"musl-utils/{MUSL}"}
    before = _events(db_url)

    _file(tmp_path, "# a comment moves the entry down\n" + _entry(reason="reviewed again"))
    assert _run(db_url, "exceptions", "apply", path).exit_code == 0
    assert _findings(db_url) == first and _events(db_url) == before  # its words changed, no finding moved
    listed = json.loads(_run(db_url, "exceptions", "list", "--format", "json").output)
    assert [(x["reason"], x["origin"], x["covers"]) for x in listed] == [("reviewed again", f"{path}:4", 2)]

    _file(tmp_path, _entry(extra="    package: musl-utils\n"))  # narrowed: musl reopens, same exception
    assert _run(db_url, "exceptions", "apply", path).exit_code == 0
    now = _findings(db_url)
    assert _accepted(now) == {f"musl-utils/{MUSL}"} and now[f"musl-utils/{MUSL}"][1] == first[f"musl/{MUSL}"][1]


def test_a_broken_file_changes_nothing(db_url: str, tmp_path: Path) -> None:
    good = _file(tmp_path, _entry())
    assert _run(db_url, "collect", "--report", REPORT, "--exceptions", good).exit_code == 0
    state, runs = _findings(db_url), _count(db_url, run_table)
    _file(tmp_path, _entry(extra="    colour: red\n"))
    for args in (["collect", "--report", REPORT, "--exceptions", good], ["exceptions", "apply", good]):
        result = _run(db_url, *args)
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [f"Error: {good}:9: unknown field 'colour'"]
    assert _findings(db_url) == state and _count(db_url, run_table) == runs
    assert _count(db_url, exception_table) == 1


def _count(db_url: str, table: Any) -> int:
    engine = make_engine(resolve_url(db_url))
    with engine.connect() as conn:
        n = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    engine.dispose()
    return n


def test_an_expired_entry_reopens_and_is_announced_once(db_url: str, tmp_path: Path) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    path = _file(tmp_path, _entry(expires=tomorrow))
    assert _run(db_url, "collect", "--report", REPORT, "--exceptions", path).exit_code == 0
    assert len(_accepted(_findings(db_url))) == 2
    settings = Settings((Channel("ops", "json://a.example/p"),), (Route("ops", min_risk=0),))
    later = datetime.now(UTC) + timedelta(days=3)
    engine = make_engine(resolve_url(db_url))
    for _ in range(2):  # the file is applied on every run: the expiry is announced by the first only
        with write_session(engine) as session:
            apply_file(session, parse(Path(path).read_text(), path), settings, later)
    with engine.connect() as conn:
        announced = conn.execute(select(func.count()).select_from(outbox_table)
                                 .where(outbox_table.c.event == "exception-expired")).scalar_one()
    engine.dispose()
    assert announced == 2 and _events(db_url)["exception-expired"] == 2
    assert _accepted(_findings(db_url)) == set()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_check_list_and_export(db_url: str, tmp_path: Path) -> None:
    stale = ("  - id: gone\n    owner: bob\n    reason: old\n    created: 2026-01-01\n    until_fix: true\n"
             "    package: zlib\n")
    path = _file(tmp_path, _entry(), stale)
    clean = _run(db_url, "exceptions", "check", path)  # before any database: the syntax only
    assert clean.exit_code == 0
    assert _run(db_url, "collect", "--report", REPORT, "--exceptions", path).exit_code == 0
    checked = _run(db_url, "exceptions", "check", path)
    assert checked.exit_code == 0 and f"{path}:10: warning: matches no finding (id 'gone')" in checked.output
    assert _run(db_url, "exceptions", "check", "--strict", path).exit_code == 1
    bad = _file(tmp_path, _entry(extra="    colour: red\n"), name="bad.yaml")
    assert _run(db_url, "exceptions", "check", bad).exit_code == 1

    soon = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    assert _run(db_url, "exceptions", "add", "--rule", "VULN", "--asset", "nothing-here", "--owner", "carol",
                "--reason", "\x1b]52;c;bad\x07 soon", "--expires", soon).exit_code == 0
    expiring = json.loads(_run(db_url, "exceptions", "list", "--expiring", "14d", "--format", "json").output)
    assert [x["owner"] for x in expiring] == ["carol"]
    table = _run(db_url, "exceptions", "list").output
    assert "alice" in table and "\x1b" not in table and "until fix" in table

    exported = _run(db_url, "exceptions", "export", "-o", str(tmp_path / "out.yaml"))
    assert exported.exit_code == 0
    assert _run(db_url, "exceptions", "check", str(tmp_path / "out.yaml")).exit_code == 0
    again = parse((tmp_path / "out.yaml").read_text(), "out.yaml")
    stated = json.loads(_run(db_url, "exceptions", "list", "--format", "json").output)
    assert [(e.id, e.acceptance.scope.describe(), e.acceptance.owner, e.acceptance.until_fix) for e in again.entries] \
        == [(x["key"] or f"cli-{x['id']}", x["describe"], x["owner"], x["until_fix"]) for x in stated]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_configured_file_is_applied_on_every_collect(db_url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text('exceptions_file = "exceptions.yaml"\n')  # relative to the config
    monkeypatch.setenv("POSTURE_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.chdir(tmp_path.parent)
    _file(tmp_path, _entry())
    assert _run(db_url, "collect", "--report", REPORT).exit_code == 0
    assert len(_accepted(_findings(db_url))) == 2
    _file(tmp_path)
    assert _run(db_url, "collect", "--report", REPORT).exit_code == 0
    assert _accepted(_findings(db_url)) == set()


def test_until_fix_says_what_it_leaves_open_because_a_fix_exists(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'p.db'}"
    assert _run(db_url, "collect", "--report", REPORT).exit_code == 0
    added = _run(db_url, "exceptions", "add", "--vulnerability", "cve-2019-1549", "--owner", "sec",
                 "--reason", "no TLS server", "--until-fix")
    assert added.exit_code == 0, added.output
    assert added.output.splitlines() == [  # both libssl and libcrypto have 1.1.1d-r0 as the fixed version
        "exception 1 accepts 0 open findings: vulnerability CVE-2019-1549",
        "  2 more in this scope already have a fixed version: until a fix exists does not cover them",
    ]
