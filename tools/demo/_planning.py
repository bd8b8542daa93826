"""Demand and the production plan: forecasts, lot-sized batches and line schedules.

Finished goods are planned from the forecast, machined components from the
assembly and kitting work orders that consume them, so the plan a planner
sees is balanced: most items are covered and shortages are the planted ones.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from tools.demo._calendar import (
    add_work_hours,
    next_work_time,
    sub_work_hours,
    week_start,
    work_hours_between,
)
from tools.demo._master import nice_round
from tools.demo._model import Line, Plant, WorkOrder

__all__ = [
    "FG_HISTORY_DAYS",
    "HORIZON_DAYS",
    "MC_HISTORY_DAYS",
    "assign_statuses",
    "forecast_weeks",
    "plan_finished",
    "plan_machined",
]

FG_HISTORY_DAYS = 42
"""Finished-good lines have work orders from today-42 days."""
MC_HISTORY_DAYS = 56
"""Machining starts two weeks earlier so the first assemblies have parts."""
HORIZON_DAYS = 28
"""No work order starts later than today+28 days."""
FORECAST_WEEKS_PAST = 4
FORECAST_WEEKS_FUTURE = 8
_WEEK_HOURS = 80.0


def _load(line: Line) -> float:
    # P100-PK1 and P100-AS1 are run hot; the others have some slack
    return {"P100-PK1": 0.8, "P100-AS1": 0.84}.get(line.line_id, 0.74)


def _weeks(first: date, last: date) -> list[date]:
    weeks, current = [], week_start(first)
    while current <= last:
        weeks.append(current)
        current += timedelta(days=7)
    return weeks


def forecast_weeks(today: date) -> list[date]:
    """The week starts stored in demand_forecast: 4 past weeks and 8 weeks from this one."""
    first = week_start(today) - timedelta(days=7 * FORECAST_WEEKS_PAST)
    return [first + timedelta(days=7 * n) for n in range(FORECAST_WEEKS_PAST + FORECAST_WEEKS_FUTURE)]


def _forecast(plant: Plant, rng: random.Random) -> None:
    first = plant.today - timedelta(days=FG_HISTORY_DAYS + 7)
    last = forecast_weeks(plant.today)[-1]
    for line in plant.lines:
        items = [i for i in plant.items.values() if i.item_type == "finished" and i.make_line == line.line_id]
        if not items:
            continue
        weights = [rng.uniform(0.6, 1.4) for _ in items]
        capacity = line.rate * _WEEK_HOURS * _load(line)
        for item, weight in zip(items, weights, strict=True):
            base = capacity * weight / sum(weights)
            plant.weekly_demand[(item.item_id, line.site_id)] = {
                week: nice_round(base * rng.uniform(0.88, 1.12)) for week in _weeks(first, last)
            }


def _schedule(plant: Plant, line: Line, batches: list[tuple[datetime, str, float]], start_at: datetime,
              rng: random.Random) -> None:
    """Place batches (due, item, qty) on the line in due order, one after another."""
    stop_at = datetime.combine(plant.today + timedelta(days=HORIZON_DAYS), time(0))
    cursor = next_work_time(start_at)
    anchor = None
    if line.line_id == plant.scen.asset_line:
        anchor = next_work_time(plant.as_of + timedelta(hours=2))
    anchored = anchor is None
    ordered = sorted(batches)
    # backward pass: the latest start that still lets every later batch finish by its due time
    latest: list[datetime] = []
    limit = datetime.max
    for due, _, qty in reversed(ordered):
        begin = sub_work_hours(min(due, limit), qty / line.rate + 1.0)
        latest.append(begin)
        limit = begin
    latest.reverse()
    for (due, item_id, qty), latest_start in zip(ordered, latest, strict=True):
        hours = qty / line.rate
        start = max(cursor, next_work_time(sub_work_hours(latest_start, rng.uniform(2, 12))))
        end = add_work_hours(start, hours)
        if not anchored and anchor is not None and end > anchor:
            # the asset-risk line must have an order starting right after the as-of time
            start, anchored = max(cursor, anchor), True
            end = add_work_hours(start, hours)
        if start >= stop_at:
            break
        plant.work_orders.append(WorkOrder("", line.site_id, line.line_id, item_id, qty, start, end, due.date()))
        cursor = add_work_hours(end, rng.uniform(0.5, 1.5))


def plan_finished(plant: Plant) -> None:
    """Forecast every finished good and schedule the packaging and assembly lines."""
    rng = plant.rng("plan-finished")
    _forecast(plant, rng)
    start_at = datetime.combine(plant.today - timedelta(days=FG_HISTORY_DAYS), time(6))
    first_week = week_start(start_at.date())
    last_due = plant.today + timedelta(days=HORIZON_DAYS + 7)
    for line in plant.lines:
        if line.line_type == "machining":
            continue
        batches: list[tuple[datetime, str, float]] = []
        for item in plant.items.values():
            if item.make_line != line.line_id:
                continue
            demand = plant.weekly_demand[(item.item_id, line.site_id)]
            weeks = [w for w in sorted(demand) if w >= first_week]
            base = sum(demand.values()) / len(demand)
            # 1.5-3.5 weeks of stock when the plan starts; the opening stock also ships the weeks before
            stock = base * rng.uniform(1.5, 3.5)
            early = sum(q for w, q in demand.items() if w < first_week)
            plant.opening_stock[(item.item_id, line.site_id)] = float(round(stock + early))
            for n, week in enumerate(weeks):
                if week > last_due:
                    break
                # one week of safety stock; 2 % allowance for scrap and yield
                if stock - demand[week] < base:
                    cover = rng.choice((2, 2, 3))
                    qty = nice_round(1.02 * sum(demand[w] for w in weeks[n:n + cover]))
                    # due the Thursday before the week it is shipped in
                    batches.append((datetime.combine(week - timedelta(days=4), time(22)), item.item_id, qty))
                    stock += qty / 1.02
                stock -= demand[week]
        _schedule(plant, line, batches, start_at, rng)


def plan_machined(plant: Plant) -> None:
    """Size machining rates from the consumers' needs and schedule the machining lines."""
    rng = plant.rng("plan-machined")
    start_at = datetime.combine(plant.today - timedelta(days=MC_HISTORY_DAYS), time(6))
    stop_at = datetime.combine(plant.today + timedelta(days=HORIZON_DAYS), time(0))
    needs: dict[str, list[tuple[datetime, float]]] = {}
    for wo in sorted(plant.work_orders, key=lambda w: (w.start, w.line_id)):
        for bom in plant.components(wo.item_id):
            if not plant.items[bom.component].purchased:
                needs.setdefault(bom.component, []).append((wo.start, bom.qty_per * wo.qty_planned))
    for line in plant.lines:
        if line.line_type != "machining":
            continue
        batches: list[tuple[datetime, str, float]] = []
        for item in plant.items.values():
            if item.make_line != line.line_id:
                continue
            events = needs.get(item.item_id, [])
            if not events:
                continue
            weekly = sum(q for _, q in events) / 10.0
            stock = 0.0
            for n, (when, qty) in enumerate(events):
                if stock - qty < 0.6 * weekly:
                    horizon = when + timedelta(days=14)
                    # 4 % extra: machining loses a little to yield and scrap
                    need = sum(q for t, q in events[n:] if t < horizon) + 0.6 * weekly - stock
                    lot = nice_round(max(need, weekly) * 1.04)
                    batches.append((sub_work_hours(when, 32), item.item_id, lot))
                    stock += lot / 1.04
                stock -= qty
        hours = work_hours_between(start_at, stop_at)
        total = sum(qty for _, _, qty in batches)
        line.rate = float(max(5, round(total / (0.66 * hours))))
        _schedule(plant, line, batches, start_at, rng)


def assign_statuses(plant: Plant) -> None:
    """Give work orders ids (chronological) and statuses from the as-of time, plus a few holds."""
    as_of = plant.as_of
    plant.work_orders.sort(key=lambda w: (w.start, w.line_id))
    for n, wo in enumerate(plant.work_orders):
        wo.wo_id = f"WO-{5101 + n}"
        if wo.end <= as_of:
            wo.status, wo.progress = "completed", 1.0
        elif wo.start < as_of:
            wo.status = "running"
            wo.progress = work_hours_between(wo.start, as_of) / work_hours_between(wo.start, wo.end)
        elif wo.start <= as_of + timedelta(days=3):
            wo.status = "released"
        else:
            wo.status = "planned"
    # a few exceptions a planner expects to see, away from the scenario lines
    def first(line_id: str, status: str, after: datetime | None = None) -> WorkOrder | None:
        for wo in plant.work_orders:
            if wo.line_id == line_id and wo.status == status and (after is None or wo.start >= after):
                return wo
        return None

    if not plant.scen.planted:
        return  # a healthy plant: no cancelled or held orders leaving their output uncovered
    two_weeks_ago = as_of - timedelta(days=14)
    for line_id, status, new_status, after in (
        ("P100-PK2", "completed", "cancelled", two_weeks_ago),
        ("P200-PK1", "completed", "cancelled", two_weeks_ago),
        ("P100-AS2", "planned", "cancelled", None),
        ("P100-PK2", "released", "held", None),
        ("P200-MC2", "planned", "held", None),
        ("P200-PK1", "planned", "held", None),
    ):
        chosen = first(line_id, status, after)
        if chosen is not None:
            chosen.status, chosen.progress = new_status, 0.0
            plant.scen.exceptions.append((f"{new_status}_work_order", chosen.site_id, chosen))
