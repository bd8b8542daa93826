"""Scoped reads the actions share: the records a caller names, stock rows, costs and snapshots.

Every lookup of a named record applies the caller's scope in SQL and raises
:class:`RecordNotFound` when the record is missing or outside it. ``lock=True`` (inside an
execution) adds ``FOR UPDATE`` on the main table where the database supports row locks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Row, Select, select

from tools.actions._changes import json_value
from tools.errors import RecordNotFound
from tools.plant.schema import table
from tools.scope import DataScope
from tools.supply.common import OPEN_PO_STATUSES, OPEN_WO_STATUSES, po_line_id

__all__ = [
    "OPEN_PO_STATUSES",
    "OPEN_WO_STATUSES",
    "AnyRow",
    "asset_row",
    "available_rows",
    "inventory_key",
    "inventory_snapshot",
    "item_cost",
    "locked",
    "lot_inventory",
    "lot_row",
    "po_line_id",
    "po_line_row",
    "require_site_exists",
    "wo_row",
]

AnyRow = Row[*tuple[Any, ...]]
"""A result row of any shape (attribute access by column label)."""

_S = TypeVar("_S", bound=Select[*tuple[Any, ...]])

_INV_COLUMNS = ("site_id", "location", "item_id", "lot_id", "stock_status", "qty_on_hand", "qty_reserved")


def locked(stmt: _S, lock: bool, of: Any) -> _S:
    """``stmt`` with ``FOR UPDATE OF of`` when ``lock`` (SQLite ignores it: its writer lock covers it)."""
    return stmt.with_for_update(of=of) if lock else stmt


def lot_row(conn: Connection, scope: DataScope, lot_id: str, lock: bool = False) -> AnyRow:
    """The lot (lot_id, item_id, site_id, status, supplier_id) at a site in scope."""
    lots = table("lots")
    stmt = select(lots.c.lot_id, lots.c.item_id, lots.c.site_id, lots.c.status, lots.c.supplier_id).where(
        lots.c.lot_id == lot_id, scope.site_clause(lots.c.site_id))
    row = conn.execute(locked(stmt, lock, lots)).first()
    if row is None:
        raise RecordNotFound("lot", [lot_id])
    return row


def wo_row(conn: Connection, scope: DataScope, wo_id: str, lock: bool = False) -> AnyRow:
    """The work order (wo_id, site_id, line_id, item_id, status, qty_planned, qty_completed) in scope."""
    wo = table("work_orders")
    stmt = select(wo.c.wo_id, wo.c.site_id, wo.c.line_id, wo.c.item_id, wo.c.status, wo.c.qty_planned,
                  wo.c.qty_completed).where(wo.c.wo_id == wo_id, scope.site_clause(wo.c.site_id))
    row = conn.execute(locked(stmt, lock, wo)).first()
    if row is None:
        raise RecordNotFound("work order", [wo_id])
    return row


def po_line_row(conn: Connection, scope: DataScope, po_id: str, line_no: int, lock: bool = False) -> AnyRow:
    """A PO line with its PO's site, supplier, buyer, status and currency (never the price), in scope."""
    po, pl = table("purchase_orders"), table("po_lines")
    stmt = (select(pl.c.po_id, pl.c.line_no, pl.c.item_id, pl.c.qty_ordered, pl.c.qty_received, pl.c.need_date,
                   pl.c.promised_date, pl.c.original_promised_date, pl.c.line_status, po.c.site_id,
                   po.c.supplier_id, po.c.buyer_user_id, po.c.status.label("po_status"), po.c.currency)
            .join(po, po.c.po_id == pl.c.po_id)
            .where(pl.c.po_id == po_id, pl.c.line_no == line_no, scope.site_clause(po.c.site_id)))
    row = conn.execute(locked(stmt, lock, pl)).first()
    if row is None:
        raise RecordNotFound("PO line", [po_line_id(po_id, line_no)])
    return row


def asset_row(conn: Connection, scope: DataScope, asset_id: str, lock: bool = False) -> AnyRow:
    """The asset (asset_id, site_id, machine_id, name, criticality) at a site in scope."""
    a = table("assets")
    stmt = select(a.c.asset_id, a.c.site_id, a.c.machine_id, a.c.name, a.c.criticality).where(
        a.c.asset_id == asset_id, scope.site_clause(a.c.site_id))
    row = conn.execute(locked(stmt, lock, a)).first()
    if row is None:
        raise RecordNotFound("asset", [asset_id])
    return row


def require_site_exists(conn: Connection, site_id: str) -> None:
    """Raise :class:`RecordNotFound` unless ``site_id`` is a site (site ids are public master data)."""
    s = table("sites")
    if conn.execute(select(s.c.site_id).where(s.c.site_id == site_id)).first() is None:
        raise RecordNotFound("site", [site_id])


def item_cost(conn: Connection, item_id: str) -> float:
    """``items.standard_cost`` of the item (a routing input, read whatever the caller's scope masks)."""
    items = table("items")
    cost = conn.execute(select(items.c.standard_cost).where(items.c.item_id == item_id)).scalar_one_or_none()
    if cost is None:
        raise RecordNotFound("item", [item_id])
    return float(cost)


def lot_inventory(conn: Connection, lot_id: str, lock: bool = False) -> Sequence[AnyRow]:
    """Every inventory row of the lot (any site: a hold is on the lot), in key order."""
    inv = table("inventory")
    stmt = (select(*(inv.c[c] for c in _INV_COLUMNS)).where(inv.c.lot_id == lot_id)
            .order_by(inv.c.site_id, inv.c.location, inv.c.item_id))
    return conn.execute(locked(stmt, lock, inv)).all()


def available_rows(conn: Connection, item_id: str, site_id: str, lot_id: str | None = None,
                   lock: bool = False) -> Sequence[AnyRow]:
    """Unrestricted rows of ``available`` lots with free stock (on hand − reserved > 0), oldest lot first."""
    inv, lots = table("inventory"), table("lots")
    stmt = (select(*(inv.c[c] for c in _INV_COLUMNS))
            .join(lots, lots.c.lot_id == inv.c.lot_id)
            .where(inv.c.item_id == item_id, inv.c.site_id == site_id, inv.c.stock_status == "unrestricted",
                   lots.c.status == "available", inv.c.qty_on_hand - inv.c.qty_reserved > 0)
            .order_by(lots.c.received_at, inv.c.lot_id, inv.c.location))
    if lot_id is not None:
        stmt = stmt.where(inv.c.lot_id == lot_id)
    return conn.execute(locked(stmt, lock, inv)).all()


def inventory_key(row: AnyRow) -> dict[str, Any]:
    """The primary key of an inventory row."""
    return {"site_id": row.site_id, "location": row.location, "item_id": row.item_id, "lot_id": row.lot_id}


def inventory_snapshot(row: AnyRow) -> dict[str, Any]:
    """An inventory row as JSON for a precondition snapshot."""
    return {c: json_value(getattr(row, c)) for c in _INV_COLUMNS}
