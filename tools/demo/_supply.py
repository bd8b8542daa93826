"""Purchase order lines: receipts history, open supply for the plan and the buyer's exceptions.

Every purchased lot is received against a PO line (qty_received = the sum of
its lots). Open lines cover the open work orders' needs; a handful per site are
then bent into each triage category a buyer works through (past due, expedite,
reschedule out, slips, price variances, quality-blocked receipts, cancel
candidates, drafts, cancellations).
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from tools.demo._master import money, nice_ceil, nice_round
from tools.demo._materials import REALLOC_HORIZON_DAYS, receipt_time
from tools.demo._model import Lot, Plant, POLine, PurchaseOrder

__all__ = ["Needs", "build_po_lines", "open_needs", "plant_next_p100_motors"]

Needs = dict[tuple[str, str], list[tuple[datetime, float]]]
"""(item, site) -> (when, qty) component needs of open work orders."""


def open_needs(plant: Plant) -> Needs:
    """(item, site) -> remaining component needs of open work orders, conservative (issues not netted)."""
    out: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for wo in plant.work_orders:
        if not wo.is_open:
            continue
        left = max(0.0, wo.qty_planned - wo.qty_completed - wo.qty_scrapped)
        when = max(wo.start, plant.as_of)
        for bom in plant.components(wo.item_id):
            if left > 0:
                out.setdefault((bom.component, wo.site_id), []).append((when, round(bom.qty_per * left, 3)))
    return {key: sorted(value) for key, value in sorted(out.items())}


def _weekday(day: date) -> date:
    """``day`` or the Monday after it (suppliers deliver on working days)."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _office_day(day: date, today: date) -> date:
    """Buyers order on working days: Saturday moves to Friday, Sunday to Monday (never past today)."""
    if day.weekday() == 6 and day + timedelta(days=1) <= today:
        return day + timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def _line(plant: Plant, lot_or_item: Lot | str, site_id: str, qty: float, order_date: date, need: date,
          promised: date | None, kind: str, status: str) -> POLine:
    item_id = lot_or_item if isinstance(lot_or_item, str) else lot_or_item.item_id
    supplier = plant.sourcing[(item_id, site_id)]
    line = POLine(site_id, supplier, item_id, qty, _office_day(order_date, plant.today), need, promised, promised,
                  status, kind=kind)
    plant.po_lines.append(line)
    return line


def _lead(plant: Plant, item_id: str, site_id: str) -> int:
    return plant.price_at(plant.sourcing[(item_id, site_id)], item_id, plant.today).lead_time_days


def _history(plant: Plant, rng: random.Random) -> None:
    """One closed line per received lot (some split deliveries, some short-closed, some still partial)."""
    today = plant.today
    scenario_lots = [plant.scen.spike_lot]
    lots = sorted((lot for lot in plant.lots if lot.wo is None and lot.po_line is None),
                  key=lambda lot: (lot.site_id, lot.item_id, lot.received_at))
    n = 0
    while n < len(lots):
        group = [lots[n]]
        nxt = lots[n + 1] if n + 1 < len(lots) else None
        if (nxt is not None and nxt.item_id == group[0].item_id and nxt.site_id == group[0].site_id
                and (nxt.received_at - group[0].received_at).days <= 21 and rng.random() < 0.12
                and nxt not in scenario_lots and group[0] not in scenario_lots):
            group.append(nxt)
        n += len(group)
        first = group[0]
        received = first.received_at.date()
        lead = _lead(plant, first.item_id, first.site_id)
        promised = received + timedelta(days=rng.choice((-1, 0, 0, 0, 1)))
        total = sum(lot.qty_received for lot in group)
        line = _line(plant, first, first.site_id, total, received - timedelta(days=lead + rng.randint(0, 5)),
                     received + timedelta(days=rng.randint(0, 2)), promised, "history", "closed")
        if rng.random() < 0.12:
            line.original_promised_date = promised - timedelta(days=rng.randint(2, 6))
        recent = (today - received).days <= 14 and len(group) == 1 and first not in scenario_lots
        if recent and first.item_id != plant.scen.realloc_item and rng.random() < 0.15:
            line.qty_ordered = nice_ceil(total * rng.uniform(1.6, 2.4))
            line.line_status = "open"
            line.promised_date = _weekday(today + timedelta(days=rng.randint(1, 10)))
        elif rng.random() < 0.05:
            line.qty_ordered = nice_ceil(total * 1.05)  # short-closed by the buyer
        for lot in group:
            lot.po_line = line
            line.lots.append(lot)


def _forgotten(plant: Plant, rng: random.Random, needs: Needs, stock: dict[tuple[str, str], float],
               supply: dict[tuple[str, str], list[tuple[datetime, float]]]) -> list[tuple[str, str]]:
    """One item per site nobody ordered: it runs short inside its lead time (a buyer must order now)."""
    today = plant.today
    protected = (plant.scen.realloc_item, plant.scen.film_item, plant.scen.spare_item)
    chosen: list[tuple[str, str]] = []
    for site in plant.sites:
        options = []
        for (item_id, site_id), events in needs.items():
            if site_id != site["site_id"] or item_id in protected or supply.get((item_id, site_id)) \
                    or not plant.items[item_id].purchased:
                continue
            lead = min(p.lead_time_days for p in plant.prices
                       if p.item_id == item_id and p.valid_from <= today <= p.valid_to)
            balance = stock.get((item_id, site_id), 0.0)
            for when, qty in events:
                if when <= plant.as_of:
                    continue  # running orders: the tools net their issues, so do not rely on them
                balance -= qty
                if balance < 0:
                    if today + timedelta(days=4) <= when.date() < today + timedelta(days=lead):
                        options.append((item_id, site_id))
                    break
        if options:
            chosen.append(rng.choice(options))
            plant.scen.exceptions.append(("forgotten_item", chosen[-1][1], chosen[-1][0]))
    return chosen


def _open_supply(plant: Plant, rng: random.Random, needs: Needs) -> None:
    """Open lines so the plan's purchased materials stay covered (project like the tools do)."""
    today = plant.today
    stock: dict[tuple[str, str], float] = {}
    for lot in plant.lots:
        if lot.status == "available":
            stock[(lot.item_id, lot.site_id)] = stock.get((lot.item_id, lot.site_id), 0.0) + lot.remaining
    supply: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for ln in plant.po_lines:
        if ln.line_status == "open":
            supply.setdefault((ln.item_id, ln.site_id), []).append(
                (datetime.combine(ln.promised_date or ln.need_date, time(0)), ln.qty_ordered - ln.qty_received))
    forgotten = _forgotten(plant, rng, needs, stock, supply) if plant.scen.planted else []
    for (item_id, site_id), events in needs.items():
        item = plant.items[item_id]
        if not item.purchased or (plant.scen.planted and item_id == plant.scen.realloc_item and site_id == "P200"):
            continue
        if (item_id, site_id) in forgotten:
            continue
        balance = stock.get((item_id, site_id), 0.0)
        incoming = sorted(supply.get((item_id, site_id), []))
        weekly = sum(q for _, q in events) / 4.0
        min_qty = plant.price_at(plant.sourcing[(item_id, site_id)], item_id, today).min_qty
        safety, lot_size = 0.5 * weekly, max(min_qty, nice_round(weekly * rng.uniform(1.5, 2.5)))
        if plant.scen.planted and item_id == plant.scen.realloc_item:
            continue  # P100's next motor delivery is planted (plant_next_p100_motors), after the same draw
        lead = _lead(plant, item_id, site_id)
        for when, qty in events:
            while incoming and incoming[0][0] <= when:
                balance += incoming.pop(0)[1]
            if balance - qty < safety:
                need = max(today + timedelta(days=1), (when - timedelta(days=1)).date())
                amount = nice_ceil(max(lot_size, safety + qty - balance))
                ordered = need - timedelta(days=lead + rng.randint(0, 5))
                if ordered >= today:
                    ordered = today - timedelta(days=rng.randint(1, 8))
                ordered = max(today - timedelta(days=45), ordered)
                promised = _weekday(max(today + timedelta(days=1), need - timedelta(days=rng.randint(0, 3))))
                _line(plant, item_id, site_id, amount, ordered, need, promised, "open", "open")
                balance += amount
            balance -= qty


def _plant_exceptions(plant: Plant, rng: random.Random, site_id: str, needs: Needs) -> None:
    """Bend a few open lines of one site into each buyer-triage category, and add the odd ones."""
    today = plant.today
    protected = {plant.scen.realloc_item, plant.scen.film_item, plant.scen.spare_item}
    candidates = [ln for ln in plant.po_lines if ln.site_id == site_id and ln.kind == "open"
                  and ln.item_id not in protected and not ln.lots]
    candidates.sort(key=lambda ln: (ln.item_id, ln.need_date))
    rng.shuffle(candidates)
    picks = iter(candidates)
    for line in [next(picks) for _ in range(3 if plant.scen.planted else 0)]:  # expedite: promised after need
        line.original_promised_date = line.need_date - timedelta(days=rng.randint(0, 2))
        line.promised_date = _weekday(line.need_date + timedelta(days=rng.randint(4, 10)))
        plant.scen.exceptions.append(("expedite", site_id, line))
    for line in [next(picks) for _ in range(3)]:  # reschedule out: arrives weeks before it is needed
        line.need_date = (line.promised_date or line.need_date) + timedelta(days=rng.randint(21, 35))
    for line in [next(picks) for _ in range(3)]:  # past due: promised date already passed
        line.promised_date = today - timedelta(days=rng.randint(1, 8))
        line.original_promised_date = line.promised_date - timedelta(days=rng.choice((0, 0, 3, 5)))
        plant.scen.exceptions.append(("past_due", site_id, line))
    for line in list(picks):
        if rng.random() < 0.12 and line.promised_date is not None:  # the supplier moved the date
            line.original_promised_date = line.promised_date - timedelta(days=rng.randint(3, 10))
    site_lines = [ln for ln in plant.po_lines if ln.site_id == site_id]
    for line in site_lines:
        if rng.random() < 0.04:
            line.price_factor = rng.uniform(1.06, 1.18) if rng.random() < 0.8 else rng.uniform(0.86, 0.93)
    for line in [ln for ln in candidates if ln.price_factor == 1.0][:2]:
        line.price_factor = rng.uniform(1.07, 1.15)
    used = sorted({key[0] for key in needs if key[1] == site_id and plant.items[key[0]].purchased} - protected)
    # receipts waiting for incoming inspection against a still-open line: quality-blocked supply
    for item_id in rng.sample(used, 2):
        when = receipt_time(rng, plant.as_of, plant.as_of - timedelta(hours=20))
        qty = nice_round(max(20.0, sum(q for _, q in needs[(item_id, site_id)]) * 0.4))
        lot = Lot(item_id, site_id, when, qty, supplier_id=plant.sourcing[(item_id, site_id)], status="quality_hold")
        plant.lots.append(lot)
        line = _line(plant, item_id, site_id, nice_ceil(qty * 2.5), when.date() - timedelta(days=20),
                     when.date(), _weekday(today + timedelta(days=rng.randint(3, 9))), "open", "open")
        line.original_promised_date = when.date()
        line.lots.append(lot)
        lot.po_line = line
    # a blocked lot from an earlier delivery (supplier quality problem)
    item_id = rng.choice(used)
    when = receipt_time(rng, plant.as_of - timedelta(days=rng.randint(8, 20)), plant.as_of)
    lot = Lot(item_id, site_id, when, nice_round(max(10.0, sum(q for _, q in needs[(item_id, site_id)]) * 0.3)),
              supplier_id=plant.sourcing[(item_id, site_id)], status="blocked")
    plant.lots.append(lot)
    line = _line(plant, item_id, site_id, lot.qty_received, when.date() - timedelta(days=25), when.date(),
                 when.date(), "history", "closed")
    line.lots.append(lot)
    lot.po_line = line
    # open quantity nobody needs: items stocked at the site with no open demand
    idle = sorted({lot.item_id for lot in plant.lots if lot.site_id == site_id and lot.wo is None
                   and lot.status == "available" and lot.remaining > 0 and (lot.item_id, site_id) not in needs
                   and plant.items[lot.item_id].item_type == "raw"})
    for item_id in rng.sample(idle, min(2, len(idle))):
        need = _weekday(today + timedelta(days=rng.randint(10, 30)))
        qty = plant.price_at(plant.sourcing[(item_id, site_id)], item_id, today).min_qty * rng.randint(2, 5)
        _line(plant, item_id, site_id, qty, today - timedelta(days=rng.randint(5, 20)), need,
              need - timedelta(days=rng.randint(0, 3)), "open", "open")
    # drafts not yet approved, cancelled lines and cancelled orders
    for item_id in rng.sample(used, 3):
        _line(plant, item_id, site_id, nice_round(sum(q for _, q in needs[(item_id, site_id)]) * 0.5),
              today - timedelta(days=rng.randint(0, 2)), today + timedelta(days=rng.randint(14, 30)), None,
              "draft", "open")
    for n, item_id in enumerate(rng.sample(used, 5)):
        ordered = today - timedelta(days=rng.randint(10, 60))
        _line(plant, item_id, site_id, nice_round(sum(q for _, q in needs[(item_id, site_id)]) * 0.5), ordered,
              ordered + timedelta(days=30), ordered + timedelta(days=28), "cancelled" if n < 3 else "open",
              "cancelled")


def _scenario_lines(plant: Plant, rng: random.Random, needs: Needs) -> None:
    """The reallocation motor's late P200 supply, the asset spare's late delivery, the receipt gap."""
    today = plant.today
    scen = plant.scen
    events = needs.get((scen.realloc_item, "P200"), [])
    if events:
        need = events[0][0].date()
        weekly = sum(q for _, q in events) / 4.0
        promised = _weekday(max(need, today) + timedelta(days=rng.randint(15, 19)))
        line = _line(plant, scen.realloc_item, "P200", nice_ceil(weekly * 3), today - timedelta(days=12), need,
                     promised, "open", "open")
        line.original_promised_date = promised - timedelta(days=rng.randint(4, 7))
    if scen.spare_item:
        _line(plant, scen.spare_item, "P100", 2.0, today - timedelta(days=6), today + timedelta(days=2),
              _weekday(today + timedelta(days=9)), "open", "open")
    closed = [ln for ln in plant.po_lines if ln.site_id == "P200" and ln.kind == "history"
              and ln.line_status == "closed" and len(ln.lots) == 1 and ln.lots[0].wo is None
              and ln.lots[0].status == "available" and plant.items[ln.item_id].item_type == "raw"
              and ln.qty_ordered == ln.qty_received and ln.item_id not in (scen.realloc_item, scen.film_item)]
    closed.sort(key=lambda ln: (ln.lots[0].received_at, ln.item_id))
    gap_line = closed[len(closed) // 2]
    gap_line.received_override = gap_line.qty_received + nice_round(max(5.0, gap_line.qty_received * 0.2))
    gap_line.qty_ordered = gap_line.received_override
    scen.po_gap = gap_line


def plant_next_p100_motors(plant: Plant) -> None:
    """P100's next motor delivery: a line added to the supplier's latest open P100 order, due the day
    P100-AS1's first order after the line guard's horizon starts.

    P100's stock covers the line's orders within the horizon plus a margin (``_materials``), so P100 is
    never projected short, and within the horizon its projection bottoms out at that margin. Added once
    the orders are formed so no other order, line number or random draw moves.
    """
    scen = plant.scen
    if not scen.planted:
        return
    item_id, supplier_id = scen.realloc_item, plant.sourcing[(scen.realloc_item, "P100")]
    until = plant.as_of + timedelta(days=REALLOC_HORIZON_DAYS)
    events = open_needs(plant).get((item_id, "P100"), [])
    later = [(when, qty) for when, qty in events if when >= until]
    if not later:
        return
    due = later[0][0].date()
    weekly = sum(q for _, q in events) / 4.0
    min_qty = plant.price_at(supplier_id, item_id, plant.today).min_qty
    qty = nice_ceil(max(min_qty, sum(q for _, q in later) - scen.realloc_margin + 0.5 * weekly))
    open_pos = [po for po in plant.purchase_orders if (po.site_id, po.supplier_id) == ("P100", supplier_id)
                and po.status in ("approved", "sent", "acknowledged")]
    if open_pos:
        po = max(open_pos, key=lambda o: (o.order_date, o.po_id))
    else:  # none to add it to: a new order placed yesterday, numbered after all the others
        ordered = _office_day(plant.today - timedelta(days=1), plant.today)
        price = plant.price_at(supplier_id, item_id, ordered)
        po = PurchaseOrder(f"PO-{24001 + len(plant.purchase_orders)}", supplier_id, "P100", "bea.buyer", "sent",
                           ordered, datetime.combine(ordered, time(10)), None, price.currency)
        plant.purchase_orders.append(po)
    line = POLine("P100", supplier_id, item_id, qty, po.order_date, due, due, None, "open", kind="open", po=po,
                  line_no=len(po.lines) + 1,
                  unit_price=money(plant.price_at(supplier_id, item_id, po.order_date).unit_price))
    po.lines.append(line)
    plant.po_lines.append(line)


def build_po_lines(plant: Plant) -> None:
    """Create every PO line (received history, open supply, exceptions, scenario lines)."""
    rng = plant.rng("po-lines")
    _history(plant, rng)
    needs = open_needs(plant)
    _open_supply(plant, rng, needs)
    for site in plant.sites:
        _plant_exceptions(plant, plant.rng(f"po-exceptions-{site['site_id']}"), site["site_id"], needs)
    if plant.scen.planted:
        _scenario_lines(plant, rng, needs)
