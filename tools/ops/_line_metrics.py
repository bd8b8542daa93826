"""Line metrics from MES data: machine time by state, good output and scrap by day.

Availability = running ÷ (running + setup + down) hours (idle is unscheduled time and
excluded). Scrap rate = scrap ÷ (good + scrap) where good output comes from
``production_confirmations`` and scrap from ``scrap_records``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import Connection, select

from tools.ops.common import Period, Trend, direction_of, halves, slope
from tools.plant.schema import table
from tools.scope import DataScope

__all__ = [
    "DayOutput",
    "OutputRecord",
    "StateHours",
    "StateSlice",
    "daily_output",
    "output_records",
    "scrap_rate",
    "scrap_trend",
    "state_hours",
    "state_slices",
]

# A scrap-rate change smaller than half a percentage point, or than a fifth of the
# earlier rate, is day-to-day noise rather than a trend.
_MIN_RATE_CHANGE = 0.005
_MIN_RATE_RELATIVE = 0.2


@dataclass(frozen=True)
class StateSlice:
    """One machine event clipped to a period."""

    machine_id: str
    line_id: str
    site_id: str
    state: str
    reason_code: str | None
    started_at: datetime
    hours: float


def state_slices(conn: Connection, scope: DataScope, period: Period, *,
                 line_ids: Collection[str] | None = None, machine_ids: Collection[str] | None = None,
                 site_ids: Collection[str] | None = None, states: Collection[str] | None = None,
                 ) -> list[StateSlice]:
    """Machine events overlapping ``period`` (clipped to it) on machines of lines in scope."""
    me, m, pl = table("machine_events"), table("machines"), table("production_lines")
    stmt = (
        select(me.c.machine_id, m.c.line_id, pl.c.site_id, me.c.state, me.c.reason_code,
               me.c.started_at, me.c.ended_at)
        .join(m, m.c.machine_id == me.c.machine_id)
        .join(pl, pl.c.line_id == m.c.line_id)
        .where(scope.site_clause(pl.c.site_id), me.c.started_at < period.end_dt,
               me.c.ended_at > period.start_dt)
        .order_by(me.c.started_at, me.c.machine_id)
    )
    if line_ids is not None:
        stmt = stmt.where(m.c.line_id.in_(sorted(line_ids)))
    if machine_ids is not None:
        stmt = stmt.where(me.c.machine_id.in_(sorted(machine_ids)))
    if site_ids is not None:
        stmt = stmt.where(pl.c.site_id.in_(sorted(site_ids)))
    if states is not None:
        stmt = stmt.where(me.c.state.in_(sorted(states)))
    slices = []
    for row in conn.execute(stmt):
        start = max(row.started_at, period.start_dt)
        end = min(row.ended_at, period.end_dt)
        slices.append(StateSlice(row.machine_id, row.line_id, row.site_id, row.state, row.reason_code,
                                 start, max((end - start).total_seconds(), 0.0) / 3600.0))
    return slices


class StateHours(BaseModel):
    """Machine hours by state over a period, and the availability they give."""

    running_hours: float
    setup_hours: float
    down_hours: float
    idle_hours: float = Field(description="Unscheduled time; not part of availability.")
    availability: float | None = Field(
        description="running ÷ (running + setup + down); None when nothing was scheduled.")


def state_hours(slices: Iterable[StateSlice]) -> StateHours:
    """Sum ``slices`` by state and compute availability."""
    hours: dict[str, float] = defaultdict(float)
    for s in slices:
        hours[s.state] += s.hours
    scheduled = hours["running"] + hours["setup"] + hours["down"]
    return StateHours(
        running_hours=round(hours["running"], 3),
        setup_hours=round(hours["setup"], 3),
        down_hours=round(hours["down"], 3),
        idle_hours=round(hours["idle"], 3),
        availability=round(hours["running"] / scheduled, 4) if scheduled > 0 else None,
    )


@dataclass(frozen=True)
class OutputRecord:
    """One good-output confirmation or one scrap record."""

    kind: Literal["good", "scrap"]
    record_id: str
    site_id: str
    line_id: str
    wo_id: str | None
    item_id: str | None
    at: datetime
    qty: float
    reason_code: str | None


def output_records(conn: Connection, scope: DataScope, period: Period, *,
                   line_ids: Collection[str] | None = None, site_ids: Collection[str] | None = None,
                   ) -> list[OutputRecord]:
    """Good-output confirmations and scrap records in ``period`` on lines/sites in scope."""
    pc, sr = table("production_confirmations"), table("scrap_records")
    good = select(pc.c.confirmation_id, pc.c.site_id, pc.c.line_id, pc.c.wo_id, pc.c.confirmed_at,
                  pc.c.qty_good).where(scope.site_clause(pc.c.site_id), pc.c.confirmed_at >= period.start_dt,
                                       pc.c.confirmed_at < period.end_dt)
    scrap = select(sr.c.scrap_id, sr.c.site_id, sr.c.line_id, sr.c.wo_id, sr.c.item_id, sr.c.recorded_at,
                   sr.c.qty, sr.c.reason_code).where(scope.site_clause(sr.c.site_id),
                                                     sr.c.recorded_at >= period.start_dt,
                                                     sr.c.recorded_at < period.end_dt)
    if line_ids is not None:
        good = good.where(pc.c.line_id.in_(sorted(line_ids)))
        scrap = scrap.where(sr.c.line_id.in_(sorted(line_ids)))
    if site_ids is not None:
        good = good.where(pc.c.site_id.in_(sorted(site_ids)))
        scrap = scrap.where(sr.c.site_id.in_(sorted(site_ids)))
    records = [OutputRecord("good", r.confirmation_id, r.site_id, r.line_id, r.wo_id, None, r.confirmed_at,
                            float(r.qty_good), None) for r in conn.execute(good)]
    records += [OutputRecord("scrap", r.scrap_id, r.site_id, r.line_id, r.wo_id, r.item_id, r.recorded_at,
                             float(r.qty), r.reason_code) for r in conn.execute(scrap)]
    return records


def scrap_rate(good: float, scrap: float) -> float | None:
    """scrap ÷ (good + scrap), rounded; None when nothing was produced."""
    total = good + scrap
    return round(scrap / total, 4) if total > 0 else None


class DayOutput(BaseModel):
    """Good output and scrap on one day."""

    day: date
    good_qty: float
    scrap_qty: float
    scrap_rate: float | None = Field(description="scrap ÷ (good + scrap); None on a day without output.")


def daily_output(records: Iterable[OutputRecord], period: Period) -> list[DayOutput]:
    """One :class:`DayOutput` per day of ``period`` (days without output included)."""
    good: dict[date, float] = defaultdict(float)
    scrap: dict[date, float] = defaultdict(float)
    for r in records:
        (good if r.kind == "good" else scrap)[r.at.date()] += r.qty
    return [DayOutput(day=d, good_qty=round(good[d], 3), scrap_qty=round(scrap[d], 3),
                      scrap_rate=scrap_rate(good[d], scrap[d])) for d in period.days]


def scrap_trend(days: Sequence[DayOutput]) -> Trend:
    """Scrap-rate trend: daily least-squares slope, pooled rate of each half, and its direction."""
    points = [(float(i), d.scrap_rate) for i, d in enumerate(days) if d.scrap_rate is not None]
    first, second = halves(days)

    def pooled(part: Sequence[DayOutput]) -> float | None:
        return scrap_rate(sum(d.good_qty for d in part), sum(d.scrap_qty for d in part))

    first_rate, second_rate = pooled(first), pooled(second)
    fitted = slope(points)
    return Trend(
        slope_per_day=round(fitted, 5) if fitted is not None else None,
        first_half=first_rate,
        second_half=second_rate,
        direction=direction_of(first_rate, second_rate, min_change=_MIN_RATE_CHANGE,
                               min_relative=_MIN_RATE_RELATIVE),
    )
