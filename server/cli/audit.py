"""``jidoka audit verify|show|export|anchor|keygen|public-key``: check, inspect, export and anchor the audit log.

Mounted by the main CLI as ``jidoka audit``; it expects a :class:`Settings` in
``ctx.obj`` (falling back to the environment) and opens the state database
named by ``settings.state_url``. It never creates a database: a missing state
database or audit table is reported, exit 1. The signing key is printed only by
``keygen``, which makes a new one.

``show``, ``export`` and an intact ``verify`` are reads of the log and leave an
``audit_read`` event, as reads through the API do, appended after the read in a
trace of its own, by ``cli:<login name>`` (the CLI has no policy identity; whoever
runs it can read the database directly anyway, so this is a record, not a gate).
If it cannot be written (a read-only database) the read still succeeds and stderr
says it was not recorded. A verify that finds the chain broken appends nothing:
a new event would build on the damaged or forged head.
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from guardrails.audit.anchor import generate_signing_key, key_id, parse_signing_key, public_key_text
from guardrails.audit.log import AuditLog, AuditRecord, ChainProblem, VerifyReport
from guardrails.audit.trace import audit_read_event
from guardrails.errors import AuditError
from server.cli.common import cli_settings, console, existing_state_engine, fail, masked
from server.runtime import audit_anchor

__all__ = ["ExportFormat", "audit_app"]

audit_app = typer.Typer(help="Verify, inspect, export and anchor the tamper-evident audit log.", no_args_is_help=True)


class ExportFormat(StrEnum):
    """Formats ``jidoka audit export`` can write."""

    JSONL = "jsonl"


@contextmanager
def _open_log(ctx: typer.Context) -> Iterator[AuditLog]:
    """The audit log of the configured state database; exits 1 with a message if there is none."""
    settings = cli_settings(ctx)
    engine, shown = existing_state_engine(settings, "nothing was audited yet")
    try:
        log = AuditLog(engine, anchor=audit_anchor(settings))
        try:
            present = log.has_schema()
        except Exception as exc:  # any driver error: the database cannot be read
            raise fail(f"cannot open the state database {shown}: {exc}") from None
        if not present:
            raise fail(f"no audit log in the state database {shown} (no audit_events table)")
        yield log
    finally:
        engine.dispose()


def _reader() -> str:
    """Who reads the log from this terminal: ``cli:`` and the login name (``cli:unknown`` when there is none)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment (a container without a passwd entry)
        name = ""
    return f"cli:{name or 'unknown'}"


def _record_read(log: AuditLog, read: str, details: Mapping[str, Any]) -> None:
    """Append the ``audit_read`` event of a read that just happened (see the module docstring)."""
    try:
        log.append(audit_read_event(_reader(), read, details, via="cli"))
        log.close()  # anchors the event when a signing key is set
    except AuditError as exc:
        Console(stderr=True, soft_wrap=True, highlight=False).print(
            f"[yellow]note:[/yellow] this read was not recorded in the audit log: {masked(str(exc))}")


def _seqs(records: list[AuditRecord]) -> dict[str, int | None]:
    return {"count": len(records), "first_seq": records[0].seq if records else None,
            "last_seq": records[-1].seq if records else None}


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
    anchors: list[Path] = typer.Option(
        [], "--anchor", help="Another host's anchor file to check too (repeatable; JIDOKA_AUDIT_ANCHOR is read first).",
    ),
) -> None:
    """Re-check the whole hash chain and the signed checkpoints: exit 0 when intact, 1 naming the first bad seq."""
    for path in anchors:
        if not path.is_file():
            raise fail(f"no anchor file at {path}")
    with _open_log(ctx) as log:
        try:
            report = log.verify(anchor_files=anchors)
        except AuditError as exc:
            raise fail(str(exc)) from None
        if report.ok:
            _record_read(log, "verify", {"ok": True, "checked": report.checked,
                                         "head_seq": report.head.seq if report.head else None})
    if as_json:
        typer.echo(json.dumps(dataclasses.asdict(report), sort_keys=True))
    elif report.ok:
        head = report.head
        tip = f"; head seq {head.seq} hash {head.hash[:16]}…" if head is not None else ""
        console().print(f"[green]✓ audit chain intact[/green]: {_events(report.checked)} verified{tip}")
    elif report.problem is ChainProblem.ANCHOR_TAMPERED:
        console().print(f"[red]✗ audit anchor tampered[/red]: {report.reason}\n"
                        f"  the chain itself checks out ({_events(report.checked)})")
    else:
        where = f"at seq {report.first_bad_seq}" if report.first_bad_seq is not None else "(head)"
        before = ("vouched for by a signed checkpoint before it"
                  if report.problem in _CHECKPOINT_PROBLEMS else "verified intact before it")
        console().print(f"[red]✗ audit chain broken {where}[/red]: {report.reason}\n"
                        f"  {_events(report.checked)} {before}")
    if not as_json:
        _print_anchor(report)
    if not report.ok:
        raise typer.Exit(1)


_CHECKPOINT_PROBLEMS = (ChainProblem.TRUNCATED_BEFORE_CHECKPOINT, ChainProblem.CHECKPOINT_MISMATCH)


def _print_anchor(report: VerifyReport) -> None:
    status, out = report.anchor, console()
    if status is None:
        return
    if status.configured:
        files = _plural(len(status.files), "file")
        newer = f"{_events(status.unanchored)} after it not anchored yet" if status.unanchored else "nothing after it"
        newest = ("none matches the chain" if status.last_matched_seq is None
                  else f"the newest matching one vouches for seq {status.last_matched_seq} ({newer})")
        out.print(f"  anchor: {status.matched} of {_plural(status.checkpoints, 'signed checkpoint')} in {files} "
                  f"match the chain; {newest}")
    for line in status.bad_lines:
        out.print(f"  [red]untrusted anchor line[/red] {line}")
    for note in status.notes:
        out.print(f"  [yellow]note[/yellow]: {note}")


def _events(n: int) -> str:
    return _plural(n, "event")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


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
    """Show every event of one trace, in order (the read is audited)."""
    with _open_log(ctx) as log:
        try:
            records = log.by_trace(trace)
        except AuditError as exc:
            raise fail(str(exc)) from None
        _record_read(log, "trace", {"trace_id": trace, **_seqs(records)})
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
    """Export the log (one JSON object per line, seq order) with every field needed to re-check the chain; the
    export is audited after its last line (the event is not in it)."""
    start = _parse_since(ctx, since)
    count, last_seq = 0, None
    with _open_log(ctx) as log:
        try:
            with (output.open("w", encoding="utf-8", newline="\n") if output is not None
                  else contextlib.nullcontext()) as fh:
                for record in log.export(start):
                    line = _record_json(record)
                    if fh is None:
                        typer.echo(line)
                    else:
                        fh.write(line + "\n")
                    count, last_seq = count + 1, record.seq
        except AuditError as exc:
            raise fail(str(exc)) from None
        except OSError as exc:
            raise fail(f"cannot write {output}: {exc.strerror or exc}") from None
        _record_read(log, "export", {"since": start.isoformat() if start else None, "count": count,
                                     "last_seq": last_seq, "to_file": output is not None})
    if output is not None:
        Console(stderr=True, highlight=False).print(f"exported {count} events ({fmt.value}) to {output}")


@audit_app.command("anchor")
def anchor(ctx: typer.Context) -> None:
    """Sign the chain's current head and append the checkpoint to the anchor file (JIDOKA_AUDIT_ANCHOR)."""
    settings = cli_settings(ctx)
    if not settings.audit_signing_key:
        raise fail("no signing key: set JIDOKA_AUDIT_SIGNING_KEY (`jidoka audit keygen` makes one)")
    with _open_log(ctx) as log:
        try:
            checkpoint = log.checkpoint()
        except AuditError as exc:
            raise fail(str(exc)) from None
    console().print(f"checkpoint of seq {checkpoint.seq} (hash {checkpoint.hash[:16]}…) signed by key "
                    f"{checkpoint.key_id}, appended to {settings.audit_anchor}")


@audit_app.command("keygen")
def keygen() -> None:
    """Print a new Ed25519 signing key for JIDOKA_AUDIT_SIGNING_KEY on stdout (its public key on stderr)."""
    key = generate_signing_key()
    public = parse_signing_key(key).public_key()
    typer.echo(key)
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"public key (JIDOKA_AUDIT_VERIFY_KEY for auditors): {public_key_text(public)}  key id {key_id(public)}\n"
        "keep the signing key where the state database's writers cannot read it")


@audit_app.command("public-key")
def public_key(ctx: typer.Context) -> None:
    """Print the public key of JIDOKA_AUDIT_SIGNING_KEY, for auditors' JIDOKA_AUDIT_VERIFY_KEY."""
    settings = cli_settings(ctx)
    if not settings.audit_signing_key:
        raise fail("no signing key: set JIDOKA_AUDIT_SIGNING_KEY (`jidoka audit keygen` makes one)")
    public = parse_signing_key(settings.audit_signing_key).public_key()
    typer.echo(public_key_text(public))
    Console(stderr=True, highlight=False).print(f"key id {key_id(public)}")
