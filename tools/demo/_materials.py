"""Material flow: purchased receipts sized to consumption, and FIFO issues to work orders.

Every started work order draws qty_per x (good + scrap) of each component from
lots of that item at its site, so wo_materials genealogy is complete and each
lot's on-hand stock is what was received minus what was issued.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from tools.demo._master import nice_ceil, nice_round
from tools.demo._model import Issue, Lot, Plant, WorkOrder
from tools.demo.errors import PlantGenerationError

__all__ = ["REALLOC_HORIZON_DAYS", "Demand", "consume", "line_need", "open_demand", "projected_shortage",
           "receipt_time"]

REALLOC_HORIZON_DAYS = 14
"""The reallocation scenario's horizon: the line guard's (work orders starting within it) and the stock
detector's (projection to today + 14 days) default."""
_MARGIN_SHARE = 0.5
"""P100's free motors beyond P100-AS1's need, as a share of P200's shortage (so moving it all is refused)."""


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


def line_need(plant: Plant, item_id: str, site_id: str) -> tuple[list[WorkOrder], float]:
    """The open orders of the site's lines starting within the horizon that still need the item, and that need.

    The line guard's rule: bom qty_per × qty_planned − issued (issues are qty_per × good + scrap).
    """
    until = plant.as_of + timedelta(days=REALLOC_HORIZON_DAYS)
    wos, total = [], 0.0
    for wo in sorted(plant.work_orders, key=lambda w: (w.start, w.wo_id)):
        if wo.site_id != site_id or not wo.is_open or wo.start >= until:
            continue
        need = sum(b.qty_per * max(0.0, wo.qty_planned - wo.qty_completed - wo.qty_scrapped)
                   for b in plant.components(wo.item_id) if b.component == item_id)
        if need > 0:
            wos.append(wo)
            total += need
    return wos, round(total, 3)


def projected_shortage(plant: Plant, item_id: str, site_id: str, stock: float) -> float:
    """The deepest the projected stock (from ``stock``) goes below zero up to today + the horizon (0 if never).

    The stock projection's rules: open PO lines arrive on their promised date, open orders draw their
    remaining component need on their start day (earlier ones today), supply before demand within a day.
    """
    end = plant.today + timedelta(days=REALLOC_HORIZON_DAYS)
    moves: dict[date, float] = {}
    for when, qty in open_demand(plant, item_id, site_id):
        day = max(when.date(), plant.today)
        moves[day] = moves.get(day, 0.0) - qty
    for ln in plant.po_lines:
        if (ln.item_id, ln.site_id, ln.line_status) == (item_id, site_id, "open") and ln.kind != "draft":
            day = max(ln.promised_date or ln.need_date, plant.today)
            moves[day] = moves.get(day, 0.0) + max(0.0, ln.qty_ordered - ln.qty_received)
    balance = lowest = stock
    for day in sorted(d for d in moves if d <= end):
        balance += moves[day]
        lowest = min(lowest, balance)
    return round(max(0.0, -lowest), 3)


def _position_realloc(plant: Plant, events: dict[tuple[str, str], list[Demand]]) -> None:
    """Size P100's motors: P100-AS1's need within the horizon plus a margin below P200's shortage.

    ERP shows all of it free (and above P100's reorder maximum), but MES schedules most of it on
    P100-AS1's next orders: moving P200's whole shortage from P100 would starve the line. The planted
    P100 delivery is sized to that position; it only adds to what the regular deliveries leave, so every
    issue stays covered. When those already leave too much (other seeds), the planted delivery is
    dropped and the last deliveries are cut back instead (dropped when under the supplier's minimum);
    the stock after the last delivery only falls to the final position, so issues stay covered.
    """
    scen = plant.scen
    item_id = scen.realloc_item

    def left(site_id: str) -> float:  # stock once the started orders' issues are booked
        received = sum(lot.qty_received for lot in plant.lots if (lot.item_id, lot.site_id) == (item_id, site_id))
        return received - sum(e.qty for e in events.get((item_id, site_id), []))

    short = projected_shortage(plant, item_id, "P200", left("P200"))
    _, need = line_need(plant, item_id, "P100")
    target = need + short * _MARGIN_SHARE
    min_qty = plant.price_at(plant.sourcing[(item_id, "P100")], item_id, plant.today).min_qty
    planted = scen.realloc_lot
    lots = [planted] if planted is not None else []
    if planted is not None and planted.qty_received + target - left("P100") < min_qty:
        plant.lots.remove(planted)
        scen.realloc_lot = None
        lots = sorted((lot for lot in plant.lots if (lot.item_id, lot.site_id) == (item_id, "P100")),
                      key=lambda lot: lot.received_at)
    while lots and short > 0:
        last = lots.pop()
        qty = last.qty_received + target - left("P100")
        if qty >= min_qty:
            last.qty_received = nice_ceil(qty)
            scen.realloc_margin = round(left("P100") - need, 3)
            return
        plant.lots.remove(last)
    raise PlantGenerationError(plant.seed, [f"reallocation scenario not plantable: P200 short {short:g}, "
                                            f"P100-AS1 needs {need:g}, P100 holds {left('P100'):g}"])


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

    Plus the scenario stock positions: the suspect film lot, the motor's P200 gap and P100's delivery
    (sized once every site is bought for, :func:`_position_realloc`).
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
            # a delivery a few weeks ago, sized once P200's shortage is known (_position_realloc)
            scen.realloc_lot = Lot(item_id, site_id, receipt_time(rng, plant.as_of - timedelta(days=18), latest),
                                   nice_round(weekly * 10), supplier_id=supplier)
            plant.lots.append(scen.realloc_lot)
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
    if plant.scen.planted:
        _position_realloc(plant, events)
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
