"""The ``action_executions`` idempotency ledger: one row per idempotency key, written with the changes.

The row is inserted in the same transaction as the plant changes, so either both
commit or neither does. Portability: on SQLite the transaction starts with
``BEGIN IMMEDIATE`` (the writer lock is held from the first read, so checking the
key, re-checking the precondition and writing cannot interleave with another
writer); on other databases a normal transaction where the primary key makes a
concurrent second insert fail with ``IntegrityError`` (the caller then replays the
stored row) and ``SELECT ... FOR UPDATE`` serialises compensations of one key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, inspect, select, update

from tools.actions._types import ActionResult, ChangedRecord
from tools.errors import ActionSchemaMissing
from tools.plant.db import write_transaction
from tools.plant.schema import ACTION_TABLES, metadata, table

__all__ = [
    "StoredExecution",
    "claim",
    "ensure_action_tables",
    "load",
    "record_compensation",
    "record_outcome",
    "require_action_tables",
    "utcnow",
    "write_transaction",
]


def utcnow() -> datetime:
    """The wall-clock time the ledger records (naive UTC, like every DateTime column)."""
    return datetime.now(UTC).replace(tzinfo=None)


def require_action_tables(engine: Engine) -> None:
    """Raise :class:`ActionSchemaMissing` when the plant predates the action tables."""
    names = set(inspect(engine).get_table_names())
    missing = [n for n in ACTION_TABLES if n not in names]
    if missing:
        raise ActionSchemaMissing(engine.url.render_as_string(hide_password=True), missing)


def ensure_action_tables(engine: Engine) -> None:
    """Create the action tables that are missing (a plant built before they existed); idempotent."""
    metadata.create_all(engine, tables=[table(n) for n in ACTION_TABLES], checkfirst=True)


@dataclass(frozen=True)
class StoredExecution:
    """One ledger row."""

    idempotency_key: str
    request_id: str
    action: str
    args_json: str
    site_id: str
    status: str
    result_json: str
    changed_json: str
    executed_at: datetime
    compensated_at: datetime | None
    compensation_json: str | None

    def result(self) -> ActionResult:
        """The stored execution result."""
        return ActionResult.model_validate_json(self.result_json)

    def compensation(self) -> ActionResult | None:
        """The stored compensation result, if the execution was undone."""
        return None if self.compensation_json is None else ActionResult.model_validate_json(self.compensation_json)

    def changed(self) -> list[ChangedRecord]:
        """The changes the execution applied, in order."""
        return [ChangedRecord.model_validate(r) for r in json.loads(self.changed_json)]


def load(conn: Connection, key: str, *, lock: bool = False) -> StoredExecution | None:
    """The ledger row of ``key`` (row-locked when ``lock`` and the database has row locks)."""
    t = table("action_executions")
    stmt = select(*(t.c[f] for f in StoredExecution.__dataclass_fields__)).where(t.c.idempotency_key == key)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    return None if row is None else StoredExecution(*row)


def claim(conn: Connection, *, key: str, request_id: str, action: str, args_json: str, site_id: str,
          executed_at: datetime) -> None:
    """Insert the ledger row of ``key`` (``IntegrityError`` when another transaction holds it)."""
    conn.execute(insert(table("action_executions")).values(
        idempotency_key=key, request_id=request_id, action=action, args_json=args_json, site_id=site_id,
        status="executed", result_json="{}", changed_json="[]", executed_at=executed_at))


def record_outcome(conn: Connection, key: str, result: ActionResult) -> None:
    """Store the (unmasked) result of the execution claimed under ``key``."""
    t = table("action_executions")
    changed = json.dumps([c.to_json() for c in result.changed], sort_keys=True, separators=(",", ":"))
    conn.execute(update(t).where(t.c.idempotency_key == key).values(
        status="executed" if result.status == "executed" else "precondition_failed",
        result_json=result.to_text(), changed_json=changed))


def record_compensation(conn: Connection, key: str, result: ActionResult) -> None:
    """Mark ``key`` compensated and store the compensation result."""
    t = table("action_executions")
    conn.execute(update(t).where(t.c.idempotency_key == key).values(
        status="compensated", compensated_at=result.compensated_at, compensation_json=result.to_text()))
