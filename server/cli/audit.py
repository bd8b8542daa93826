"""``jidoka audit verify|show|export``: check, inspect and export the tamper-evident audit log.

Mounted by the main CLI as ``jidoka audit``; it expects a :class:`Settings` in
``ctx.obj`` (falling back to the environment) and opens the state database
named by ``settings.state_url``. It never creates a database: a missing state
database or audit table is reported, exit 1.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from guardrails.audit.log import AuditLog, AuditRecord
from guardrails.errors import AuditError
from server.cli.common import cli_settings, console, existing_state_engine, fail

__all__ = ["ExportFormat", "audit_app"]

audit_app = typer.Typer(help="Verify, inspect and export the tamper-evident audit log.", no_args_is_help=True)


class ExportFormat(StrEnum):
    """Formats ``jidoka audit export`` can write."""

    JSONL = "jsonl"





@contextmanager
def _open_log(ctx: typer.Context) -> Iterator[AuditLog]:
    """The audit log of the configured state database; exits 1 with a message if there is none."""
    engine, shown = existing_state_engine(cli_settings(ctx), "nothing was audited yet")
    try:
        log = AuditLog(engine)
        try:
            present = log.has_schema()
        except Exception as exc:  # any driver error: the database cannot be read
            raise fail(f"cannot open the state database {shown}: {exc}") from None
        if not present:
            raise fail(f"no audit log in the state database {shown} (no audit_events table)")
        yield log
    finally:
        engine.dispose()


def _parse_since(ctx: typer.Context, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise typer.BadParameter(
            f"{raw!r} is not an ISO date or datetime (e.g. 2026-03-02 or 2026-03-02T06:00:00+00:00)",
            ctx=ctx, param_hint="'--since'",
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _record_json(record: AuditRecord) -> str:
    return json.dumps(record.to_json_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Re-check the whole hash chain: exit 0 when intact, 1 naming the first bad seq and why."""
    with _open_log(ctx) as log:
        try:
            report = log.verify()
        except AuditError as exc:
            raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report), sort_keys=True))
    elif report.ok:
        head = report.head
        tip = f"; head seq {head.seq} hash {head.hash[:16]}…" if head is not None else ""
        console().print(f"[green]✓ audit chain intact[/green]: {_events(report.checked)} verified{tip}")
    else:
        where = f"at seq {report.first_bad_seq}" if report.first_bad_seq is not None else "(head)"
        console().print(
            f"[red]✗ audit chain broken {where}[/red]: {report.reason}\n"
            f"  {_events(report.checked)} verified intact before it"
        )
    if not report.ok:
        raise typer.Exit(1)


def _events(n: int) -> str:
    return f"{n} event" if n == 1 else f"{n} events"


def _short_ts(ts: str) -> str:
    """``2026-03-02 06:00:00.123`` from the stored UTC stamp (the full text is in --json and export)."""
    return f"{ts[:10]} {ts[11:23]}" if len(ts) == 32 and ts.endswith("+00:00") else ts


def _payload_preview(payload: Any, width: int = 60) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


@audit_app.command("show")
def show(
    ctx: typer.Context,
    trace: str = typer.Option(..., "--trace", help="The trace id (one turn) to show."),
    as_json: bool = typer.Option(False, "--json", help="Print the records as a JSON list."),
) -> None:
    """Show every event of one trace, in order."""
    with _open_log(ctx) as log:
        try:
            records = log.by_trace(trace)
        except AuditError as exc:
            raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([r.to_json_dict() for r in records], ensure_ascii=False, indent=2))
    if not records:
        raise fail(f"no audit events for trace {trace!r}")
    if as_json:
        return
    table = Table(title=f"trace {trace}", title_justify="left")
    for column in ("seq", "time (UTC)", "kind", "user", "thread"):
        table.add_column(column, no_wrap=True)
    table.add_column("payload", overflow="fold", min_width=24, ratio=1)
    for r in records:
        table.add_row(str(r.seq), _short_ts(r.ts), r.kind, r.user_id, r.thread_id or "—",
                      _payload_preview(r.payload))
    console().print(table)


@audit_app.command("export")
def export(
    ctx: typer.Context,
    fmt: ExportFormat = typer.Option(ExportFormat.JSONL, "--format", help="Output format."),
    since: str | None = typer.Option(
        None, "--since",
        help="Only events stamped at or after this ISO date/time (UTC unless a zone is given).",
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Export the log (one JSON object per line, seq order) with every field needed to re-check the chain."""
    start = _parse_since(ctx, since)
    with _open_log(ctx) as log:
        try:
            if output is None:
                for record in log.export(start):
                    typer.echo(_record_json(record))
                return
            count = 0
            with output.open("w", encoding="utf-8", newline="\n") as fh:
                for record in log.export(start):
                    fh.write(_record_json(record) + "\n")
                    count += 1
        except AuditError as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
    Console(stderr=True, highlight=False).print(f"exported {count} events ({fmt.value}) to {output}")
