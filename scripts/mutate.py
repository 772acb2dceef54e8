"""Mutation testing for one module: does any test notice a single-token mistake?

Usage::

    python scripts/mutate.py posture/notify/policy.py --tests tests/notify/test_policy.py \
        [--tests ...] [--sample N] [--seed S] [--jobs 1] [--timeout-factor 3]

Our own AST mutator rather than mutmut or cosmic-ray, because the tables that decide verdicts
(capability lists, default events, thresholds) live at module level, where those tools mutate
little or nothing. Each mutant is one change to the source text, spliced in at the node's exact
position (comments and layout elsewhere untouched), written to a private copy of the repository tree
(the working tree is never modified), and the given test files are run there with the fast tests only
(``POSTURE_REQUIRE_SERVICES`` unset, so service tests skip). A mutant is killed when the tests fail or
run longer than ``--timeout-factor`` times the unmutated run.

Mutants a test cannot kill because the program means the same thing are declared in
``tests/mutation/equivalent*.toml`` (path, line, mutation, reason) and left out of the score.
The command is a report: it exits 0 once the run completed, 2 on a usage error, 1 if the tests fail
before any mutation (nothing can be measured then).
"""

from __future__ import annotations

import argparse
import ast
import copy
import importlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Equivalent-mutant declarations: ``equivalent.toml`` and one ``equivalent-<area>.toml`` per area, so
#: people working on different modules do not edit one file.
EQUIVALENT_DIR = ROOT / "tests" / "mutation"
#: pytest's arguments for every run: stop at the first failure (a killed mutant is quicker), no cache.
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider")
#: Below this a timeout would measure the machine's load, not the mutant.
MIN_TIMEOUT_S = 10.0

COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE, ast.LtE: ast.Lt,
    ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}


@dataclass(frozen=True)
class Mutant:
    """One single-token change: where it is, what it does, and the text that replaces the node."""

    line: int
    col: int  # 1-based, as editors and linters count
    mutation: str
    start: tuple[int, int]  # (line, UTF-8 byte column) of the replaced span
    end: tuple[int, int]
    replacement: str


def _short(node: ast.AST, limit: int = 40) -> str:
    """The node's source, cut so a survivor line stays readable."""
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _changed_constant(value: object) -> object:
    """The one constant mutation of a value (0→1, n→n+1, True→False, "x"→"", None→"")."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return "" if value else "x"
    if isinstance(value, bytes):
        return b"" if value else b"x"
    if value is None:
        return ""
    return value  # Ellipsis and complex numbers are left alone


def _returns_optional(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """True when the return annotation admits None (``X | None`` or ``Optional[X]``)."""
    if node.returns is None:
        return False
    text = ast.unparse(node.returns)
    return "None" in text.replace("NoneType", "") or text.startswith(("Optional[", "typing.Optional["))


class _Collector(ast.NodeVisitor):
    """Walks a module and lists every mutant, skipping what can only be equivalent (annotations,
    docstrings) or cannot be spliced back reliably (f-string parts, match patterns)."""

    def __init__(self) -> None:
        self.mutants: list[Mutant] = []
        self._optional: list[bool] = []  # per enclosing function: may it return None?

    def _add(self, node: ast.AST, mutation: str, replacement: ast.AST | str) -> None:
        text = replacement if isinstance(replacement, str) else ast.unparse(replacement)
        start = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
        end = (node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
        self.mutants.append(Mutant(start[0], start[1] + 1, mutation, start, end, f"({text})"))

    # --- skipped subtrees -------------------------------------------------------------------
    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        """f-string parts carry no reliable positions before Python 3.12."""

    def visit_match_case(self, node: ast.match_case) -> None:
        """Patterns are not expressions; only the guard and the body are mutated."""
        if node.guard is not None:
            self.visit(node.guard)
        for statement in node.body:
            self.visit(statement)

    def visit_arg(self, node: ast.arg) -> None:
        """Annotations do not run."""

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_Expr(self, node: ast.Expr) -> None:
        if not (isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            self.generic_visit(node)  # a bare string statement is a docstring or a comment

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._optional.append(_returns_optional(node))
        for statement in node.body:
            self.visit(statement)
        self._optional.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._visit_function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._visit_function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._optional.append(False)
        self.generic_visit(node)
        self._optional.pop()

    # --- mutations --------------------------------------------------------------------------
    def visit_Compare(self, node: ast.Compare) -> None:
        for index, op in enumerate(node.ops):
            swapped = COMPARE_SWAPS.get(type(op))
            if swapped is not None:
                mutated = copy.deepcopy(node)
                mutated.ops[index] = swapped()
                self._add(node, f"{_op_text(op)} → {_op_text(swapped())}", mutated)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        mutated = copy.deepcopy(node)
        mutated.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        before, after = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        self._add(node, f"{before} → {after}", mutated)
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self._add(node, "not removed", node.operand)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        changed = _changed_constant(node.value)
        if changed is not node.value:
            self._add(node, f"{node.value!r} → {changed!r}", repr(changed))

    def _remove_each(self, node: ast.List | ast.Tuple | ast.Set, kind: str) -> None:
        for index, element in enumerate(node.elts):
            mutated = copy.deepcopy(node)
            del mutated.elts[index]
            text = "set()" if isinstance(node, ast.Set) and not mutated.elts else ast.unparse(mutated)
            self._add(node, f"removed {_short(element)} from {kind}", text)

    def visit_List(self, node: ast.List) -> None:
        if isinstance(node.ctx, ast.Load):
            self._remove_each(node, "list")
        self.generic_visit(node)

    def visit_Tuple(self, node: ast.Tuple) -> None:
        if isinstance(node.ctx, ast.Load):
            self._remove_each(node, "tuple")
        self.generic_visit(node)

    def visit_Set(self, node: ast.Set) -> None:
        self._remove_each(node, "set")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for index, key in enumerate(node.keys):
            mutated = copy.deepcopy(node)
            del mutated.keys[index], mutated.values[index]
            label = _short(key) if key is not None else f"**{_short(node.values[index])}"
            self._add(node, f"removed {label} from dict", mutated)
        self.generic_visit(node)

    def _negate(self, test: ast.expr, where: str) -> None:
        if not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)):
            self._add(test, f"not added ({where} condition)", ast.UnaryOp(ast.Not(), test))

    def visit_If(self, node: ast.If) -> None:
        self._negate(node.test, "if")
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._negate(node.test, "while")
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negate(node.test, "ternary")
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        for condition in node.ifs:
            self._negate(condition, "comprehension")
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        value = node.value
        optional = bool(self._optional) and self._optional[-1]
        if optional and value is not None and not (isinstance(value, ast.Constant) and value.value is None):
            self._add(value, "return value → None", "None")
        self.generic_visit(node)


def _op_text(op: ast.cmpop) -> str:
    """The operator as written, e.g. ``not in``."""
    return ast.unparse(ast.Compare(ast.Name("a"), [op], [ast.Name("b")]))[2:-2]


def mutants_of(source: str) -> list[Mutant]:
    """Every mutant of a module, in source order."""
    collector = _Collector()
    collector.visit(ast.parse(source))
    return sorted(collector.mutants, key=lambda m: (m.line, m.col, m.mutation))


def apply(source: str, mutant: Mutant) -> str:
    """The source with the mutant's span replaced (columns are UTF-8 byte offsets, as ast gives them)."""
    lines = source.encode().splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    data = source.encode()
    start = offsets[mutant.start[0] - 1] + mutant.start[1]
    end = offsets[mutant.end[0] - 1] + mutant.end[1]
    return (data[:start] + mutant.replacement.encode() + data[end:]).decode()


@dataclass(frozen=True)
class Equivalent:
    """A declared equivalent mutant and why it cannot be killed. ``col`` is needed only when the same
    mutation text occurs twice on the line (``1 → 2`` in ``rsplit("/", 1)[-1]``); without it the
    declaration covers every such mutant on the line."""

    path: str
    line: int
    mutation: str
    reason: str
    col: int | None = None

    def names(self, mutant: Mutant) -> bool:
        """Whether this declaration is about ``mutant`` (same line, mutation and, if given, column)."""
        return (mutant.line, mutant.mutation) == (self.line, self.mutation) and self.col in (None, mutant.col)


def declaration_files(directory: Path = EQUIVALENT_DIR) -> list[Path]:
    """Every ``equivalent*.toml`` in the directory, in name order."""
    return sorted(directory.glob("equivalent*.toml"))


def load_equivalents(path: Path) -> list[Equivalent]:
    """The declarations of ``equivalent.toml``; each must give a reason."""
    if not path.exists():
        return []
    entries = tomllib.loads(path.read_text()).get("equivalent", [])
    found = []
    for entry in entries:
        if not entry.get("reason"):
            raise ValueError(f"{path}: {entry.get('path')}:{entry.get('line')} has no reason")
        col = entry.get("col")
        found.append(Equivalent(entry["path"], int(entry["line"]), entry["mutation"], entry["reason"],
                                None if col is None else int(col)))
    return found


class Workspace:
    """A private copy of the repository's files (tracked and untracked, not ignored) per job, so
    mutants run in parallel and the working tree is never touched."""

    def __init__(self, jobs: int) -> None:
        self._base = Path(tempfile.mkdtemp(prefix="posture-mutate-"))
        listed = subprocess.run(("git", "ls-files", "-co", "--exclude-standard", "-z"), cwd=ROOT,
                                check=True, capture_output=True).stdout.decode().split("\0")
        self._free: list[Path] = []
        self._runners: dict[Path, WarmRunner] = {}
        self._lock = threading.Lock()
        for job in range(jobs):
            tree = self._base / f"tree{job}"
            for name in filter(None, listed):
                if (ROOT / name).is_file():
                    (tree / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / name, tree / name)
            self._free.append(tree)

    @property
    def any_tree(self) -> Path:
        return self._free[0]

    def borrow(self) -> Path:
        with self._lock:
            return self._free.pop()

    def give_back(self, tree: Path) -> None:
        with self._lock:
            self._free.append(tree)

    def runner(self, tree: Path) -> WarmRunner:
        """The tree's warm runner, started on first use."""
        with self._lock:
            if tree not in self._runners:
                self._runners[tree] = WarmRunner(tree)
            return self._runners[tree]

    def remove(self) -> None:
        for runner in self._runners.values():
            runner.close()
        shutil.rmtree(self._base, ignore_errors=True)


#: Third-party packages a test run imports, loaded once by each warm runner so that a mutant's run
#: pays only for the repository's own modules and the tests (several times faster than a fresh
#: interpreter per mutant). Nothing of the repository is loaded before the fork.
PRELOAD = ("pytest", "sqlalchemy", "sqlmodel", "pydantic", "httpx", "yaml", "orjson", "alembic",
           "cryptography", "rich", "textual", "click", "docker", "kubernetes", "apprise", "prometheus_client")
OWN_PACKAGES = ("posture", "collectors", "tui", "tests")


class WarmRunner:
    """A single-threaded server process (``mutate.py --serve TREE``) that has imported ``PRELOAD`` and
    forks one child per test run, so every run starts from the same clean state: the child imports the
    (mutated) repository modules afresh and exits. The parent thread talks to it by JSON lines."""

    def __init__(self, tree: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "POSTURE_REQUIRE_SERVICES"}
        env |= {"PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
        self._process = subprocess.Popen((sys.executable, str(Path(__file__).resolve()), "--serve", str(tree)),
                                         cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True, bufsize=1)

    def run(self, tests: list[str], timeout: float | None) -> tuple[str, float]:
        """``passed``, ``failed`` or ``timeout``, and the seconds the run took."""
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps({"tests": tests, "timeout": timeout}) + "\n")
        answer = self._process.stdout.readline()
        if not answer:
            raise RuntimeError("the warm test runner exited")
        reply = json.loads(answer)
        return str(reply["outcome"]), float(reply["seconds"])

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)


def serve(tree: Path) -> int:
    """The warm runner's loop: one request per line on stdin, one answer per line on stdout. Bytecode
    is not written, so a mutant never runs a stale ``.pyc`` of the previous one; a timeout kills the
    child's whole process group (tests may start children)."""
    sys.dont_write_bytecode = True
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    loaded = [m for m in sys.modules if m.split(".")[0] in OWN_PACKAGES]
    if loaded:
        raise RuntimeError(f"preloading imported repository modules: {loaded}")
    for line in sys.stdin:
        request = json.loads(line)
        outcome, seconds = _forked_pytest(tree, list(request["tests"]), request["timeout"])
        print(json.dumps({"outcome": outcome, "seconds": seconds}), flush=True)
    return 0


def _forked_pytest(tree: Path, tests: list[str], timeout: float | None) -> tuple[str, float]:
    import pytest

    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: its own session, quiet, the tree first on the path
        code = 1
        try:
            os.setsid()
            os.chdir(tree)
            sys.path.insert(0, str(tree))
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = int(pytest.main([*PYTEST_ARGS, *tests]))
        finally:
            os._exit(code)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            passed = os.waitstatus_to_exitcode(status) == 0
            return ("passed" if passed else "failed"), time.monotonic() - started
        if timeout is not None and time.monotonic() - started > timeout:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.monotonic() - started
        time.sleep(0.02)


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("module", help="the module to mutate, relative to the repository root")
    parser.add_argument("--tests", action="append", required=True, help="a test file or directory (repeatable)")
    parser.add_argument("--sample", type=int, help="run only N mutants drawn at random")
    parser.add_argument("--seed", type=int, default=1, help="seed of the sample (default 1)")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--timeout-factor", type=float, default=3.0, help="timeout as a multiple of the baseline")
    args = parser.parse_args(argv)
    if not args.module.endswith(".py") or not (ROOT / args.module).is_file():
        parser.error(f"{args.module}: not a Python file in this repository")  # exits 2
    for name in args.tests:
        if not (ROOT / name).exists():
            parser.error(f"{name}: no such test file or directory")
    if (args.sample is not None and args.sample < 1) or args.jobs < 1 or args.timeout_factor <= 0:
        parser.error("--sample, --jobs and --timeout-factor must be positive")
    return args


def _select(mutants: list[Mutant], sample: int | None, seed: int) -> list[Mutant]:
    if sample is None or sample >= len(mutants):
        return mutants
    chosen = random.Random(seed).sample(mutants, sample)
    return sorted(chosen, key=lambda m: (m.line, m.col, m.mutation))


def _run_all(workspace: Workspace, module: str, source: str, mutants: list[Mutant], tests: list[str],
             timeout: float, jobs: int, progress: Callable[[str], None]) -> list[tuple[Mutant, str]]:
    def one(mutant: Mutant) -> tuple[Mutant, str]:
        tree = workspace.borrow()
        try:
            (tree / module).write_text(apply(source, mutant))
            outcome, _ = workspace.runner(tree).run(tests, timeout)
        finally:
            (tree / module).write_text(source)
            workspace.give_back(tree)
        progress("." if outcome != "passed" else "S")
        return mutant, outcome

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, mutants))


def _report(module: str, source: str, generated: int, sample: int | None, seed: int,
            results: list[tuple[Mutant, str]], equivalent: list[Mutant]) -> Iterator[str]:
    killed = sum(1 for _, outcome in results if outcome != "passed")
    timeouts = sum(1 for _, outcome in results if outcome == "timeout")
    lines = source.splitlines()
    drawn = f"sample of {sample}, seed {seed}" if sample is not None and sample < generated else "all"
    yield f"{module}: {generated} mutants, {drawn}; {len(equivalent)} declared equivalent (not run)"
    score = f"{100 * killed / len(results):.0f} %" if results else "n/a"
    survived = len(results) - killed
    yield f"run {len(results)}: killed {killed} ({timeouts} by timeout), survived {survived}; score {score}"
    for mutant, outcome in results:
        if outcome == "passed":
            yield f"{module}:{mutant.line}:{mutant.col}: {mutant.mutation}"
            yield f"    {lines[mutant.line - 1].strip()}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        return serve(Path(argv[1]))
    args = _arguments(argv)
    source = (ROOT / args.module).read_text()
    declared: list[Equivalent] = []
    for path in declaration_files():
        try:
            declared += [e for e in load_equivalents(path) if e.path == args.module]
        except (ValueError, KeyError, tomllib.TOMLDecodeError) as error:
            print(f"{path}: {error}", file=sys.stderr)
            return 2
    every = mutants_of(source)
    chosen = _select(every, args.sample, args.seed)
    equivalent = [m for m in chosen if any(e.names(m) for e in declared)]
    to_run = [m for m in chosen if not any(e.names(m) for e in declared)]
    workspace = Workspace(args.jobs)
    try:
        baseline, seconds = workspace.runner(workspace.any_tree).run(args.tests, None)
        if baseline != "passed":
            print(f"{' '.join(args.tests)}: the tests fail without any mutation; nothing to measure", file=sys.stderr)
            return 1
        timeout = max(MIN_TIMEOUT_S, args.timeout_factor * seconds)
        print(f"baseline {seconds:.1f} s, timeout {timeout:.0f} s, {len(to_run)} mutants to run", file=sys.stderr)
        results = _run_all(workspace, args.module, source, to_run, args.tests, timeout, args.jobs,
                           lambda mark: print(mark, end="", file=sys.stderr, flush=True))
        print(file=sys.stderr)
    finally:
        workspace.remove()
    for line in _report(args.module, source, len(every), args.sample, args.seed, results, equivalent):
        print(line)
    stale = [e for e in declared if not any(e.names(m) for m in every)]
    for entry in stale:
        print(f"warning: equivalent declaration {entry.path}:{entry.line}: {entry.mutation!r} matches no mutant")
    return 0


if __name__ == "__main__":
    sys.exit(main())
