"""``jidoka init``, ``jidoka tools`` and ``jidoka demo``: the plant and its tools from the shell."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine

from guardrails.audit.keys import KEK_FILE, LocalKek
from guardrails.governed import Refusal
from server.cli.common import cli_settings, literal
from server.cli.render import render_model
from server.databases import Database, reach
from server.runtime import build_runtime
from server.schema import upgrade_schema
from server.secrets import mask_url
from server.settings import Settings
from tools import default_catalog, make_engine

if TYPE_CHECKING:
    from tools.demo import PlantSummary

__all__ = ["register"]

_out = Console()


def init(
    ctx: typer.Context,
    seed: int = typer.Option(42, help="Random seed: the same seed builds the same plant, row for row."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the plant already has data."),
    knowledge: bool = typer.Option(True, "--knowledge/--no-knowledge",
                                   help="Also ingest the demo documents into the knowledge base."),
    scenarios: bool = typer.Option(True, "--scenarios/--no-scenarios",
                                   help="Plant the demo scenarios (scrap spike, asset at risk, shortages, "
                                        "ERP/MES gaps); --no-scenarios builds a normal, healthy plant."),
) -> None:
    """Build the demo plant (ERP + MES data) in JIDOKA_DATA_URL and ingest its documents."""
    settings = cli_settings(ctx)
    engine = make_engine(settings.data_url)
    state = make_engine(settings.state_url)
    try:  # both databases answer before anything is built (an unreachable one is one clear line)
        reach(engine, Database.PLANT)
        reach(state, Database.STATE)
        summary = _build(engine, state, settings, seed=seed, force=force, scenarios=scenarios)
    finally:
        state.dispose()
        engine.dispose()
    _out.print(f"data: {mask_url(settings.data_url)}\nmanifest: {summary.manifest_path}\n"
               f"content hash: {summary.content_hash}", markup=False)
    if not settings.audit_kek:  # seal the audit's prompt, answer and model text from the first turn on
        LocalKek.create_file(settings.home / KEK_FILE)
    if knowledge:
        from server.cli.knowledge import ingest_demo_corpus

        ingest_demo_corpus(ctx)


def _build(engine: Engine, state: Engine, settings: Settings, *, seed: int, force: bool,
           scenarios: bool = True) -> PlantSummary:
    """Build the plant, print its table counts, and create or upgrade both databases' jidoka tables."""
    from tools.demo import build_plant

    settings.home.mkdir(parents=True, exist_ok=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=_out, transient=True) as progress:
        task = progress.add_task("building the demo plant", total=1)

        def report(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"building: {step}", completed=done, total=total)

        summary = build_plant(engine, seed=seed, today=settings.today, manifest_dir=settings.home,
                              force=force, progress=report, scenarios=scenarios)
    kind = "" if scenarios else ", no planted scenarios"
    table = Table(title=f"Demo plant built (seed {seed}, today {settings.today}{kind})", title_justify="left")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in sorted(summary.counts.items()):
        table.add_row(name, f"{count:,}")
    _out.print(table)
    # The state database's tables (audit, approvals, checkpoints) too: on Postgres nothing creates them at start.
    upgrade_schema(engine, state, settings.state_url)
    return summary


tools_app = typer.Typer(help="List the ERP/MES tools or run one.", no_args_is_help=False)


@tools_app.callback(invoke_without_command=True)
def tools_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
) -> None:
    """List the tools: name, domain, description and argument schema."""
    if ctx.invoked_subcommand is not None:
        return
    catalog = default_catalog()
    if as_json:
        payload = [
            {"name": s.name, "description": s.description, "domain": s.domain, "risk_class": s.risk_class,
             "sensitive_fields": sorted(s.sensitive_fields), "args_schema": s.json_schema()}
            for s in catalog
        ]
        typer.echo(json.dumps(payload, indent=2))
        return
    table = Table(title=f"{len(catalog)} tools", title_justify="left", show_lines=True)
    for column in ("name", "domain", "description", "arguments"):
        table.add_column(column, overflow="fold")
    for spec in catalog:
        props = spec.json_schema().get("properties", {})
        table.add_row(spec.name, spec.domain, spec.description.split("\n")[0], ", ".join(props))
    _out.print(table)


def _parse_args(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not valid JSON ({exc.msg} at position {exc.pos})", param_hint="--args") from None
    if not isinstance(value, dict):
        raise typer.BadParameter("must be a JSON object like '{\"item_id\": \"FG-1001\"}'", param_hint="--args")
    return value


@tools_app.command("run")
def tools_run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Tool name (see `jidoka tools`)."),
    as_user: str = typer.Option(..., "--as", help="Run as this user: the gate decides and scopes the call."),
    args: str = typer.Option("{}", "--args", help="Arguments as a JSON object."),
    as_json: bool = typer.Option(False, "--json", help="Print the typed result as JSON."),
) -> None:
    """Run one tool through the gate, as the agent would; the call is written to the audit log."""
    parsed = _parse_args(args)
    runtime = build_runtime(cli_settings(ctx))
    try:
        trace = runtime.trace(as_user)
        with runtime.audit.buffer() as audit:
            user = runtime.tools.identify(as_user, trace, audit)
            outcome = runtime.tools.call(user, name, parsed, trace=trace, audit=audit)
    finally:
        runtime.close()
    decision = outcome.decision
    if as_json:
        typer.echo(json.dumps({"decision": {"effect": decision.effect.value, "rule_id": decision.rule_id,
                                            "reason": decision.reason},
                               "trace_id": trace.trace_id, "result": outcome.for_model()}, indent=2))
    else:
        answer = outcome.result_or_refusal()
        if isinstance(answer, Refusal):
            _out.print(f"[red]{answer.status}[/red] by {literal(answer.rule_id)}: {literal(answer.reason)}",
                       highlight=False)
        else:
            _out.print(f"[green]allowed[/green] by {literal(decision.rule_id)} — trace {trace.trace_id}",
                       highlight=False)
            render_model(_out, name, answer)
    if outcome.refusal is not None and outcome.refusal.status == "invalid_arguments":
        raise typer.Exit(2)
    if outcome.result is None or outcome.result.status == "not_found":
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Mount the plant commands on ``app``."""
    from server.cli.demo import demo

    app.command("init")(init)
    app.command("demo")(demo)
    app.add_typer(tools_app, name="tools")
