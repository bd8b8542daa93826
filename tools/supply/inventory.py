"""Inventory read tools: stock lookup, projected stock and items below their reorder point."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select

from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec
from tools.supply.common import load_open_lines, require_item, require_lot, require_site
from tools.supply.projection import SiteProjection, load_projection_inputs, project

__all__ = [
    "TOOLS",
    "BelowReorderArgs",
    "BelowReorderResult",
    "BelowReorderRow",
    "InventoryLookupArgs",
    "InventoryLookupResult",
    "InventoryRow",
    "InventoryTotal",
    "ProjectedStockArgs",
    "ProjectedStockResult",
]

StockStatus = Literal["unrestricted", "quality_inspection", "blocked"]


# ---------------------------------------------------------------------------- inventory_lookup


class InventoryLookupArgs(ToolArgs):
    """Filters for :func:`inventory_lookup`; all optional and combined with AND."""

    item_id: str | None = Field(None, min_length=1, description="Item id, e.g. 'FG-1001'.")
    site_id: str | None = Field(None, min_length=1, description="Site id, e.g. 'P100'.")
    lot_id: str | None = Field(None, min_length=1, description="Lot id, e.g. 'LOT-P100-0423'.")
    location: str | None = Field(None, min_length=1, description="Storage location code (exact match).")
    stock_status: StockStatus | None = Field(None, description="Only rows with this stock status.")
    limit: int = Field(100, ge=1, le=500, description="Maximum number of rows returned (totals use all rows).")


class InventoryRow(BaseModel):
    """One inventory row: a lot of an item at a storage location."""

    site_id: str
    location: str
    item_id: str
    item_description: str
    uom: str
    lot_id: str
    lot_status: str = Field(description="Lot status: available, quality_hold, blocked or consumed.")
    stock_status: StockStatus
    qty_on_hand: float
    qty_reserved: float
    qty_available: float = Field(description="On hand − reserved for unrestricted rows, else 0.")
    reserved_for: str | None = Field(description="Sales order the reservation is pegged to.")


class InventoryTotal(BaseModel):
    """Totals of one item at one site over every matching row (not only the rows returned)."""

    item_id: str
    site_id: str
    qty_on_hand: float
    qty_reserved: float
    qty_available: float = Field(description="Σ(on hand − reserved) over unrestricted rows.")
    qty_quality_inspection: float
    qty_blocked: float
    rows: int


class InventoryLookupResult(ToolResult):
    """Inventory rows and per item/site totals."""

    rows: list[InventoryRow]
    totals: list[InventoryTotal]
    total_rows: int = Field(description="Matching rows before the limit.")
    truncated: bool
    message: str


def inventory_lookup(ctx: ToolContext, args: InventoryLookupArgs) -> InventoryLookupResult:
    """Inventory rows in scope matching the filters, with totals per item and site."""
    inv, lots, items = table("inventory"), table("lots"), table("items")
    with ctx.engine.connect() as conn:
        require_site(conn, ctx.scope, args.site_id)
        if args.item_id is not None:
            require_item(conn, ctx.scope, args.item_id, args.site_id)
        if args.lot_id is not None:
            require_lot(conn, ctx.scope, args.lot_id)
        stmt = (
            select(inv.c.site_id, inv.c.location, inv.c.item_id, items.c.description, items.c.uom, inv.c.lot_id,
                   lots.c.status.label("lot_status"), inv.c.stock_status, inv.c.qty_on_hand, inv.c.qty_reserved,
                   inv.c.reserved_for)
            .join(items, items.c.item_id == inv.c.item_id)
            .join(lots, lots.c.lot_id == inv.c.lot_id)
            .where(ctx.scope.site_clause(inv.c.site_id))
            .order_by(inv.c.site_id, inv.c.item_id, inv.c.location, inv.c.lot_id)
        )
        for column, value in ((inv.c.item_id, args.item_id), (inv.c.site_id, args.site_id),
                              (inv.c.lot_id, args.lot_id), (inv.c.location, args.location),
                              (inv.c.stock_status, args.stock_status)):
            if value is not None:
                stmt = stmt.where(column == value)
        found = conn.execute(stmt).all()
    rows = [
        InventoryRow(site_id=r.site_id, location=r.location, item_id=r.item_id, item_description=r.description,
                     uom=r.uom, lot_id=r.lot_id, lot_status=r.lot_status, stock_status=r.stock_status,
                     qty_on_hand=float(r.qty_on_hand), qty_reserved=float(r.qty_reserved),
                     qty_available=float(r.qty_on_hand - r.qty_reserved) if r.stock_status == "unrestricted"
                     else 0.0, reserved_for=r.reserved_for)
        for r in found
    ]
    totals: dict[tuple[str, str], InventoryTotal] = {}
    for row in rows:
        t = totals.setdefault((row.item_id, row.site_id), InventoryTotal(
            item_id=row.item_id, site_id=row.site_id, qty_on_hand=0, qty_reserved=0, qty_available=0,
            qty_quality_inspection=0, qty_blocked=0, rows=0))
        t.qty_on_hand += row.qty_on_hand
        t.qty_reserved += row.qty_reserved
        t.qty_available += row.qty_available
        t.qty_quality_inspection += row.qty_on_hand if row.stock_status == "quality_inspection" else 0.0
        t.qty_blocked += row.qty_on_hand if row.stock_status == "blocked" else 0.0
        t.rows += 1
    message = (f"{len(rows)} inventory rows match" if rows
               else "no inventory rows match these filters in your scope (the named records exist)")
    return InventoryLookupResult(
        as_of=ctx.as_of, rows=rows[: args.limit], totals=list(totals.values()), total_rows=len(rows),
        truncated=len(rows) > args.limit, message=message,
        record_ids=list(dict.fromkeys([*(r.lot_id for r in rows), *(k[0] for k in totals)])),
    )


# ---------------------------------------------------------------------------- projected_stock


class ProjectedStockArgs(ToolArgs):
    """Which item (and optionally site) to project, and how far ahead."""

    item_id: str = Field(min_length=1, description="Item id to project, e.g. 'CP-2004'.")
    site_id: str | None = Field(None, min_length=1,
                                description="Site to project; default every site in scope holding the item.")
    horizon_days: int = Field(28, ge=1, le=365, description="Days ahead to project (today + N inclusive).")


class ProjectedStockResult(ToolResult):
    """Projected stock of an item, one projection per site."""

    item_id: str
    item_description: str
    item_type: str
    uom: str
    horizon_days: int
    projections: list[SiteProjection]


def projected_stock(ctx: ToolContext, args: ProjectedStockArgs) -> ProjectedStockResult:
    """Event-by-event projection of an item's available stock at each site in scope."""
    items = table("items")
    horizon_end = ctx.today + timedelta(days=args.horizon_days)
    with ctx.engine.connect() as conn:
        require_site(conn, ctx.scope, args.site_id)
        sites = require_item(conn, ctx.scope, args.item_id, args.site_id)
        item = conn.execute(select(items).where(items.c.item_id == args.item_id)).one()
        inputs = load_projection_inputs(conn, ctx.scope, today=ctx.today, horizon_end=horizon_end,
                                        item_ids=[args.item_id], site_ids=sites,
                                        ensure=[(args.item_id, s) for s in sites])
    result = [project(inputs[(args.item_id, s)], ctx.today, horizon_end) for s in sites]
    ids = [args.item_id, *(rid for p in result for rid in p.record_ids)]
    return ProjectedStockResult(
        as_of=ctx.as_of, item_id=args.item_id, item_description=item.description, item_type=item.item_type,
        uom=item.uom, horizon_days=args.horizon_days, projections=result, record_ids=list(dict.fromkeys(ids)),
    )


# ---------------------------------------------------------------------------- items_below_reorder


class BelowReorderArgs(ToolArgs):
    """Filters for :func:`items_below_reorder`."""

    site_id: str | None = Field(None, min_length=1, description="Only this site.")
    item_type: Literal["finished", "component", "raw", "spare"] | None = Field(None, description="Only this type.")
    abc_class: Literal["A", "B", "C"] | None = Field(None, description="Only this ABC class.")
    limit: int = Field(50, ge=1, le=500, description="Maximum rows returned, most severe first.")


class BelowReorderRow(BaseModel):
    """An item whose available stock at a site is below its reorder minimum."""

    site_id: str
    item_id: str
    item_description: str
    item_type: str
    abc_class: str
    uom: str
    available: float = Field(description="Σ(on hand − reserved) over unrestricted rows.")
    reorder_min: float
    reorder_max: float
    shortfall_to_min: float
    shortfall_to_max: float
    severity: float = Field(description="Share of the reorder minimum missing: shortfall_to_min / reorder_min "
                                        "(1.0 = nothing available).")
    open_po_qty: float = Field(description="Open qty on open PO lines for this item at this site.")
    next_receipt_date: date | None = Field(description="Earliest expected receipt of those lines.")


class BelowReorderResult(ToolResult):
    """Items below reorder minimum, most severe first."""

    rows: list[BelowReorderRow]
    total_below: int = Field(description="Item/site pairs below minimum before the limit.")
    message: str


def items_below_reorder(ctx: ToolContext, args: BelowReorderArgs) -> BelowReorderResult:
    """Item/site pairs in scope whose available stock is below the reorder minimum."""
    rp, items, inv = table("reorder_points"), table("items"), table("inventory")
    with ctx.engine.connect() as conn:
        require_site(conn, ctx.scope, args.site_id)
        stmt = (select(rp.c.site_id, rp.c.item_id, rp.c.min_qty, rp.c.max_qty, items.c.description,
                       items.c.item_type, items.c.abc_class, items.c.uom)
                .join(items, items.c.item_id == rp.c.item_id).where(ctx.scope.site_clause(rp.c.site_id)))
        stock = (select(inv.c.site_id, inv.c.item_id, inv.c.lot_id,
                        (inv.c.qty_on_hand - inv.c.qty_reserved).label("qty"))
                 .where(ctx.scope.site_clause(inv.c.site_id), inv.c.stock_status == "unrestricted"))
        if args.site_id is not None:
            stmt = stmt.where(rp.c.site_id == args.site_id)
            stock = stock.where(inv.c.site_id == args.site_id)
        if args.item_type is not None:
            stmt = stmt.where(items.c.item_type == args.item_type)
        if args.abc_class is not None:
            stmt = stmt.where(items.c.abc_class == args.abc_class)
        points = conn.execute(stmt).all()
        available: dict[tuple[str, str], float] = defaultdict(float)
        lots: dict[tuple[str, str], list[str]] = defaultdict(list)
        for st in conn.execute(stock):
            available[(st.site_id, st.item_id)] += float(st.qty)
            lots[(st.site_id, st.item_id)].append(st.lot_id)
        below = [p for p in points if available[(p.site_id, p.item_id)] < float(p.min_qty)]
        open_lines = load_open_lines(conn, ctx.scope, item_ids={p.item_id for p in below}, site_id=args.site_id)

    def severity(min_qty: float, avail: float) -> float:
        return 1.0 if min_qty <= 0 else (min_qty - avail) / min_qty

    rows = []
    for p in below:
        key = (p.site_id, p.item_id)
        avail = available[key]
        mine = [ln for ln in open_lines if (ln.site_id, ln.item_id) == key]
        rows.append(BelowReorderRow(
            site_id=p.site_id, item_id=p.item_id, item_description=p.description, item_type=p.item_type,
            abc_class=p.abc_class, uom=p.uom, available=avail, reorder_min=float(p.min_qty),
            reorder_max=float(p.max_qty), shortfall_to_min=float(p.min_qty) - avail,
            shortfall_to_max=float(p.max_qty) - avail, severity=round(severity(float(p.min_qty), avail), 4),
            open_po_qty=sum(ln.qty_open for ln in mine),
            next_receipt_date=min((max(ln.expected_date, ctx.today) for ln in mine), default=None)))
    rows.sort(key=lambda r: (-r.severity, r.abc_class, -r.shortfall_to_min, r.site_id, r.item_id))
    shown = rows[: args.limit]
    ids: list[str] = []
    for r in shown:
        ids += [r.item_id, *lots[(r.site_id, r.item_id)]]
        ids += [ln.line_id for ln in open_lines if (ln.site_id, ln.item_id) == (r.site_id, r.item_id)]
    message = (f"{len(rows)} item/site pairs below reorder minimum" if rows
               else "no item in your scope is below its reorder minimum with these filters")
    return BelowReorderResult(as_of=ctx.as_of, rows=shown, total_below=len(rows), message=message,
                              record_ids=list(dict.fromkeys(ids)))


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="inventory_lookup",
        description=(
            "Current inventory rows (site, location, item, lot, lot status, stock status, on hand, reserved, "
            "available) filtered by item, site, lot, location or stock status, with totals per item and site "
            "(available = unrestricted on hand − reserved). Use for 'how much X do we have / where is lot Y'."
        ),
        domain="inventory", args_model=InventoryLookupArgs, result_model=InventoryLookupResult,
        fn=inventory_lookup,
    ),
    ToolSpec(
        name="projected_stock",
        description=(
            "Project an item's available stock day by day over a horizon (default 28 days) per site: open PO "
            "receipts and work-order output add, forecast (finished goods) or work-order component demand "
            "subtract. Returns each driving PO line / WO / forecast row, the first shortage date (balance < 0) "
            "and first date below reorder min. Use for 'will we run out of X / when'."
        ),
        domain="inventory", args_model=ProjectedStockArgs, result_model=ProjectedStockResult,
        fn=projected_stock,
    ),
    ToolSpec(
        name="items_below_reorder",
        description=(
            "Items whose available stock at a site is below the reorder minimum, with shortfall to min and to "
            "max, open PO qty and next receipt, most severe first. Filter by site, item_type, abc_class. "
            "Use for 'what is below safety stock / what needs replenishing now'."
        ),
        domain="inventory", args_model=BelowReorderArgs, result_model=BelowReorderResult,
        fn=items_below_reorder,
    ),
)
