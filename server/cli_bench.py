"""``jidoka bench``: measure the governed runtime and print figures with their conditions."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from evals.bench import run_benchmarks

__all__ = ["bench"]

_out = Console()


def bench(
    quick: bool = typer.Option(False, "--quick", help="Fewer iterations (a smoke run, noisier figures)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the JSON report here."),
    only: list[str] | None = typer.Option(None, "--only", help="Run only these sections (gate, audit)."),
) -> None:
    """Run the benchmarks (no timing assertions live in the tests; they live here)."""
    with _out.status("benchmarking…") as status:
        report = run_benchmarks(quick=quick, only=only, progress=lambda s: status.update(f"benchmarking {s}…"))
    table = Table(title="jidoka bench" + (" (quick)" if quick else ""), title_justify="left")
    for column in ("figure", "value", "unit", "goal", "conditions"):
        table.add_column(column, overflow="fold")
    for figure in report["figures"]:
        table.add_row(figure["key"], f"{figure['value']:,.2f}", figure["unit"], figure["goal"] or "—",
                      figure["conditions"])
    _out.print(table)
    if json_path:
        json_path.write_text(json.dumps(report, indent=2))
        _out.print(f"written to {json_path}")
