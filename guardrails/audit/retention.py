"""Retention runs: destroy the data keys of sealed audit payloads older than the policy keeps them.

A data key covers one month of one event kind at one site (:mod:`guardrails.audit.keys`). It is destroyed when
every event of its month is older than the days :class:`guardrails.policy.retention.RetentionRules` give that
kind at that site (and, with ``before``, when its month ended by then too: an operator may purge less than the
rules allow, never more). The events stay: their hashes cover the sealed envelopes, so ``jidoka audit verify``
still passes and names the seq ranges whose fields were destroyed. Each run that destroys a key is itself
recorded (``audit_purged``) with the keys, their ranges and the rules applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from guardrails.audit._store import audit_events
from guardrails.audit.chain import AuditEvent, AuditKind
from guardrails.audit.keys import AuditKeys, KeyRow
from guardrails.audit.log import AuditLog
from guardrails.errors import AuditError
from guardrails.policy.retention import RetentionRules

__all__ = ["PurgeReport", "PurgedKey", "purge"]


@dataclass(frozen=True)
class PurgedKey:
    """A data key a run destroyed (or would, in a dry run), and what was sealed under it."""

    key_id: str
    kind: str
    site: str
    month: str
    keep_days: int
    rule_file: str
    first_seq: int | None
    last_seq: int | None
    events: int


@dataclass(frozen=True)
class PurgeReport:
    """What a retention run did."""

    today: date
    before: date | None
    dry_run: bool
    destroyed: tuple[PurgedKey, ...]
    kept: int
    """Keys left because their rule keeps them (or no rule covers their kind)."""
    trace_id: str | None = None
    """The ``audit_purged`` event's trace (``None`` for a dry run or when nothing was destroyed)."""


def _month_bounds(month: str) -> tuple[date, date]:
    start = date.fromisoformat(f"{month}-01")
    end = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start, end


def _expired(row: KeyRow, rules: RetentionRules, today: date, before: date | None) -> int | None:
    """The keep-days that expire ``row`` today, or ``None`` when it is kept."""
    days = rules.days_for(row.kind, row.site)
    if days is None or row.destroyed_at is not None:
        return None
    _, end = _month_bounds(row.month)  # the month's newest event is just before its end
    if end > today - timedelta(days=days) or (before is not None and end > before):
        return None
    return days


def _sealed_range(log: AuditLog, row: KeyRow) -> tuple[int | None, int | None, int]:
    start, end = _month_bounds(row.month)
    needle = f'%"key":"{row.key_id}"%'
    stmt = (select(func.min(audit_events.c.seq), func.max(audit_events.c.seq), func.count())
            .where(audit_events.c.kind == row.kind, audit_events.c.ts >= start.isoformat(),
                   audit_events.c.ts < end.isoformat(), audit_events.c.payload.like(needle)))
    try:
        with log.engine.connect() as conn:
            first, last, count = conn.execute(stmt).one()
    except SQLAlchemyError as exc:
        raise AuditError(f"could not find the events sealed under {row.key_id!r}: {exc}") from exc
    return first, last, int(count)


def purge(log: AuditLog, keys: AuditKeys, rules: RetentionRules, *, today: date, by: str, policy_hash: str,
          trace_id: str, before: date | None = None, dry_run: bool = False) -> PurgeReport:
    """Destroy every data key the rules expire by ``today`` (and ``before``); record the run as ``by``."""
    rows = keys.rows()
    destroyed: list[PurgedKey] = []
    kept = 0
    for row in rows:
        if row.destroyed_at is not None:
            continue
        days = _expired(row, rules, today, before)
        if days is None:
            kept += 1
            continue
        first, last, count = _sealed_range(log, row)
        item = PurgedKey(row.key_id, row.kind, row.site, row.month, days, rules.source(row.kind, row.site),
                         first, last, count)
        if dry_run or keys.destroy(row.key_id, at=log.now(), by=by, first_seq=first, last_seq=last, events=count):
            destroyed.append(item)
    report = PurgeReport(today=today, before=before, dry_run=dry_run, destroyed=tuple(destroyed), kept=kept)
    if dry_run or not destroyed:
        return report
    log.append(AuditEvent(trace_id=trace_id, thread_id=None, user_id=by, kind=AuditKind.AUDIT_PURGED, payload={
        "today": today.isoformat(), "before": before.isoformat() if before else None, "kept": kept,
        "destroyed": [{"key_id": k.key_id, "kind": k.kind, "site": k.site, "month": k.month,
                       "keep_days": k.keep_days, "rule_file": k.rule_file, "first_seq": k.first_seq,
                       "last_seq": k.last_seq, "events": k.events} for k in destroyed]}, policy_hash=policy_hash))
    return PurgeReport(today=today, before=before, dry_run=False, destroyed=tuple(destroyed), kept=kept,
                       trace_id=trace_id)
