"""Sales read tools: customer (sales) orders with their due dates, lateness and allocated stock.

Forecast against orders lives in :mod:`tools.supply.demand`.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, and_, case, func, select

from tools.errors import RecordNotFound
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec
from tools.supply.common import OPEN_SO_STATUSES, item_sites, require_sales_order, require_site

__all__ = [
    "SO_STATUSES",
    "TOOLS",
    "SalesOrderRow",
    "SalesOrdersArgs",
    "SalesOrdersResult",
    "SalesOrdersSummary",
    "require_sold_item",
    "sales_orders",
]

SoStatus = Literal["open", "allocated", "shipped", "closed", "cancelled"]

SO_STATUSES: tuple[SoStatus, ...] = ("open", "allocated", "shipped", "closed", "cancelled")
"""Every sales-order status, in the order of an order's life."""

_PRICE = "sales_orders.unit_price"


def require_sold_item(conn: Connection, scope: DataScope, item_id: str, site_id: str | None = None) -> list[str]:
    """The sorted sites in scope where ``item_id`` has sales orders or any record :func:`require_item` counts
    (narrowed to ``site_id`` when given); :class:`RecordNotFound` when there is none, so an item known only at
    another site is "not found" exactly like a missing one."""
    so = table("sales_orders")
    stmt = select(so.c.site_id).distinct().where(so.c.item_id == item_id, scope.site_clause(so.c.site_id))
    if site_id is not None:
        stmt = stmt.where(so.c.site_id == site_id)
    sites = set(conn.execute(stmt).scalars()) | item_sites(conn, scope, [item_id], site_id).get(item_id, set())
    if not sites:
        raise RecordNotFound("item", [item_id])
    return sorted(sites)


class SalesOrdersArgs(ToolArgs):
    """Filters for :func:`sales_orders`; all optional and combined with AND."""

    site_id: str | None = Field(None, min_length=1, description="Shipping site of the order, e.g. 'P100'.")
    so_id: str | None = Field(None, min_length=1, description="One sales order, e.g. 'SO-30166'.")
    customer: str | None = Field(None, min_length=1, max_length=120,
                                 description="Part of the customer name, any case, e.g. 'northern fluid'.")
    item_id: str | None = Field(None, min_length=1, description="Ordered item, e.g. 'FG-1025'.")
    status: SoStatus | None = Field(None, description="Only orders with this status.")
    open_only: bool = Field(False, description="Only orders still to ship: status open or allocated.")
    late_only: bool = Field(False, description="Only late orders: due before today and still open or allocated.")
    due_within_days: int | None = Field(None, ge=0, le=365,
                                        description="Only orders due from today through today + N days "
                                                    "(0 = due today; late orders are not included).")
    limit: int = Field(20, ge=1, le=200, description="Maximum rows returned (the summary counts every match).")


class SalesOrderRow(BaseModel):
    """One sales order: what a customer ordered, when it is due and how much stock is reserved for it."""

    so_id: str
    site_id: str
    customer: str
    item_id: str
    qty: float = Field(description="Ordered quantity (item unit of measure).")
    due_date: date
    status: SoStatus
    days_late: int | None = Field(description="Days past the due date for an open or allocated order (0 when not "
                                               "late); null for shipped, closed or cancelled orders.")
    allocated_qty: float = Field(description="Stock reserved for this order in inventory (Σ qty_reserved of the "
                                             "inventory rows pegged to it).")
    unit_price: float | None = Field(description="Sales price per unit; null when your scope may not see sales "
                                                 "prices.")
    value: float | None = Field(description="qty × unit_price; null when sales prices are hidden.")


class SalesOrdersSummary(BaseModel):
    """Counts over every matching order, not only the rows returned."""

    count: int = Field(description="Matching orders.")
    by_status: dict[str, int] = Field(description="Matching orders per status.")
    late: int = Field(description="Matching orders that are late (due before today, still open or allocated).")
    qty_total: float = Field(description="Σ ordered qty over the matching orders (mixes items).")


class SalesOrdersResult(ToolResult):
    """A summary of the matching sales orders, then the orders: late first, then by due date."""

    summary: SalesOrdersSummary
    rows: list[SalesOrderRow]
    more: int = Field(description="Matching orders not shown (beyond the limit).")
    message: str


def sales_orders(ctx: ToolContext, args: SalesOrdersArgs) -> SalesOrdersResult:
    """Sales orders in scope matching the filters, late first, with a summary over every match."""
    so, inv = table("sales_orders"), table("inventory")
    show_price = ctx.scope.can_see(_PRICE)
    late = and_(so.c.due_date < ctx.today, so.c.status.in_(OPEN_SO_STATUSES))
    with ctx.engine.connect() as conn:
        require_site(conn, ctx.scope, args.site_id)
        if args.so_id is not None:
            require_sales_order(conn, ctx.scope, args.so_id)
        if args.item_id is not None:
            require_sold_item(conn, ctx.scope, args.item_id, args.site_id)
        allocated = (select(inv.c.reserved_for.label("so_id"), func.sum(inv.c.qty_reserved).label("qty"))
                     .where(ctx.scope.site_clause(inv.c.site_id), inv.c.reserved_for.is_not(None))
                     .group_by(inv.c.reserved_for).subquery())
        cols = [so.c.so_id, so.c.site_id, so.c.customer, so.c.item_id, so.c.qty, so.c.due_date, so.c.status,
                func.coalesce(allocated.c.qty, 0.0).label("allocated_qty")]
        if show_price:
            cols.append(so.c.unit_price)
        stmt = (select(*cols).outerjoin(allocated, allocated.c.so_id == so.c.so_id)
                .where(ctx.scope.site_clause(so.c.site_id))
                .order_by(case((late, 0), else_=1), so.c.due_date, so.c.so_id))
        for column, value in ((so.c.site_id, args.site_id), (so.c.so_id, args.so_id), (so.c.item_id, args.item_id),
                              (so.c.status, args.status)):
            if value is not None:
                stmt = stmt.where(column == value)
        if args.customer is not None:
            stmt = stmt.where(so.c.customer.icontains(args.customer, autoescape=True))
        if args.open_only:
            stmt = stmt.where(so.c.status.in_(OPEN_SO_STATUSES))
        if args.late_only:
            stmt = stmt.where(late)
        if args.due_within_days is not None:
            stmt = stmt.where(so.c.due_date >= ctx.today,
                              so.c.due_date <= ctx.today + timedelta(days=args.due_within_days))
        found = conn.execute(stmt).all()
    rows = []
    for r in found:
        price = float(r.unit_price) if show_price else None
        rows.append(SalesOrderRow(
            so_id=r.so_id, site_id=r.site_id, customer=r.customer, item_id=r.item_id, qty=float(r.qty),
            due_date=r.due_date, status=r.status,
            days_late=max(0, (ctx.today - r.due_date).days) if r.status in OPEN_SO_STATUSES else None,
            allocated_qty=float(r.allocated_qty), unit_price=price,
            value=None if price is None else round(float(r.qty) * price, 2)))
    counts: Counter[str] = Counter(r.status for r in rows)
    n_late = sum(1 for r in rows if r.days_late)
    summary = SalesOrdersSummary(count=len(rows), by_status={s: counts[s] for s in SO_STATUSES if counts[s]},
                                 late=n_late, qty_total=round(sum(r.qty for r in rows), 3))
    shown = rows[: args.limit]
    message = (f"{len(rows)} sales orders match, {n_late} late" if rows
               else "no sales orders match these filters in your scope (the named records exist)")
    if rows and not show_price:
        message += "; sales prices are hidden in your scope"
    return SalesOrdersResult(
        as_of=ctx.as_of, summary=summary, rows=shown, more=len(rows) - len(shown), message=message,
        # The summary reads every matching order, so all of them are cited.
        record_ids=list(dict.fromkeys([*(r.so_id for r in rows), *(r.item_id for r in shown)])),
    )


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="sales_orders",
        description=(
            "Customer sales orders: customer, item, qty, due date, status (open/allocated/shipped/closed/"
            "cancelled), days late and the stock allocated (reserved in inventory) to each. Filter by site, "
            "so_id, customer (part of the name, any case), item, status, open_only (open or allocated), late_only "
            "(due before today and not shipped) or due_within_days (due today through today+N). Late orders "
            "first, then by due date; a summary (count, per status, late, total qty) covers every match and "
            "`more` says how many are not shown. Unit price and order value only when your role may see sales "
            "prices. Use for 'which sales orders ship this week / is SO-… late / what does customer X have open "
            "/ how much is allocated to SO-…'."
        ),
        domain="sales", args_model=SalesOrdersArgs, result_model=SalesOrdersResult, fn=sales_orders,
        sensitive_fields=frozenset({_PRICE}),
    ),
)
