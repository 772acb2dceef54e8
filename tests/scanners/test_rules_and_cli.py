"""The scanner observation rules and the ``posture collect`` report options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner

from collectors.scanners import ReportCollector, ScanCollector
from posture.cli.sources import SourceContext
from posture.cli.sources import reports as source
from posture.rules import scanner
from posture.rules.base import RuleRegistry
from posture.secrets import SecretScanner
from posture.taxonomy import NIST_SECTIONS


def test_rules_are_observation_rules_with_a_nist_section() -> None:
    registry = RuleRegistry(scanner.RULES)
    ids = {r.id for r in registry}
    assert ids == {
        scanner.VULN,
        scanner.SCAN_MISCONFIG,
        scanner.SCAN_MISCONFIG_IMAGE,
        scanner.SCAN_SECRET,
        scanner.SCAN_RBAC,
        scanner.SCAN_CIS_DOCKER,
        scanner.SCAN_CIS_K8S,
    }
    assert all(r.evaluate is None and r.nist in NIST_SECTIONS for r in registry)
    assert registry.get("VULN").nist == "3.1.1"
    assert registry.get("SCAN-SECRET").nist == "3.1.4"
    assert registry.get("SCAN-MISCONFIG-IMAGE").nist == "3.1.2"


def _params(args: list[str]) -> dict[str, Any]:
    captured: dict[str, Any] = {}

    @click.command()
    def cmd(**kwargs: Any) -> None:
        captured.update(kwargs)

    for option in reversed(source.OPTIONS):
        cmd = option(cmd)
    result = CliRunner().invoke(cmd, args)
    assert result.exit_code == 0, result.output
    return captured


def test_options_build_one_collector_per_report_and_image(data: Path) -> None:
    context = SourceContext(secrets=SecretScanner(b"posture-cli-test-key"))
    trivy = str(data / "trivy/trivy-alpine-39.json")
    operator = str(data / "trivy-operator/configauditreport-pod.yaml")
    params = _params(["--report", trivy, "--report", operator, "--report-cluster", "prod", "--scan", "nginx:1.25"])
    collectors = source.build(params, context)
    assert [type(c) for c in collectors] == [ReportCollector, ReportCollector, ScanCollector]
    assert collectors[1].scope.name == "trivy-operator:configauditreport:prod/default/Pod/my-pod"
    assert source.build(_params([]), context) == []


def test_report_format_is_validated_by_the_cli() -> None:
    @click.command()
    def cmd(**kwargs: Any) -> None:
        pass

    for option in reversed(source.OPTIONS):
        cmd = option(cmd)
    result = CliRunner().invoke(cmd, ["--report", "x.json", "--report-format", "nessus"])
    assert result.exit_code == 2
    assert "nessus" in result.output
