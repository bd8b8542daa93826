"""Shared pieces of the audit-log tests: a stepping clock, events, the spec's hash formula written out again,
and dropping the chain head row."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete

from guardrails.audit._store import audit_head
from guardrails.audit.log import AuditEvent, AuditKind

__all__ = ["T0", "StepClock", "drop_head", "event", "independent_hash"]

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


class StepClock:
    """A clock advancing one second per reading, so timestamps are known and distinct."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        current = self.now
        self.now += timedelta(seconds=1)
        return current


def event(i: int, *, trace: str = "tr-1", kind: AuditKind = AuditKind.TOOL_RESULT, **payload: Any
          ) -> AuditEvent:
    return AuditEvent(trace_id=trace, thread_id="th-1", user_id="ana.planner", kind=kind,
                      payload={"i": i, **payload}, policy_hash="p" * 64)


def independent_hash(prev: str, row: dict[str, Any]) -> str:
    """The spec's formula written out again without the module's helpers."""
    body = {k: row[k] for k in ("seq", "ts", "trace_id", "thread_id", "user_id", "kind", "policy_hash")}
    body["payload"] = row["payload"]
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev + text).encode("utf-8")).hexdigest()


def drop_head(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(audit_head))
