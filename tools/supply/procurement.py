"""Procurement read tools: open purchase-order lines.

The buyer exception triage lives in :mod:`tools.supply.triage`, supplier tools in :mod:`tools.supply.suppliers`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import func

from tools.aggregates import WithheldFigure
from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec
from tools.supply.common import (
    open_lines_select,
    po_line_id,
    require_buyer,
    require_item,
    require_po,
    require_site,
    require_supplier,
)
from tools.supply.open_value import OpenValue, open_value_by_currency

__all__ = ["TOOLS", "OpenPoLine", "OpenPoLinesArgs", "OpenPoLinesResult", "open_po_lines"]


class OpenPoLinesArgs(ToolArgs):
    """Filters for :func:`open_po_lines`; all optional and combined with AND."""

    supplier_id: str | None = Field(None, min_length=1, description="Supplier id, e.g. 'S-014'.")
    item_id: str | None = Field(None, min_length=1, description="Item id.")
    site_id: str | None = Field(None, min_length=1, description="Site id of the purchase order, e.g. 'P100'.")
    buyer: str | None = Field(None, min_length=1, description="Buyer user id on the PO, e.g. 'bea.buyer'.")
    po_id: str | None = Field(None, min_length=1, description="One purchase order, e.g. 'PO-24017'.")
    late_only: bool = Field(False, description="Only lines whose expected receipt date is before today.")
    due_within_days: int | None = Field(None, ge=0, le=365,
                                        description="Only lines expected on or before today + N days "
                                                    "(includes late lines).")
    limit: int = Field(50, ge=1, le=500, description="Maximum rows returned, earliest need date first.")


class OpenPoLine(BaseModel):
    """An open PO line: ordered but not yet fully received on an approved/sent/acknowledged PO."""

    line_id: str = Field(description="Citation id 'PO-…/line'.")
    po_id: str
    line_no: int
    site_id: str
    supplier_id: str
    supplier_name: str
    buyer_user_id: str
    po_status: str
    acknowledged: bool = Field(description="The supplier acknowledged the PO.")
    item_id: str
    item_description: str
    uom: str
    qty_ordered: float
    qty_received: float
    qty_open: float
    need_date: date
    promised_date: date | None
    original_promised_date: date | None
    expected_receipt_date: date = Field(description="Promised date, or need date when not promised.")
    days_late: int = Field(description="Days the expected receipt date is past today (0 when not late).")
    currency: str = Field(description="Currency of the PO (e.g. USD, MXN): unit_price and open_value are in it. "
                                      "Never converted; do not add values of different currencies.")
    unit_price: float | None = Field(description="PO price in `currency`; null when your scope may not see "
                                                 "prices.")
    open_value: float | None = Field(description="qty_open × unit_price, in `currency`; null when prices are "
                                                 "hidden.")


class OpenPoLinesResult(ToolResult):
    """Open PO lines, earliest need date first."""

    rows: list[OpenPoLine]
    total_lines: int = Field(description="Matching lines before the limit.")
    truncated: bool
    open_value_by_currency: dict[str, float | None] | None = Field(
        description="PO currency (e.g. USD, MXN) → Σ open qty × PO price over all matching lines in that "
                    "currency. One total per currency: amounts are never converted (no FX rates exist) and "
                    "never summed across currencies. {} when no line matches; null when your scope may not "
                    "aggregate prices; a currency's total is null when it is withheld (see open_value_withheld).")
    open_value_withheld: dict[str, WithheldFigure] = Field(
        default_factory=dict,
        description="PO currency → why its open value is withheld: your scope sees prices only in aggregate and "
                    "that total would reveal a line's price (too few lines, or all at one price). Say the "
                    "reason; never work the figure out.")
    message: str


def open_po_lines(ctx: ToolContext, args: OpenPoLinesArgs) -> OpenPoLinesResult:
    """Open PO lines in scope matching the filters."""
    pl, items, s = table("po_lines"), table("items"), table("suppliers")
    show_price = ctx.scope.can_see("po_lines.unit_price")
    with ctx.engine.connect() as conn:
        require_site(conn, ctx.scope, args.site_id)
        if args.supplier_id is not None:
            require_supplier(conn, ctx.scope, args.supplier_id)
        if args.item_id is not None:
            require_item(conn, ctx.scope, args.item_id, args.site_id)
        if args.buyer is not None:
            require_buyer(conn, ctx.scope, args.buyer)
        if args.po_id is not None:
            require_po(conn, ctx.scope, args.po_id)
        base = open_lines_select(ctx.scope, site_id=args.site_id, supplier_id=args.supplier_id, buyer=args.buyer,
                                 item_id=args.item_id, po_id=args.po_id)
        expected = func.coalesce(pl.c.promised_date, pl.c.need_date)
        if args.late_only:
            base = base.where(expected < ctx.today)
        if args.due_within_days is not None:
            base = base.where(expected <= ctx.today + timedelta(days=args.due_within_days))
        totals = open_value_by_currency(conn, ctx.scope, base)
        stmt = (base.add_columns(s.c.name.label("supplier_name"), items.c.description, items.c.uom)
                .join(s, s.c.supplier_id == table("purchase_orders").c.supplier_id)
                .join(items, items.c.item_id == pl.c.item_id)
                .order_by(pl.c.need_date, pl.c.po_id, pl.c.line_no))
        if show_price:
            stmt = stmt.add_columns(pl.c.unit_price)
        found = conn.execute(stmt).all()
    rows = []
    for r in found:
        exp = r.promised_date or r.need_date
        qty_open = float(r.qty_ordered - r.qty_received)
        price = float(r.unit_price) if show_price else None
        rows.append(OpenPoLine(
            line_id=po_line_id(r.po_id, r.line_no), po_id=r.po_id, line_no=r.line_no, site_id=r.site_id,
            supplier_id=r.supplier_id, supplier_name=r.supplier_name, buyer_user_id=r.buyer_user_id,
            po_status=r.po_status, acknowledged=isinstance(r.acknowledged_at, datetime), item_id=r.item_id,
            item_description=r.description, uom=r.uom, qty_ordered=float(r.qty_ordered),
            qty_received=float(r.qty_received), qty_open=qty_open, need_date=r.need_date,
            promised_date=r.promised_date, original_promised_date=r.original_promised_date,
            expected_receipt_date=exp, days_late=max(0, (ctx.today - exp).days), currency=r.currency,
            unit_price=price,
            open_value=None if price is None else qty_open * price))
    shown = rows[: args.limit]
    message = (f"{len(rows)} open PO lines match" if rows
               else "no open PO lines match these filters in your scope (the named records exist)")
    message += _value_note(totals, show_price)
    return OpenPoLinesResult(
        as_of=ctx.as_of, rows=shown, total_lines=len(rows), truncated=len(rows) > args.limit,
        open_value_by_currency=None if totals is None else totals.totals,
        open_value_withheld={} if totals is None else totals.withheld, message=message,
        # The total reads every matching line, so all of them are cited.
        record_ids=list(dict.fromkeys([*(r.line_id for r in rows), *(r.supplier_id for r in shown),
                                       *(r.item_id for r in shown)])),
    )


def _value_note(totals: OpenValue | None, show_price: bool) -> str:
    """What the message adds about the open value: per currency, aggregate-only, withheld and why."""
    if totals is None:
        return ""
    note = ""
    if len(totals.totals) > 1:
        note += (f"; open value is given per currency ({', '.join(totals.totals)}), never converted or added across "
                 "currencies")
    if not show_price:
        note += "; prices are aggregate-only in your scope: open_value_by_currency is given, row prices are not"
    for currency, why in totals.withheld.items():
        note += f"; the {currency} open value is {why.reason}"
    return note


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="open_po_lines",
        description=(
            "Open purchase-order lines (approved/sent/acknowledged POs, not fully received) with open qty, need, "
            "promised and original promised dates, expected receipt date and days late; filter by supplier, "
            "item, site, buyer, PO, late_only or due_within_days; earliest need date first. Each row carries its PO "
            "currency; prices and the open value per currency (never converted or summed across currencies) "
            "only when your role may see them; a role that sees prices only in aggregate gets no total that would "
            "reveal a line's price (too few lines or all at one price: withheld, with the reason). Use for 'what "
            "is on order / what is late'."
        ),
        domain="procurement", args_model=OpenPoLinesArgs, result_model=OpenPoLinesResult, fn=open_po_lines,
        sensitive_fields=frozenset({"po_lines.unit_price"}),
    ),
)
