"""ERP vs MES reconciliation: three rules that detect records disagreeing with each other.

- ``hold_vs_stock_status``: a lot on quality hold or blocked, yet an inventory row of it with stock on
  hand is unrestricted (usable).
- ``wo_completion_vs_receipt``: a completed or running work order whose completed quantity differs from
  the quantity received into the lots it produced.
- ``po_receipt_vs_lot``: a PO line whose received quantity differs from the quantity received into the
  lots booked against it.

Only rows in scope are compared, so a caller never learns about another site's records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, and_, func, select

from tools.plant.schema import table
from tools.scope import DataScope

__all__ = ["HELD_LOT_STATUSES", "Disagreement", "DisagreementKind", "find_disagreements", "hold_vs_stock_status"]

DisagreementKind = Literal["hold_vs_stock_status", "wo_completion_vs_receipt", "po_receipt_vs_lot"]

HELD_LOT_STATUSES = ("quality_hold", "blocked")
"""Lot (MES) statuses under which none of the lot's stock may be used."""

# Quantities are floats; differences below this are rounding, not disagreement.
_TOLERANCE = 1e-6


class Disagreement(BaseModel):
    """Two systems' records that contradict each other."""

    kind: DisagreementKind
    site_id: str
    description: str
    record_ids: list[str] = Field(description="The records that disagree (first the one the rule is about).")


def hold_vs_stock_status(conn: Connection, scope: DataScope, sites: Collection[str] | None = None, *,
                         lot_ids: Collection[str] | None = None) -> list[Disagreement]:
    """The ``hold_vs_stock_status`` rule over in-scope lots of ``sites`` (None = every site in scope),
    narrowed to ``lot_ids`` when given: a held or blocked lot with unrestricted stock on hand (qty > 0)."""
    lots, inv = table("lots"), table("inventory")
    stmt = (select(lots.c.lot_id, lots.c.site_id, lots.c.status, inv.c.location, inv.c.qty_on_hand,
                   inv.c.reserved_for)
            .join(inv, inv.c.lot_id == lots.c.lot_id)
            .where(scope.site_clause(lots.c.site_id), scope.site_clause(inv.c.site_id),
                   lots.c.status.in_(HELD_LOT_STATUSES), inv.c.stock_status == "unrestricted",
                   inv.c.qty_on_hand > 0)
            .order_by(lots.c.lot_id, inv.c.location))
    if sites is not None:
        stmt = stmt.where(lots.c.site_id.in_(sorted(sites)))
    if lot_ids is not None:
        stmt = stmt.where(lots.c.lot_id.in_(sorted(lot_ids)))
    found: dict[tuple[str, str, str], list[tuple[str, float, str | None]]] = defaultdict(list)
    for r in conn.execute(stmt):
        found[(r.lot_id, r.site_id, r.status)].append((r.location, float(r.qty_on_hand), r.reserved_for))
    out = []
    for (lot, site, status), rows in found.items():
        # Usable stock of a held lot already reserved for a customer order is the exposure worth naming.
        orders = sorted({so for _, _, so in rows if so})
        pegged = f" It is reserved for {', '.join(orders)}." if orders else ""
        out.append(Disagreement(
            kind="hold_vs_stock_status", site_id=site,
            description=(f"Lot {lot} is '{status}' in the lot record but {sum(q for _, q, _ in rows):g} on hand is "
                         f"unrestricted stock at {', '.join(loc for loc, _, _ in rows)}.{pegged}"),
            record_ids=[lot, *orders]))
    return out


def _wo_receipts(conn: Connection, scope: DataScope, sites: Collection[str]) -> list[Disagreement]:
    wo, lots = table("work_orders"), table("lots")
    received = (select(lots.c.wo_id, func.sum(lots.c.qty_received).label("qty"))
                .where(scope.site_clause(lots.c.site_id), lots.c.wo_id.is_not(None))
                .group_by(lots.c.wo_id).subquery())
    qty = func.coalesce(received.c.qty, 0.0)
    stmt = (select(wo.c.wo_id, wo.c.site_id, wo.c.status, wo.c.qty_completed, qty.label("received"))
            .outerjoin(received, received.c.wo_id == wo.c.wo_id)
            .where(scope.site_clause(wo.c.site_id), wo.c.site_id.in_(sorted(sites)),
                   wo.c.status.in_(("completed", "running")), func.abs(wo.c.qty_completed - qty) > _TOLERANCE)
            .order_by(wo.c.wo_id))
    rows = list(conn.execute(stmt))
    lot_ids: dict[str, list[str]] = defaultdict(list)
    for r in conn.execute(select(lots.c.wo_id, lots.c.lot_id)
                          .where(scope.site_clause(lots.c.site_id), lots.c.wo_id.in_([r.wo_id for r in rows]))
                          .order_by(lots.c.lot_id)):
        lot_ids[r.wo_id].append(r.lot_id)
    return [Disagreement(
        kind="wo_completion_vs_receipt", site_id=r.site_id,
        description=(f"Work order {r.wo_id} ({r.status}) reports {r.qty_completed:g} completed but its output "
                     f"lots received {r.received:g}."),
        record_ids=[r.wo_id, *lot_ids[r.wo_id]]) for r in rows]


def _po_receipts(conn: Connection, scope: DataScope, sites: Collection[str]) -> list[Disagreement]:
    po, pl, lots = table("purchase_orders"), table("po_lines"), table("lots")
    received = (select(lots.c.po_id, lots.c.po_line_no, func.sum(lots.c.qty_received).label("qty"))
                .where(scope.site_clause(lots.c.site_id), lots.c.po_id.is_not(None),
                       lots.c.po_line_no.is_not(None))
                .group_by(lots.c.po_id, lots.c.po_line_no).subquery())
    qty = func.coalesce(received.c.qty, 0.0)
    stmt = (select(pl.c.po_id, pl.c.line_no, po.c.site_id, pl.c.qty_received, qty.label("in_lots"))
            .join(po, po.c.po_id == pl.c.po_id)
            .outerjoin(received, and_(received.c.po_id == pl.c.po_id, received.c.po_line_no == pl.c.line_no))
            .where(scope.site_clause(po.c.site_id), po.c.site_id.in_(sorted(sites)),
                   func.abs(pl.c.qty_received - qty) > _TOLERANCE)
            .order_by(pl.c.po_id, pl.c.line_no))
    rows = list(conn.execute(stmt))
    lot_ids: dict[tuple[str, int], list[str]] = defaultdict(list)
    for r in conn.execute(select(lots.c.po_id, lots.c.po_line_no, lots.c.lot_id)
                          .where(scope.site_clause(lots.c.site_id), lots.c.po_id.in_([r.po_id for r in rows]))
                          .order_by(lots.c.lot_id)):
        lot_ids[(r.po_id, r.po_line_no)].append(r.lot_id)
    return [Disagreement(
        kind="po_receipt_vs_lot", site_id=r.site_id,
        description=(f"PO line {r.po_id}/{r.line_no} shows {r.qty_received:g} received but the lots booked "
                     f"against it hold {r.in_lots:g} received."),
        record_ids=[f"{r.po_id}/{r.line_no}", *lot_ids[(r.po_id, r.line_no)]]) for r in rows]


def find_disagreements(conn: Connection, scope: DataScope, sites: Collection[str]) -> list[Disagreement]:
    """Every disagreement the three rules find among in-scope records of ``sites``."""
    return [*hold_vs_stock_status(conn, scope, sites), *_wo_receipts(conn, scope, sites),
            *_po_receipts(conn, scope, sites)]
