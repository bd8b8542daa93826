"""Projected stock of an item at a site, shared by the inventory and procurement tools.

Semantics (COMMON.md): start from available stock (Σ on hand − reserved over
unrestricted rows); add supply — open PO lines (open qty at the expected
receipt date; past-due lines count as arriving today) and open work orders
producing the item (planned/released/running: qty_planned − qty_completed at
planned_end; late ones count as today); subtract demand — for finished items the
weekly demand_forecast qty on week_start for weeks starting on or after the
start of today's week (a current week already begun counts in full today), for
every other item type the dependent demand of open work orders at that site
(:func:`open_component_need`: bom qty_per × qty_planned − qty already issued,
never below 0 — material is issued as production progresses, so subtracting the
completed quantity too would count it twice) on planned_start (earlier starts count as today). Within a day supply is
applied before demand and the day's closing balance decides: the first
shortage date is the first day whose closing balance is < 0.
"""

from __future__ import annotations

import datetime as _dt
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Connection, func, select

from tools.plant.schema import table
from tools.scope import DataScope
from tools.supply.common import OPEN_WO_STATUSES, open_lines_select, po_line_id

__all__ = [
    "EventKind",
    "FlowEvent",
    "ProjectedDay",
    "ProjectionEvent",
    "ProjectionInputs",
    "SiteProjection",
    "forecast_row_id",
    "load_projection_inputs",
    "open_component_need",
    "project",
    "projected_positions",
    "week_start",
]

EventKind = Literal["po_receipt", "wo_output", "forecast_demand", "wo_component_demand"]
"""Supply: po_receipt, wo_output. Demand: forecast_demand, wo_component_demand."""

_SUPPLY: frozenset[str] = frozenset({"po_receipt", "wo_output"})


def week_start(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def forecast_row_id(site_id: str, item_id: str, week: date) -> str:
    """Citation id of a demand_forecast row (the table has no id column)."""
    return f"FC-{site_id}-{item_id}-{week.isoformat()}"


def open_component_need(qty_per: float, qty_planned: float, qty_issued: float) -> float:
    """What a work order still needs of one component: its full requirement less what was issued to it.

    The requirement is qty_per × qty_planned (the order's reservation); issues
    are withdrawals against it, so the remainder never goes below zero.
    """
    return max(qty_per * qty_planned - qty_issued, 0.0)


@dataclass(frozen=True)
class FlowEvent:
    """A dated supply or demand quantity (always ≥ 0) of an item at a site."""

    kind: EventKind
    record_id: str
    scheduled: date
    """The date on the source record."""
    date: _dt.date
    """When it counts: the scheduled date, or today when that is already past."""
    qty: float

    @property
    def is_supply(self) -> bool:
        """True for receipts and WO output."""
        return self.kind in _SUPPLY

    def sort_key(self) -> tuple[_dt.date, int, str]:
        """Day order, supply before demand, then record id (deterministic)."""
        return (self.date, 0 if self.is_supply else 1, self.record_id)


@dataclass(frozen=True)
class ProjectionInputs:
    """Everything the projection of one item at one site needs, already scoped."""

    item_id: str
    site_id: str
    item_type: str
    available: float = 0.0
    lot_ids: tuple[str, ...] = ()
    reorder_min: float | None = None
    reorder_max: float | None = None
    events: tuple[FlowEvent, ...] = field(default_factory=tuple)

    def supply_before(self, day: date) -> float:
        """Supply counting strictly before ``day``."""
        return sum(e.qty for e in self.events if e.is_supply and e.date < day)

    def demand_through(self, day: date) -> float:
        """Demand counting on or before ``day``."""
        return sum(e.qty for e in self.events if not e.is_supply and e.date <= day)


class ProjectionEvent(BaseModel):
    """One supply (+) or demand (−) step of a projection."""

    model_config = ConfigDict(frozen=True)

    date: _dt.date = Field(description="Day it counts (past-due supply/demand counts today).")
    scheduled_date: _dt.date = Field(description="Date on the source record.")
    kind: EventKind
    record_id: str = Field(description="PO line, work order or forecast row driving it.")
    qty: float = Field(description="Signed quantity: + supply, − demand.")
    balance_after: float = Field(description="Running projected balance after this step.")


class ProjectedDay(BaseModel):
    """Closing position of a day on which something happens."""

    model_config = ConfigDict(frozen=True)

    date: _dt.date
    supply_qty: float
    demand_qty: float
    closing_balance: float


class SiteProjection(BaseModel):
    """Projected stock of one item at one site over a horizon."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    site_id: str
    start_available: float = Field(description="Available stock now (unrestricted on hand − reserved).")
    reorder_min: float | None
    reorder_max: float | None
    horizon_start: date
    horizon_end: date = Field(description="Last day projected (inclusive).")
    events: list[ProjectionEvent]
    days: list[ProjectedDay] = Field(description="Closing balance of each day with a supply or demand.")
    total_supply: float
    total_demand: float
    end_balance: float
    lowest_balance: float
    lowest_balance_date: date
    first_shortage_date: date | None = Field(description="First day closing balance < 0, if any.")
    shortage_qty: float = Field(description="Deepest negative balance as a positive qty (0 if none).")
    first_below_min_date: date | None = Field(description="First day closing balance < reorder min.")
    record_ids: list[str]


def project(inputs: ProjectionInputs, today: date, horizon_end: date) -> SiteProjection:
    """Run the projection of ``inputs`` from ``today`` to ``horizon_end`` inclusive."""
    balance = inputs.available
    events: list[ProjectionEvent] = []
    days: list[ProjectedDay] = []
    by_day: dict[date, list[FlowEvent]] = defaultdict(list)
    for ev in sorted(inputs.events, key=FlowEvent.sort_key):
        if ev.date <= horizon_end:
            by_day[ev.date].append(ev)
    lowest, lowest_date = balance, today
    shortage: date | None = None
    below_min: date | None = None
    supply_total = demand_total = 0.0
    if not by_day.get(today):
        by_day[today] = []  # today's closing position is always checked
    for day in sorted(by_day):
        supply = demand = 0.0
        for ev in by_day[day]:
            signed = ev.qty if ev.is_supply else -ev.qty
            balance = round(balance + signed, 6)  # keep float noise out of reported balances
            if ev.is_supply:
                supply += ev.qty
            else:
                demand += ev.qty
            events.append(ProjectionEvent(date=day, scheduled_date=ev.scheduled, kind=ev.kind,
                                          record_id=ev.record_id, qty=signed, balance_after=balance))
        supply_total += supply
        demand_total += demand
        if by_day[day]:
            days.append(ProjectedDay(date=day, supply_qty=supply, demand_qty=demand, closing_balance=balance))
        if balance < lowest:
            lowest, lowest_date = balance, day
        if shortage is None and balance < 0:
            shortage = day
        if below_min is None and inputs.reorder_min is not None and balance < inputs.reorder_min:
            below_min = day
    ids = [*inputs.lot_ids, *dict.fromkeys(e.record_id for e in events)]
    return SiteProjection(
        item_id=inputs.item_id, site_id=inputs.site_id, start_available=inputs.available,
        reorder_min=inputs.reorder_min, reorder_max=inputs.reorder_max, horizon_start=today,
        horizon_end=horizon_end, events=events, days=days, total_supply=supply_total,
        total_demand=demand_total, end_balance=balance, lowest_balance=lowest, lowest_balance_date=lowest_date,
        first_shortage_date=shortage, shortage_qty=max(0.0, -lowest), first_below_min_date=below_min,
        record_ids=ids,
    )


@dataclass
class _Acc:
    available: float = 0.0
    lots: list[str] = field(default_factory=list)
    reorder: tuple[float, float] | None = None
    events: list[FlowEvent] = field(default_factory=list)


def _in(column: ColumnElement[Any], values: Collection[str] | None) -> list[ColumnElement[bool]]:
    return [] if values is None else [column.in_(sorted(values))]


def load_projection_inputs(conn: Connection, scope: DataScope, *, today: date, horizon_end: date,
                           item_ids: Collection[str] | None = None, site_ids: Collection[str] | None = None,
                           ensure: Iterable[tuple[str, str]] = ()) -> dict[tuple[str, str], ProjectionInputs]:
    """Projection inputs keyed ``(item_id, site_id)`` for every pair in scope with stock, a reorder point
    or supply/demand up to ``horizon_end``; pairs in ``ensure`` are present even when empty.

    ``item_ids`` / ``site_ids`` narrow the load (``None`` = everything in scope).
    """
    acc: dict[tuple[str, str], _Acc] = defaultdict(_Acc)
    for pair in ensure:
        acc[pair] = _Acc()
    items = table("items")
    types: dict[str, str] = dict(conn.execute(
        select(items.c.item_id, items.c.item_type).where(*_in(items.c.item_id, item_ids))).all())

    inv = table("inventory")
    for r in conn.execute(select(inv.c.item_id, inv.c.site_id, inv.c.lot_id,
                                 (inv.c.qty_on_hand - inv.c.qty_reserved).label("qty"))
                          .where(scope.site_clause(inv.c.site_id), inv.c.stock_status == "unrestricted",
                                 *_in(inv.c.item_id, item_ids), *_in(inv.c.site_id, site_ids))
                          .order_by(inv.c.lot_id, inv.c.location)):
        a = acc[(r.item_id, r.site_id)]
        a.available += float(r.qty)
        a.lots.append(r.lot_id)

    rp = table("reorder_points")
    for r in conn.execute(select(rp).where(scope.site_clause(rp.c.site_id), *_in(rp.c.item_id, item_ids),
                                           *_in(rp.c.site_id, site_ids))):
        acc[(r.item_id, r.site_id)].reorder = (float(r.min_qty), float(r.max_qty))

    def add(item: str, site: str, kind: EventKind, rid: str, scheduled: date, qty: float) -> None:
        when = max(scheduled, today)
        if qty > 0 and when <= horizon_end:
            acc[(item, site)].events.append(FlowEvent(kind, rid, scheduled, when, qty))

    pl = table("po_lines")
    lines = open_lines_select(scope).where(*_in(pl.c.item_id, item_ids),
                                           *_in(table("purchase_orders").c.site_id, site_ids))
    for ln in conn.execute(lines):
        add(ln.item_id, ln.site_id, "po_receipt", po_line_id(ln.po_id, ln.line_no), ln.promised_date or ln.need_date,
            float(ln.qty_ordered - ln.qty_received))

    wo = table("work_orders")
    open_wo = [scope.site_clause(wo.c.site_id), wo.c.status.in_(OPEN_WO_STATUSES), *_in(wo.c.site_id, site_ids)]
    for r in conn.execute(select(wo).where(*open_wo, *_in(wo.c.item_id, item_ids))):
        add(r.item_id, r.site_id, "wo_output", r.wo_id, r.planned_end.date(), float(r.qty_planned - r.qty_completed))

    fc = table("demand_forecast")
    for r in conn.execute(select(fc).where(scope.site_clause(fc.c.site_id), fc.c.week_start >= week_start(today),
                                           fc.c.week_start <= horizon_end, *_in(fc.c.item_id, item_ids),
                                           *_in(fc.c.site_id, site_ids))):
        if types.get(r.item_id) == "finished":
            add(r.item_id, r.site_id, "forecast_demand", forecast_row_id(r.site_id, r.item_id, r.week_start),
                r.week_start, float(r.qty))

    bom, wm = table("bom_lines"), table("wo_materials")
    issued_sub = (select(wm.c.wo_id, wm.c.item_id, func.sum(wm.c.qty_issued).label("issued"))
                  .group_by(wm.c.wo_id, wm.c.item_id).subquery())
    dep = (select(wo.c.wo_id, wo.c.site_id, wo.c.planned_start, wo.c.qty_planned, wo.c.qty_completed,
                  bom.c.component_item_id, bom.c.qty_per, issued_sub.c.issued)
           .join(bom, bom.c.parent_item_id == wo.c.item_id)
           .outerjoin(issued_sub, (issued_sub.c.wo_id == wo.c.wo_id)
                      & (issued_sub.c.item_id == bom.c.component_item_id))
           .where(*open_wo, *_in(bom.c.component_item_id, item_ids)))
    for d in conn.execute(dep):
        if types.get(d.component_item_id, "component") != "finished":
            need = open_component_need(float(d.qty_per), float(d.qty_planned), float(d.issued or 0.0))
            add(d.component_item_id, d.site_id, "wo_component_demand", d.wo_id, d.planned_start.date(), need)

    result: dict[tuple[str, str], ProjectionInputs] = {}
    for (item, site), a in acc.items():
        rmin, rmax = a.reorder if a.reorder else (None, None)
        result[(item, site)] = ProjectionInputs(
            item_id=item, site_id=site, item_type=types.get(item, "unknown"), available=a.available,
            lot_ids=tuple(a.lots), reorder_min=rmin, reorder_max=rmax,
            events=tuple(sorted(a.events, key=FlowEvent.sort_key)))
    return result


def projected_positions(conn: Connection, scope: DataScope, *, today: date, horizon_days: int,
                        item_ids: Collection[str] | None = None,
                        site_ids: Collection[str] | None = None) -> dict[tuple[str, str], SiteProjection]:
    """One-call helper: the projection of every ``(item_id, site_id)`` in scope (narrowed by ``item_ids`` /
    ``site_ids``) from ``today`` to ``today + horizon_days`` inclusive."""
    end = today + timedelta(days=horizon_days)
    inputs = load_projection_inputs(conn, scope, today=today, horizon_end=end, item_ids=item_ids, site_ids=site_ids)
    return {key: project(value, today, end) for key, value in inputs.items()}
