"""Lot status across systems: the MES lot record against its ERP stock, reservations and open quality events.

The MES view of a lot is ``lots.status``; the ERP view is its ``inventory`` rows (stock status, reservations).
Three kinds of disagreement are reported:

- ``mes_hold_erp_unrestricted``: the lot is on quality hold or blocked while unrestricted stock of it is on
  hand (the executive summary's ``hold_vs_stock_status`` rule, :func:`tools.ops._reconciliation.hold_vs_stock_status`);
- ``held_lot_allocated``: the lot is on quality hold or blocked while stock of it is reserved for an open
  (open or allocated) sales order;
- ``erp_blocked_mes_available``: the lot is available while stock of it on hand is blocked or in quality
  inspection.

Only records in the caller's scope are read (the lot, its stock rows, orders and quality events).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from tools.ops._reconciliation import HELD_LOT_STATUSES, hold_vs_stock_status
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec
from tools.supply.common import OPEN_SO_STATUSES, require_lot

__all__ = [
    "TOOLS",
    "ErpStockRow",
    "LotAllocation",
    "LotDisagreement",
    "LotDisagreementKind",
    "LotRecord",
    "LotStatusArgs",
    "LotStatusResult",
    "OpenQualityEvent",
    "OpenShipment",
    "lot_status",
]

LotDisagreementKind = Literal["mes_hold_erp_unrestricted", "held_lot_allocated", "erp_blocked_mes_available"]

_OPEN_QE_STATUSES = ("open", "contained")
_BLOCKING_STOCK = ("blocked", "quality_inspection")
_EPS = 1e-9


class LotStatusArgs(ToolArgs):
    """The lot to look at."""

    lot_id: str = Field(min_length=1, description="Lot id, e.g. 'LOT-P100-0529'.")


class LotRecord(BaseModel):
    """The MES lot record."""

    lot_id: str
    item_id: str
    site_id: str
    mes_status: str = Field(description="lots.status: available, quality_hold, blocked or consumed.")
    supplier_id: str | None = Field(description="Supplier of a purchased lot.")
    po_id: str | None = Field(description="Purchase order a purchased lot was received against.")
    wo_id: str | None = Field(description="Work order that produced a manufactured lot.")
    received_at: datetime | None


class ErpStockRow(BaseModel):
    """One ERP inventory row of the lot."""

    site_id: str
    location: str
    stock_status: str = Field(description="unrestricted, quality_inspection or blocked.")
    qty_on_hand: float
    qty_reserved: float
    reserved_for: str | None = Field(description="Sales order the reserved qty is pegged to, if any.")


class LotAllocation(BaseModel):
    """Stock of the lot reserved for one target."""

    reserved_for: str | None = Field(description="The sales order reserved for; null for a reservation not "
                                                 "pegged to an order (e.g. spare parts for maintenance).")
    qty: float


class OpenShipment(BaseModel):
    """An open or allocated sales order the lot is reserved for."""

    so_id: str
    customer: str
    due_date: date
    qty: float = Field(description="Ordered qty of the sales order.")
    qty_reserved: float = Field(description="Qty of this lot reserved for it.")


class OpenQualityEvent(BaseModel):
    """An open or contained quality event on the lot."""

    qe_id: str
    defect_code: str
    severity: str
    status: str


class LotDisagreement(BaseModel):
    """The MES and ERP records of the lot contradicting each other."""

    kind: LotDisagreementKind
    detail: str
    record_ids: list[str] = Field(description="The lot first, then the other records involved.")


class LotStatusResult(ToolResult):
    """A lot across MES and ERP, what disagrees, and whether it can ship."""

    lot: LotRecord
    erp_stock: list[ErpStockRow]
    allocations: list[LotAllocation]
    open_shipments: list[OpenShipment]
    open_quality_events: list[OpenQualityEvent]
    disagreements: list[LotDisagreement]
    free_qty: float = Field(description="Unrestricted on hand − reserved over the lot's stock rows.")
    can_ship: bool = Field(description="True only when the lot is available in MES, some unrestricted unreserved "
                                       "qty exists, nothing disagrees and no quality event is open.")
    verdict: str = Field(description="One line: can it ship, and if not why.")


def _disagreements(conn: Connection, scope: DataScope, lot: LotRecord, stock: list[ErpStockRow],
                   shipments: list[OpenShipment]) -> list[LotDisagreement]:
    out = [LotDisagreement(kind="mes_hold_erp_unrestricted", detail=d.description, record_ids=d.record_ids)
           for d in hold_vs_stock_status(conn, scope, lot_ids=[lot.lot_id])]
    pegged = [s for s in shipments if s.qty_reserved > _EPS]
    if lot.mes_status in HELD_LOT_STATUSES and pegged:
        orders = ", ".join(f"{s.so_id} ({s.qty_reserved:g}, due {s.due_date})" for s in pegged)
        out.append(LotDisagreement(
            kind="held_lot_allocated", record_ids=[lot.lot_id, *(s.so_id for s in pegged)],
            detail=f"Lot {lot.lot_id} is '{lot.mes_status}' in the lot record but "
                   f"{sum(s.qty_reserved for s in pegged):g} of it is reserved for open sales orders {orders}."))
    blocked = [r for r in stock if r.stock_status in _BLOCKING_STOCK and r.qty_on_hand > _EPS]
    if lot.mes_status == "available" and blocked:
        where = ", ".join(f"{r.qty_on_hand:g} {r.stock_status} at {r.site_id}/{r.location}" for r in blocked)
        out.append(LotDisagreement(
            kind="erp_blocked_mes_available", record_ids=[lot.lot_id],
            detail=f"Lot {lot.lot_id} is 'available' in the lot record but its stock is not usable: {where}."))
    return out


def _verdict(lot: LotRecord, free: float, disagreements: list[LotDisagreement],
             events: list[OpenQualityEvent]) -> tuple[bool, str]:
    reasons = []
    if lot.mes_status != "available":
        reasons.append(f"its MES status is {lot.mes_status}")
    if free <= _EPS:
        reasons.append("no unrestricted unreserved stock")
    if disagreements:
        reasons.append(f"ERP and MES disagree ({', '.join(d.kind for d in disagreements)})")
    if events:
        reasons.append(f"open quality events {', '.join(e.qe_id for e in events)}")
    if reasons:
        return False, f"Lot {lot.lot_id} cannot ship: {'; '.join(reasons)}."
    return True, (f"Lot {lot.lot_id} can ship: available in MES, {free:g} unrestricted and unreserved, no "
                  "disagreement, no open quality event.")


def lot_status(ctx: ToolContext, args: LotStatusArgs) -> LotStatusResult:
    """The lot's MES record, ERP stock, reservations, open shipments and quality events, and a shipping verdict."""
    lots, inv, so, qe = table("lots"), table("inventory"), table("sales_orders"), table("quality_events")
    scope = ctx.scope
    with ctx.engine.connect() as conn:
        require_lot(conn, scope, args.lot_id)
        row = conn.execute(select(lots.c.lot_id, lots.c.item_id, lots.c.site_id, lots.c.status, lots.c.supplier_id,
                                  lots.c.po_id, lots.c.wo_id, lots.c.received_at)
                           .where(lots.c.lot_id == args.lot_id)).one()
        lot = LotRecord(lot_id=row.lot_id, item_id=row.item_id, site_id=row.site_id, mes_status=row.status,
                        supplier_id=row.supplier_id, po_id=row.po_id, wo_id=row.wo_id, received_at=row.received_at)
        stock = [ErpStockRow.model_validate(r._mapping) for r in conn.execute(
            select(inv.c.site_id, inv.c.location, inv.c.stock_status, inv.c.qty_on_hand, inv.c.qty_reserved,
                   inv.c.reserved_for)
            .where(inv.c.lot_id == args.lot_id, scope.site_clause(inv.c.site_id))
            .order_by(inv.c.site_id, inv.c.location))]
        reserved: dict[str | None, float] = defaultdict(float)
        for r in stock:
            if r.qty_reserved > _EPS:
                reserved[r.reserved_for] += r.qty_reserved
        orders = sorted(k for k in reserved if k is not None)
        shipments = [OpenShipment(so_id=r.so_id, customer=r.customer, due_date=r.due_date, qty=r.qty,
                                  qty_reserved=reserved[r.so_id]) for r in conn.execute(
            select(so.c.so_id, so.c.customer, so.c.due_date, so.c.qty)
            .where(so.c.so_id.in_(orders), so.c.status.in_(OPEN_SO_STATUSES), scope.site_clause(so.c.site_id))
            .order_by(so.c.due_date, so.c.so_id))]
        events = [OpenQualityEvent.model_validate(r._mapping) for r in conn.execute(
            select(qe.c.qe_id, qe.c.defect_code, qe.c.severity, qe.c.status)
            .where(qe.c.lot_id == args.lot_id, qe.c.status.in_(_OPEN_QE_STATUSES), scope.site_clause(qe.c.site_id))
            .order_by(qe.c.detected_at, qe.c.qe_id))]
        disagreements = _disagreements(conn, scope, lot, stock, shipments)
    free = sum(max(0.0, r.qty_on_hand - r.qty_reserved) for r in stock if r.stock_status == "unrestricted")
    can_ship, verdict = _verdict(lot, free, disagreements, events)
    allocations = [LotAllocation(reserved_for=k, qty=v)
                   for k, v in sorted(reserved.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))]
    ids = [lot.lot_id, lot.item_id, *(x for x in (lot.supplier_id, lot.po_id, lot.wo_id) if x),
           *(k for k in orders), *(e.qe_id for e in events)]
    return LotStatusResult(
        as_of=ctx.as_of, record_ids=list(dict.fromkeys(ids)), lot=lot, erp_stock=stock, allocations=allocations,
        open_shipments=shipments, open_quality_events=events, disagreements=disagreements, free_qty=free,
        can_ship=can_ship, verdict=verdict)


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="lot_status",
        description=(
            "One lot across systems: its MES record (status, item, site, supplier/PO or producing WO), its ERP "
            "stock rows (location, stock status, on hand, reserved, reserved for), what it is allocated to, the "
            "open sales orders it is reserved for, its open quality events, every ERP/MES disagreement (on hold "
            "in MES but unrestricted in ERP; on hold but reserved for an open order; available in MES but "
            "blocked or in inspection in ERP) and a verdict: can_ship is true only when the lot is available, "
            "has free unrestricted stock, nothing disagrees and no quality event is open. Use for 'can lot X "
            "ship / why is lot X stuck / is the hold on lot X reflected in stock / what is lot X reserved for'."
        ),
        domain="inventory", args_model=LotStatusArgs, result_model=LotStatusResult, fn=lot_status,
    ),
)
