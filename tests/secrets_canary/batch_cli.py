"""Runs many ``posture`` command lines through :func:`posture.cli.main.main` in one interpreter.

``python tests/secrets_canary/batch_cli.py DIR '[["findings", "--format", "json"], …]'`` writes each
command's stdout and stderr to ``DIR/<n>.out`` / ``DIR/<n>.err`` and prints the exit codes as JSON.
The canary test runs some forty read-only listings of one store: as separate processes, interpreter
start and imports cost a minute on a loaded CI machine; here they go through the same entry point
(its one-line errors and exit codes included) in a few seconds.
"""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from posture.cli.main import main


def run(argv: list[str]) -> tuple[int, bytes, bytes]:
    """One command line: (exit code, stdout, stderr), the streams as bytes (JSON goes to the buffer)."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.buffer.getvalue(), err.buffer.getvalue()  # type: ignore[attr-defined]


if __name__ == "__main__":
    target = Path(sys.argv[1])
    codes = []
    for index, argv in enumerate(json.loads(sys.argv[2])):
        code, stdout, stderr = run(argv)
        (target / f"{index}.out").write_bytes(stdout)
        (target / f"{index}.err").write_bytes(stderr)
        codes.append(code)
    print(json.dumps(codes))
