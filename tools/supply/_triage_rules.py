"""The buyer exception rules behind :mod:`tools.supply.triage`, one function per category.

Every rule works on open PO lines (COMMON.md definition: line_status 'open', PO approved/sent/
acknowledged, qty_received < qty_ordered; open qty = ordered − received) except ``order_now``
(item/site positions) and ``quality_blocked`` (open or recently received lines). Thresholds are
strict: a line exactly at a tolerance is not flagged. Row types live in :mod:`tools.supply._triage_rows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from tools.plant.schema import table
from tools.scope import DataScope
from tools.supply._triage_rows import (
    CancelCandidateRow,
    ExpediteRow,
    OrderNowRow,
    PastDueRow,
    PriceVarianceRow,
    QualityBlockedRow,
    RescheduleOutRow,
    SiteSurplus,
    SupplierSlipRow,
    UnconfirmedRow,
    line_fields,
)
from tools.supply.common import (
    OPEN_PO_STATUSES,
    OpenLine,
    SupplySource,
    open_line_clause,
    open_lines_select,
    po_line_id,
)
from tools.supply.projection import ProjectionInputs, project

__all__ = [
    "CANCEL_COVER_DAYS",
    "TriageParams",
    "cancel_candidates",
    "expedite",
    "order_now",
    "past_due",
    "price_variance",
    "quality_blocked",
    "reschedule_out",
    "supplier_slip",
    "surplus_elsewhere",
    "unconfirmed",
]

def _n(x: float) -> str:
    """A quantity or price for a reason string: up to 3 decimals, no exponent, no trailing zeros."""
    return f"{x:.3f}".rstrip("0").rstrip(".")


CANCEL_COVER_DAYS = 28
"""A line is a cancel candidate when stock covers demand through its need date + this many days."""


@dataclass(frozen=True)
class TriageParams:
    """Thresholds of one triage run."""

    today: date
    tolerance_days: int
    unconfirmed_after_days: int
    price_variance_pct: float
    recent_receipt_days: int


# ---------------------------------------------------------------------------- date rules


def past_due(lines: Iterable[OpenLine], p: TriageParams) -> list[PastDueRow]:
    """Open lines whose expected receipt date (promised, else need) is before today."""
    rows = [PastDueRow(**line_fields(ln, f"expected {ln.expected_date}, {(p.today - ln.expected_date).days} days ago; "
                                   f"{_n(ln.qty_open)} still open"), days_late=(p.today - ln.expected_date).days)
            for ln in lines if ln.expected_date < p.today]
    return sorted(rows, key=lambda r: (-r.days_late, r.line_id))


def expedite(lines: Iterable[OpenLine], p: TriageParams) -> list[ExpediteRow]:
    """Promised date more than ``tolerance_days`` after the need date (exactly at tolerance is fine)."""
    rows = []
    for ln in lines:
        if ln.promised_date is not None and (ln.promised_date - ln.need_date).days > p.tolerance_days:
            d = (ln.promised_date - ln.need_date).days
            rows.append(ExpediteRow(**line_fields(ln, f"promised {ln.promised_date}, {d} days after need date "
                                                f"{ln.need_date} (tolerance {p.tolerance_days})"), days_after_need=d))
    return sorted(rows, key=lambda r: (-r.days_after_need, r.line_id))


def reschedule_out(lines: Iterable[OpenLine], p: TriageParams) -> list[RescheduleOutRow]:
    """Promised date more than ``tolerance_days`` before the need date (stock would arrive too early)."""
    rows = []
    for ln in lines:
        if ln.promised_date is not None and (ln.need_date - ln.promised_date).days > p.tolerance_days:
            d = (ln.need_date - ln.promised_date).days
            rows.append(RescheduleOutRow(**line_fields(ln, f"promised {ln.promised_date}, {d} days before need date "
                                                     f"{ln.need_date} (tolerance {p.tolerance_days})"),
                                         days_before_need=d))
    return sorted(rows, key=lambda r: (-r.days_before_need, r.line_id))


def unconfirmed(lines: Iterable[OpenLine], p: TriageParams) -> list[UnconfirmedRow]:
    """Lines of approved/sent POs with no acknowledgement whose approval date + N days is before today."""
    cutoff = p.today - timedelta(days=p.unconfirmed_after_days)
    rows = []
    for ln in lines:
        if (ln.po_status in ("approved", "sent") and ln.acknowledged_at is None and ln.approved_at is not None
                and ln.approved_at.date() < cutoff):
            d = (p.today - ln.approved_at.date()).days
            rows.append(UnconfirmedRow(**line_fields(ln, f"PO {ln.po_status} since {ln.approved_at.date()} ({d} days), "
                                                   f"no supplier acknowledgement (limit {p.unconfirmed_after_days})"),
                                       approved_at=ln.approved_at, days_since_approval=d))
    return sorted(rows, key=lambda r: (-r.days_since_approval, r.line_id))


def supplier_slip(lines: Iterable[OpenLine], p: TriageParams) -> list[SupplierSlipRow]:
    """Promised date later than the original promised date."""
    rows = []
    for ln in lines:
        if ln.promised_date and ln.original_promised_date and ln.promised_date > ln.original_promised_date:
            d = (ln.promised_date - ln.original_promised_date).days
            rows.append(SupplierSlipRow(**line_fields(ln, f"promise moved from {ln.original_promised_date} to "
                                                    f"{ln.promised_date} (+{d} days)"), slip_days=d))
    return sorted(rows, key=lambda r: (-r.slip_days, r.line_id))


# ---------------------------------------------------------------------------- position rules


def cancel_candidates(lines: Iterable[OpenLine], inputs: Mapping[tuple[str, str], ProjectionInputs],
                      p: TriageParams) -> list[CancelCandidateRow]:
    """Open lines whose whole open qty is not needed.

    For line L of item i at site s, with e = L's expected receipt date (today if past) and
    T = L's need date + 28 days: flagged when
    available(i, s) + Σ supply (other open PO lines and open WO output) counting strictly before e
    ≥ Σ demand (projection demand) counting on or before T + reorder min (0 without a reorder point).
    Supply arriving on or after e is not counted, so without L the balance stays ≥ reorder min on
    every day from e through T.
    """
    rows = []
    for ln in lines:
        inp = inputs.get((ln.item_id, ln.site_id))
        if inp is None:
            inp = ProjectionInputs(item_id=ln.item_id, site_id=ln.site_id, item_type="unknown")
        arrives = max(ln.expected_date, p.today)
        through = ln.need_date + timedelta(days=CANCEL_COVER_DAYS)
        earlier = inp.supply_before(arrives)
        demand = inp.demand_through(through)
        rmin = inp.reorder_min or 0.0
        if inp.available + earlier >= demand + rmin:
            drivers = [e.record_id for e in inp.events
                       if (e.is_supply and e.date < arrives) or (not e.is_supply and e.date <= through)]
            reason = (f"available {_n(inp.available)} + earlier supply {_n(earlier)} = {_n(inp.available + earlier)} "
                      f"covers demand {_n(demand)} through {through} + reorder min {_n(rmin)}; "
                      f"{_n(ln.qty_open)} open on this line not needed")
            rows.append(CancelCandidateRow(
                **line_fields(ln, reason), available_qty=inp.available, earlier_supply_qty=earlier, demand_qty=demand,
                covered_through=through, reorder_min=rmin, driving_record_ids=[*inp.lot_ids, *drivers]))
    return sorted(rows, key=lambda r: (r.need_date, r.line_id))


def order_now(inputs: Mapping[tuple[str, str], ProjectionInputs], sources: Mapping[str, list[SupplySource]],
              all_open: Iterable[OpenLine], p: TriageParams, *, supplier_id: str | None = None,
              buyer: str | None = None) -> list[OrderNowRow]:
    """Item/site positions to order now.

    For each item/site with a currently valid supplier price, take the best source (shortest lead time,
    then best on-time rate; lead time L) and project to today + L. Flagged when the projection (which
    already counts every open PO line and WO) has its first shortage S on or before today + L, and no
    single open PO line of that item/site expected after S and no later than today + L has open qty ≥
    the deepest deficit within the window: such a line arrives no later than a new order would and
    should be pulled in instead. ``supplier_id`` / ``buyer`` keep only suggestions whose best supplier /
    that supplier's buyer match.
    """
    by_key: dict[tuple[str, str], list[OpenLine]] = {}
    for ln in all_open:
        by_key.setdefault((ln.item_id, ln.site_id), []).append(ln)
    rows = []
    for key, inp in sorted(inputs.items()):
        ranked = sources.get(inp.item_id)
        if not ranked:
            continue
        best = ranked[0]
        if (supplier_id and best.supplier_id != supplier_id) or (buyer and best.buyer_user_id != buyer):
            continue
        end = p.today + timedelta(days=best.lead_time_days)
        proj = project(inp, p.today, end)
        short = proj.first_shortage_date
        if short is None:
            continue
        deficit = proj.shortage_qty
        if any(short < max(ln.expected_date, p.today) <= end and ln.qty_open >= deficit
               for ln in by_key.get(key, [])):
            continue
        qty = max(best.min_qty, deficit + (inp.reorder_max or 0.0))
        rows.append(OrderNowRow(
            item_id=inp.item_id, site_id=inp.site_id, available_now=inp.available, first_shortage_date=short,
            shortage_qty=deficit, lead_time_days=best.lead_time_days, lead_time_end=end,
            reorder_min=inp.reorder_min, reorder_max=inp.reorder_max, suggested_supplier_id=best.supplier_id,
            suggested_supplier_name=best.name, supplier_min_qty=best.min_qty, suggested_qty=qty,
            driving_record_ids=proj.record_ids,
            reason=(f"projected short {_n(deficit)} from {short}, inside the {best.lead_time_days}-day lead time of "
                    f"{best.supplier_id}; no open PO line arriving by {end} covers it")))
    return sorted(rows, key=lambda r: (r.first_shortage_date, r.site_id, r.item_id))


def surplus_elsewhere(conn: Connection, scope: DataScope, rows: list[OrderNowRow]) -> list[OrderNowRow]:
    """``rows`` with :attr:`OrderNowRow.surplus_elsewhere` filled: other sites in scope whose available
    stock of the item exceeds their reorder max (a transfer candidate)."""
    if not rows:
        return rows
    rp, inv = table("reorder_points"), table("inventory")
    items = sorted({r.item_id for r in rows})
    maxima = {(r.item_id, r.site_id): float(r.max_qty) for r in conn.execute(
        select(rp.c.item_id, rp.c.site_id, rp.c.max_qty)
        .where(scope.site_clause(rp.c.site_id), rp.c.item_id.in_(items)))}
    available: dict[tuple[str, str], float] = {}
    for r in conn.execute(select(inv.c.item_id, inv.c.site_id, (inv.c.qty_on_hand - inv.c.qty_reserved).label("qty"))
                          .where(scope.site_clause(inv.c.site_id), inv.c.stock_status == "unrestricted",
                                 inv.c.item_id.in_(items))):
        available[(r.item_id, r.site_id)] = available.get((r.item_id, r.site_id), 0.0) + float(r.qty)
    out = []
    for row in rows:
        extra = [SiteSurplus(site_id=site, available=available.get((item, site), 0.0), reorder_max=mx,
                             qty_above_max=available.get((item, site), 0.0) - mx)
                 for (item, site), mx in sorted(maxima.items())
                 if item == row.item_id and site != row.site_id and available.get((item, site), 0.0) > mx]
        out.append(row.model_copy(update={"surplus_elsewhere": extra}) if extra else row)
    return out


# ---------------------------------------------------------------------------- rules reading extra columns


def price_variance(conn: Connection, scope: DataScope, lines: list[OpenLine], p: TriageParams,
                   **filters: str | None) -> list[PriceVarianceRow]:
    """Open lines whose |PO price − list price| / list price > price_variance_pct % (exactly at the limit is
    fine). The list price is the supplier's supplier_prices row for the item valid on the PO order date
    (latest valid_from when several). A line whose PO currency differs from that row's currency is not
    comparable (no FX rates exist) and is skipped, never flagged. Callers must check the scope may see both
    price fields first.
    """
    pl, sp = table("po_lines"), table("supplier_prices")
    prices = {po_line_id(r.po_id, r.line_no): float(r.unit_price)
              for r in conn.execute(open_lines_select(scope, **filters).add_columns(pl.c.unit_price))}
    pairs = {(ln.supplier_id, ln.item_id) for ln in lines}
    lists: dict[tuple[str, str], list[Any]] = {}
    if pairs:
        stmt = (select(sp.c.supplier_id, sp.c.item_id, sp.c.valid_from, sp.c.valid_to, sp.c.unit_price,
                       sp.c.currency)
                .where(sp.c.supplier_id.in_(sorted({s for s, _ in pairs})),
                       sp.c.item_id.in_(sorted({i for _, i in pairs})))
                .order_by(sp.c.valid_from.desc()))
        for r in conn.execute(stmt):
            lists.setdefault((r.supplier_id, r.item_id), []).append(r)
    rows = []
    for ln in lines:
        if ln.line_id not in prices:
            continue
        ref = next((r for r in lists.get((ln.supplier_id, ln.item_id), [])
                    if r.valid_from <= ln.order_date <= r.valid_to), None)
        if ref is None or float(ref.unit_price) <= 0 or ref.currency != ln.currency:
            continue
        po_price, list_price = prices[ln.line_id], float(ref.unit_price)
        # Scaled comparison with a tiny tolerance so exactly-at-threshold is never flagged by float noise.
        if abs(po_price - list_price) * 100 <= p.price_variance_pct * list_price * (1 + 1e-9):
            continue
        pct = (po_price - list_price) / list_price * 100
        rows.append(PriceVarianceRow(
            **line_fields(ln, f"PO price {_n(po_price)} vs list {_n(list_price)} {ln.currency} valid "
                              f"{ref.valid_from}..{ref.valid_to} on order date {ln.order_date}: {pct:+.2f}% "
                              f"(limit ±{_n(p.price_variance_pct)}%)"),
            order_date=ln.order_date, currency=ln.currency, po_unit_price=po_price, list_unit_price=list_price,
            list_valid_from=ref.valid_from, variance_pct=round(pct, 2)))
    return sorted(rows, key=lambda r: (-abs(r.variance_pct), r.line_id))


def quality_blocked(conn: Connection, scope: DataScope, p: TriageParams, *, site_id: str | None = None,
                    supplier_id: str | None = None, buyer: str | None = None) -> list[QualityBlockedRow]:
    """Lots on quality_hold or blocked received against a PO line (lots.po_id + po_line_no) that is still
    open or whose lot was received within the last ``recent_receipt_days`` days."""
    lots, pl, po = table("lots"), table("po_lines"), table("purchase_orders")
    since = datetime.combine(p.today - timedelta(days=p.recent_receipt_days), time.min)
    line_open = open_line_clause(po, pl)
    stmt = (
        select(pl.c.po_id, pl.c.line_no, po.c.site_id, po.c.supplier_id, po.c.buyer_user_id,
               po.c.status.label("po_status"), pl.c.item_id, pl.c.qty_ordered, pl.c.qty_received, pl.c.need_date,
               pl.c.promised_date, pl.c.original_promised_date, pl.c.line_status, lots.c.lot_id,
               lots.c.status.label("lot_status"), lots.c.received_at, lots.c.qty_received.label("lot_qty"))
        .select_from(lots.join(pl, and_(pl.c.po_id == lots.c.po_id, pl.c.line_no == lots.c.po_line_no))
                     .join(po, po.c.po_id == pl.c.po_id))
        .where(scope.site_clause(po.c.site_id), scope.site_clause(lots.c.site_id),
               lots.c.status.in_(("quality_hold", "blocked")), or_(line_open, lots.c.received_at >= since))
    )
    for column, value in ((po.c.site_id, site_id), (po.c.supplier_id, supplier_id), (po.c.buyer_user_id, buyer)):
        if value is not None:
            stmt = stmt.where(column == value)
    rows = []
    for r in conn.execute(stmt):
        is_open = (r.line_status == "open" and r.po_status in OPEN_PO_STATUSES and r.qty_received < r.qty_ordered)
        when = r.received_at.date() if r.received_at else "unknown date"
        rows.append(QualityBlockedRow(
            **line_fields(r, f"lot {r.lot_id} ({_n(float(r.lot_qty))} received {when}) is {r.lot_status}; line "
                       f"{'still open' if is_open else 'received'}"),
            line_open=is_open, lot_id=r.lot_id, lot_status=r.lot_status, lot_received_at=r.received_at,
            lot_qty_received=float(r.lot_qty)))
    return sorted(rows, key=lambda r: (r.lot_received_at or datetime.min, r.lot_id), reverse=True)
