"""Row types of the buyer exception triage (:mod:`tools.supply.triage`), one per category."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from tools.supply.common import po_line_id

__all__ = [
    "CancelCandidateRow",
    "ExpediteRow",
    "LineRow",
    "OrderNowRow",
    "PastDueRow",
    "PriceVarianceRow",
    "QualityBlockedRow",
    "RescheduleOutRow",
    "SiteSurplus",
    "SupplierSlipRow",
    "UnconfirmedRow",
    "line_fields",
]


class LineRow(BaseModel):
    """The PO line an exception is about."""

    line_id: str = Field(description="Citation id 'PO-…/line'.")
    po_id: str
    line_no: int
    site_id: str
    supplier_id: str
    buyer_user_id: str
    po_status: str
    item_id: str
    qty_open: float = Field(description="Ordered − received (0 for a fully received line).")
    need_date: date
    promised_date: date | None
    original_promised_date: date | None
    expected_receipt_date: date = Field(description="Promised date, or need date when not promised.")
    reason: str = Field(description="Why the line is flagged, with the numbers.")


def line_fields(src: Any, reason: str) -> dict[str, Any]:
    """LineRow fields from an :class:`OpenLine` or a SQL row with the same attribute names."""
    return dict(
        line_id=po_line_id(src.po_id, src.line_no), po_id=src.po_id, line_no=src.line_no, site_id=src.site_id,
        supplier_id=src.supplier_id, buyer_user_id=src.buyer_user_id, po_status=src.po_status,
        item_id=src.item_id, qty_open=max(0.0, float(src.qty_ordered - src.qty_received)),
        need_date=src.need_date, promised_date=src.promised_date,
        original_promised_date=src.original_promised_date,
        expected_receipt_date=src.promised_date or src.need_date, reason=reason)


class PastDueRow(LineRow):
    """Expected receipt date is before today."""

    days_late: int


class ExpediteRow(LineRow):
    """Promised more than tolerance_days after the need date."""

    days_after_need: int


class RescheduleOutRow(LineRow):
    """Promised more than tolerance_days before the need date."""

    days_before_need: int


class UnconfirmedRow(LineRow):
    """PO approved more than unconfirmed_after_days ago and not acknowledged by the supplier."""

    approved_at: datetime
    days_since_approval: int


class SupplierSlipRow(LineRow):
    """The supplier moved its promise later than first promised."""

    slip_days: int


class CancelCandidateRow(LineRow):
    """The line's open qty is not needed (see :func:`cancel_candidates`)."""

    available_qty: float
    earlier_supply_qty: float = Field(description="Open PO / WO supply counting strictly before this line.")
    demand_qty: float = Field(description="Demand counting on or before covered_through.")
    covered_through: date = Field(description="Need date + 28 days.")
    reorder_min: float
    driving_record_ids: list[str]


class PriceVarianceRow(LineRow):
    """PO price deviates from the supplier's price list (same currency) on the PO order date."""

    order_date: date
    currency: str = Field(description="Currency of both po_unit_price and list_unit_price (only same-currency "
                                      "prices are compared; never converted).")
    po_unit_price: float
    list_unit_price: float
    list_valid_from: date
    variance_pct: float = Field(description="(PO price − list price) / list price × 100, signed.")


class QualityBlockedRow(LineRow):
    """A lot received against the line is on quality hold or blocked."""

    line_open: bool
    lot_id: str
    lot_status: str
    lot_received_at: datetime | None
    lot_qty_received: float


class SiteSurplus(BaseModel):
    """Available stock above the reorder maximum of the same item at another site in scope."""

    site_id: str
    available: float
    reorder_max: float
    qty_above_max: float


class OrderNowRow(BaseModel):
    """An item/site that will run short inside its best supplier's lead time with no PO line to pull in."""

    item_id: str
    site_id: str
    available_now: float
    first_shortage_date: date
    shortage_qty: float = Field(description="Deepest projected deficit within the lead time, as a positive qty.")
    lead_time_days: int
    lead_time_end: date
    reorder_min: float | None
    reorder_max: float | None
    suggested_supplier_id: str
    suggested_supplier_name: str
    supplier_min_qty: float
    suggested_qty: float = Field(description="Reorder max + deficit (deficit alone without a reorder point), "
                                             "at least the supplier minimum.")
    surplus_elsewhere: list[SiteSurplus] = Field(
        default_factory=list, description="Other sites in scope holding this item above their reorder max: "
                                          "a transfer may beat a new order.")
    driving_record_ids: list[str]
    reason: str
