"""`posture demo` on a fresh database: the whole product visible with nothing installed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {"rule_id", "title", "severity", "risk", "status", "phase", "category", "asset", "references",
          "first_seen", "last_seen", "evidence"}


def _posture(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POSTURE_DB": f"sqlite:///{tmp_path / 'demo.db'}", "XDG_CONFIG_HOME": str(tmp_path)}
    env.pop("POSTURE_NOTIFY", None)
    return subprocess.run([sys.executable, "-m", "posture.cli.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_demo_then_findings_json_covers_every_phase_and_nist_area(tmp_path: Path) -> None:
    loaded = _posture(tmp_path, "demo")
    assert loaded.returncode == 0, loaded.stderr
    result = _posture(tmp_path, "findings", "--format", "json")
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout)
    assert len(findings) >= 20
    for finding in findings:
        assert finding.keys() >= FIELDS
        assert set(finding["asset"]) >= {"kind", "key", "name"}
        assert finding["references"][0]["framework"] == "NIST SP 800-190"
    assert {f["phase"] for f in findings} == {"build", "distribute", "run"}
    assert {f["category"] for f in findings} == {"image", "registry", "orchestrator", "container", "host"}


def test_the_demo_joins_one_image_across_the_lifecycle(tmp_path: Path) -> None:
    assert _posture(tmp_path, "demo").returncode == 0
    findings = json.loads(_posture(tmp_path, "findings", "--format", "json", "--rule", "VULN").stdout)
    log4shell = [f for f in findings if f["discriminator"].startswith("CVE-2021-44228|")]
    # One finding for the payments image, whichever of Docker, the registry, a pod or Trivy named it.
    assert len(log4shell) == 1
    assets = json.loads(_posture(tmp_path, "assets", "--format", "json", "--kind", "image").stdout)
    payments = [a for a in assets if a["key"] == log4shell[0]["asset"]["key"]]
    assert len(payments) == 1


def test_loading_the_demo_twice_changes_nothing(tmp_path: Path) -> None:
    assert _posture(tmp_path, "demo").returncode == 0
    again = _posture(tmp_path, "demo")
    assert again.returncode == 0, again.stderr
    new_counts = [int(n) for n in re.findall(r"\((\d+) new, (?:\d+) resolved\)", again.stdout)]
    assert len(new_counts) >= 8  # one line per demo source scope
    assert set(new_counts) == {0}
