"""Column specs shared by the part builders: how a column reads a row, and which sensitive field it shows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from agent.parts.model import Cell, Column, TablePart, TableRow
from tools.scope import DataScope

__all__ = ["MAX_ROWS", "Col", "cell", "percent", "table"]

MAX_ROWS = 100
"""Rows kept per table: the tools' own limits are lower for every list a person reads; this bounds the payload."""


def cell(value: Any) -> Cell:
    """A tool value as a table cell: dates as ISO days, times to the minute, booleans as yes/no, floats rounded."""
    if isinstance(value, bool):  # before int: a bool is an int
        return "yes" if value else "no"
    if value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")[:16]
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def percent(rate: float | None) -> float | None:
    """A 0..1 rate as the percent the answer text prints (one decimal)."""
    return None if rate is None else round(rate * 100, 1)


@dataclass(frozen=True)
class Col:
    """A column of a table builder."""

    key: str
    label: str
    kind: Literal["text", "number", "date"]
    get: Callable[[Any], Any]
    unit: str | None = None
    field: str | None = None
    """The sensitive ``table.column`` field the values come from: the column is left out of the part unless the
    caller's scope may see that field row by row (whatever the tool put in it)."""


def table(title: str, tool: str, columns: Sequence[Col], rows: Iterable[tuple[str | None, Any]], *,
          scope: DataScope, total: int, record_column: str | None = None) -> TablePart:
    """A table part of ``rows`` (``(record id, row)`` pairs) with the columns ``scope`` may see."""
    shown = [c for c in columns if c.field is None or scope.can_see(c.field)]
    built: list[TableRow] = []
    for record_id, row in rows:
        if len(built) >= MAX_ROWS:
            break
        built.append(TableRow(record_id=record_id, cells=tuple(cell(c.get(row)) for c in shown)))
    return TablePart(title=title, tool=tool, record_column=record_column, total_rows=total,
                     columns=tuple(Column(key=c.key, label=c.label, kind=c.kind, unit=c.unit) for c in shown),
                     rows=tuple(built))
