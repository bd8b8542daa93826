"""``jidoka policy show|check|whatif``: the effective policy, its validation, and a draft's what-if
(:mod:`server.cli.whatif`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from guardrails.approvals.routing import ApprovalRouter
from guardrails.errors import PolicyError
from guardrails.policy.loader import Policy, catalog_policy
from guardrails.policy.models import ModelPolicy
from guardrails.policy.retention import RetentionRules
from server.cli.common import cli_settings, literal
from server.cli.whatif import whatif
from server.settings import Settings
from tools import default_catalog

__all__ = ["load_settings_policy", "policy_app"]

_out = Console()
_err = Console(stderr=True)
policy_app = typer.Typer(help="Show or check the layered policy, or replay the audit under a draft.",
                         no_args_is_help=True)
policy_app.command("whatif")(whatif)


def load_settings_policy(settings: Settings) -> Policy:
    """The policy named by the settings, checked against the tool catalog."""
    return catalog_policy(settings.policy_dir, default_catalog())


@policy_app.command("show")
def show(
    ctx: typer.Context,
    as_user: str | None = typer.Option(None, "--as", help="Show the policy as it applies to this user."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print the effective policy (enterprise → domain → plant), optionally for one user."""
    settings = cli_settings(ctx)
    policy = load_settings_policy(settings)
    view = policy.describe(policy.user(as_user) if as_user else None)
    if as_json:
        typer.echo(json.dumps(view, indent=2))
        return
    _out.print(f"[bold]policy[/bold] {literal(policy.source)}  hash {policy.hash[:16]}…  "
               f"layers: {literal(', '.join(view['layers']))}")
    catalog = default_catalog()
    users = [policy.user(as_user)] if as_user else list(policy.users.values())
    table = Table(title="effective access", title_justify="left", show_lines=True)
    for column in ("user", "roles", "sites", "tools allowed", "hidden fields"):
        table.add_column(column, overflow="fold")
    from guardrails.gate import Gate

    gate = Gate(policy, catalog)
    for user in users:
        allowed = [s.name for s in catalog if gate.decide(user, s.name).allowed]
        hidden: set[str] = set()
        for spec in catalog:
            decision = gate.decide(user, spec.name)
            if decision.allowed:
                hidden |= decision.scope.masked_fields | decision.scope.aggregate_only_fields
        sites = user.site_list()
        site_text = sites if isinstance(sites, str) else ", ".join(sites)
        table.add_row(*(literal(v) for v in (user.user_id, ", ".join(sorted(user.roles)), site_text,
                                             ", ".join(allowed) or "—", ", ".join(sorted(hidden)) or "—")))
    _out.print(table)


@policy_app.command("check")
def check(
    ctx: typer.Context,
    directory: Path | None = typer.Argument(None, help="Policy folder (default: JIDOKA_POLICY_DIR or shipped)."),
) -> None:
    """Validate a policy folder: exit 0 when it loads, 1 with the errors when it does not."""
    settings = cli_settings(ctx)
    catalog = default_catalog()
    try:
        policy = catalog_policy(directory or settings.policy_dir, catalog)
        ApprovalRouter(policy)  # the actions section is parsed and its layering checked here
        models = ModelPolicy.from_policy(policy)  # and the models section (approved models, hosting rules)
        RetentionRules.from_policy(policy)  # and the audit retention rules
    except PolicyError as exc:
        _err.print(f"[red]policy invalid[/red]: {literal(f'{exc.file}: {exc.key}: {exc.message}')}", highlight=False)
        raise typer.Exit(1) from None
    _out.print(f"policy ok: {len(policy.layers)} layers, {len(policy.users)} users, hash {policy.hash}")
    hosts = models.hosting.allowed
    _out.print(f"models: {', '.join(models.approved_ids) or 'none'}; endpoints: "
               f"{'any' if hosts is None else ', '.join(p.text for p in hosts) or 'none'}", highlight=False)
