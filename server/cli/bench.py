"""``jidoka bench``: measure the governed runtime and print figures with their conditions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.table import Table

from server.cli.common import console, fail
from server.runtime import RuntimeFactory
from server.settings import Settings

__all__ = ["bench", "render_report"]


def _value(figure: dict[str, Any]) -> str:
    value = figure["value"]
    if value is None:
        return "null"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"


def render_report(report: dict[str, Any]) -> tuple[Table, list[str]]:
    """The figures as a table (value, unit, goal, met) and each figure's conditions (or why it is null)."""
    table = Table(title="jidoka bench" + (" (quick)" if report.get("quick") else ""), title_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    widest = max((len(f["key"]) for f in report["figures"]), default=6)
    for column, justify, width in (("figure", "left", widest), ("value", "right", 8), ("unit", "left", 8),
                                   ("goal", "left", 8), ("met", "left", 6)):
        table.add_column(column, justify=justify, no_wrap=True, min_width=width)  # type: ignore[arg-type]
    notes = []
    for figure in report["figures"]:
        met = {True: "[green]yes[/green]", False: "[red]no[/red]", None: ""}[figure["met"]]
        if figure["value"] is None:
            met = "[yellow]n/a[/yellow]"
        table.add_row(figure["key"], _value(figure), figure["unit"], figure["goal"] or "", met)
        note = f"null: {figure['reason']}" if figure["value"] is None else figure["conditions"]
        notes.append(f"{figure['key']}: {note}")
    return table, notes


def bench(
    quick: bool = typer.Option(False, "--quick", help="Fewer iterations (a smoke run in about a minute)."),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the JSON report here."),
    only: list[str] | None = typer.Option(
        None, "--only",
        help="Run only these sections (gate, pycasbin, audit, turn, checkpoint, retrieval, chat, accuracy)."),
    profile: Path | None = typer.Option(
        None, "--profile-governance",
        help="Instead of the figures, profile governed turns with pyinstrument and write the report here (.html "
             "or text)."),
) -> None:
    """Run the benchmarks: every figure with its conditions, as a table and (with --json) as JSON."""
    out = console()
    # Figures are measured on the shipped defaults (the demo plant's date, the shipped policy, the rules model),
    # never on the caller's environment, so runs on different machines compare.
    factory = RuntimeFactory(Settings.from_env({}))
    if profile is not None:
        from evals.bench.profile import profile_governance

        try:
            summary = profile_governance(profile, factory=factory, turns=40 if quick else 200)
        except ImportError as exc:
            raise fail(f"profiling needs pyinstrument ({exc})") from None
        out.print(summary, markup=False)
        out.print(f"profile written to {profile}", markup=False)
        return
    from evals.bench import run_benchmarks

    try:
        with out.status("benchmarking…") as status:
            report = run_benchmarks(quick=quick, only=only, factory=factory,
                                    progress=lambda s: status.update(f"benchmarking {s}…"))
    except ValueError as exc:
        raise fail(str(exc)) from None
    table, notes = render_report(report)
    out.print(table)
    for note in notes:
        out.print(note, markup=False)
    machine = report["machine"]
    out.print(f"machine: {machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}, "
              f"{machine['platform']}; load average at start {machine['load_average_at_start']}, at end "
              f"{machine.get('load_average_at_end')}", markup=False)
    if json_path:
        try:
            json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise fail(f"could not write {json_path}: {exc.strerror or exc}") from None
        out.print(f"written to {json_path}", markup=False)
