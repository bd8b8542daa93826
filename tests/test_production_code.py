"""Production code states its invariants as checks that raise typed errors, never as ``assert`` statements:
``python -O`` strips those, so the check would silently vanish where it matters most."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agent", "tools", "guardrails", "knowledge", "server", "evals")

def _asserts(path: Path) -> list[int]:
    """Line numbers of the ``assert`` statements in ``path`` (a docstring example is a string, not one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Assert)]


def test_production_code_has_no_assert_statements() -> None:
    found = [f"{path.relative_to(ROOT).as_posix()}:{line}" for package in PACKAGES
             for path in sorted((ROOT / package).rglob("*.py")) for line in _asserts(path)]
    assert found == [], "replace these asserts with checks that raise a typed error: " + ", ".join(found)


def test_the_walk_finds_an_assert(tmp_path: Path) -> None:
    module = tmp_path / "module.py"
    module.write_text('"""Doc: ``assert x`` here is text."""\n\n\ndef f(x: int) -> int:\n    assert x > 0\n'
                      "    return x\n", encoding="utf-8")
    assert _asserts(module) == [5]
