"""Shared SQL helpers of the rules-accuracy oracles (tests/agent/oracle.py): the sites in scope, look-back
periods, open PO lines and the latest asset health."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, text

from evals.oracle import OracleContext

__all__ = ["OPEN_PO_LINE", "as_date", "expected_date", "fetch", "latest_health", "look_back", "open_po_lines",
           "site_ids", "sql_in"]


def fetch(conn: Connection, sql: str, **params: Any) -> list[Any]:
    """The rows of a raw SELECT."""
    return list(conn.execute(text(sql), params))


def site_ids(ctx: OracleContext, site: str | None) -> list[str]:
    """``site`` if given, else the sites the asking user holds (every site for an unscoped context)."""
    every = ["P100", "P200"]
    return [site] if site else sorted(ctx.sites) if ctx.sites is not None else every


def sql_in(name: str, values: Iterable[str]) -> str:
    """``name IN ('a', 'b')`` with the values quoted."""
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{name} IN ({quoted})"


def look_back(ctx: OracleContext, days: int | None, start: str | None, end: str | None,
              default: int) -> tuple[datetime, datetime]:
    """[start 00:00, end + 1 day 00:00) of a look-back period (tools: days ending today, or start/end)."""
    first = date.fromisoformat(start) if start else ctx.today - timedelta(days=(days or default) - 1)
    last = date.fromisoformat(end) if end else ctx.today
    return datetime.combine(first, time.min), datetime.combine(last + timedelta(days=1), time.min)


OPEN_PO_LINE = ("l.line_status = 'open' AND p.status IN ('approved','sent','acknowledged') "
                "AND l.qty_received < l.qty_ordered")
"""The SQL condition of an open PO line (``l``) on a released purchase order (``p``)."""


def open_po_lines(conn: Connection, ctx: OracleContext, site: str | None = None, **where: Any) -> list[Any]:
    """Open PO lines at the sites in scope, filtered by ``item``, ``supplier``, ``buyer`` or ``po``."""
    rows = fetch(conn, f"SELECT l.po_id, l.line_no, l.item_id, l.need_date, l.promised_date, l.original_promised_date, "
                       f"l.qty_ordered - l.qty_received AS qty_open, l.unit_price, p.supplier_id, p.site_id, p.status, "
                       f"p.buyer_user_id, p.approved_at, p.acknowledged_at, p.order_date, p.currency FROM po_lines l "
                       f"JOIN purchase_orders p ON p.po_id = l.po_id WHERE {OPEN_PO_LINE} AND "
                       f"{sql_in('p.site_id', site_ids(ctx, site))}")
    keys = {"item": "item_id", "supplier": "supplier_id", "buyer": "buyer_user_id", "po": "po_id"}
    return [r for r in rows if all(v is None or getattr(r, keys[k]) == v for k, v in where.items())]


def expected_date(r: Any) -> date:
    """When a PO line is expected: its promised date, else its need date."""
    return date.fromisoformat(str(r.promised_date or r.need_date)[:10])


def as_date(value: Any) -> date:
    """The date of an ISO date or datetime value."""
    return date.fromisoformat(str(value)[:10])


def latest_health(conn: Connection) -> dict[str, Any]:
    """The latest health score of every asset, with its site, machine and line."""
    rows = fetch(conn, "SELECT a.asset_id, a.site_id, a.machine_id, m.line_id, h.failure_probability, h.scored_at FROM "
                       "assets a JOIN asset_health h ON h.asset_id = a.asset_id LEFT JOIN machines m ON "
                       "m.machine_id = a.machine_id ORDER BY h.scored_at")
    return {r.asset_id: r for r in rows}  # the last row per asset is the latest score
