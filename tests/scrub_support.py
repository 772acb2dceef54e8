"""The secret gate seen from outside: collect through the CLI, then look where a secret could be kept.

Shared by tests/k8s, tests/scanners and tests/docker: a store is clean of a planted secret when none
of its bytes, ``assets --format json`` and ``findings --format json`` (every status) holds it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def posture(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``posture ARGS`` from this tree on the SQLite store in ``root`` (also its home and config)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "POSTURE_"))}
    home = str(root)
    environ |= {"POSTURE_DB": f"sqlite:///{root / 'posture.db'}", "HOME": home, "XDG_CONFIG_HOME": home}
    return subprocess.run(
        [sys.executable, "-m", "posture.cli.main", *args],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


def stored_views(root: Path) -> dict[str, str]:
    """Everything a stolen database or an export shows: the database file (WAL included) and the JSON listings."""
    views = {"assets": posture(root, "assets", "--format", "json").stdout}
    views["findings"] = posture(root, "findings", "--all", "--format", "json").stdout
    for file in root.glob("posture.db*"):
        views[file.name] = file.read_bytes().decode("utf-8", "replace")
    return views


def leaks(root: Path, secrets: dict[str, str]) -> list[str]:
    """``"<secret name> in <view>"`` for every planted secret still readable somewhere."""
    views = stored_views(root)
    return [f"{name} in {view}" for name, value in secrets.items() for view, text in views.items() if value in text]
