"""``jidoka policy whatif DRAFT_DIR [--since DATE] [--json]``: the decisions a draft policy would change.

The draft is loaded as ``jidoka serve`` loads the live policy (a draft that would not start a runtime exits 2 with
the file and key, no traceback); every audited tool call and action request (since DATE) is decided again under it
(:mod:`guardrails.whatif`). Nothing is executed or changed; the run itself is recorded as one ``policy_whatif`` audit
event (who ran it — ``cli:<login name>``, as for audit reads —, the draft's hash and the counts), appended after the
replay in a trace of its own.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from guardrails.audit.log import AuditLog
from guardrails.errors import AuditError, PolicyError
from guardrails.policy.loader import catalog_policy
from guardrails.whatif import PolicyReplay, WhatIfReport, load_draft, whatif_event
from server.cli.common import cli_settings, console, existing_state_engine, literal, masked, terminal_reader
from server.runtime import audit_anchor, audit_sealer
from tools import default_catalog
from tools.actions.catalog import action_catalog

__all__ = ["whatif"]

DRAFT_INVALID = 2
"""Exit code of a draft that does not load (1 is every other failure)."""


def _since(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise typer.BadParameter(f"{raw!r} is not an ISO date or datetime (e.g. 2026-03-02)",
                                 param_hint="'--since'") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _print(report: WhatIfReport, trace_id: str | None) -> None:
    out = console()
    summary = report.summary()
    out.print(f"draft {report.draft_hash[:16]}…  replayed {summary['replayed']} decisions "
              f"({', '.join(f'{k} {v}' for k, v in summary['replayed_by_kind'].items()) or 'none'})"
              f"{'' if report.since is None else ' since ' + literal(report.since)}: {summary['unchanged']} unchanged, "
              f"{summary['changed']} would change, {summary['scope_changed']} change scope, "
              f"{summary['route_changed']} change approval route")
    for title, counts in (("users not in the draft", report.missing_users), ("tools no longer in the catalog",
                                                                             report.unknown_tools),
                          ("not replayed", report.skipped)):
        if counts:
            out.print(f"{title}: " + literal(", ".join(f"{k} ({v})" for k, v in sorted(counts.items()))))
    if report.changes:
        groups = Table(title="changes by rule", title_justify="left")
        for column in ("before", "after", "count"):
            groups.add_column(column, overflow="fold")
        for g in report.by_rule():
            groups.add_row(literal(f"{g['old_effect']} {g['old_rule_id']}"),
                           literal(f"{g['new_effect']} {g['new_rule_id']}" + (" (scope)" if g["change"] == "scope"
                                                                              else "")), str(g["count"]))
        out.print(groups)
        table = Table(title="decisions that would change", title_justify="left")
        for column in ("seq", "user", "tool", "site", "before → after", "trace", "request"):
            table.add_column(column, overflow="fold")
        for c in report.changes:
            table.add_row(*(literal(v) for v in (c.seq, c.user_id, c.tool, c.site or "—",
                                                 f"{c.old_effect} → {c.new_effect} ({c.change})", c.trace_id,
                                                 c.request_id or "—")))
        out.print(table)
    if report.route_changes:
        table = Table(title="approval routes that would change", title_justify="left")
        for column in ("seq", "requester", "action", "site", "before", "after", "request"):
            table.add_column(column, overflow="fold")
        for r in report.route_changes:
            before = " AND ".join(f"{'/'.join(g['roles'])}@{g.get('site') or '*'}" for g in r.old_groups)
            after = " AND ".join(f"{'/'.join(g['roles'])}@{g.get('site') or '*'}" for g in r.new_groups)
            table.add_row(*(literal(v) for v in (r.seq, r.user_id, r.action, r.site or "—", before, after,
                                                 r.request_id or "—")))
        out.print(table)
    if trace_id:
        out.print(f"recorded as policy_whatif in trace {trace_id}")


def whatif(
    ctx: typer.Context,
    draft_dir: Path = typer.Argument(..., help="The draft policy folder (enterprise.yaml, domains/, plants/)."),
    since: str | None = typer.Option(None, "--since", help="Only decisions audited at or after this ISO date."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """Replay every audited tool call and action request under a draft policy and report what would change."""
    settings = cli_settings(ctx)
    catalog = default_catalog()
    try:
        draft = load_draft(draft_dir, catalog)
    except PolicyError as exc:
        Console(stderr=True, soft_wrap=True, highlight=False).print(
            f"[red]draft policy invalid[/red]: {literal(masked(f'{exc.file}: {exc.key}: {exc.message}'))}")
        raise typer.Exit(DRAFT_INVALID) from None
    moment = _since(since)
    engine, _ = existing_state_engine(settings, "nothing was audited yet")
    try:
        log = AuditLog(engine, anchor=audit_anchor(settings), sealer=audit_sealer(settings, engine))
        report = PolicyReplay(draft, catalog, action_catalog()).run(
            log.export(moment), since=moment.isoformat() if moment else None)
        try:
            live = catalog_policy(settings.policy_dir, catalog).hash  # the policy the event is recorded under
        except PolicyError:
            live = ""
        event = whatif_event(terminal_reader(), report, via="cli", policy_hash=live)
        trace_id: str | None = event.trace_id
        try:
            log.append(event)
            log.close()
        except AuditError as exc:
            trace_id = None
            Console(stderr=True, soft_wrap=True, highlight=False).print(
                f"[yellow]note:[/yellow] this run was not recorded in the audit log: {literal(masked(str(exc)))}")
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps({**report.to_json(), "trace_id": trace_id}, indent=2, ensure_ascii=False))
        return
    _print(report, trace_id)
