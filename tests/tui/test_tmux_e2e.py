"""End to end as an operator over SSH would: ``posture tui`` in a real terminal (tmux, 80x24, 16 colours),
driven by key presses and read back from the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# scripts/install-deps.sh installs tmux; in CI (POSTURE_REQUIRE_SERVICES=1) its absence fails, never skips.
pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None and os.environ.get("POSTURE_REQUIRE_SERVICES") != "1",
    reason="tmux is not installed",
)
ROOT = Path(__file__).resolve().parents[2]


class Terminal:
    def __init__(self, name: str) -> None:
        self.name = name

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def text(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], check=True, capture_output=True, text=True
        ).stdout

    def wait_for(self, needle: str, timeout: float = 20.0, gone: str | None = None) -> str:
        """Until ``needle`` is on screen (and ``gone`` is not)."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if needle in screen and (gone is None or gone not in screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not on screen after {timeout}s:\n{screen}")
            time.sleep(0.1)


@pytest.fixture
def terminal(estate_path: Path, tmp_path: Path) -> Iterator[tuple[Terminal, Path]]:
    name = f"posture-e2e-{uuid.uuid4().hex[:8]}"
    exit_file = tmp_path / "exit-code"
    env = {
        "TERM": "xterm",
        "COLORTERM": "",
        "NO_COLOR": "",
        "POSTURE_DB": f"sqlite:///{estate_path}",
        "PYTHONPATH": str(ROOT),
    }
    exports = " ".join(f"{k}={v!r}" for k, v in env.items())
    command = f"cd {str(ROOT)!r} && env {exports} {sys.executable} -m posture.cli.main tui; echo $? > {exit_file}"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", name, "-x", "80", "-y", "24", command],
        check=True,
        env={**os.environ, "TMUX": ""},
    )
    try:
        yield Terminal(name), exit_file
    finally:
        subprocess.run(["tmux", "kill-session", "-t", name], check=False, capture_output=True)


def test_operator_session_in_tmux(terminal: tuple[Terminal, Path]) -> None:
    term, exit_file = terminal
    # The panels paint before their worker fills them: wait for the loaded grade, not the panel title.
    screen = term.wait_for("grade D")
    assert "Posture score" in screen and "Open by severity" in screen
    assert all(len(line) <= 80 for line in screen.splitlines())
    term.keys("/")
    term.wait_for("filter: text in rule")
    term.keys("openssl", "Enter")
    screen = term.wait_for("Findings 2")
    assert "CVE-2024-0001 in openssl" in screen and "CVE-2024-0003 in openssl" in screen
    term.keys("Enter")
    screen = term.wait_for("Where and when")
    assert "CVE-2024-0001 in openssl" in screen
    term.keys("Escape")
    term.wait_for("Findings 2")
    term.keys("Escape")
    term.wait_for("Findings 8")
    term.keys("3")
    term.wait_for("Kubernetes (1)")
    term.keys("4")
    term.wait_for("Combined risk")
    term.keys("?")
    term.wait_for("Keys (escape closes)")
    term.keys("Escape")  # alone: escape then q within a few ms would read as alt+q
    term.wait_for("Combined risk", gone="Keys (escape closes)")
    term.keys("q")
    deadline = time.monotonic() + 15
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert exit_file.read_text().strip() == "0"
