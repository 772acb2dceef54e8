"""``posture tui`` and ``posture`` alone: when the UI opens, what it is given, and one-line failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tui.app
from posture.cli import tui as cli_tui
from posture.cli.main import main


class _FakeUI:
    def __init__(self, calls: list[dict[str, Any]], return_code: int) -> None:
        self.calls = calls
        self.return_code = return_code

    def run(self) -> None:
        self.calls.append({"ran": True})


@pytest.fixture
def fake_ui(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []

    def make(engine: Any, *, read_only: bool = False, registry: Any = None, **_: Any) -> _FakeUI:
        calls.append({"read_only": read_only, "url": str(engine.url)})
        return _FakeUI(calls, 0)

    monkeypatch.setattr(tui.app, "make_app", make)
    return calls


def test_tui_command_passes_read_only(estate_path: Path, fake_ui: list[dict[str, Any]]) -> None:
    main(["tui", "--db", f"sqlite:///{estate_path}", "--read-only"])
    assert fake_ui == [{"read_only": True, "url": f"sqlite:///{estate_path}"}, {"ran": True}]


def test_tui_on_a_database_without_schema_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["tui", "--db", f"sqlite:///{tmp_path / 'empty.db'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and "posture db upgrade" in err[0]


def test_posture_alone_opens_the_ui_only_in_a_terminal_with_a_database(
    estate_path: Path,
    fake_ui: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["--db", f"sqlite:///{estate_path}"])  # pytest's stdin is not a terminal
    assert "Usage: posture" in capsys.readouterr().out and fake_ui == []
    monkeypatch.setattr(cli_tui.sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(cli_tui.sys.stdout, "isatty", lambda: True)
    main(["--db", f"sqlite:///{estate_path}"])
    assert fake_ui[0]["read_only"] is False and fake_ui[1] == {"ran": True}
    fake_ui.clear()
    main(["--db", f"sqlite:///{estate_path.parent / 'nothing-here.db'}"])
    assert fake_ui == [] and "Usage: posture" in capsys.readouterr().out


def test_database_exists(tmp_path: Path, estate_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    assert cli_tui.database_exists(f"sqlite:///{estate_path}")
    assert not cli_tui.database_exists(f"sqlite:///{empty}")
    assert not cli_tui.database_exists(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not cli_tui.database_exists("sqlite://")
    assert cli_tui.database_exists("postgresql+psycopg://posture@db.example/posture")
