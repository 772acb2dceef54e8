"""``--scan IMAGE``: runs the scanner found on the PATH (fake ones here) and ingests its JSON report."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from collectors.scanners import ScanCollector
from collectors.scanners.scan import scanner_command
from posture.records import CollectorError, ObservationRecord
from posture.secrets import SecretScanner

FAKE = """#!/bin/sh
# A stand-in scanner: records its argv, then writes the canned report where it was asked to.
printf '%s\\n' "$@" > "{argv}"
out=""
prev=""
for arg in "$@"; do
  if [ "$prev" = "--output" ] || [ "$prev" = "--file" ]; then out="$arg"; fi
  prev="$arg"
done
if [ -n "{fail}" ]; then echo "FATAL image not found: manifest unknown" >&2; exit 1; fi
cp "{report}" "$out"
"""


def _install(bin_dir: Path, name: str, report: Path, *, fail: bool = False) -> Path:
    bin_dir.mkdir(exist_ok=True)
    argv = bin_dir / f"{name}.argv"
    script = bin_dir / name
    script.write_text(FAKE.format(argv=argv, report=report, fail="yes" if fail else ""))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return argv


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "bin"
    monkeypatch.setenv("PATH", f"{path}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return path


def test_trivy_is_run_and_its_report_ingested(bin_dir: Path, data: Path, secrets: SecretScanner) -> None:
    argv = _install(bin_dir, "trivy", data / "trivy/trivy-alpine-39.json")
    _install(bin_dir, "grype", data / "crafted/grype-alpine-39-same-image.json")
    collector = ScanCollector("ghcr.io/aquasecurity/trivy-test-images:alpine-39", secrets=secrets)
    assert collector.scope.name == "trivy:sha256:055936d3920576da37aa9bc460d70c5f212028bda1c08c0879aedf03d7a66ea1"
    assert sum(isinstance(r, ObservationRecord) for r in collector.collect()) == 6
    args = argv.read_text().splitlines()
    assert args[:4] == ["image", "--quiet", "--format", "json"]
    assert args[-2:] == ["--", "ghcr.io/aquasecurity/trivy-test-images:alpine-39"]


def test_grype_is_used_when_trivy_is_absent(bin_dir: Path, data: Path, secrets: SecretScanner) -> None:
    argv = _install(bin_dir, "grype", data / "crafted/grype-alpine-39-same-image.json")
    collector = ScanCollector("alpine:3.9", secrets=secrets)
    assert collector.scope.name.startswith("grype:sha256:055936d3")
    assert sum(isinstance(r, ObservationRecord) for r in collector.collect()) == 5
    assert argv.read_text().splitlines()[:4] == ["--quiet", "-o", "json", "--file"]


def test_no_scanner_installed_is_one_clear_line(bin_dir: Path, secrets: SecretScanner) -> None:
    collector = ScanCollector("nginx:1.25", secrets=secrets)
    with pytest.raises(CollectorError, match=r"^scan nginx:1\.25: no scanner installed \(trivy, grype\)$"):
        list(collector.collect())
    assert collector.scope.name == "scan:nginx:1.25"


def test_scanner_failure_names_the_scanner_and_its_last_error_line(
    bin_dir: Path, data: Path, secrets: SecretScanner
) -> None:
    _install(bin_dir, "trivy", data / "trivy/trivy-alpine-39.json", fail=True)
    with pytest.raises(CollectorError) as info:
        list(ScanCollector("nginx:nope", secrets=secrets).collect())
    assert str(info.value) == "scan nginx:nope: trivy exited with status 1: FATAL image not found: manifest unknown"


def test_a_scanner_that_writes_garbage_is_a_bad_report(bin_dir: Path, tmp_path: Path, secrets: SecretScanner) -> None:
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"SchemaVersion": 2, "Results": [')
    _install(bin_dir, "trivy", garbage)
    with pytest.raises(CollectorError, match=r"^scan nginx \(trivy\): not valid JSON"):
        list(ScanCollector("nginx", secrets=secrets).collect())


@pytest.mark.parametrize("image", ["--config=/etc/shadow", "-h", "", "nginx latest"])
def test_option_like_or_blank_images_are_refused(bin_dir: Path, data: Path, secrets: SecretScanner, image: str) -> None:
    argv = _install(bin_dir, "trivy", data / "trivy/trivy-alpine-39.json")
    with pytest.raises(CollectorError, match="not an image reference"):
        list(ScanCollector(image, secrets=secrets).collect())
    assert not argv.exists()


def test_commands_end_options_before_the_image(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert scanner_command("trivy", "/x/trivy", "img", out)[-2:] == ["--", "img"]
    assert scanner_command("grype", "/x/grype", "img", out)[-2:] == ["--", "img"]
