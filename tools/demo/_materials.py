"""Material flow: purchased receipts sized to consumption, and FIFO issues to work orders.

Every started work order draws qty_per x (good + scrap) of each component from
lots of that item at its site, so wo_materials genealogy is complete and each
lot's on-hand stock is what was received minus what was issued.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from tools.demo._master import nice_ceil, nice_round
from tools.demo._model import Issue, Lot, Plant, WorkOrder

__all__ = ["Demand", "consume", "open_demand", "receipt_time"]


@dataclass(frozen=True)
class Demand:
    """Material a started work order used: ``qty`` of the item, needed at ``when``."""

    when: datetime
    wo: WorkOrder
    qty: float


def receipt_time(rng: random.Random, before: datetime, latest: datetime) -> datetime:
    """A weekday receiving time 1-4 days before ``before`` and not after ``latest``."""
    day = (before - timedelta(days=rng.randint(1, 4))).date()
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    moment = datetime.combine(day, time(rng.randint(8, 14), rng.choice((0, 15, 30, 45))))
    return min(moment, latest)


def open_demand(plant: Plant, item_id: str, site_id: str) -> list[tuple[datetime, float]]:
    """Remaining component needs of open work orders: (when, qty), conservative (no netting of issues)."""
    out: list[tuple[datetime, float]] = []
    for wo in plant.work_orders:
        if wo.site_id != site_id or not wo.is_open:
            continue
        left = max(0.0, wo.qty_planned - wo.qty_completed - wo.qty_scrapped)
        for bom in plant.components(wo.item_id):
            if bom.component == item_id and left > 0:
                out.append((max(wo.start, plant.as_of), round(bom.qty_per * left, 3)))
    return sorted(out)


def _greedy(plant: Plant, rng: random.Random, item_id: str, site_id: str, events: list[Demand],
            safety: float, lot_size: float) -> list[tuple[datetime, float]]:
    latest = plant.as_of - timedelta(hours=20)
    receipts: list[tuple[datetime, float]] = []
    balance = 0.0
    for event in events:
        if balance - event.qty < safety:
            need = safety + event.qty - balance
            qty = nice_ceil(max(need, lot_size))
            receipts.append((receipt_time(rng, event.when, latest), qty))
            balance += qty
        balance -= event.qty
    return receipts


def _purchase(plant: Plant, rng: random.Random, item_id: str, site_id: str, events: list[Demand],
              soon: list[Demand]) -> None:
    """Create the purchased lots that fed ``events`` and stock for orders starting ``soon``.

    Plus the scenario stock positions: the suspect film lot, the motor's P200 gap and P100 surplus.
    """
    supplier = plant.sourcing[(item_id, site_id)]
    min_qty = plant.price_at(supplier, item_id, plant.today).min_qty
    weekly = sum(e.qty for e in events) / 6.0
    latest = plant.as_of - timedelta(hours=20)
    scen = plant.scen
    suspect = item_id == scen.film_item and site_id == "P100"
    regular = [e for e in events if not (suspect and e.wo.spike)]
    safety, lot_size = 0.5 * weekly, max(min_qty, nice_round(weekly * rng.uniform(1.5, 2.5)))
    realloc = scen.planted and item_id == scen.realloc_item
    if realloc and site_id == "P200":
        safety, lot_size = 0.0, 0.0  # just in time: nothing left over at P200
    if not (realloc and site_id == "P200"):
        regular = regular + soon  # stock for the next days' orders is already in the warehouse
    receipts = _greedy(plant, rng, item_id, site_id, regular, safety, lot_size)
    for when, qty in receipts:
        plant.lots.append(Lot(item_id, site_id, when, qty, supplier_id=supplier))
    if realloc:
        upcoming = open_demand(plant, item_id, site_id)
        if site_id == "P200":
            first_need = upcoming[0][1] if upcoming else weekly
            scen.realloc_short_qty = nice_round(first_need * 0.3)
            plant.lots.append(Lot(item_id, site_id, receipt_time(rng, plant.as_of - timedelta(days=3), latest),
                                  scen.realloc_short_qty, supplier_id=supplier))
        else:
            # a bulk buy a few weeks ago: P100 holds far more than its reorder maximum
            plant.lots.append(Lot(item_id, site_id, receipt_time(rng, plant.as_of - timedelta(days=18), latest),
                                  nice_round(weekly * 10), supplier_id=supplier))
    spike = [e for e in events if suspect and e.wo.spike]
    if spike:
        week = [q for when, q in open_demand(plant, item_id, site_id) if when < plant.as_of + timedelta(days=7)]
        qty = nice_round((sum(e.qty for e in spike) + sum(week)) * 1.3)
        lot = Lot(item_id, site_id, receipt_time(rng, spike[0].when, latest), qty, supplier_id=supplier)
        plant.lots.append(lot)
        scen.spike_lot = lot


def _issue(plant: Plant, lots: list[Lot], event: Demand, item_id: str) -> float:
    """Issue FIFO from lots received by the demand time, then from later receipts; returns the shortfall."""
    spike_lot = plant.scen.spike_lot
    if event.wo.spike and item_id == plant.scen.film_item:
        allowed = [spike_lot] if spike_lot is not None else []
    else:
        allowed = [lot for lot in lots if lot is not spike_lot]
    left = round(event.qty, 3)
    early = [lot for lot in allowed if lot.received_at <= event.when]
    late = [lot for lot in allowed if lot.received_at > event.when]
    for lot in early + late:
        if left <= 0:
            break
        take = round(min(lot.remaining, left), 3)
        if take <= 0:
            continue
        lot.issued = round(lot.issued + take, 3)
        left = round(left - take, 3)
        plant.issues.append(Issue(event.wo, lot, take))
    return max(0.0, left)


def consume(plant: Plant) -> list[str]:
    """Buy what the started orders used and issue it FIFO; returns any shortfalls (should be none)."""
    rng = plant.rng("materials")
    events: dict[tuple[str, str], list[Demand]] = {}
    for wo in sorted(plant.work_orders, key=lambda w: (w.start, w.wo_id)):
        produced = wo.qty_completed + wo.qty_scrapped
        if produced <= 0:
            continue
        for bom in plant.components(wo.item_id):
            qty = round(bom.qty_per * produced, 3)
            events.setdefault((bom.component, wo.site_id), []).append(Demand(wo.start, wo, qty))
    soon: dict[tuple[str, str], list[Demand]] = {}
    horizon = plant.as_of + timedelta(days=3)
    for wo in sorted(plant.work_orders, key=lambda w: (w.start, w.wo_id)):
        left = wo.qty_planned - wo.qty_completed - wo.qty_scrapped
        if wo.is_open and wo.start < horizon and left > 0:
            for bom in plant.components(wo.item_id):
                when = max(wo.start, plant.as_of)
                soon.setdefault((bom.component, wo.site_id), []).append(Demand(when, wo, round(bom.qty_per * left, 3)))
    for key in soon:
        events.setdefault(key, [])
    for (item_id, site_id), demand in events.items():
        if plant.items[item_id].purchased:
            _purchase(plant, rng, item_id, site_id, demand, soon.get((item_id, site_id), []))
    by_key: dict[tuple[str, str], list[Lot]] = {}
    for lot in sorted(plant.lots, key=lambda lot: lot.received_at):
        by_key.setdefault((lot.item_id, lot.site_id), []).append(lot)
    shortfalls: list[str] = []
    for (item_id, site_id), demand in events.items():
        lots = by_key.get((item_id, site_id), [])
        for event in demand:
            short = _issue(plant, lots, event, item_id)
            if short > 0:
                shortfalls.append(f"{event.wo.wo_id} short {short} of {item_id}")
    return shortfalls
