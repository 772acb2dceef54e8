"""The data flows one way: sources → collectors → store → rules → scoring → diff → outbox → channels."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports")
    assert exe, "import-linter is part of the test dependencies"
    result = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Contracts: 4 kept, 0 broken" in result.stdout


def test_pure_core_loads_no_io_library() -> None:
    code = (
        "import sys, json\n"
        "import posture.rules, posture.scoring, posture.records, posture.taxonomy\n"
        "io = ('docker', 'kubernetes', 'httpx', 'sqlalchemy', 'textual', 'apprise')\n"
        "print(json.dumps(sorted(m for m in io if m in sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_the_core_type_checks_strictly() -> None:
    """mypy --strict over posture/ (pyproject's [tool.mypy]): the core's contracts are its types."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout


def test_ruff_finds_nothing() -> None:
    exe = shutil.which("ruff")
    assert exe, "ruff is part of the test dependencies"
    result = subprocess.run(
        [exe, "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
