"""The architecture contract (``[tool.importlinter]`` in pyproject.toml, run by ``make lint``) holds, and breaks when
a lower layer imports a higher one or a package grows an import cycle; the CLI starts without the eval harness."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("knowledge", "tools", "guardrails", "agent", "server", "evals")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(where: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages under ``where`` (their own pyproject contract)."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=where, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(where), "PATH": "/usr/bin:/bin", "NO_COLOR": "1",
                               "COLUMNS": "200"})


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the packages' Python files and the contract, to break on purpose."""
    target = tmp_path_factory.mktemp("architecture")
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            copy = target / source.relative_to(ROOT)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, copy)
    return target


def _lint_with_line(tree: Path, module: str, line: str) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on ``tree`` with ``line`` appended to ``module`` (the module is restored afterwards)."""
    path = tree / module
    original = path.read_text(encoding="utf-8")
    try:
        path.write_text(original + f"\n{line}\n", encoding="utf-8")
        return _lint(tree)
    finally:
        path.write_text(original, encoding="utf-8")


def test_the_contract_is_kept_by_the_tree() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_layers_contract(tree: Path) -> None:
    result = _lint_with_line(tree, "tools/spec.py", "import agent.graph  # deliberately wrong: tools may not use agent")
    assert result.returncode == 1
    assert "Layers: evals > server > agent > guardrails > tools > knowledge BROKEN" in result.stdout
    assert "tools is not allowed to import agent" in result.stdout
    assert "tools.spec -> agent.graph" in result.stdout


def test_an_import_cycle_inside_a_package_breaks_the_acyclic_contract(tree: Path) -> None:
    # guardrails.gate imports the policy loader; the loader importing the gate closes a cycle.
    result = _lint_with_line(tree, "guardrails/policy/loader.py", "import guardrails.gate  # deliberately a cycle")
    assert result.returncode == 1
    assert "No cycles are allowed in guardrails." in result.stdout
    assert "Layers: evals > server > agent > guardrails > tools > knowledge KEPT" in result.stdout


def test_the_cli_loads_no_eval_module() -> None:
    probe = ("import sys, server.cli; "
             "print(sorted(m for m in sys.modules if m == 'evals' or m.startswith('evals.')))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
