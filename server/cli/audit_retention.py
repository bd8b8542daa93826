"""``jidoka audit purge`` and ``jidoka audit kek``: retention of the sealed audit fields, and their key.

``purge`` applies the policy's ``audit.retention`` rules (:mod:`guardrails.policy.retention`): the data keys of
months past their retention are destroyed (:mod:`guardrails.audit.retention`), the run is recorded, and
``jidoka audit verify`` then names the seq ranges whose sealed fields are gone while the chain still verifies.
``kek`` writes the key-encryption key file under ``JIDOKA_HOME`` (``jidoka init`` does too), which turns sealing
on for the processes of that home.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime

import typer

from guardrails.audit.keys import KEK_FILE, AuditKeys, LocalKek
from guardrails.audit.log import AuditLog
from guardrails.audit.retention import purge as run_purge
from guardrails.errors import AuditError, PolicyError
from guardrails.policy.loader import catalog_policy
from guardrails.policy.retention import RetentionRules
from server.cli.common import cli_settings, console, existing_state_engine, fail, literal, terminal_reader
from server.runtime import audit_anchor, audit_sealer
from tools import default_catalog

__all__ = ["kek", "purge"]


def _date(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} must be a date like 2026-01-31, got {text!r}") from None


def purge(
    ctx: typer.Context,
    before: str | None = typer.Option(None, "--before", help="Only months that ended by this date (YYYY-MM-DD); "
                                                             "never more than the retention rules allow."),
    today: str | None = typer.Option(None, "--today", help="Apply the rules as of this date (default: today, UTC)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Report what would be destroyed; destroy nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Destroy the data keys of sealed audit fields older than the policy's audit.retention rules keep them."""
    settings = cli_settings(ctx)
    until, as_of = _date(before, "--before"), _date(today, "--today") or datetime.now(UTC).date()
    try:
        policy = catalog_policy(settings.policy_dir, default_catalog())
        rules = RetentionRules.from_policy(policy)
    except PolicyError as exc:
        raise fail(f"policy invalid: {exc.file}: {exc.key}: {exc.message}") from None
    engine, _ = existing_state_engine(settings, "nothing was audited yet")
    try:
        log = AuditLog(engine, anchor=audit_anchor(settings), sealer=audit_sealer(settings, engine, policy))
        keys = log.sealer.keys if log.sealer is not None else AuditKeys(engine, None)
        report = run_purge(log, keys, rules, today=as_of, before=until, dry_run=dry_run,
                           by=terminal_reader(), policy_hash=policy.hash, trace_id=uuid.uuid4().hex)
        log.close()
    except AuditError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(asdict(report), default=str, indent=2))
        return
    out = console()
    verb = "would destroy" if dry_run else "destroyed"
    out.print(f"retention as of {as_of}{f', months ended by {until}' if until else ''}: {verb} "
              f"{len(report.destroyed)} data keys, kept {report.kept}", highlight=False)
    for key in report.destroyed:
        seqs = f"seq {key.first_seq}–{key.last_seq}" if key.first_seq is not None else "no events"
        out.print(f"  {literal(key.key_id)}: {key.events} {key.kind} events ({seqs}), kept {key.keep_days} days "
                  f"by {literal(key.rule_file)}", highlight=False)
    if report.trace_id:
        out.print(f"recorded: jidoka audit show --trace {report.trace_id}", highlight=False)


def kek(ctx: typer.Context) -> None:
    """Write a new key-encryption key for the sealed audit fields to JIDOKA_HOME/audit.kek (mode 0600) unless one
    is there; sealing is on for every process of this home from its next start."""
    settings = cli_settings(ctx)
    path = settings.home / KEK_FILE
    existed = path.exists()
    try:
        LocalKek.create_file(path)
    except (AuditError, OSError) as exc:
        raise fail(f"cannot write {path}: {exc}") from None
    note = " (JIDOKA_AUDIT_KEK is set and takes precedence)" if settings.audit_kek else ""
    console().print(f"{'kept the existing' if existed else 'wrote a new'} key-encryption key at {literal(path)}"
                    f"{note}; keep a copy apart from the state database: without it the sealed fields cannot be "
                    "read", highlight=False)
