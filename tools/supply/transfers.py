"""Transfer read tools: stock moved between sites (or issued to a work order) by reallocations.

A transfer has two ends. It is in scope when either end's site is; the details of an end outside the scope
(its storage location, the work order it was issued to) are never selected, only that end's site id.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import case, null, or_, select

from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec
from tools.supply.common import require_item, require_lot, require_site

__all__ = [
    "TOOLS",
    "TransferRow",
    "TransfersArgs",
    "TransfersResult",
    "TransfersSummary",
    "transfers",
]


class TransfersArgs(ToolArgs):
    """Filters for :func:`transfers`; all optional and combined with AND."""

    site_id: str | None = Field(None, min_length=1,
                                description="A site at either end: transfers from it or to it, e.g. 'P100'.")
    item_id: str | None = Field(None, min_length=1, description="Item moved, e.g. 'CP-2039'.")
    lot_id: str | None = Field(None, min_length=1, description="Lot moved, e.g. 'LOT-P100-0423'.")
    direction: Literal["in", "out"] | None = Field(
        None, description="Relative to site_id (required with it): 'in' = received by site_id, 'out' = sent "
                          "from site_id.")
    days: int = Field(30, ge=1, le=3650, description="Look back this many days (ending today, inclusive).")
    limit: int = Field(20, ge=1, le=200, description="Maximum rows returned, newest first (the summary counts "
                                                     "every match).")

    @model_validator(mode="after")
    def _direction_needs_site(self) -> Self:
        if self.direction is not None and self.site_id is None:
            raise PydanticCustomError("tool_field", "{message}", {
                "field": "direction", "message": "direction is relative to a site: give site_id too"})
        return self


class TransferRow(BaseModel):
    """One lot portion moved from a site to another site or to a work order."""

    transfer_id: str
    item_id: str
    lot_id: str
    qty: float
    from_site_id: str
    from_location: str | None = Field(description="Storage location it left; null when the sending site is "
                                                  "outside your scope.")
    to_site_id: str
    to_location: str | None = Field(description="Location it was received into; null when issued to a work order "
                                                "or when the receiving site is outside your scope.")
    to_wo_id: str | None = Field(description="Work order it was issued to; null for a move into stock or when "
                                             "the receiving site is outside your scope.")
    transferred_at: datetime


class TransfersSummary(BaseModel):
    """Totals over every matching transfer, not only the rows returned."""

    count: int
    qty_total: float = Field(description="Σ qty moved (mixes items when several match).")


class TransfersResult(ToolResult):
    """A summary of the matching transfers, then the transfers newest first."""

    summary: TransfersSummary
    rows: list[TransferRow]
    more: int = Field(description="Matching transfers not shown (beyond the limit).")
    message: str


def transfers(ctx: ToolContext, args: TransfersArgs) -> TransfersResult:
    """Transfers with an end in scope matching the filters, newest first."""
    tr = table("transfers")
    from_ok, to_ok = ctx.scope.site_clause(tr.c.from_site_id), ctx.scope.site_clause(tr.c.to_site_id)
    since = datetime.combine(ctx.today - timedelta(days=args.days - 1), time.min)
    with ctx.engine.connect() as conn:
        require_site(conn, ctx.scope, args.site_id)
        if args.item_id is not None:  # present at any site in scope: a transfer may have emptied one end
            require_item(conn, ctx.scope, args.item_id)
        if args.lot_id is not None:
            require_lot(conn, ctx.scope, args.lot_id)
        # An end outside the scope keeps only its site id: its location and work order never leave SQL.
        stmt = (select(tr.c.transfer_id, tr.c.item_id, tr.c.lot_id, tr.c.qty, tr.c.from_site_id,
                       case((from_ok, tr.c.from_location), else_=null()).label("from_location"), tr.c.to_site_id,
                       case((to_ok, tr.c.to_location), else_=null()).label("to_location"),
                       case((to_ok, tr.c.to_wo_id), else_=null()).label("to_wo_id"), tr.c.transferred_at)
                .where(or_(from_ok, to_ok), tr.c.transferred_at >= since)
                .order_by(tr.c.transferred_at.desc(), tr.c.transfer_id.desc()))
        if args.site_id is not None:
            sent, received = tr.c.from_site_id == args.site_id, tr.c.to_site_id == args.site_id
            stmt = stmt.where({"in": received, "out": sent}.get(args.direction or "", or_(sent, received)))
        for column, value in ((tr.c.item_id, args.item_id), (tr.c.lot_id, args.lot_id)):
            if value is not None:
                stmt = stmt.where(column == value)
        rows = [TransferRow.model_validate(r._mapping) for r in conn.execute(stmt)]
    shown = rows[: args.limit]
    summary = TransfersSummary(count=len(rows), qty_total=round(sum(r.qty for r in rows), 3))
    message = (f"{len(rows)} transfers in the last {args.days} days match" if rows
               else f"no transfers in the last {args.days} days match these filters in your scope "
                    "(the named records exist)")
    ids = [*(r.transfer_id for r in rows), *(x for r in shown for x in (r.lot_id, r.item_id, r.to_wo_id) if x)]
    return TransfersResult(as_of=ctx.as_of, summary=summary, rows=shown, more=len(rows) - len(shown),
                           message=message, record_ids=list(dict.fromkeys(ids)))


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="transfers",
        description=(
            "Inter-site stock transfers (stock moved between plants, or issued to a work order, by a "
            "reallocation): transfer id, item, lot, qty, from site/location, to site/location or work order, and "
            "when, newest first. Filter by site (either end), direction relative to that site ('in' = received, "
            "'out' = sent), item, lot and look-back days (default 30); a summary (count, total qty) covers every "
            "match and `more` says how many are not shown. Use for 'what did we send to P200 / what came in from "
            "the other plant / where did lot X go / was the reallocation of Y done'."
        ),
        domain="inventory", args_model=TransfersArgs, result_model=TransfersResult, fn=transfers,
    ),
)
