"""``posture collect --fail-on``: the gate judges what this collection holds open (Trivy's
``--exit-code`` habit), never another source's findings nor accepted ones, and says why in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from posture.cli.main import cli
from tests.miner import MINER

QUIET = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: quiet, namespace: web}
"""
ACCEPTED = """\
version: 1
exceptions:
  - id: miner-is-a-lab
    owner: alice@example.com
    reason: a lab cluster
    created: 2026-01-10
    expires: 2099-01-01
    namespace: mining
"""


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for name, text in (("miner", MINER), ("quiet", QUIET)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.yaml").write_text(text)
    (tmp_path / "exceptions.yaml").write_text(ACCEPTED)
    return tmp_path


def collect(root: Path, source: str, *args: str) -> Result:
    db = f"sqlite:///{root / 'posture.db'}"
    return CliRunner().invoke(cli, ["collect", "--db", db, "--manifests", str(root / source), *args])


def test_the_gate_fails_on_what_this_collection_found_and_says_why(store: Path) -> None:
    result = collect(store, "miner", "--fail-on", "high")
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines()[-1] == (
        "posture: fail-on high: 2 open findings from this collection at or above high (2 high)"
    )
    again = collect(store, "miner", "--fail-on", "high")  # not only new ones: what the collection holds
    assert again.exit_code == 1


def test_below_the_threshold_it_passes_with_its_line(store: Path) -> None:
    result = collect(store, "miner", "--fail-on", "critical")
    assert result.exit_code == 0, result.output
    assert "posture: fail-on critical: passed, no open finding from this collection at or above critical" in (
        result.stderr
    )


def test_another_sources_findings_never_fail_this_collection(store: Path) -> None:
    assert collect(store, "miner").exit_code == 0  # no gate: the high findings are stored
    result = collect(store, "quiet", "--fail-on", "high")
    assert result.exit_code == 0, result.output
    assert "passed" in result.stderr


def test_accepted_findings_do_not_count(store: Path) -> None:
    result = collect(store, "miner", "--exceptions", str(store / "exceptions.yaml"), "--fail-on", "high")
    assert result.exit_code == 0, result.output
    assert "passed" in result.stderr


def test_without_the_option_nothing_is_judged(store: Path) -> None:
    result = collect(store, "miner")
    assert result.exit_code == 0 and "fail-on" not in result.stderr


def test_a_collection_whose_every_run_failed_is_never_a_pass(store: Path) -> None:
    (store / "garbage.json").write_text("garbage")
    db = f"sqlite:///{store / 'posture.db'}"
    args = ["collect", "--db", db, "--report", str(store / "garbage.json"), "--fail-on", "info"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "posture: fail-on info: not judged, no run of this collection completed"


def test_a_partial_run_is_judged_on_what_it_read(store: Path) -> None:
    (store / "miner" / "broken.yaml").write_text("kind: [\n")
    failed = collect(store, "miner", "--fail-on", "high")
    assert failed.exit_code == 1 and "2 open findings" in failed.stderr  # the gate outranks "partial" (3)
    passed = collect(store, "miner", "--fail-on", "critical")
    assert passed.exit_code == 3 and "passed" in passed.stderr  # partial, as without the gate
