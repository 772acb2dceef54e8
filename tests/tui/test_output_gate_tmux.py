"""The output gate in a real terminal: ``posture diff`` and listings over a hostile store in a tmux pane
with ``set-clipboard on`` write no clipboard, set no title and leave only SGR colour codes on screen.

A control run prints the raw payload in the same kind of pane first: the checks see its clipboard
write, its title and its escape sequences, so they would see Posture's too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hostile_estate import PAYLOAD, accept_one_rule, source_args, write_config

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None and os.environ.get("POSTURE_REQUIRE_SERVICES") != "1",
    reason="tmux is not installed",
)
ROOT = Path(__file__).resolve().parents[2]
#: Any escape sequence (CSI, OSC, or a lone ESC), and the one kind allowed: SGR colour and style.
ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|.)")
SGR = re.compile(r"\x1b\[[0-9;]*m")
CONTROL = re.compile("[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200d\u2060\ufeff]")


class Pane:
    """One pane on a private tmux server (its own socket), killed by that socket at the end."""

    def __init__(self, socket: str, env: dict[str, str]) -> None:
        self.socket, self.env = socket, env
        self.tmux("new-session", "-d", "-s", "gate", "-x", "200", "-y", "50", "sh")
        self.tmux("set-option", "-g", "set-clipboard", "on")
        self.tmux("set-option", "-g", "history-limit", "20000")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True,
                              env={**os.environ, "TMUX": "", **self.env}).stdout

    def run(self, command: str, timeout: float = 60.0) -> None:
        """Type ``command`` and wait until it signals that it has finished (whatever it did to the screen)."""
        self.tmux("send-keys", "-t", "gate", f"{command}; tmux -L {self.socket} wait-for -S gate-done", "Enter")
        subprocess.run(["tmux", "-L", self.socket, "wait-for", "gate-done"], check=True, timeout=timeout,
                       env={**os.environ, "TMUX": ""})

    def title(self) -> str:
        return self.tmux("display-message", "-p", "-t", "gate", "#{pane_title}")

    def buffers(self) -> str:
        return self.tmux("list-buffers", "-F", "#{buffer_sample}")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-e", "-p", "-S", "-", "-t", "gate")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], check=False, capture_output=True)


@pytest.fixture
def pane(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pane]:
    env = {"TERM": "xterm-256color", "POSTURE_DB": f"sqlite:///{tmp_path / 'posture.db'}", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path), "POSTURE_CONFIG": str(write_config(tmp_path)),
           "PYTHONPATH": str(ROOT), "NO_COLOR": "", "COLUMNS": "200"}
    sources = source_args(tmp_path)
    run = {**os.environ, **env}
    for step in range(2):
        subprocess.run([sys.executable, "-m", "posture.cli.main", "collect", *sources], cwd=ROOT, env=run,
                       capture_output=True, timeout=300, check=False)
        if step == 0:
            monkeypatch.setenv("XDG_CONFIG_HOME", env["XDG_CONFIG_HOME"])  # the estate's secret key
            accept_one_rule(env["POSTURE_DB"])
    pane = Pane(f"posture-gate-{uuid.uuid4().hex[:8]}", env)
    try:
        yield pane
    finally:
        pane.close()


def _foreign_sequences(screen: str) -> list[str]:
    return [m.group() for m in ESCAPE.finditer(screen) if not SGR.fullmatch(m.group())]


def test_diff_and_listings_leave_clipboard_title_and_screen_alone(pane: Pane, tmp_path: Path) -> None:
    title = pane.title()
    posture = f"cd {str(ROOT)!r} && {sys.executable} -m posture.cli.main"
    for command in ("diff", "findings --all", "assets", "assets --sources", "diff --runs"):
        pane.run(f"{posture} {command}")
    screen = pane.screen()
    assert pane.buffers() == "" and pane.title() == title
    assert _foreign_sequences(screen) == []
    assert CONTROL.search(screen.replace("\x1b", "")) is None
    assert "<U+001B>]52;c;" in screen  # the payload is on screen, made visible
    assert SGR.search(screen), "Posture's colours survive the gate"

    # Control: the same payload printed raw does reach the clipboard and the title in this pane.
    raw = tmp_path / "raw.txt"
    raw.write_text(PAYLOAD + "\n")
    pane.run(f"cat {raw}")
    assert "PWNED-CLIP" in pane.buffers() and pane.title() != title


def _wait_for(pane: Pane, needle: str, timeout: float = 30.0) -> str:
    """The visible screen once ``needle`` is on it (the TUI paints asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        screen = pane.tmux("capture-pane", "-e", "-p", "-t", "gate")
        if needle in screen:
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not on screen after {timeout}s:\n{screen}")
        time.sleep(0.2)


def test_the_tui_over_a_hostile_store_leaves_clipboard_and_title_alone(pane: Pane) -> None:
    """Every view and both detail screens of the TUI, each holding the payload, in the same kind of pane."""
    title = pane.title()
    pane.tmux("send-keys", "-t", "gate",
              f"cd {str(ROOT)!r} && {sys.executable} -m posture.cli.main tui; "
              f"tmux -L {pane.socket} wait-for -S gate-done", "Enter")
    screens = [_wait_for(pane, "Posture score")]
    for key, needle in (("2", "Findings"), ("Enter", "Where and when"), ("Escape", "Findings"),
                        ("3", "Assets"), ("4", "Lifecycle"), ("5", "Diff")):
        pane.tmux("send-keys", "-t", "gate", key)
        screens.append(_wait_for(pane, needle))
    assert any("<U+001B>]52;c;" in screen for screen in screens)  # the payload is shown, made visible
    pane.tmux("send-keys", "-t", "gate", "q")
    subprocess.run(["tmux", "-L", pane.socket, "wait-for", "gate-done"], check=True, timeout=30,
                   env={**os.environ, "TMUX": ""})
    assert pane.buffers() == "" and pane.title() == title
    for screen in screens:
        assert _foreign_sequences(screen) == []
        assert CONTROL.search(screen.replace("\x1b", "")) is None
