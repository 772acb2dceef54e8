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
        "print(json.dumps(sorted(m for m in ('docker','kubernetes','httpx','sqlalchemy','textual','apprise') if m in sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
