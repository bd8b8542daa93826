"""Helpers to craft rows in a blank plant for edge-case tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Engine

from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import ToolContext

TODAY = date(2026, 3, 2)
AS_OF = datetime.combine(TODAY, time(6, 0))
DEMO_SEED = 7


def make_ctx(engine: Engine, scope: DataScope | None = None) -> ToolContext:
    """A tool context on ``engine`` with the test 'today' (unrestricted unless a scope is given)."""
    return ToolContext(engine=engine, scope=scope or DataScope.unrestricted(), today=TODAY, as_of=AS_OF)


def insert(engine: Engine, table_name: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert ``rows`` into ``table_name`` in one transaction (FKs are enforced)."""
    rows = [dict(r) for r in rows]
    if not rows:
        return
    with engine.begin() as conn:
        conn.execute(table(table_name).insert(), rows)
