"""Issue 23 item 4: no raw control, bidi or zero-width character from a source reaches a terminal or a file.

Every command of ``posture`` (enumerated from the click objects behind ``COMMANDS``, subcommands of
groups included) runs with every choice of its ``--format`` over a store whose name fields all carry
OSC 52, ``ESC[2J``, OSC 0, C1 CSI, bidi and zero-width payloads (tests/core/hostile_estate.py). A new
command or format is driven automatically; the only command not driven here is listed in SKIPPED.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from posture.cli.main import COMMANDS, cli, main
from posture.textsafe import clean, json_text
from tests.hostile_estate import FORBIDDEN, PAYLOAD, accept_one_rule, hostile, source_args, write_config

#: Commands that need an interactive terminal; the tmux test (tests/tui/test_output_gate_tmux.py)
#: covers the terminal for the rest.
SKIPPED = {("tui",): "an interactive TTY (the Textual UI cleans through posture.textsafe.clean, tested in tests/tui)"}


def _commands() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            for sub, child in command.commands.items():
                yield (name, sub), child
        else:
            yield (name,), command


def _choices(command: click.Command, option: str) -> list[str]:
    for param in command.params:
        if option in getattr(param, "opts", ()) and isinstance(param.type, click.Choice):
            return [str(c) for c in param.type.choices]
    return []


def _variants(path: tuple[str, ...], command: click.Command, root: Path, sources: tuple[str, ...]) -> list[list[str]]:
    """The argument lists that show different data: flags that switch a command to another listing."""
    extra: dict[tuple[str, ...], list[list[str]]] = {
        ("collect",): [list(sources)],
        ("watch",): [["--once", *sources]],
        ("enrich",): [["--kev", str(Path(__file__).parents[1] / "data/reports/crafted/kev.json")]],
        ("assets",): [[], ["--sources"], ["--include-gone"]],
        ("findings",): [["--all"]],
        ("diff",): [[], ["--runs"], ["--since", "1d"]],
        ("notify",): [[], ["--status"], ["--test"]],
        ("score",): [["--by", by] for by in _choices(command, "--by")],
        ("summary",): [[], ["--output", str(root / "summary.out")]],
        ("k8s", "rbac"): [["--name", hostile("posture"), "--namespace", hostile("ns")]],
        ("demo",): [["--db", f"sqlite:///{root / 'demo.db'}"]],
    }
    formats = _choices(command, "--format")
    return [[*v, *(["--format", f] if f else [])] for v in extra.get(path, [[]]) for f in (formats or [None])]


def _run(argv: list[str], capfd: pytest.CaptureFixture[bytes]) -> tuple[str, str]:
    with contextlib.suppress(SystemExit):  # exit codes are other tests' business; every line still counts
        main(argv)
    out, err = capfd.readouterr()
    return out.decode("utf-8"), err.decode("utf-8")


@pytest.fixture
def estate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]
) -> tuple[str, ...]:
    """The hostile estate: collected, a hostile exception accepted, collected again (diff has changes)."""
    url = f"sqlite:///{tmp_path / 'posture.db'}"
    for key, value in {"POSTURE_DB": url, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path),
                       "POSTURE_CONFIG": str(write_config(tmp_path))}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("POSTURE_NOTIFY", raising=False)
    sources = source_args(tmp_path)
    _run(["collect", *sources], capfdbinary)
    accept_one_rule(url)
    _run(["collect", *sources], capfdbinary)
    return sources


def test_every_command_and_format_writes_no_raw_control_character(
    estate: tuple[str, ...], tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    driven: set[tuple[str, ...]] = set()
    shown_by: set[str] = set()
    for path, command in _commands():
        if path in SKIPPED:
            continue
        for args in _variants(path, command, tmp_path, estate):
            out, err = _run([*path, *args], capfdbinary)
            files = {p.name: p.read_text("utf-8") for p in tmp_path.glob("summary.out")}
            for where, written in {"stdout": out, "stderr": err, **files}.items():
                raw = FORBIDDEN.findall(written)
                assert not raw, f"posture {' '.join(path)} {' '.join(args)}: {where} has raw {raw[:5]!r}"
                if "PWNED-TITLE" in written:
                    shown_by.add(path[0])
            for p in tmp_path.glob("summary.out"):
                p.unlink()
        driven.add(path)
    assert set(SKIPPED) <= {p for p, _ in _commands()} and ("db", "current") in driven
    # The payload did reach these outputs, made visible or escaped: the checks above saw it.
    assert {"collect", "findings", "assets", "diff", "summary", "score", "notify", "watch"} <= shown_by, shown_by


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_json_keeps_the_data_exact_with_no_raw_character(
    estate: tuple[str, ...], capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    for argv in (["assets", "--format", "json"], ["findings", "--format", "sarif"], ["summary", "--format", "json"]):
        out, _ = _run(argv, capfdbinary)
        assert "\\u001b]52;c;" in out and "\\u202e" in out and "\\u200b" in out and "\\u009b" in out
        assert any(PAYLOAD in s for s in _strings(json.loads(out))), argv  # parsed back: exact


def test_the_sanitizer_marks_every_unsafe_character_visibly() -> None:
    assert FORBIDDEN.search(clean(PAYLOAD)) is None
    assert clean("pay\u200bments") == "pay<U+200B>ments" != clean("payments")
    assert clean("a\u202eb\x9bc\U000e0041") == "a<U+202E>b<U+009B>c<U+E0041>"
    assert clean("café → ok\ttab") == "café → ok tab"  # ordinary text and printable Unicode untouched
    assert clean("ab\u200b", limit=4) == "ab…"  # a mark is never cut in half
    assert json.loads(json_text({"k": PAYLOAD + "\U000e0041"}))["k"] == PAYLOAD + "\U000e0041"
    assert FORBIDDEN.search(json_text({"k": PAYLOAD})) is None
