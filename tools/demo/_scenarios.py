"""The planted scenarios' set-up hooks and their manifest entries.

Most of each scenario is woven into the regular generation (the film lot in
materials, the drift in the MES, the motor positions in materials and stock);
this module holds the choices made up front, the reconciliation gaps and the
manifest description of everything planted.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tools.demo._master import nice_round
from tools.demo._materials import REALLOC_HORIZON_DAYS, line_need, projected_shortage
from tools.demo._model import Plant, POLine, WorkOrder
from tools.demo.errors import PlantGenerationError

__all__ = ["choose", "exception_manifest", "plant_hold", "plant_wo_gap", "realloc_figures", "scenario_manifest"]


def choose(plant: Plant) -> None:
    """Pick the machines the scenarios live on (after master data exists)."""
    pk1 = plant.line("P100-PK1")
    plant.scen.sealer_id = next(m.machine_id for m in pk1.machines if m.mtype == "Heat Sealer")


def plant_wo_gap(plant: Plant) -> None:
    """A recent P200 kitting order whose goods receipt is short of its MES completions."""
    if not plant.scen.planted:
        return
    since = plant.as_of - timedelta(days=21)
    candidates = [(wo, lot) for wo in plant.work_orders if wo.line_id == "P200-PK1" and wo.status == "completed"
                  and (lot := wo.output_lot) is not None and wo.end >= since]
    wo, lot = candidates[len(candidates) // 2]
    lot.qty_received = wo.qty_completed - nice_round(max(5.0, wo.qty_completed * 0.04))
    plant.scen.wo_gap = wo


def plant_hold(plant: Plant) -> None:
    """Put a reserved P100 finished lot on quality hold without moving its stock out of unrestricted."""
    if not plant.scen.planted:
        return
    best = None
    for lot in plant.lots:
        if lot.site_id != "P100" or lot.wo is None or lot.status != "available":
            continue
        for placement in lot.placements:
            if placement.reserved_for and placement.stock_status == "unrestricted" and (
                    best is None or (lot.received_at, lot.item_id) > (best[0].received_at, best[0].item_id)):
                best = (lot, placement)
    if best is None:
        raise RuntimeError("demo plant: no reserved P100 finished lot to plant the reconciliation scenario on")
    lot, placement = best
    lot.status = "quality_hold"
    plant.scen.hold_lot = lot
    plant.scen.hold_so = placement.reserved_for or ""


def _free(plant: Plant, item_id: str, site_id: str) -> float:
    """Free stock: on hand − reserved over unrestricted rows of available lots (what ERP offers to move)."""
    return round(sum(p.qty_on_hand - p.qty_reserved for lot in plant.lots
                     if (lot.item_id, lot.site_id, lot.status) == (item_id, site_id, "available")
                     for p in lot.placements if p.stock_status == "unrestricted"), 3)


def _nice_floor(value: float) -> float:
    """``value`` rounded down to the step :func:`nice_round` would use (a quantity a planner would type)."""
    step = 1 if value <= 100 else 10 if value <= 1000 else 50 if value <= 10000 else 100
    return float(int(value // step) * step)


def realloc_figures(plant: Plant) -> dict[str, Any]:
    """The reallocation scenario's figures: P100's free stock and P100-AS1's need within the horizon, the
    margin between them, P200's projected shortage, a move that the line guard refuses and one it lets go."""
    item_id = plant.scen.realloc_item
    wos, need = line_need(plant, item_id, "P100")
    free = _free(plant, item_id, "P100")
    short = projected_shortage(plant, item_id, "P200", _free(plant, item_id, "P200"))
    margin = round(free - need, 3)
    return {"horizon_days": REALLOC_HORIZON_DAYS, "free_qty": free, "line_need_qty": need,
            "line_work_order_ids": [wo.wo_id for wo in wos], "margin_qty": margin, "short_qty": short,
            "blocked_qty": short, "allowed_qty": _nice_floor(margin)}


def scenario_manifest(plant: Plant) -> dict[str, Any]:
    """The manifest's ``scenarios`` object (record ids only, ready for JSON); empty when nothing was planted."""
    scen = plant.scen
    if not scen.planted:
        return {}
    spike, held, gap_wo, gap_po = scen.spike_lot, scen.hold_lot, scen.wo_gap, scen.po_gap
    gap_lot = gap_wo.output_lot if gap_wo is not None else None
    if spike is None or held is None or gap_wo is None or gap_lot is None or gap_po is None:
        planted = {"the scrap-spike lot": spike, "the held lot": held, "the short work order and its lot": gap_lot,
                   "the short PO line": gap_po}
        missing = [name for name, value in planted.items() if value is None]
        raise PlantGenerationError(plant.seed, [f"scenario not planted: {name}" for name in missing])
    spike_wos = sorted({i.wo.wo_id for i in plant.issues if i.lot is spike and i.wo.spike})
    wo_line = plant.line(scen.asset_line)
    return {
        "scrap_spike": {
            "site_id": "P100", "line_id": "P100-PK1", "lot_id": spike.lot_id,
            "supplier_id": scen.film_supplier, "item_id": scen.film_item, "machine_id": scen.sealer_id,
            "parameter": "seal_temperature", "work_order_ids": spike_wos,
        },
        "asset_risk": {
            "asset_id": scen.asset_id, "machine_id": scen.asset_machine, "line_id": wo_line.line_id,
            "work_order_id": scen.asset_wo.wo_id if scen.asset_wo else None, "spare_item_id": scen.spare_item,
            "failure_probability": scen.failure_probability,
        },
        "reallocation": {
            "item_id": scen.realloc_item, "short_site": "P200", "surplus_site": "P100",
            "constrained_line_id": "P100-AS1", **realloc_figures(plant),
        },
        "reconciliation": {
            "lot_id": held.lot_id, "so_id": scen.hold_so,
            "disagreements": [
                {"kind": "hold_vs_stock_status", "record_ids": [held.lot_id, scen.hold_so]},
                {"kind": "wo_completion_vs_receipt", "record_ids": [gap_wo.wo_id, gap_lot.lot_id]},
                {"kind": "po_receipt_vs_lot", "record_ids": [gap_po.record_id] + [lot.lot_id for lot in gap_po.lots]},
            ],
        },
    }


def exception_manifest(plant: Plant) -> list[dict[str, Any]]:
    """The manifest's ``exceptions`` list: the buyer-triage and planner exceptions planted beside the scenarios
    (forgotten items, expedites, past-due lines, cancelled and held work orders, assets whose predictive
    order nobody scheduled), each with its site, record ids
    and items — what a monitor finding caused by them (a late PO, a projected shortage) can be matched with.

    Describing them changes no row: the same seed gives the same plant with or without this list.
    """
    out: list[dict[str, Any]] = []
    for kind, site_id, subject in plant.scen.exceptions:
        if isinstance(subject, WorkOrder):
            record_ids, item_id = [subject.wo_id], subject.item_id
        elif isinstance(subject, POLine):
            record_ids, item_id = [subject.record_id], subject.item_id
        elif isinstance(subject, dict):
            out.append({"kind": kind, "site_id": site_id, **subject})
            continue
        else:
            record_ids, item_id = [], str(subject)
        out.append({"kind": kind, "site_id": site_id, "record_ids": record_ids, "item_ids": [item_id]})
    return out
