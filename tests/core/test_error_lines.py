"""Every one-line error passes through the output gate: untrusted text it quotes (a path, a report's
cluster name) reaches the terminal without control or bidi characters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = "deploy\x1b]52;c;QUJD\x07\x1b[2J\u202e"


def test_a_usage_error_quoting_hostile_text_is_one_clean_line(tmp_path: Path) -> None:
    env = {**os.environ, "POSTURE_DB": f"sqlite:///{tmp_path / 'p.db'}", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "posture.cli.main", "collect", "--manifests", str(tmp_path / HOSTILE)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no such file or directory" in done.stderr
    assert not any(ch in done.stderr for ch in "\x1b\x07\u202e")
    assert "deploy<U+001B>]52;c;QUJD<U+0007><U+001B>[2J<U+202E>" in done.stderr  # shown, made visible and inert
