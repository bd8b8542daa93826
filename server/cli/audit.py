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

``show`` and ``export`` print payloads as a reader may see them (:mod:`guardrails.audit_view`): with
``--as USER`` (a user holding ``audit.read``) as that user's roles and the policy's ``audit:`` section allow,
without it with every sensitive value masked; a masked record names its ``masked_fields`` (its stored hash then
covers the stored payload, not the one shown). ``--unmasked`` prints the stored payloads — for re-checking every
hash of an export with ``hashlib`` — which the operator running the CLI can read in the database anyway. Paths
are shown as they are: the CLI runs on the operator's machine.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from guardrails.audit.anchor import generate_signing_key, key_id, parse_signing_key, public_key_text
from guardrails.audit.keys import AuditKeys
from guardrails.audit.log import AuditLog, AuditRecord, ChainProblem, VerifyReport
from guardrails.audit.trace import audit_read_event
from guardrails.audit_view import AuditReader, RecordView
from guardrails.errors import AuditError, PolicyError, UnknownUser
from guardrails.policy.loader import load_policy
from server.cli.audit_retention import kek, purge
from server.cli.common import cli_settings, console, existing_state_engine, fail, literal, masked, terminal_reader
from server.runtime import audit_anchor, audit_sealer

__all__ = ["ExportFormat", "audit_app"]

audit_app = typer.Typer(help="Verify, inspect, export and anchor the tamper-evident audit log.", no_args_is_help=True)
audit_app.command("purge")(purge)
audit_app.command("kek")(kek)


class ExportFormat(StrEnum):
    """Formats ``jidoka audit export`` can write."""

    JSONL = "jsonl"


@contextmanager
def _open_log(ctx: typer.Context) -> Iterator[AuditLog]:
    """The audit log of the configured state database; exits 1 with a message if there is none."""
    settings = cli_settings(ctx)
    engine, shown = existing_state_engine(settings, "nothing was audited yet")
    try:
        log = AuditLog(engine, anchor=audit_anchor(settings), sealer=audit_sealer(settings, engine))
        try:
            present = log.has_schema()
        except Exception as exc:  # any driver error: the database cannot be read
            raise fail(f"cannot open the state database {shown}: {exc}") from None
        if not present:
            raise fail(f"no audit log in the state database {shown} (no audit_events table)")
        yield log
    finally:
        engine.dispose()


def _record_read(log: AuditLog, read: str, details: Mapping[str, Any]) -> None:
    """Append the ``audit_read`` event of a read that just happened (see the module docstring)."""
    try:
        log.append(audit_read_event(terminal_reader(), read, details, via="cli"))
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


def _record_json(view: RecordView) -> str:
    return json.dumps(view.to_json_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


_AS = typer.Option(None, "--as", help="Show payloads as this user (who holds audit.read) may see them; without "
                                      "it, every sensitive value is masked.")
_UNMASKED = typer.Option(False, "--unmasked", help="The stored payloads, nothing masked and sealed fields as stored "
                         "(to re-check every hash).")


def _reader(ctx: typer.Context, as_user: str | None, unmasked: bool) -> AuditReader | None:
    """Who reads (``None``: nobody — the stored payloads); exit 1 for an unknown user or one without audit.read."""
    if unmasked:
        if as_user is not None:
            raise fail("--unmasked shows the stored payloads to anyone: it cannot go with --as")
        return None
    try:
        policy = load_policy(cli_settings(ctx).policy_dir)
        user = policy.user(as_user) if as_user is not None else None
    except UnknownUser as exc:
        raise fail(str(exc)) from None
    except PolicyError as exc:
        raise fail(f"the policy cannot be loaded: {exc}") from None
    if user is not None and not policy.has_permission(user, "audit.read"):
        raise fail(f"{user.user_id} lacks the permission 'audit.read' (roles: {', '.join(sorted(user.roles))}): "
                   "they cannot read the audit trail")
    return AuditReader(policy, user)


def _view(reader: AuditReader | None, record: AuditRecord) -> RecordView:
    return reader.view(record) if reader is not None else RecordView(record, dict(record.payload))


def _masking_note(reader: AuditReader | None, masked: set[str]) -> str | None:
    if reader is None or not masked:
        return None
    who = reader.name or "a reader with no role (use --as)"
    return (f"sensitive values masked for {who}: {', '.join(sorted(masked))} — a masked record's hash covers its "
            "stored payload (--unmasked prints those)")


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    anchors: list[Path] = typer.Option(
        [], "--anchor", help="Another host's anchor file to check too (repeatable; JIDOKA_AUDIT_ANCHOR is read first).",
    ),
    thorough: bool = typer.Option(
        False, "--thorough", help="Also parse and re-encode every payload (slower): a payload rewritten to other "
                                  "bytes under a re-computed hash is then named at its own row, not at the next.",
    ),
) -> None:
    """Re-check the whole hash chain and the signed checkpoints: exit 0 when intact, 1 naming the first bad seq."""
    for path in anchors:
        if not path.is_file():
            raise fail(f"no anchor file at {path}")
    with _open_log(ctx) as log:
        try:
            report = log.verify(anchor_files=anchors, thorough=thorough)
        except AuditError as exc:
            raise fail(str(exc)) from None
        if report.ok:
            _record_read(log, "verify", {"ok": True, "checked": report.checked,
                                         "head_seq": report.head.seq if report.head else None})
        redacted = AuditKeys(log.engine, None).destroyed()
    if as_json:
        typer.echo(json.dumps({**dataclasses.asdict(report), "redacted": [dataclasses.asdict(k) for k in redacted]},
                              sort_keys=True))
    elif report.ok:
        head = report.head
        tip = f"; head seq {head.seq} hash {head.hash[:16]}…" if head is not None else ""
        console().print(f"[green]✓ audit chain intact[/green]: {_events(report.checked)} verified{tip}")
    elif report.problem is ChainProblem.ANCHOR_TAMPERED:
        console().print(f"[red]✗ audit anchor tampered[/red]: {literal(report.reason)}\n"
                        f"  the chain itself checks out ({_events(report.checked)})")
    else:
        where = f"at seq {report.first_bad_seq}" if report.first_bad_seq is not None else "(head)"
        before = ("vouched for by a signed checkpoint before it"
                  if report.problem in _CHECKPOINT_PROBLEMS else "verified intact before it")
        console().print(f"[red]✗ audit chain broken {where}[/red]: {literal(report.reason)}\n"
                        f"  {_events(report.checked)} {before}")
    if not as_json:
        _print_anchor(report)
        for key in redacted:  # the chain covers their envelopes: it verifies, the values are gone
            seqs = f"seq {key.first_seq}–{key.last_seq}" if key.first_seq is not None else "no events"
            console().print(f"  redacted by retention: {seqs} ({key.events} {key.kind} events, site {key.site}, "
                            f"{key.month}; data key destroyed {key.destroyed_at[:10] if key.destroyed_at else ''} "
                            f"by {literal(key.destroyed_by or '')})", highlight=False)
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
        out.print(f"  [red]untrusted anchor line[/red] {literal(line)}")
    for note in status.notes:
        out.print(f"  [yellow]note[/yellow]: {literal(note)}")


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
    as_user: str | None = _AS,
    unmasked: bool = _UNMASKED,
) -> None:
    """Show every event of one trace, in order (sensitive values masked unless --as a reader may see them; the
    read is audited)."""
    reader = _reader(ctx, as_user, unmasked)
    with _open_log(ctx) as log:
        try:
            views = [_view(reader, r) for r in log.by_trace(trace, opened=not unmasked)]
        except AuditError as exc:
            raise fail(str(exc)) from None
        _record_read(log, "trace", {"trace_id": trace, **_seqs([v.record for v in views])})
    note = _masking_note(reader, {name for v in views for name in v.masked_fields})
    if as_json:
        typer.echo(json.dumps([v.to_json_dict() for v in views], ensure_ascii=False, indent=2))
    if not views:
        raise fail(f"no audit events for trace {trace!r}")
    if as_json:
        if note:
            Console(stderr=True, highlight=False, soft_wrap=True).print(note, markup=False)
        return
    table = Table(title=f"trace {literal(trace)}", title_justify="left")
    for column in ("seq", "time (UTC)", "kind", "user", "thread"):
        table.add_column(column, no_wrap=True)
    table.add_column("payload", overflow="fold", min_width=24, ratio=1)
    for v in views:
        r = v.record
        table.add_row(*(literal(x) for x in (r.seq, _short_ts(r.ts), r.kind, r.user_id, r.thread_id or "—",
                                             _payload_preview(v.payload))))
    if note:
        table.caption = literal(note)
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
    as_user: str | None = _AS,
    unmasked: bool = _UNMASKED,
) -> None:
    """Export the log (one JSON object per line, seq order) with the chain's fields; sensitive values are masked
    unless --as a reader may see them (--unmasked: the stored payloads, every hash re-checkable with hashlib). The
    export is audited after its last line (the event is not in it)."""
    start = _parse_since(ctx, since)
    reader = _reader(ctx, as_user, unmasked)
    masked_fields: set[str] = set()
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    count, last_seq = 0, None
    with _open_log(ctx) as log:
        try:
            with output.open("w", encoding="utf-8", newline="\n") if output is not None else nullcontext() as fh:
                for record in log.export(start, opened=not unmasked):
                    view = _view(reader, record)
                    masked_fields.update(view.masked_fields)
                    line = _record_json(view)
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
        err.print(f"exported {count} events ({fmt.value}) to {output}", markup=False)
    note = _masking_note(reader, masked_fields)
    if note:
        err.print(note, markup=False)


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
                    f"{checkpoint.key_id}, appended to {settings.audit_anchor}", markup=False)


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
