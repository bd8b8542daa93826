"""Demand read tools: an item's forecast against the sales orders booked for the same weeks."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import select, union

from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec
from tools.supply.common import require_site
from tools.supply.sales import require_sold_item

__all__ = [
    "TOOLS",
    "DemandTotals",
    "DemandVsOrdersArgs",
    "DemandVsOrdersResult",
    "DemandWeek",
    "demand_vs_orders",
]


class DemandVsOrdersArgs(ToolArgs):
    """Which item (and optionally site) to compare, over how many weeks."""

    item_id: str = Field(min_length=1, description="Item id, e.g. 'FG-1025'.")
    site_id: str | None = Field(None, min_length=1,
                                description="Site, e.g. 'P100'; default every site in scope with a forecast or "
                                            "sales orders of the item.")
    weeks: int = Field(4, ge=1, le=12, description="Number of weeks, starting with the week (Monday) of today.")


class DemandWeek(BaseModel):
    """One site and week: the forecast and the orders due that week."""

    site_id: str
    week_start: date = Field(description="Monday of the week.")
    forecast_qty: float = Field(description="Forecast demand for the week (demand_forecast).")
    ordered_qty: float = Field(description="Σ qty of sales orders due that week, any status except cancelled.")
    difference: float = Field(description="ordered_qty − forecast_qty (negative: forecast not yet covered by "
                                          "orders).")
    consumed_pct: float | None = Field(description="ordered ÷ forecast × 100; null when there is no forecast.")


class DemandTotals(BaseModel):
    """The same measures over every row."""

    forecast_qty: float
    ordered_qty: float
    difference: float
    consumed_pct: float | None


class DemandVsOrdersResult(ToolResult):
    """Forecast against orders per site and week, with totals."""

    item_id: str
    rows: list[DemandWeek] = Field(description="One row per site and week, by site then week.")
    totals: DemandTotals
    message: str


def _pct(ordered: float, forecast: float) -> float | None:
    return round(ordered / forecast * 100, 1) if forecast > 0 else None


def demand_vs_orders(ctx: ToolContext, args: DemandVsOrdersArgs) -> DemandVsOrdersResult:
    """Forecast vs ordered qty of an item per site in scope and week, from the Monday of today's week."""
    fc, so = table("demand_forecast"), table("sales_orders")
    first = ctx.today - timedelta(days=ctx.today.weekday())
    end = first + timedelta(weeks=args.weeks)
    with ctx.engine.connect() as conn:
        require_site(conn, ctx.scope, args.site_id)
        require_sold_item(conn, ctx.scope, args.item_id, args.site_id)
        if args.site_id is not None:
            sites = [args.site_id]
        else:
            where = ((fc, ctx.scope.site_clause(fc.c.site_id)), (so, ctx.scope.site_clause(so.c.site_id)))
            sites = sorted(set(conn.execute(union(*(
                select(t.c.site_id).where(t.c.item_id == args.item_id, clause) for t, clause in where))).scalars()))
        forecast_rows = conn.execute(
            select(fc.c.site_id, fc.c.week_start, fc.c.qty)
            .where(fc.c.item_id == args.item_id, ctx.scope.site_clause(fc.c.site_id), fc.c.site_id.in_(sites),
                   fc.c.week_start >= first, fc.c.week_start < end)).all()
        order_rows = conn.execute(
            select(so.c.so_id, so.c.site_id, so.c.due_date, so.c.qty)
            .where(so.c.item_id == args.item_id, ctx.scope.site_clause(so.c.site_id), so.c.site_id.in_(sites),
                   so.c.status != "cancelled", so.c.due_date >= first, so.c.due_date < end)
            .order_by(so.c.due_date, so.c.so_id)).all()
    forecast: dict[tuple[str, int], float] = defaultdict(float)
    ordered: dict[tuple[str, int], float] = defaultdict(float)
    for f in forecast_rows:  # a forecast row dated mid-week counts for the week it falls in
        forecast[(f.site_id, (f.week_start - first).days // 7)] += float(f.qty)
    for o in order_rows:
        ordered[(o.site_id, (o.due_date - first).days // 7)] += float(o.qty)
    rows = []
    for site in sites:
        for week in range(args.weeks):
            f_qty, o_qty = forecast[(site, week)], ordered[(site, week)]
            rows.append(DemandWeek(site_id=site, week_start=first + timedelta(weeks=week), forecast_qty=f_qty,
                                   ordered_qty=o_qty, difference=o_qty - f_qty, consumed_pct=_pct(o_qty, f_qty)))
    f_total, o_total = sum(r.forecast_qty for r in rows), sum(r.ordered_qty for r in rows)
    totals = DemandTotals(forecast_qty=f_total, ordered_qty=o_total, difference=o_total - f_total,
                          consumed_pct=_pct(o_total, f_total))
    if rows:
        message = (f"{args.item_id}: {o_total:g} ordered against {f_total:g} forecast over {args.weeks} weeks from "
                   f"{first} at {', '.join(sites)}")
    else:
        message = f"{args.item_id} has no forecast and no sales orders in your scope"
    return DemandVsOrdersResult(
        as_of=ctx.as_of, item_id=args.item_id, rows=rows, totals=totals, message=message,
        record_ids=list(dict.fromkeys([args.item_id, *(o.so_id for o in order_rows)])),
    )


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="demand_vs_orders",
        description=(
            "Compare an item's demand forecast with the sales orders actually booked, per site and week (weeks "
            "start on Monday, from this week; default 4 weeks, up to 12): forecast qty, ordered qty (orders due "
            "that week, any status but cancelled), difference (ordered − forecast) and % of the forecast consumed, "
            "with totals. Use for 'is the forecast for X materialising / are orders above or below forecast / how "
            "much of this month's forecast is sold'."
        ),
        domain="sales", args_model=DemandVsOrdersArgs, result_model=DemandVsOrdersResult, fn=demand_vs_orders,
    ),
)
