"""Internals shared by the inventory, procurement and sales read tools.

Scoped checks of ids a caller names, the open-PO-line definition of COMMON.md as
SQL, and the ranking of currently valid supply sources. Everything takes the
caller's :class:`DataScope` and applies it inside the SQL.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Connection, Select, Table, and_, exists, literal, or_, select

from tools.errors import RecordNotFound
from tools.plant.schema import table
from tools.scope import DataScope
from tools.supply._footprint import footprint

__all__ = [
    "OPEN_PO_STATUSES",
    "OPEN_SO_STATUSES",
    "OPEN_WO_STATUSES",
    "OpenLine",
    "SupplySource",
    "item_sites",
    "load_open_lines",
    "open_line_clause",
    "open_lines_select",
    "po_line_id",
    "require_buyer",
    "require_item",
    "require_lot",
    "require_po",
    "require_sales_order",
    "require_site",
    "require_supplier",
    "supplier_in_scope",
    "valid_sources",
]

OPEN_PO_STATUSES = ("approved", "sent", "acknowledged")
"""PO statuses whose lines can be open (draft, closed and cancelled POs never are)."""

OPEN_SO_STATUSES = ("open", "allocated")
"""Sales-order statuses still to ship (shipped, closed and cancelled orders are done)."""

OPEN_WO_STATUSES = ("planned", "released", "running")
"""Work-order statuses that count as supply/demand in projections (held WOs do not)."""


def po_line_id(po_id: str, line_no: int) -> str:
    """The citation id of a PO line, e.g. ``PO-24017/2``."""
    return f"{po_id}/{line_no}"


# ---------------------------------------------------------------------------- ids named by the caller


def require_site(conn: Connection, scope: DataScope, site_id: str | None) -> None:
    """Raise :class:`RecordNotFound` unless ``site_id`` (when given) is a site in scope."""
    if site_id is None:
        return
    s = table("sites")
    found = conn.execute(select(s.c.site_id).where(s.c.site_id == site_id, scope.site_clause(s.c.site_id)))
    if found.first() is None:
        raise RecordNotFound("site", [site_id])


def item_sites(conn: Connection, scope: DataScope, item_ids: Collection[str] | None = None,
               site_id: str | None = None) -> dict[str, set[str]]:
    """Item id → sites in scope where the item has stock, a reorder point, forecast, lot, PO line or WO."""
    result: dict[str, set[str]] = {}
    stmt, params = footprint(scope, item_ids, site_id)
    for row in conn.execute(stmt, params):
        result.setdefault(row.item_id, set()).add(row.site_id)
    return result


def require_item(conn: Connection, scope: DataScope, item_id: str, site_id: str | None = None) -> list[str]:
    """The sorted sites in scope where ``item_id`` is present; :class:`RecordNotFound` if none.

    The item master is global, so an item is "in scope" only where it has records at an allowed
    site (narrowed to ``site_id`` when given): an item that exists only at another site is not found.
    """
    sites = item_sites(conn, scope, [item_id], site_id).get(item_id)
    if not sites:
        raise RecordNotFound("item", [item_id])
    return sorted(sites)


def require_lot(conn: Connection, scope: DataScope, lot_id: str) -> None:
    """Raise :class:`RecordNotFound` unless the lot exists at a site in scope."""
    lots = table("lots")
    stmt = select(lots.c.lot_id).where(lots.c.lot_id == lot_id, scope.site_clause(lots.c.site_id))
    if conn.execute(stmt).first() is None:
        raise RecordNotFound("lot", [lot_id])


def require_po(conn: Connection, scope: DataScope, po_id: str) -> None:
    """Raise :class:`RecordNotFound` unless the purchase order exists at a site in scope."""
    po = table("purchase_orders")
    stmt = select(po.c.po_id).where(po.c.po_id == po_id, scope.site_clause(po.c.site_id))
    if conn.execute(stmt).first() is None:
        raise RecordNotFound("purchase order", [po_id])


def require_sales_order(conn: Connection, scope: DataScope, so_id: str) -> None:
    """Raise :class:`RecordNotFound` unless the sales order exists at a site in scope."""
    so = table("sales_orders")
    stmt = select(so.c.so_id).where(so.c.so_id == so_id, scope.site_clause(so.c.site_id))
    if conn.execute(stmt).first() is None:
        raise RecordNotFound("sales order", [so_id])


def supplier_in_scope(scope: DataScope, supplier_col: ColumnElement[str]) -> ColumnElement[bool]:
    """WHERE clause: the supplier has at least one purchase order at a site in scope."""
    po = table("purchase_orders")
    return exists(select(literal(1)).where(po.c.supplier_id == supplier_col, scope.site_clause(po.c.site_id)))


def require_supplier(conn: Connection, scope: DataScope, supplier_id: str) -> None:
    """Raise :class:`RecordNotFound` unless the supplier has purchase orders at a site in scope."""
    s = table("suppliers")
    stmt = select(s.c.supplier_id).where(s.c.supplier_id == supplier_id, supplier_in_scope(scope, s.c.supplier_id))
    if conn.execute(stmt).first() is None:
        raise RecordNotFound("supplier", [supplier_id])


def require_buyer(conn: Connection, scope: DataScope, buyer: str) -> None:
    """Raise :class:`RecordNotFound` unless the buyer owns purchase orders at a site in scope."""
    po = table("purchase_orders")
    stmt = select(po.c.po_id).where(po.c.buyer_user_id == buyer, scope.site_clause(po.c.site_id)).limit(1)
    if conn.execute(stmt).first() is None:
        raise RecordNotFound("buyer", [buyer])


# ---------------------------------------------------------------------------- open PO lines


@dataclass(frozen=True)
class OpenLine:
    """An open PO line (COMMON.md definition) with its PO header facts; never carries a price.

    ``currency`` is the PO's currency (purchase_orders.currency): the currency its line prices are in.
    """

    po_id: str
    line_no: int
    site_id: str
    supplier_id: str
    buyer_user_id: str
    po_status: str
    order_date: date
    approved_at: datetime | None
    acknowledged_at: datetime | None
    item_id: str
    qty_ordered: float
    qty_received: float
    need_date: date
    promised_date: date | None
    original_promised_date: date | None
    currency: str

    @property
    def line_id(self) -> str:
        """Citation id ``PO-…/n``."""
        return po_line_id(self.po_id, self.line_no)

    @property
    def qty_open(self) -> float:
        """Ordered minus received."""
        return self.qty_ordered - self.qty_received

    @property
    def expected_date(self) -> date:
        """Promised date, or need date when there is no promise."""
        return self.promised_date or self.need_date


def open_line_clause(po: Table, pl: Table) -> ColumnElement[bool]:
    """The one definition of an open PO line, as SQL over ``purchase_orders`` and ``po_lines``.

    Open: line_status 'open', PO status approved/sent/acknowledged and qty_received < qty_ordered.
    """
    return and_(pl.c.line_status == "open", po.c.status.in_(OPEN_PO_STATUSES), pl.c.qty_received < pl.c.qty_ordered)


def open_lines_select(scope: DataScope, *, site_id: str | None = None, supplier_id: str | None = None,
                      buyer: str | None = None, item_id: str | None = None,
                      po_id: str | None = None) -> Select[tuple[object, ...]]:
    """SELECT of the open PO lines in scope (no price column), narrowed by the given filters.

    Open: line_status 'open', PO status approved/sent/acknowledged and qty_received < qty_ordered.
    Also selects the PO's ``currency`` (the currency of the line's price).
    """
    po, pl = table("purchase_orders"), table("po_lines")
    stmt = (
        select(pl.c.po_id, pl.c.line_no, po.c.site_id, po.c.supplier_id, po.c.buyer_user_id,
               po.c.status.label("po_status"), po.c.order_date, po.c.approved_at, po.c.acknowledged_at,
               pl.c.item_id, pl.c.qty_ordered, pl.c.qty_received, pl.c.need_date, pl.c.promised_date,
               pl.c.original_promised_date, po.c.currency)
        .join(po, po.c.po_id == pl.c.po_id)
        .where(scope.site_clause(po.c.site_id), open_line_clause(po, pl))
    )
    filters = ((po.c.site_id, site_id), (po.c.supplier_id, supplier_id), (po.c.buyer_user_id, buyer),
               (pl.c.item_id, item_id), (po.c.po_id, po_id))
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(column == value)
    return stmt


def load_open_lines(conn: Connection, scope: DataScope, *, item_ids: Collection[str] | None = None,
                    **filters: str | None) -> list[OpenLine]:
    """Open PO lines in scope as :class:`OpenLine` (filters as in :func:`open_lines_select`)."""
    stmt = open_lines_select(scope, **filters)
    if item_ids is not None:
        stmt = stmt.where(table("po_lines").c.item_id.in_(sorted(item_ids)))
    pl = table("po_lines")
    return [OpenLine(**row._mapping) for row in conn.execute(stmt.order_by(pl.c.po_id, pl.c.line_no))]


# ---------------------------------------------------------------------------- supply sources


@dataclass(frozen=True)
class SupplySource:
    """A supplier with a price row valid on a given day for an item."""

    supplier_id: str
    name: str
    country: str
    item_id: str
    valid_from: date
    valid_to: date
    lead_time_days: int
    min_qty: float
    currency: str
    on_time_rate: float
    quality_ppm: int
    risk_rating: str
    buyer_user_id: str
    unit_price: float | None
    """Only filled when the caller asked for prices (and may see them)."""


def valid_sources(conn: Connection, scope: DataScope, item_ids: Collection[str] | None, on: date, *,
                  with_price: bool = False) -> dict[str, list[SupplySource]]:
    """Item id → suppliers with a price valid on ``on`` (valid_from ≤ on ≤ valid_to), ranked best first
    (``item_ids`` None = every item).

    Ranking: shortest lead time, then highest recorded on-time rate, then supplier id. A supplier is
    offered when it has purchase orders at a site in scope or none at any site (a supplier used only
    by other sites is out of scope). When a supplier has several valid rows, the latest valid_from
    wins. ``unit_price`` is selected only when ``with_price`` and the scope can see it.
    """
    if item_ids is not None and not item_ids:
        return {}
    sp, s, po = table("supplier_prices"), table("suppliers"), table("purchase_orders")
    cols = [sp.c.supplier_id, s.c.name, s.c.country, sp.c.item_id, sp.c.valid_from, sp.c.valid_to,
            sp.c.lead_time_days, sp.c.min_qty, sp.c.currency, s.c.on_time_rate, s.c.quality_ppm,
            s.c.risk_rating, s.c.buyer_user_id]
    show_price = with_price and scope.can_see("supplier_prices.unit_price")
    if show_price:
        cols.append(sp.c.unit_price)
    unused = ~exists(select(literal(1)).where(po.c.supplier_id == s.c.supplier_id))
    stmt = (
        select(*cols).join(s, s.c.supplier_id == sp.c.supplier_id)
        .where(sp.c.valid_from <= on, sp.c.valid_to >= on, or_(supplier_in_scope(scope, s.c.supplier_id), unused))
        .order_by(sp.c.item_id, sp.c.supplier_id, sp.c.valid_from.desc())
    )
    if item_ids is not None:
        stmt = stmt.where(sp.c.item_id.in_(sorted(item_ids)))
    best: dict[tuple[str, str], SupplySource] = {}
    for row in conn.execute(stmt):
        key = (row.item_id, row.supplier_id)
        if key in best:  # an older overlapping price row of the same supplier
            continue
        best[key] = SupplySource(
            supplier_id=row.supplier_id, name=row.name, country=row.country, item_id=row.item_id,
            valid_from=row.valid_from, valid_to=row.valid_to, lead_time_days=int(row.lead_time_days),
            min_qty=float(row.min_qty), currency=row.currency, on_time_rate=float(row.on_time_rate),
            quality_ppm=int(row.quality_ppm), risk_rating=row.risk_rating, buyer_user_id=row.buyer_user_id,
            unit_price=float(row.unit_price) if show_price else None,
        )
    ranked: dict[str, list[SupplySource]] = {}
    for src in sorted(best.values(), key=lambda x: (x.lead_time_days, -x.on_time_rate, x.supplier_id)):
        ranked.setdefault(src.item_id, []).append(src)
    return ranked
