"""``jidoka eval run``: the safety eval suites from the shell; a missed threshold exits non-zero."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from server.cli.common import cli_settings
from server.settings import Settings

__all__ = ["eval_app"]

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
    from evals.sandbox import INHERITED_ENV
    from server.runtime import RuntimeFactory

    settings = cli_settings(ctx)
    # The sandbox's runtime inherits the model endpoint and the policy, nothing else (see INHERITED_ENV).
    factory = RuntimeFactory(Settings.from_env({k: v for k, v in os.environ.items() if k in INHERITED_ENV}))
    report = run_suites(suites or [], factory=factory, model=model, home=settings.home, repeat=repeat)
    if json_path is not None:
        report.write_json(json_path)
    if html_path is not None:
        html_path.write_text(render_html(report), encoding="utf-8")
    print_summary(report, Console())
    raise typer.Exit(report.exit_code)
