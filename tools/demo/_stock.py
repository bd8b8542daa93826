"""Finished-goods shipments, sales orders, inventory rows, reservations and reorder points."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import Any

from tools.demo._master import money, nice_round
from tools.demo._model import Lot, Placement, Plant, SalesOrder

__all__ = ["place_inventory", "reorder_points", "reserve", "sales_orders", "ship_finished"]

_STATUS_FOR_LOT = {"available": "unrestricted", "quality_hold": "quality_inspection", "blocked": "blocked"}


def ship_finished(plant: Plant) -> None:
    """Ship the forecast week by week (opening stock first, then FIFO lots); backlog is capped at a week."""
    by_key: dict[tuple[str, str], list[Lot]] = {}
    for lot in sorted(plant.lots, key=lambda lot: lot.received_at):
        if lot.wo is not None and plant.items[lot.item_id].item_type == "finished":
            by_key.setdefault((lot.item_id, lot.site_id), []).append(lot)
    for key, demand in plant.weekly_demand.items():
        virtual = plant.opening_stock.get(key, 0.0)
        lots = by_key.get(key, [])
        backlog = 0.0
        for week in sorted(demand):
            for offset in range(5):
                moment = datetime.combine(week + timedelta(days=offset), time(15))
                if moment >= plant.as_of:
                    break
                want = float(round(demand[week] / 5 + backlog))
                from_virtual = min(virtual, want)
                virtual -= from_virtual
                want -= from_virtual
                for lot in lots:
                    if want <= 0 or lot.received_at > moment:
                        break
                    take = min(lot.remaining, want)
                    lot.shipped += take
                    want -= take
                backlog = min(want, demand[week])


def _customers(plant: Plant, site_id: str) -> list[str]:
    customers: list[str] = plant.vocab.partners["customers"][site_id]
    return customers


def sales_orders(plant: Plant) -> None:
    """Past (shipped, closed, a few cancelled) and open sales orders for every finished good."""
    rng = plant.rng("sales")
    today = plant.today
    orders: list[SalesOrder] = []
    for (item_id, site_id), demand in plant.weekly_demand.items():
        weekly = sum(demand.values()) / len(demand)
        customers = _customers(plant, site_id)
        cost = plant.items[item_id].standard_cost

        def order(due_offset: int, status: str, item_id: str = item_id, site_id: str = site_id,
                  weekly: float = weekly, customers: list[str] = customers, cost: float = cost) -> None:
            due = today + timedelta(days=due_offset)
            while due.weekday() >= 5:
                due += timedelta(days=1)
            qty = nice_round(weekly * rng.uniform(0.2, 0.6))
            price = money(cost * rng.uniform(1.3, 1.7))
            orders.append(SalesOrder("", site_id, rng.choice(customers), item_id, qty, price, due, status))

        for _ in range(2):
            offset = -rng.randint(1, 35)
            status = "shipped" if offset >= -7 else "closed" if rng.random() < 0.85 else "shipped"
            order(offset, "cancelled" if rng.random() < 0.05 else status)
        for _ in range(rng.randint(1, 2)):
            order(rng.randint(2, 28), "allocated" if rng.random() < 0.4 else "open")
        if rng.random() < 0.08:
            order(-rng.randint(1, 4), "open")  # late: past its due date, not shipped yet
    orders.sort(key=lambda o: (o.due_date, o.site_id, o.item_id, o.customer))
    for n, so in enumerate(orders):
        so.so_id = f"SO-{30001 + n}"
    plant.sales_orders = orders
    # some assembly orders are built against a customer order
    open_by_item: dict[str, SalesOrder] = {}
    for so in orders:
        if so.status in ("open", "allocated"):
            open_by_item.setdefault(so.item_id, so)
    for wo in plant.work_orders:
        if wo.is_open and wo.line_id.split("-")[1].startswith("AS") and wo.item_id in open_by_item \
                and rng.random() < 0.3:
            wo.so_id = open_by_item[wo.item_id].so_id


def _location(plant: Plant, rng: random.Random, lot: Lot) -> list[tuple[str, float]]:
    locations = plant.vocab.plant["locations"]
    item = plant.items[lot.item_id]
    qty = lot.remaining
    if lot.status == "quality_hold":
        return [(locations["quality"], qty)]
    if lot.status == "blocked":
        return [(locations["blocked"], qty)]
    if item.item_type == "finished":
        home = rng.choice(locations["finished"])
    elif item.item_type == "spare":
        home = locations["spare"][0]
    elif item.item_type == "component":
        home = locations["component"][0 if item.purchased else 1]
    else:
        home = locations["raw"][0]
    users = [b.parent for b in plant.bom if b.component == lot.item_id]
    lines = sorted({plant.items[p].make_line or "" for p in users} - {""})
    lines = [ln for ln in lines if ln.startswith(lot.site_id)]
    if item.item_type != "finished" and lines and qty >= 10 and rng.random() < 0.35:
        side = float(round(qty * rng.uniform(0.15, 0.4)))
        if 0 < side < qty:
            return [(home, round(qty - side, 3)), ("LS-" + lines[0].split("-")[1], side)]
    return [(home, qty)]


def place_inventory(plant: Plant) -> None:
    """Put every lot with stock into inventory rows (status follows the lot); used-up lots become consumed."""
    rng = plant.rng("placement")
    for lot in sorted(plant.lots, key=lambda lot: (lot.site_id, lot.received_at, lot.item_id)):
        if lot.remaining <= 0:
            lot.status = "consumed"
            lot.placements = []
            continue
        if lot.status == "consumed":
            lot.status = "available"
        lot.placements = [Placement(loc, qty, _STATUS_FOR_LOT[lot.status])
                          for loc, qty in _location(plant, rng, lot) if qty > 0]


def reserve(plant: Plant) -> None:
    """Peg finished stock to allocated sales orders; orders without stock fall back to 'open'."""
    rng = plant.rng("reserve")
    for so in plant.sales_orders:
        if so.status != "allocated":
            continue
        candidates = [(lot, p) for lot in plant.lots if lot.item_id == so.item_id and lot.site_id == so.site_id
                      and lot.status == "available" for p in lot.placements
                      if p.stock_status == "unrestricted" and p.reserved_for is None and p.qty_on_hand >= 2]
        if not candidates:
            so.status = "open"
            continue
        _, placement = max(candidates, key=lambda c: (c[0].received_at, c[1].location))
        placement.qty_reserved = float(min(so.qty, int(placement.qty_on_hand * rng.uniform(0.15, 0.35)) or 1))
        placement.reserved_for = so.so_id


def reorder_points(plant: Plant) -> list[dict[str, Any]]:
    """Min/max per purchased item and site where the site uses or stocks it."""
    rng = plant.rng("reorder")
    usage: dict[tuple[str, str], float] = {}
    for issue in plant.issues:
        key = (issue.lot.item_id, issue.lot.site_id)
        usage[key] = usage.get(key, 0.0) + issue.qty
    stock: dict[tuple[str, str], float] = {}
    for lot in plant.lots:
        key = (lot.item_id, lot.site_id)
        if lot.status == "available":
            stock[key] = stock.get(key, 0.0) + lot.remaining
        else:
            stock.setdefault(key, 0.0)
    rows: list[dict[str, Any]] = []
    keys = sorted(set(usage) | set(stock))
    for item_id, site_id in keys:
        item = plant.items[item_id]
        if not item.purchased:
            continue
        weekly = usage.get((item_id, site_id), 0.0) / 6.0
        on_hand = stock.get((item_id, site_id), 0.0)
        if item.item_type == "spare":
            low = float(rng.randint(1, 2))
            high = low + rng.randint(2, 6)
        elif weekly > 0:
            low = nice_round(weekly * rng.uniform(0.8, 1.4))
            high = nice_round(low * rng.uniform(2.5, 4.0))
        else:
            low = nice_round(max(1.0, on_hand * 0.3))
            high = nice_round(max(low + 1, on_hand * 0.8))
        if plant.scen.planted and item_id == plant.scen.realloc_item:
            if site_id == "P200":
                low = nice_round(max(weekly * 1.5, plant.scen.realloc_short_qty * 3))
                high = nice_round(low * 3)
            else:  # set when P100 hardly used the motor: ERP calls P100's stock surplus, MES schedules it
                low = nice_round(plant.scen.realloc_margin * 0.4)
                high = nice_round(plant.scen.realloc_margin * 1.2)
        rows.append({"site_id": site_id, "item_id": item_id, "min_qty": low, "max_qty": high})
    return rows
