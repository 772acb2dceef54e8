"""``posture metrics``: the exposition promtool accepts, its values against the CLI's own listings, the
textfile written atomically, a failed read reported, and a real Prometheus server scraping ``--serve``.

One store per module, collected from manifests through the real CLI: a privileged hostPID DaemonSet
owned by a team whose name tries to break out of its label (a quote, a brace, a backslash, a fake
sample and an escape sequence).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from posture.cli.main import main
from posture.db import bounded_read_session, make_engine, resolve_url, write_session
from posture.model import outbox_table
from posture.reports.prometheus import PostureCollector, ReadFailed, exposition, registry_of
from tests.miner import MINER

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_TEAM = 'evil"} posture_score 100 # \\ \x1b[2J'
#: What the exposition carries for it: the escape made visible (posture.textsafe), the rest exact.
SHOWN_TEAM = 'evil"} posture_score 100 # \\ <U+001B>[2J'
MANIFEST = """\
apiVersion: v1
kind: Namespace
metadata:
  name: mining
  labels:
    team: "evil\\"} posture_score 100 # \\\\ \\e[2J"
---
""" + MINER


@dataclass(frozen=True)
class Store:
    url: str
    findings: list[dict[str, Any]]  # open, as `posture findings --format json` lists them
    score: dict[str, Any]  # `posture score --format json`
    teams: list[dict[str, Any]]  # `posture score --by team --format json`


def _cli(*args: str) -> str:
    """One in-process CLI call (its import cost paid once per module); what it printed."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(list(args))
    return out.getvalue()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Collected once; one finding accepted; for channel ops a message pending, one in retry, one dead."""
    base = tmp_path_factory.mktemp("metrics")
    (base / "m").mkdir()
    (base / "m" / "miner.yaml").write_text(MANIFEST)
    url = resolve_url(f"sqlite:///{base / 'posture.db'}")
    _cli("--db", url, "collect", "--manifests", str(base / "m"), "--manifests-cluster", "prod-eu")
    first = json.loads(_cli("--db", url, "findings", "--format", "json"))[0]
    _cli("--db", url, "exceptions", "add", "--finding", first["fingerprint"], "--owner", "ops", "--reason", "test",
         "--expires", "30d")
    engine = make_engine(url)
    with write_session(engine) as session:
        now = datetime.now(UTC)
        rows = [("ops", "a", "pending"), ("ops", "b", "retry"), ("ops", "c", "dead"), ("ops", "d", "sent")]
        for channel, subject, status in rows:
            session.execute(outbox_table.insert().values(channel=channel, event="new", subject=subject, payload={},
                                                         status=status, created_at=now))
    engine.dispose()
    listings = [("findings", "--format", "json"), ("score", "--format", "json"),
                ("score", "--by", "team", "--format", "json")]
    return Store(url, *(json.loads(_cli("--db", url, *args)) for args in listings))


def _samples(exposition_text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        family.name: [(dict(s.labels), s.value) for s in family.samples]
        for family in text_string_to_metric_families(exposition_text)
    }


@pytest.fixture(scope="module")
def printed(store: Store) -> str:
    return _cli("--db", store.url, "metrics")


def _promtool(document: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    assert exe, "promtool comes with the Debian prometheus package (scripts/install-deps.sh)"
    return subprocess.run([exe, "check", "metrics"], input=document, capture_output=True, text=True, timeout=30)


def test_promtool_accepts_the_exposition_and_rejects_a_broken_one(printed: str) -> None:
    checked = _promtool(printed)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    broken = printed.replace("# TYPE posture_score gauge", "# TYPE posture_score gauge\nposture_score{grade=\"A} 1")
    assert _promtool(broken).returncode != 0


def test_values_agree_with_the_cli_listings(printed: str, store: Store) -> None:
    samples = _samples(printed)
    open_by_severity: dict[str, float] = {}
    for labels, value in samples["posture_open_findings"]:
        open_by_severity[labels["severity"]] = open_by_severity.get(labels["severity"], 0) + value
    listed: dict[str, float] = {}
    for finding in store.findings:
        listed[finding["severity"]] = listed.get(finding["severity"], 0) + 1
    assert {s: n for s, n in open_by_severity.items() if n} == listed
    assert len(samples["posture_open_findings"]) == 25  # every severity x area, zeros included
    assert sum(v for _labels, v in samples["posture_accepted_findings"]) == 1
    assert samples["posture_score"] == [({}, store.score["score"])]
    assert ({"grade": store.score["grade"]}, 1.0) in samples["posture_grade"]
    assert sum(v for _labels, v in samples["posture_grade"]) == 1
    assert samples["posture_metrics_read_success"] == [({}, 1.0)]
    status = {labels["status"]: v for labels, v in samples["posture_source_last_run_status"]}
    assert status == {"running": 0, "complete": 1, "partial": 0, "failed": 0}
    (age_labels, age), = samples["posture_source_last_complete_run_age_seconds"]
    assert age_labels["kind"] == "manifests" and 0 <= age < 600
    backlog = {(labels["channel"], labels["state"]): v for labels, v in samples["posture_outbox_messages"]}
    assert backlog == {("ops", "pending"): 1, ("ops", "sending"): 0, ("ops", "retry"): 1, ("ops", "dead"): 1}


def test_hostile_team_name_stays_inside_its_label(printed: str, store: Store) -> None:
    samples = _samples(printed)
    (team,) = store.teams
    assert team["group"] == HOSTILE_TEAM
    by_severity = {labels["severity"]: v for labels, v in samples["posture_team_open_findings"]
                   if labels["team"] == SHOWN_TEAM}
    assert sum(by_severity.values()) == team["open"]
    assert samples["posture_score"] == [({}, store.score["score"])]  # the fake "posture_score 100" is no sample
    assert "\x1b" not in printed
    assert 'team="evil\\"} posture_score 100 # \\\\ <U+001B>[2J"' in printed  # prometheus-client's escaping
    assert {labels["cluster"] for labels, _v in samples["posture_cluster_open_findings"]} == {"prod-eu"}


def test_textfile_is_replaced_whole_and_kept_when_the_read_fails(store: Store, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "posture.prom"
    target.write_text("old\n")
    _cli("--db", store.url, "metrics", "--textfile", str(target))
    assert "posture_score " in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["posture.prom"]  # no temporary file left
    broken = tmp_path / "broken.db"
    with sqlite3.connect(store.url.removeprefix("sqlite:///")) as source, sqlite3.connect(broken) as db:
        source.backup(db)  # the WAL's pages too, which copying the file would miss
        db.execute("DROP TABLE outbox")
    target.write_text("old\n")
    with pytest.raises(SystemExit) as exited:
        main(["--db", str(broken), "metrics", "--textfile", str(target)])
    assert exited.value.code == 1
    assert "outbox" in capsys.readouterr().err
    assert target.read_text() == "old\n"
    with pytest.raises(SystemExit) as refused:
        main(["--db", store.url, "metrics", "--textfile", str(tmp_path / "posture.txt")])
    assert refused.value.code == 2
    assert not (tmp_path / "posture.txt").exists()


def test_a_failed_read_is_a_metric_not_a_scrape_error() -> None:
    reasons: list[str] = []

    def failing() -> Any:
        raise ReadFailed("database x: locked")

    text_out = exposition(registry_of(PostureCollector(failing, reasons.append)))
    samples = _samples(text_out)
    assert samples["posture_metrics_read_success"] == [({}, 0.0)]
    assert "posture_open_findings" not in samples
    assert reasons == ["database x: locked"]


_LONG_QUERY = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) "
               "SELECT count(*) FROM n")


def test_bounded_read_cancels_a_slow_sqlite_statement(tmp_path: Path) -> None:
    engine = make_engine(resolve_url(f"sqlite:///{tmp_path / 'x.db'}"))
    with bounded_read_session(engine, 5) as session:
        assert session.execute(text("SELECT count(*) FROM (SELECT 1 UNION ALL SELECT 2)")).scalar() == 2
    started = time.monotonic()
    with pytest.raises(Exception, match="interrupted"), bounded_read_session(engine, 0.2) as session:
        session.execute(text(_LONG_QUERY)).scalar()
    assert time.monotonic() - started < 3
    with bounded_read_session(engine, 5) as session:  # the pooled connection carries no deadline on
        assert session.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()


def test_bounded_read_cancels_a_slow_postgresql_statement(postgres_url: str) -> None:
    engine = make_engine(resolve_url(postgres_url))
    with bounded_read_session(engine, 5) as session:
        assert session.execute(text("SELECT pg_sleep(0.1), 1")).one()[1] == 1
    with pytest.raises(Exception, match="statement timeout"), bounded_read_session(engine, 0.2) as session:
        session.execute(text("SELECT pg_sleep(5)")).all()
    engine.dispose()


# -- a real Prometheus scraping `posture metrics --serve` -----------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@dataclass(frozen=True)
class Prometheus:
    api: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        answer = _get_json(f"{self.api}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def value(self, promql: str, wait: float = 20) -> float:
        """The single value of ``promql`` once Prometheus has scraped it (first scrapes take a second)."""
        deadline = time.monotonic() + wait
        while True:
            result = self.query(promql)
            if result or time.monotonic() > deadline:
                assert len(result) == 1, (promql, result)
                return float(result[0]["value"][1])
            time.sleep(0.2)


def _stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def prometheus(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """``posture metrics --serve 127.0.0.1:0`` and a Prometheus (its own config and storage) scraping it
    every second; both stopped by the pid started here."""
    exe = shutil.which("prometheus")
    assert exe, "the Debian prometheus package (scripts/install-deps.sh)"
    base = tmp_path_factory.mktemp("prometheus")
    serve = subprocess.Popen([sys.executable, "-m", "posture.cli.main", "--db", store.url, "metrics", "--serve",
                              "127.0.0.1:0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server = None
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        assert line.startswith("posture metrics: serving http://127.0.0.1:"), line + (serve.stderr.read()
                                                                                    if serve.stderr else "")
        target = line.split("http://", 1)[1].split("/", 1)[0]
        (base / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
            f"scrape_configs:\n- job_name: posture\n  static_configs:\n  - targets: ['{target}']\n"
        )
        port = _free_port()
        server = subprocess.Popen(
            [exe, f"--config.file={base / 'prometheus.yml'}", f"--storage.tsdb.path={base / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            cwd=base, stdout=subprocess.DEVNULL, stderr=(base / "prometheus.log").open("w"),
        )
        api = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{api}/-/ready", timeout=2) as ready:
                    if ready.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (base / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.2)
        yield Prometheus(api)
    finally:
        if server is not None:
            _stop(server)
        _stop(serve)


def _promql_string(value: str) -> str:
    """A PromQL string literal (Go escapes: backslash and double quote)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def test_prometheus_scrapes_the_endpoint(prometheus: Prometheus, store: Store) -> None:
    assert prometheus.value('up{job="posture"} == 1') == 1
    assert prometheus.value("posture_score") == store.score["score"]
    assert prometheus.value("sum(posture_open_findings)") == len(store.findings)
    assert prometheus.value("sum(posture_accepted_findings)") == 1
    team = f"sum(posture_team_open_findings{{team={_promql_string(SHOWN_TEAM)}}})"
    assert prometheus.value(team) == store.teams[0]["open"]
    assert prometheus.value('posture_outbox_messages{channel="ops",state="dead"}') == 1
    assert prometheus.value('posture_source_last_run_status{kind="manifests",status="complete"}') == 1
