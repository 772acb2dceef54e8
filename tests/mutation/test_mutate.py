"""The mutation command's mutator (scripts/mutate.py): which mutants it makes, and that each one is the
module with exactly one change, still valid Python. Fast: nothing is run."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mutate.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutate"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


mutate = _load()

SOURCE = '''"""Docstrings are not mutated."""
DANGEROUS = frozenset({"SYS_ADMIN", "NET_ADMIN"})  # a module-level table
LIMITS = {"high": 7.0}


def verdict(caps: set[str], score: float, name: str = "x") -> str | None:
    """Neither is this one."""
    if caps & DANGEROUS and not name:
        return "privileged"
    return "high" if score >= LIMITS["high"] else None
'''


def _mutations() -> set[tuple[str, int, int]]:
    return {(m.mutation, m.line, m.col) for m in mutate.mutants_of(SOURCE)}


def test_each_kind_of_mutation_is_made_where_it_belongs() -> None:
    found = _mutations()
    assert ("removed 'NET_ADMIN' from set", 2, 23) in found  # module-level tables included
    assert ("removed 'high' from dict", 3, 10) in found
    assert ("7.0 → 8.0", 3, 19) in found
    assert (">= → >", 10, 22) in found
    assert ("and → or", 8, 8) in found
    assert ("not removed", 8, 29) in found
    assert ("not added (if condition)", 8, 8) in found
    assert ("not added (ternary condition)", 10, 22) in found
    assert ("'privileged' → ''", 9, 16) in found
    assert ("'x' → ''", 6, 55) in found  # a default argument
    assert ("return value → None", 9, 16) in found  # typed Optional


def test_annotations_and_docstrings_are_left_alone() -> None:
    texts = " ".join(mutation for mutation, _, _ in _mutations())
    assert "Docstrings" not in texts and "Neither" not in texts
    assert not any(m.line == 6 and m.col < 55 for m in mutate.mutants_of(SOURCE))  # `set[str]`, `str | None`


def test_a_function_not_typed_optional_keeps_its_return_values() -> None:
    source = "def f() -> int:\n    return 1\n"
    assert [m.mutation for m in mutate.mutants_of(source)] == ["1 → 2"]


def test_each_mutant_is_the_module_with_one_change_and_still_parses() -> None:
    for mutant in mutate.mutants_of(SOURCE):
        mutated = mutate.apply(SOURCE, mutant)
        ast.parse(mutated)
        assert mutated != SOURCE
        changed = [i for i, (a, b) in enumerate(zip(SOURCE.splitlines(), mutated.splitlines(), strict=True)) if a != b]
        assert changed == [mutant.line - 1], mutant


def test_precedence_survives_the_splice() -> None:
    """A condition negated inside a larger expression stays one operand: ``not (a and b)``."""
    mutant = next(m for m in mutate.mutants_of("y = 1 if a and b else 2\n") if m.mutation.startswith("not added"))
    assert mutate.apply("y = 1 if a and b else 2\n", mutant) == "y = 1 if (not (a and b)) else 2\n"


def test_non_ascii_columns_are_counted_in_bytes_as_ast_does() -> None:
    source = 'x = {"é": 1, "y": 2}\n'
    mutant = next(m for m in mutate.mutants_of(source) if m.mutation == "removed 'y' from dict")
    assert mutate.apply(source, mutant) == "x = ({'é': 1})\n"


def test_an_equivalent_declaration_needs_a_reason(tmp_path: Path) -> None:
    declared = tmp_path / "equivalent.toml"
    declared.write_text('[[equivalent]]\npath = "p.py"\nline = 3\nmutation = "== → !="\nreason = "a ≠ b always"\n')
    assert mutate.load_equivalents(declared) == [mutate.Equivalent("p.py", 3, "== → !=", "a ≠ b always")]
    declared.write_text('[[equivalent]]\npath = "p.py"\nline = 3\nmutation = "== → !="\n')
    with pytest.raises(ValueError, match="no reason"):
        mutate.load_equivalents(declared)


def test_a_column_narrows_a_declaration_to_one_of_two_equal_mutations_on_a_line(tmp_path: Path) -> None:
    source = 'name = path.rsplit("/", 1)[-1]\n'
    ones = [m for m in mutate.mutants_of(source) if m.mutation == "1 → 2"]
    assert len(ones) == 2  # the maxsplit and the index: the same text, two columns
    declared = tmp_path / "equivalent.toml"
    declared.write_text(f'[[equivalent]]\npath = "p.py"\nline = 1\ncol = {ones[0].col}\nmutation = "1 → 2"\n'
                        'reason = "one split or two: the last part is the same"\n')
    (equivalent,) = mutate.load_equivalents(declared)
    assert [equivalent.names(m) for m in ones] == [True, False]
    declared.write_text('[[equivalent]]\npath = "p.py"\nline = 1\nmutation = "1 → 2"\nreason = "r"\n')
    assert all(mutate.load_equivalents(declared)[0].names(m) for m in ones)


def test_every_repository_declaration_names_a_mutant_that_exists() -> None:
    """A declaration whose line moved would silently stop excluding its mutant (or exclude another)."""
    files = mutate.declaration_files()
    assert mutate.EQUIVALENT_DIR / "equivalent.toml" in files
    for declared in (e for path in files for e in mutate.load_equivalents(path)):
        source = (mutate.ROOT / declared.path).read_text()
        assert any(declared.names(m) for m in mutate.mutants_of(source)), declared


@pytest.mark.parametrize("argv", [["posture/nothing.py", "--tests", "tests"], ["posture/db.py"],
                                  ["posture/db.py", "--tests", "tests/none.py"],
                                  ["posture/db.py", "--tests", "tests", "--sample", "0"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        mutate.main(argv)
    assert exited.value.code == 2 and "error:" in capsys.readouterr().err


def test_the_warm_runner_imports_the_changed_module_afresh_on_every_run(tmp_path: Path) -> None:
    """Each run is a fresh fork: a mutant written between two runs is what the second run imports
    (a stale module would count every mutant as survived), and a hung test ends at the timeout."""
    (tmp_path / "verdict.py").write_text("ALLOWED = 1\n")
    (tmp_path / "test_verdict.py").write_text(
        "import time\nimport verdict\n\n\ndef test_allowed():\n    assert verdict.ALLOWED == 1\n\n\n"
        "def test_hangs_when_told():\n    while verdict.ALLOWED == 3:\n        time.sleep(0.1)\n")
    runner = mutate.WarmRunner(tmp_path)
    try:
        assert runner.run(["test_verdict.py"], None)[0] == "passed"
        (tmp_path / "verdict.py").write_text("ALLOWED = 2\n")
        assert runner.run(["test_verdict.py"], None)[0] == "failed"
        (tmp_path / "verdict.py").write_text("ALLOWED = 1\n")
        assert runner.run(["test_verdict.py"], None)[0] == "passed"
        (tmp_path / "verdict.py").write_text("ALLOWED = 3\n")
        outcome, seconds = runner.run(["test_verdict.py::test_hangs_when_told"], 1.0)
        assert (outcome, seconds < 30) == ("timeout", True)
    finally:
        runner.close()
    assert not list(tmp_path.rglob("*.pyc"))
