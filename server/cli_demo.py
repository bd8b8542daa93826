"""``jidoka demo``: a short scripted walk through the plant, every call governed and audited.

It plays the questions of a planner, a quality engineer, a buyer, a maintenance
planner and an executive through the same gate the agent uses, shows one
refusal, then verifies the audit chain. The record ids it starts from come from
the generator's manifest of planted scenarios.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.rule import Rule

from server.render import render_model
from server.runtime import Runtime, build_runtime
from server.settings import Settings

__all__ = ["demo"]

_out = Console()


@dataclass(frozen=True)
class _Step:
    user: str
    question: str
    tool: str
    args: dict[str, Any]


def _steps(manifest: dict[str, Any]) -> list[_Step]:
    scenarios = manifest.get("scenarios", {})
    spike = scenarios.get("scrap_spike", {})
    asset = scenarios.get("asset_risk", {})
    realloc = scenarios.get("reallocation", {})
    line = spike.get("line_id", "P100-PK1")
    return [
        _Step("quinn.quality", f"Why is scrap up on {line}?", "scrap_analysis", {"line_id": line, "days": 10}),
        _Step("quinn.quality", "Is a machine setting drifting on that line?", "machine_parameter_drift",
              {"line_id": line, "days": 10}),
        _Step("bea.buyer", "What needs my attention on P100 purchase orders?", "buyer_exception_triage",
              {"site_id": "P100", "limit": 5}),
        _Step("max.maint", "Which assets are likely to fail soon?", "assets_at_risk",
              {"threshold": 0.8, **({"asset_id": asset["asset_id"]} if "asset_id" in asset else {})}),
        _Step("paz.planner", f"When do we run out of {realloc.get('item_id', 'the item')} at P200?",
              "projected_stock", {"item_id": realloc.get("item_id", ""), "site_id": "P200"}),
        _Step("eve.exec", "Give me the operational summary and any ERP/MES mismatches.", "executive_summary", {}),
        _Step("pat.planner", "Show me P200's inventory.", "inventory_lookup", {"site_id": "P200"}),
    ]


def _run(runtime: Runtime, manifest: dict[str, Any]) -> None:
    for step in _steps(manifest):
        _out.print(Rule(f"{step.user}: {step.question}"))
        trace = runtime.trace(step.user)
        with runtime.audit.buffer() as audit:
            user = runtime.tools.identify(step.user, trace, audit)
            outcome = runtime.tools.call(user, step.tool, step.args, trace=trace, audit=audit)
        decision = outcome.decision
        _out.print(f"gate: [bold]{decision.effect.value}[/bold] ({decision.rule_id}) — {step.tool} "
                   f"{json.dumps(step.args)}", highlight=False)
        if outcome.result is not None:
            render_model(_out, step.tool, outcome.result)
        elif outcome.refusal is not None:
            _out.print(f"[red]refused:[/red] {outcome.refusal.reason}", highlight=False)
    report = runtime.audit.verify()
    _out.print(Rule("audit"))
    status = "[green]intact[/green]" if report.ok else f"[red]broken at seq {report.first_bad_seq}[/red]"
    _out.print(f"audit chain: {status}, {report.checked} events checked", highlight=False)


def demo(ctx: typer.Context) -> None:
    """Run a short scripted demo through the governed tools (what `make run` shows)."""
    settings: Settings = ctx.find_root().obj
    manifest_path = settings.home / "plant_manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    runtime = build_runtime(settings)
    try:
        _run(runtime, manifest)
    finally:
        runtime.close()
