"""Self-checks of the generated plant before it is written.

The consistency rules of the shared semantics must hold for every row that is
not planted; a violation is a generator bug for that seed and stops the build.
"""

from __future__ import annotations

from datetime import timedelta

from tools.demo._model import Plant
from tools.demo._production import spike_start
from tools.demo._scenarios import realloc_figures

__all__ = ["check_plant"]


def _ledger(plant: Plant) -> list[str]:
    problems: list[str] = []
    scen = plant.scen
    produced: dict[int, float] = {}
    for lot in plant.lots:
        if lot.remaining < 0:
            problems.append(f"{lot.lot_id} has negative stock {lot.remaining}")
        placed = round(sum(p.qty_on_hand for p in lot.placements), 3)
        if abs(placed - max(lot.remaining, 0.0)) > 1e-6:
            problems.append(f"{lot.lot_id} placed {placed} but holds {lot.remaining}")
        if lot.status == "consumed" and lot.placements:
            problems.append(f"{lot.lot_id} is consumed but has stock")
        if lot.status in ("quality_hold", "blocked") and lot is not scen.hold_lot and any(
                p.stock_status == "unrestricted" and p.qty_on_hand > 0 for p in lot.placements):
            problems.append(f"{lot.lot_id} is {lot.status} but unrestricted")
        if lot.wo is not None:
            produced[id(lot.wo)] = produced.get(id(lot.wo), 0.0) + lot.qty_received
    for wo in plant.work_orders:
        if wo is scen.wo_gap:
            continue
        if abs(wo.qty_completed - produced.get(id(wo), 0.0)) > 1e-6:
            problems.append(f"{wo.wo_id} completed {wo.qty_completed} but lots hold {produced.get(id(wo), 0.0)}")
    for line in plant.po_lines:
        if line is scen.po_gap:
            continue
        if line.received_override is not None or line.qty_received > line.qty_ordered + 1e-6:
            problems.append(f"PO line {line.record_id} receipts inconsistent")
        if line.line_status == "cancelled" and line.lots:
            problems.append(f"cancelled PO line {line.record_id} has receipts")
    return problems


def _scenarios(plant: Plant) -> list[str]:
    problems: list[str] = []
    scen = plant.scen
    if not scen.planted:
        return problems
    start = spike_start(plant.today)
    window = [(wo, q) for wo in plant.work_orders if wo.line_id == "P100-PK1"
              for d in wo.days if d.at >= start for _, q in d.scrap]
    total = sum(q for _, q in window)
    on_lot = sum(q for wo, q in window if wo.spike)
    if total == 0 or on_lot / total < 0.7:
        problems.append(f"scrap spike concentration {on_lot}/{total} below 70 %")
    if scen.spike_lot is None or scen.spike_lot.remaining <= 0 or scen.spike_lot.status != "available":
        problems.append("suspect film lot has no available stock left")
    upcoming = [wo for wo in plant.work_orders if wo.line_id == "P100-PK1" and wo.is_open
                and wo.start <= plant.as_of + timedelta(days=5)]
    if not upcoming:
        problems.append("no open P100-PK1 order in the next days")
    wo = scen.asset_wo
    if wo is None or wo.start > plant.as_of + timedelta(days=3):
        problems.append("asset-risk line has no released order within 3 days")
    return problems + _realloc(plant)


def _realloc(plant: Plant) -> list[str]:
    """Moving P200's shortage from P100 must starve P100-AS1; a move within the margin must not."""
    fig = realloc_figures(plant)
    if not 0 < fig["allowed_qty"] <= fig["margin_qty"] < fig["short_qty"] == fig["blocked_qty"]:
        return [f"reallocation scenario figures do not block the move: {fig}"]
    maximum = next((r["max_qty"] for r in plant.rows["reorder_points"]
                    if (r["item_id"], r["site_id"]) == (plant.scen.realloc_item, "P100")), None)
    if maximum is None or fig["free_qty"] <= maximum:
        return [f"P100's free {fig['free_qty']:g} of the reallocation motor is not above its reorder maximum"]
    return []


def check_plant(plant: Plant, shortfalls: list[str]) -> list[str]:
    """Every broken rule, as readable messages (empty when the plant is consistent)."""
    return list(shortfalls) + _ledger(plant) + _scenarios(plant)
