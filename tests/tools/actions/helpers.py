"""Helpers for action tests: direct SQL reads and a before/after diff of the tables actions write."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Date, DateTime, Engine, select, text

from tests.factories import make_ctx
from tools.actions.catalog import action_catalog
from tools.actions.spec import ActionResult, ActionSpec
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import ToolContext

WRITABLE = ("lots", "inventory", "work_orders", "wo_materials", "po_lines", "purchase_orders",
            "maintenance_orders", "po_change_requests", "supplier_reviews", "transfers", "spare_reservations")
"""Every plant table an action may write (the ledger itself excluded)."""

P100 = DataScope.for_sites(["P100"])
P200 = DataScope.for_sites(["P200"])

Key = tuple[str, tuple[tuple[str, Any], ...]]
State = dict[Key, dict[str, Any]]


def spec(name: str) -> ActionSpec:
    """The catalog's action called ``name``."""
    return action_catalog().get(name)


def ctx(engine: Engine, scope: DataScope | None = None) -> ToolContext:
    """A tool context on ``engine`` (unrestricted unless ``scope``)."""
    return make_ctx(engine, scope)


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a raw SELECT as dicts."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def one(engine: Engine, sql: str, **params: Any) -> Any:
    """The single value of a raw SELECT."""
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def execute_sql(engine: Engine, sql: str, **params: Any) -> None:
    """Run a raw write (to change the plant behind an action's back)."""
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def _canonical(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _key(name: str, key: dict[str, Any]) -> Key:
    return name, tuple(sorted(key.items()))


def state(engine: Engine, tables: Iterable[str] = WRITABLE) -> State:
    """Every row of the writable tables, keyed by (table, canonical primary key)."""
    found: State = {}
    with engine.connect() as conn:
        for name in tables:
            t = table(name)
            names = [c.name for c in t.columns]
            dated = [i for i, c in enumerate(t.columns) if isinstance(c.type, Date | DateTime)]
            pk = [names.index(c.name) for c in t.primary_key.columns]
            for r in conn.execute(select(t)):
                values = list(r)
                for i in dated:
                    values[i] = _canonical(values[i])
                found[(name, tuple(sorted((names[i], values[i]) for i in pk)))] = dict(zip(names, values, strict=True))
    return found


def diff(before: State, after: State) -> dict[Key, tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """Rows that differ: key → (row before or None, row after or None)."""
    return {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def declared(result: ActionResult) -> set[Key]:
    """The (table, key) of every record the result says it changed."""
    return {_key(c.table, c.key) for c in result.changed}


def assert_changed_exactly(before: State, after: State, result: ActionResult) -> None:
    """The plant changed in exactly the declared records, with exactly the declared before/after values."""
    changes = diff(before, after)
    assert set(changes) == declared(result), (set(changes) ^ declared(result))
    for record in result.changed:
        old, new = changes[_key(record.table, record.key)]
        if record.before is None:
            assert old is None
        else:
            assert old is not None and {k: old[k] for k in record.before} == record.before
        if record.after is None:
            assert new is None
        else:
            assert new is not None and {k: new[k] for k in record.after} == record.after
        if old is not None and new is not None:  # no column changed that is not declared
            assert {k for k in old if old[k] != new[k]} <= set(record.after or {})


def ledger(engine: Engine) -> list[dict[str, Any]]:
    """The rows of action_executions."""
    return rows(engine, "SELECT * FROM action_executions ORDER BY idempotency_key")
