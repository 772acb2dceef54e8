"""The data flows one way: sources → collectors → store → rules → scoring → diff → outbox → channels."""

from __future__ import annotations

import ast
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
    assert "Contracts: 5 kept, 0 broken" in result.stdout


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
    return modules


def test_the_facts_package_imports_the_standard_library_alone() -> None:
    """posture/facts is imported by collectors, rules, scoring and the TUI alike: anything it imported
    beyond the standard library (and itself) would be imported by all of them."""
    found = {
        f"{path.name}: {module}"
        for path in sorted((ROOT / "posture" / "facts").glob("*.py"))
        for module in _imported_modules(path)
        if module.split(".")[0] not in sys.stdlib_module_names and not module.startswith("posture.facts")
    }
    assert found == set()
    assert "posture.facts.sockets" in _imported_modules(ROOT / "posture" / "rules" / "docker.py")  # it sees imports


def _loaded_by(imports: str) -> set[str]:
    """The modules a fresh interpreter loads for ``imports`` beyond those it starts with."""
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        f"import {imports}\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def test_pure_core_loads_no_io_library() -> None:
    loaded = _loaded_by("posture.rules, posture.scoring, posture.records, posture.taxonomy")
    io = ("docker", "kubernetes", "httpx", "sqlalchemy", "textual", "apprise")
    assert sorted(m for m in io if m in loaded) == []


def test_attribute_records_import_only_the_standard_library() -> None:
    """Collectors and rules both import posture.attributes, so it may import neither (nor anything else of
    Posture but the error root, which imports nothing)."""
    records = ["posture.attributes.contract", "posture.attributes.docker", "posture.attributes.k8s"]
    own = {"posture", "posture.attributes", *records, "posture.errors"}
    loaded = _loaded_by(", ".join(records)) - own
    assert all(m.split(".")[0] in sys.stdlib_module_names for m in loaded), sorted(loaded)


def test_the_core_type_checks_strictly() -> None:
    """mypy --strict over posture/, collectors/ and tui/ (pyproject's [tool.mypy]): the contracts between
    layers are types, so a collector writing an attribute the rules read under another name, or a screen
    reading a field a store query does not return, fails here."""
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


# -- the output gate -------------------------------------------------------------------------
#: Where text from sources is written out; only the gate itself writes directly.
GATED = ("posture/cli", "posture/reports", "posture/notify")
GATE = "posture/cli/output.py"
_STREAMS = {"stdout", "stderr", "__stdout__", "__stderr__"}
_STREAM_QUERIES = {"isatty", "fileno", "encoding"}
_CLICK_WRITERS = {"echo", "secho", "echo_via_pager", "open_file", "get_text_stream", "get_binary_stream"}
_FILE_WRITERS = {"write_text", "write_bytes"}
_OS_WRITERS = {"write", "open", "fdopen"}
#: Modules that write files themselves, with what they may do and why it is safe.
_FILE_SINKS = {
    # The event stream's JSON-lines sink appends and fsyncs documents made inert by textsafe.json_line,
    # and cuts a torn last line on resume; it never writes to a terminal.
    "posture/notify/sinks.py": {"os.open(", "os.write(", "open(..., write mode)"},
}


def _write_mode(call: ast.Call) -> bool:
    """``open(p, "w")`` / ``path.open(mode="a")``: a mode that writes (the default "r" does not)."""
    modes = [k.value for k in call.keywords if k.arg == "mode"]
    modes += [a for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return any(isinstance(m, ast.Constant) and isinstance(m.value, str) and set(m.value) & set("wax+")
               for m in modes)


def gate_violations(source: str) -> list[str]:
    """Every way a module writes to a terminal or a file other than through posture/cli/output.py."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.ImportFrom) and node.module in ("click", "rich", "rich.console"):
            for alias in node.names:
                if alias.name in _CLICK_WRITERS | {"print", "Console", "get_console"}:
                    found.append(f"{where}: from {node.module} import {alias.name}")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "sys" \
                and node.attr in _STREAMS:
            parent = parents.get(node)
            if not (isinstance(parent, ast.Attribute) and parent.attr in _STREAM_QUERIES):
                found.append(f"{where}: sys.{node.attr}")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        owner = func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""
        if isinstance(func, ast.Name) and name == "print":
            found.append(f"{where}: print(")
        elif owner == "click" and name in _CLICK_WRITERS:
            found.append(f"{where}: click.{name}(")
        elif owner == "os" and name in _OS_WRITERS:
            found.append(f"{where}: os.{name}(")
        elif name in _FILE_WRITERS:
            found.append(f"{where}: .{name}(")
        elif name == "open" and _write_mode(node):
            found.append(f"{where}: open(..., write mode)")
        elif name in ("Console", "get_console"):
            found.append(f"{where}: {name}( outside the gate")
    return found


def test_the_gate_scan_finds_every_kind_of_direct_write() -> None:
    hostile = "\n".join([
        "import sys, os, click", "from click import echo", "from rich import print", "from rich.console import Console",
        "print('x')", "click.echo('x')", "click.secho('x')", "sys.stdout.write('x')", "sys.stderr.buffer.write(b'x')",
        "f(file=sys.stdout)", "open(p, 'w')", "open(p, mode='a')", "p.open('wb')", "p.write_text('x')",
        "p.write_bytes(b'x')", "os.write(1, b'x')", "rich.console.Console()",
    ])
    flagged = {int(f.split(":")[0].removeprefix("line ")) for f in gate_violations(hostile)}
    assert flagged == set(range(2, hostile.count("\n") + 2))  # every line but the plain import
    benign = "import sys\nopen(p)\np.open('rb')\np.read_text()\nsys.stdout.isatty()\nout.print(table)\necho('x')\n"
    assert gate_violations(benign) == []


def test_cli_reports_and_notify_write_only_through_the_gate() -> None:
    """A command that printed a source's name itself would bypass the sanitizer (issue 23 item 4)."""
    offenders = {
        str(path.relative_to(ROOT)): found
        for folder in GATED
        for path in sorted((ROOT / folder).rglob("*.py"))
        if str(path.relative_to(ROOT)) != GATE and (found := [
            v for v in gate_violations(path.read_text())
            if v.split(": ", 1)[1] not in _FILE_SINKS.get(str(path.relative_to(ROOT)), set())
        ])
    }
    assert offenders == {}
