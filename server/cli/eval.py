"""``jidoka eval run``: the safety eval suites from the shell (a missed threshold exits non-zero); ``jidoka eval
compare``: two models on the same suites, side by side."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from server.cli.common import cli_settings
from server.runtime import RuntimeFactory
from server.settings import Settings

__all__ = ["eval_app"]


def _factory() -> RuntimeFactory:
    """The runtime factory of the eval sandboxes: the model endpoint and the policy from the environment, nothing
    else (see ``evals.sandbox.INHERITED_ENV``), so the plant copy, its 'today' and its index are the sandbox's own."""
    from evals.sandbox import INHERITED_ENV

    return RuntimeFactory(Settings.from_env({k: v for k, v in os.environ.items() if k in INHERITED_ENV}))


eval_app = typer.Typer(help="Eval suites that score copilot safety (state-checked metrics).", no_args_is_help=True)


@eval_app.command("run")
def run(
    ctx: typer.Context,
    suites: list[str] = typer.Argument(None, help="Suite names or YAML files (default: every rules-model suite)."),
    model: str = typer.Option("rules", "--model", help="rules | openai:<model> | adversarial"),
    repeat: int = typer.Option(1, "--repeat", min=1, max=50, help="Run each case K times (pass^k)."),
    json_path: Path | None = typer.Option(None, "--json", help="Write the JSON report here."),
    html_path: Path | None = typer.Option(None, "--html", help="Write the static HTML report here."),
) -> None:
    """Run eval suites on a copy of the plant in JIDOKA_HOME (never changed) and print the metrics."""
    # The eval harness loads only here, so every other command starts without it.
    from evals.console import print_summary
    from evals.html import render_html
    from evals.runner import run_suites

    settings = cli_settings(ctx)
    report = run_suites(suites or [], factory=_factory(), model=model, home=settings.home, repeat=repeat)
    if json_path is not None:
        report.write_json(json_path)
    if html_path is not None:
        html_path.write_text(render_html(report), encoding="utf-8")
    print_summary(report, Console())
    raise typer.Exit(report.exit_code)


@eval_app.command("compare")
def compare(
    ctx: typer.Context,
    suites: list[str] = typer.Argument(None, help="Suite names or YAML files (default: utility)."),
    model: str = typer.Option(..., "--model", help="The model to try: openai:<model> (or rules)."),
    baseline: str = typer.Option("rules", "--baseline", help="The model to compare it with."),
    json_path: Path | None = typer.Option(None, "--json", help="Write both reports and the differences here."),
) -> None:
    """Run the suites with two models on the same plant copy and show metrics and differing cases side by side."""
    from evals.compare import compare_reports, print_comparison
    from evals.runner import run_suites

    settings = cli_settings(ctx)
    factory = _factory()
    names = suites or ["utility"]
    reports = [run_suites(names, factory=factory, model=m, home=settings.home) for m in (baseline, model)]
    comparison = compare_reports(*reports)
    if json_path is not None:
        comparison.write_json(json_path)
    print_comparison(comparison, Console())
    raise typer.Exit(comparison.exit_code)
