"""Writing plant rows with before/after images, and restoring them for a compensation.

Every write an action makes goes through :class:`ChangeLog`, so what the ledger stores
is exactly what changed. Values are kept as JSON scalars (dates as ISO text) and turned
back into column types when restored, so the ledger is the same on SQLite and Postgres.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Date,
    DateTime,
    and_,
    delete,
    insert,
    select,
    text,
    update,
)

from tools.actions._types import ChangedRecord, JsonScalar
from tools.plant.schema import table

__all__ = ["ChangeLog", "find_conflict", "id_lock_key", "json_value", "restore"]


def json_value(value: Any) -> JsonScalar:
    """A column value as a JSON scalar (dates and datetimes as ISO text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _python_value(column: Column[Any], value: JsonScalar) -> Any:
    if value is None:
        return None
    if isinstance(column.type, DateTime):
        return datetime.fromisoformat(str(value))
    if isinstance(column.type, Date):
        return date.fromisoformat(str(value))
    return value


def _where(table_name: str, key: Mapping[str, Any]) -> ColumnElement[bool]:
    t = table(table_name)
    return and_(*(t.c[name] == _python_value(t.c[name], json_value(v)) for name, v in key.items()))


class ChangeLog:
    """Applies an action's writes on ``conn`` and records each as a :class:`ChangedRecord`."""

    def __init__(self, conn: Connection, request_id: str) -> None:
        self.conn = conn
        self.request_id = request_id
        """The request the writes belong to (new rows carry it)."""
        self.records: list[ChangedRecord] = []

    def update(self, table_name: str, key: Mapping[str, Any], values: Mapping[str, Any], record_id: str) -> None:
        """Update the one row at ``key`` to ``values``, keeping the previous values as its before-image."""
        t = table(table_name)
        where = _where(table_name, key)
        row = self.conn.execute(select(*(t.c[c] for c in values)).where(where)).one()
        before = {c: json_value(row[i]) for i, c in enumerate(values)}
        done = self.conn.execute(update(t).where(where).values(dict(values)))
        if done.rowcount != 1:  # the key is a primary key: anything else is a bug, never a partial write
            raise RuntimeError(f"update of {table_name} {dict(key)} touched {done.rowcount} rows")
        self.records.append(ChangedRecord(
            table=table_name, key={k: json_value(v) for k, v in key.items()}, record_id=record_id,
            before=before, after={c: json_value(v) for c, v in values.items()}))

    def insert(self, table_name: str, row: Mapping[str, Any], record_id: str) -> None:
        """Insert ``row`` (every column given); its before-image is 'absent'."""
        t = table(table_name)
        self.conn.execute(insert(t).values(dict(row)))
        key = {c.name: json_value(row[c.name]) for c in t.primary_key.columns}
        self.records.append(ChangedRecord(table=table_name, key=key, record_id=record_id, before=None,
                                          after={c: json_value(v) for c, v in row.items()}))

    def next_id(self, table_name: str, column: str, prefix: str, width: int) -> str:
        """The next id ``<prefix><number>`` after the highest one in ``table_name.column``.

        Run inside the write transaction, so ids inserted earlier in it count. Two writers never pick
        the same id: SQLite's ``BEGIN IMMEDIATE`` admits one writer at a time, and on Postgres a
        transaction-scoped advisory lock per table holds the next writer here until this one commits
        (ids stay short and sequential, e.g. ``SR-000124``).
        """
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": id_lock_key(table_name)})
        col = table(table_name).c[column]
        highest = 0
        for (value,) in self.conn.execute(select(col).where(col.like(f"{prefix}%"))):
            suffix = str(value)[len(prefix):]
            if suffix.isdigit():
                highest = max(highest, int(suffix))
        return f"{prefix}{highest + 1:0{width}d}"


def id_lock_key(table_name: str) -> int:
    """The advisory lock key guarding id generation for ``table_name`` (stable, signed 64-bit)."""
    digest = hashlib.sha256(f"jidoka.next_id:{table_name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _current(conn: Connection, record: ChangedRecord, columns: Sequence[str]) -> dict[str, JsonScalar] | None:
    t = table(record.table)
    row = conn.execute(select(*(t.c[c] for c in columns)).where(_where(record.table, record.key))).first()
    return None if row is None else {c: json_value(row[i]) for i, c in enumerate(columns)}


def find_conflict(conn: Connection, records: Sequence[ChangedRecord]) -> str | None:
    """Why the rows no longer hold their after-images (first difference), or None when all do."""
    for record in records:
        image = record.after
        columns = list(image) if image is not None else list(record.before or {})
        current = _current(conn, record, columns)
        if image is None:
            if current is not None:
                return f"{record.table} {record.record_id} was deleted by the action but exists again"
            continue
        if current is None:
            return f"{record.table} {record.record_id} no longer exists"
        for column in columns:
            if current[column] != image[column]:
                return (f"{record.table} {record.record_id} {column} is now {current[column]!r}, "
                        f"not {image[column]!r} as the action left it")
    return None


def restore(conn: Connection, records: Sequence[ChangedRecord]) -> list[ChangedRecord]:
    """Put the before-images back (last change first); returns the inverse changes applied."""
    undone: list[ChangedRecord] = []
    for record in reversed(records):
        t = table(record.table)
        where = _where(record.table, record.key)
        if record.before is None:
            conn.execute(delete(t).where(where))
        elif record.after is None:
            conn.execute(insert(t).values({c: _python_value(t.c[c], v) for c, v in record.before.items()}))
        else:
            conn.execute(update(t).where(where)
                         .values({c: _python_value(t.c[c], v) for c, v in record.before.items()}))
        undone.append(record.inverse())
    return undone
