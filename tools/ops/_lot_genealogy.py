"""The lot genealogy tool of the quality domain (exposed through :mod:`tools.ops.quality`).

Where a lot came from (supplier and PO line, or the producing work order and the input
lots it consumed) and where it went (work orders that consumed it, the lots they
produced, the sales orders reserved on those lots), a few levels deep. Lots, work
orders and sales orders outside the scope are never selected, so a trail crossing
into another site simply stops at the boundary.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from tools.ops.common import require_ids
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec

__all__ = [
    "GENEALOGY_TOOLS",
    "GenealogyLot",
    "GenealogyWorkOrder",
    "LotGenealogyArgs",
    "LotGenealogyResult",
    "LotReservation",
    "lot_genealogy",
]


class LotGenealogyArgs(ToolArgs):
    """Which lot to trace and how far."""

    lot_id: str = Field(description="Lot to trace, e.g. LOT-P100-0423.")
    depth: int = Field(2, ge=1, le=5, description="Work-order hops to follow in each direction.")


class GenealogyLot(BaseModel):
    """A lot in the trail and where it came from."""

    lot_id: str
    item_id: str
    site_id: str
    status: str
    qty_received: float = Field(description="Quantity received (purchased) or produced into the lot.")
    origin: Literal["purchased", "produced", "unknown"]
    supplier_id: str | None
    supplier_name: str | None
    po_line_id: str | None = Field(description="PO line it was received against, e.g. PO-24017/2.")
    producing_wo_id: str | None
    depth: int = Field(description="Work-order hops from the traced lot (0 = the lot itself).")


class GenealogyWorkOrder(BaseModel):
    """A work order in the trail with the lots it consumed and produced."""

    wo_id: str
    site_id: str
    line_id: str
    item_id: str
    status: str
    so_id: str | None = Field(description="Sales order the WO was made for, if any.")
    consumed_lot_ids: list[str]
    produced_lot_ids: list[str]
    depth: int


class LotReservation(BaseModel):
    """Stock of a traced lot reserved for a sales order."""

    so_id: str
    lot_id: str
    qty_reserved: float
    customer: str
    due_date: date
    so_status: str


class LotGenealogyResult(ToolResult):
    """The traced lot, its sources (upstream) and its uses (downstream)."""

    lot: GenealogyLot
    depth: int
    upstream_work_orders: list[GenealogyWorkOrder] = Field(description="WOs that produced the lot and its "
                                                                       "ancestors.")
    upstream_lots: list[GenealogyLot] = Field(description="Input lots consumed to make the lot, by depth.")
    downstream_work_orders: list[GenealogyWorkOrder] = Field(description="WOs that consumed the lot or its "
                                                                         "descendants.")
    downstream_lots: list[GenealogyLot] = Field(description="Lots produced from the lot, by depth.")
    reservations: list[LotReservation] = Field(description="Sales orders reserved on the lot or its "
                                                           "downstream lots.")


def _lots(conn: Connection, scope: DataScope, ids: Collection[str], depth: int) -> list[GenealogyLot]:
    lots, sup = table("lots"), table("suppliers")
    stmt = (select(lots, sup.c.name.label("supplier_name"))
            .outerjoin(sup, sup.c.supplier_id == lots.c.supplier_id)
            .where(scope.site_clause(lots.c.site_id), lots.c.lot_id.in_(sorted(ids))).order_by(lots.c.lot_id))
    out = []
    for r in conn.execute(stmt):
        origin: Literal["purchased", "produced", "unknown"] = (
            "produced" if r.wo_id else "purchased" if r.po_id or r.supplier_id else "unknown")
        out.append(GenealogyLot(
            lot_id=r.lot_id, item_id=r.item_id, site_id=r.site_id, status=r.status,
            qty_received=r.qty_received, origin=origin, supplier_id=r.supplier_id,
            supplier_name=r.supplier_name, producing_wo_id=r.wo_id, depth=depth,
            po_line_id=f"{r.po_id}/{r.po_line_no}" if r.po_id and r.po_line_no is not None else r.po_id))
    return out


def _edges(conn: Connection, scope: DataScope, *, wo_ids: Collection[str] = (),
           lot_ids: Collection[str] = ()) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(wo, lot) consumption edges and (wo, lot) production edges touching ``wo_ids`` or ``lot_ids``."""
    wm, lots, wo = table("wo_materials"), table("lots"), table("work_orders")
    consumed = (select(wm.c.wo_id, wm.c.lot_id).join(wo, wo.c.wo_id == wm.c.wo_id)
                .join(lots, lots.c.lot_id == wm.c.lot_id)
                .where(scope.site_clause(wo.c.site_id), scope.site_clause(lots.c.site_id),
                       wm.c.wo_id.in_(sorted(wo_ids)) | wm.c.lot_id.in_(sorted(lot_ids)))
                .order_by(wm.c.wo_id, wm.c.lot_id))
    produced = (select(lots.c.wo_id, lots.c.lot_id).join(wo, wo.c.wo_id == lots.c.wo_id)
                .where(scope.site_clause(wo.c.site_id), scope.site_clause(lots.c.site_id),
                       lots.c.wo_id.in_(sorted(wo_ids)) | lots.c.lot_id.in_(sorted(lot_ids)))
                .order_by(lots.c.wo_id, lots.c.lot_id))
    return ([(r.wo_id, r.lot_id) for r in conn.execute(consumed)],
            [(r.wo_id, r.lot_id) for r in conn.execute(produced)])


def _work_orders(conn: Connection, scope: DataScope, depth_of: dict[str, int]) -> list[GenealogyWorkOrder]:
    wo = table("work_orders")
    consumed, produced = _edges(conn, scope, wo_ids=depth_of)
    ins: dict[str, list[str]] = defaultdict(list)
    outs: dict[str, list[str]] = defaultdict(list)
    for w, lot in consumed:
        ins[w].append(lot)
    for w, lot in produced:
        outs[w].append(lot)
    rows = conn.execute(select(wo).where(scope.site_clause(wo.c.site_id), wo.c.wo_id.in_(sorted(depth_of))))
    out = [GenealogyWorkOrder(wo_id=r.wo_id, site_id=r.site_id, line_id=r.line_id, item_id=r.item_id,
                              status=r.status, so_id=r.so_id, consumed_lot_ids=ins[r.wo_id],
                              produced_lot_ids=outs[r.wo_id], depth=depth_of[r.wo_id]) for r in rows]
    return sorted(out, key=lambda w: (w.depth, w.wo_id))


def _trace(conn: Connection, scope: DataScope, root: str, depth: int,
           upstream: bool) -> tuple[dict[str, int], dict[str, int]]:
    """Breadth-first walk from ``root``: work-order and lot depths in one direction."""
    wo_depth: dict[str, int] = {}
    lot_depth: dict[str, int] = {root: 0}
    frontier = {root}
    for level in range(1, depth + 1):
        consumed, produced = _edges(conn, scope, lot_ids=frontier)
        # Upstream: the WO that produced a frontier lot, then the lots it consumed; downstream the reverse.
        step_wos = {w for w, lot in (produced if upstream else consumed) if lot in frontier} - set(wo_depth)
        if not step_wos:
            break
        for w in step_wos:
            wo_depth[w] = level
        consumed, produced = _edges(conn, scope, wo_ids=step_wos)
        frontier = {lot for w, lot in (consumed if upstream else produced) if w in step_wos} - set(lot_depth)
        for lot in frontier:
            lot_depth[lot] = level
    del lot_depth[root]
    return wo_depth, lot_depth


def _reservations(conn: Connection, scope: DataScope, lot_ids: Collection[str]) -> list[LotReservation]:
    inv, so = table("inventory"), table("sales_orders")
    stmt = (select(inv.c.reserved_for, inv.c.lot_id, inv.c.qty_reserved, so.c.customer, so.c.due_date,
                   so.c.status)
            .join(so, so.c.so_id == inv.c.reserved_for)
            .where(scope.site_clause(inv.c.site_id), scope.site_clause(so.c.site_id),
                   inv.c.lot_id.in_(sorted(lot_ids)), inv.c.qty_reserved > 0)
            .order_by(inv.c.reserved_for, inv.c.lot_id))
    return [LotReservation(so_id=r.reserved_for, lot_id=r.lot_id, qty_reserved=r.qty_reserved,
                           customer=r.customer, due_date=r.due_date, so_status=r.status)
            for r in conn.execute(stmt)]


def _by_depth(conn: Connection, scope: DataScope, depth_of: dict[str, int]) -> list[GenealogyLot]:
    out = [lot for d in sorted(set(depth_of.values()))
           for lot in _lots(conn, scope, [i for i, v in depth_of.items() if v == d], d)]
    return out


def lot_genealogy(ctx: ToolContext, args: LotGenealogyArgs) -> LotGenealogyResult:
    """Trace a lot upstream (sources) and downstream (uses and reservations)."""
    lots = table("lots")
    with ctx.engine.connect() as conn:
        require_ids(conn, "lot", lots.c.lot_id, [args.lot_id], ctx.scope.site_clause(lots.c.site_id))
        root = _lots(conn, ctx.scope, [args.lot_id], 0)[0]
        up_wos, up_lots = _trace(conn, ctx.scope, args.lot_id, args.depth, upstream=True)
        down_wos, down_lots = _trace(conn, ctx.scope, args.lot_id, args.depth, upstream=False)
        upstream_lots = _by_depth(conn, ctx.scope, up_lots)
        downstream_lots = _by_depth(conn, ctx.scope, down_lots)
        upstream_wos = _work_orders(conn, ctx.scope, up_wos)
        downstream_wos = _work_orders(conn, ctx.scope, down_wos)
        reservations = _reservations(conn, ctx.scope, [args.lot_id, *down_lots])
    ids = [root.lot_id, *(x.po_line_id for x in [root, *upstream_lots] if x.po_line_id),
           *(x.supplier_id for x in [root, *upstream_lots] if x.supplier_id),
           *(w.wo_id for w in upstream_wos), *(x.lot_id for x in upstream_lots),
           *(w.wo_id for w in downstream_wos), *(x.lot_id for x in downstream_lots),
           *(r.so_id for r in reservations)]
    return LotGenealogyResult(
        as_of=ctx.as_of, record_ids=list(dict.fromkeys(ids)), lot=root, depth=args.depth,
        upstream_work_orders=upstream_wos, upstream_lots=upstream_lots,
        downstream_work_orders=downstream_wos, downstream_lots=downstream_lots, reservations=reservations)


GENEALOGY_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="lot_genealogy",
        description=(
            "Trace a lot's genealogy: where it came from (supplier and PO line for a purchased lot; for a "
            "produced lot the producing work order and the input lots it consumed) and where it was used "
            "(work orders that consumed it, the lots those produced, and sales orders with stock reserved on "
            "them), following up to `depth` work-order hops each way (default 2). Use it for containment, "
            "recalls and 'which customers got material made from lot X'."),
        domain="quality", args_model=LotGenealogyArgs, result_model=LotGenealogyResult, fn=lot_genealogy,
    ),
)
