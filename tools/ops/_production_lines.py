"""Line and machine tools of the production domain: line performance, machine downtime, parameter drift.

Exposed through :mod:`tools.ops.production` (``LINE_TOOLS``); kept apart to keep modules small.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

from pydantic import BaseModel, Field
from sqlalchemy import select

from tools.ops._line_metrics import (
    DayOutput,
    StateHours,
    daily_output,
    output_records,
    scrap_rate,
    scrap_trend,
    state_hours,
    state_slices,
)
from tools.ops.common import (
    PeriodArgs,
    Trend,
    direction_of,
    halves,
    lines_in_scope,
    require_machines,
    slope,
)
from tools.plant.schema import table
from tools.spec import ToolContext, ToolResult, ToolSpec

__all__ = [
    "LINE_TOOLS",
    "DownReason",
    "DowntimeByMachine",
    "LinePerformance",
    "LinePerformanceArgs",
    "LinePerformanceResult",
    "MachineDowntimeArgs",
    "MachineDowntimeResult",
    "ParameterDrift",
    "ParameterDriftArgs",
    "ParameterDriftResult",
    "line_performance",
    "machine_downtime",
    "machine_parameter_drift",
]

_UNSPECIFIED = "unspecified"


class LinePerformanceArgs(PeriodArgs):
    """Which lines and period to report on."""

    line_id: str | None = Field(None, description="Production line, e.g. P100-PK1; default every line "
                                                  "in scope.")
    site_id: str | None = Field(None, description="Only lines of this site, e.g. P100.")


class DownReason(BaseModel):
    """Down time of one reason code."""

    reason_code: str = Field(description="Reason recorded on the down events ('unspecified' when none).")
    hours: float
    events: int


class LinePerformance(StateHours):
    """One line's availability, down time, output and scrap over the period."""

    line_id: str
    site_id: str
    down_by_reason: list[DownReason] = Field(description="Down hours by reason, largest first.")
    good_qty: float = Field(description="Good output confirmed by the MES.")
    scrap_qty: float
    scrap_rate: float | None = Field(description="scrap ÷ (good + scrap) over the whole period.")
    scrap_trend: Trend = Field(description="Daily scrap-rate trend: slope, halves and direction.")
    daily: list[DayOutput] = Field(description="Good output, scrap and scrap rate per day.")


class LinePerformanceResult(ToolResult):
    """Performance of each requested line."""

    period_start: date
    period_end: date
    lines: list[LinePerformance]


def _down_reasons(slices: list[tuple[str | None, float]]) -> list[DownReason]:
    hours: dict[str, float] = defaultdict(float)
    events: dict[str, int] = defaultdict(int)
    for reason, h in slices:
        key = reason or _UNSPECIFIED
        hours[key] += h
        events[key] += 1
    return [DownReason(reason_code=k, hours=round(hours[k], 3), events=events[k])
            for k in sorted(hours, key=lambda k: (-hours[k], k))]


def line_performance(ctx: ToolContext, args: LinePerformanceArgs) -> LinePerformanceResult:
    """Availability, down time by reason, good output and scrap (rate, daily trend) per line."""
    period = args.period("line_performance", ctx.today)
    with ctx.engine.connect() as conn:
        lines = lines_in_scope(conn, ctx.scope, line_id=args.line_id, site_id=args.site_id)
        slices = state_slices(conn, ctx.scope, period, line_ids=lines)
        records = output_records(conn, ctx.scope, period, line_ids=lines)
    out = []
    for line_id, site_id in lines.items():
        own = [s for s in slices if s.line_id == line_id]
        recs = [r for r in records if r.line_id == line_id]
        days = daily_output(recs, period)
        good = sum(d.good_qty for d in days)
        scrap = sum(d.scrap_qty for d in days)
        out.append(LinePerformance(
            **state_hours(own).model_dump(), line_id=line_id, site_id=site_id,
            down_by_reason=_down_reasons([(s.reason_code, s.hours) for s in own if s.state == "down"]),
            good_qty=round(good, 3), scrap_qty=round(scrap, 3), scrap_rate=scrap_rate(good, scrap),
            scrap_trend=scrap_trend(days), daily=days))
    return LinePerformanceResult(as_of=ctx.as_of, record_ids=list(lines), period_start=period.start,
                                 period_end=period.end, lines=out)


class MachineDowntimeArgs(PeriodArgs):
    """Which machines, reason and period to report down time for."""

    machine_id: str | None = Field(None, description="Machine, e.g. M-P100-PK1-01.")
    line_id: str | None = Field(None, description="Production line, e.g. P100-PK1.")
    site_id: str | None = Field(None, description="Site, e.g. P100.")
    reason_code: str | None = Field(None, description="Only down events with this reason code.")
    limit: int = Field(10, ge=1, le=200, description="How many of the longest down events to list.")


class DowntimeByMachine(BaseModel):
    """Down time of one machine."""

    machine_id: str
    line_id: str
    hours: float
    events: int
    top_reason: str


class DownEvent(BaseModel):
    """One down event (clipped to the period)."""

    machine_id: str
    line_id: str
    started_at: datetime
    hours: float
    reason_code: str


class MachineDowntimeResult(ToolResult):
    """Down events over the period: totals, by reason, by machine and the longest events."""

    period_start: date
    period_end: date
    total_down_hours: float
    event_count: int
    by_reason: list[DownReason] = Field(description="Down hours by reason, largest first (top reasons).")
    by_machine: list[DowntimeByMachine] = Field(description="Down hours by machine, largest first.")
    longest_events: list[DownEvent]


def machine_downtime(ctx: ToolContext, args: MachineDowntimeArgs) -> MachineDowntimeResult:
    """Down events by machine, line and reason over the period."""
    period = args.period("machine_downtime", ctx.today)
    m, pl = table("machines"), table("production_lines")
    with ctx.engine.connect() as conn:
        lines = lines_in_scope(conn, ctx.scope, line_id=args.line_id, site_id=args.site_id)
        machines = None
        if args.machine_id:
            require_machines(conn, ctx.scope, [args.machine_id])
            machines = [args.machine_id]
        slices = [s for s in state_slices(conn, ctx.scope, period, line_ids=lines, machine_ids=machines,
                                          states=["down"])
                  if args.reason_code is None or s.reason_code == args.reason_code]
        machine_lines = {r.machine_id: r.line_id for r in conn.execute(
            select(m.c.machine_id, m.c.line_id).join(pl, pl.c.line_id == m.c.line_id)
            .where(ctx.scope.site_clause(pl.c.site_id), m.c.line_id.in_(sorted(lines))))}
    per_machine: dict[str, list[tuple[str | None, float]]] = defaultdict(list)
    for s in slices:
        per_machine[s.machine_id].append((s.reason_code, s.hours))
    by_machine = [DowntimeByMachine(machine_id=mid, line_id=machine_lines[mid],
                                    hours=round(sum(h for _, h in ev), 3), events=len(ev),
                                    top_reason=_down_reasons(ev)[0].reason_code)
                  for mid, ev in per_machine.items()]
    by_machine.sort(key=lambda d: (-d.hours, d.machine_id))
    longest = sorted(slices, key=lambda s: (-s.hours, s.started_at, s.machine_id))[: args.limit]
    return MachineDowntimeResult(
        as_of=ctx.as_of,
        record_ids=list(dict.fromkeys(i for d in by_machine for i in (d.machine_id, d.line_id))),
        period_start=period.start, period_end=period.end,
        total_down_hours=round(sum(s.hours for s in slices), 3), event_count=len(slices),
        by_reason=_down_reasons([(s.reason_code, s.hours) for s in slices]), by_machine=by_machine,
        longest_events=[DownEvent(machine_id=s.machine_id, line_id=s.line_id, started_at=s.started_at,
                                  hours=round(s.hours, 3), reason_code=s.reason_code or _UNSPECIFIED)
                        for s in longest])


class ParameterDriftArgs(PeriodArgs):
    """Which machine settings and period to check."""

    machine_id: str | None = Field(None, description="Machine, e.g. M-P100-PK1-01.")
    line_id: str | None = Field(None, description="Production line, e.g. P100-PK1 (all its machines).")
    site_id: str | None = Field(None, description="Site, e.g. P100 (all its machines).")
    parameter: str | None = Field(None, description="One parameter name, e.g. seal_temperature; default all.")
    limit: int = Field(50, ge=1, le=500, description="Maximum number of machine/parameter series returned.")


class ParameterDrift(BaseModel):
    """One machine parameter's readings over the period against its target and tolerance."""

    machine_id: str
    line_id: str
    parameter: str
    readings: int
    latest_value: float
    latest_at: datetime
    target: float = Field(description="Target of the latest reading.")
    tolerance: float = Field(description="Allowed ± deviation from target of the latest reading.")
    latest_deviation: float = Field(description="latest_value − target.")
    latest_out_of_tolerance: bool
    out_of_tolerance_count: int = Field(description="Readings with |value − target| > tolerance.")
    first_out_of_tolerance_at: datetime | None = Field(
        description="First out-of-tolerance reading in the period.")
    trend: Trend = Field(description="Value trend: slope per day, mean of each half of the readings, "
                                     "direction (a change under a quarter of the tolerance is 'stable').")
    drifting_away: bool = Field(description="The second half sits further from target than the first half, "
                                            "by at least a quarter of the tolerance.")


class ParameterDriftResult(ToolResult):
    """Parameter series, out-of-tolerance ones first."""

    period_start: date
    period_end: date
    out_of_tolerance_now: int = Field(description="Series whose latest reading is out of tolerance.")
    truncated: bool
    parameters: list[ParameterDrift]


def _drift(machine_id: str, line_id: str, parameter: str, rows: list[tuple[datetime, float, float, float]],
           period_start: datetime) -> ParameterDrift:
    at, value, target, tolerance = rows[-1]
    out = [r for r in rows if abs(r[1] - r[2]) > r[3]]
    first, second = halves([r[1] for r in rows])
    first_mean = sum(first) / len(first) if first else None
    second_mean = sum(second) / len(second) if second else None
    fitted = slope([((r[0] - period_start).total_seconds() / 86400.0, r[1]) for r in rows])
    away = (first_mean is not None and second_mean is not None
            and abs(second_mean - target) - abs(first_mean - target) >= 0.25 * tolerance)
    return ParameterDrift(
        machine_id=machine_id, line_id=line_id, parameter=parameter, readings=len(rows), latest_value=value,
        latest_at=at, target=target, tolerance=tolerance, latest_deviation=round(value - target, 4),
        latest_out_of_tolerance=abs(value - target) > tolerance, out_of_tolerance_count=len(out),
        first_out_of_tolerance_at=out[0][0] if out else None,
        trend=Trend(slope_per_day=round(fitted, 5) if fitted is not None else None,
                    first_half=round(first_mean, 4) if first_mean is not None else None,
                    second_half=round(second_mean, 4) if second_mean is not None else None,
                    direction=direction_of(first_mean, second_mean, min_change=0.25 * tolerance)),
        drifting_away=away)


def machine_parameter_drift(ctx: ToolContext, args: ParameterDriftArgs) -> ParameterDriftResult:
    """Machine-setting readings vs target and tolerance: latest, out-of-tolerance count, first time, trend."""
    period = args.period("machine_parameter_drift", ctx.today)
    ms, m, pl = table("machine_settings"), table("machines"), table("production_lines")
    with ctx.engine.connect() as conn:
        lines = lines_in_scope(conn, ctx.scope, line_id=args.line_id, site_id=args.site_id)
        if args.machine_id:
            require_machines(conn, ctx.scope, [args.machine_id])
        stmt = (select(ms.c.machine_id, m.c.line_id, ms.c.parameter, ms.c.recorded_at, ms.c.value,
                       ms.c.target, ms.c.tolerance)
                .join(m, m.c.machine_id == ms.c.machine_id).join(pl, pl.c.line_id == m.c.line_id)
                .where(ctx.scope.site_clause(pl.c.site_id), m.c.line_id.in_(sorted(lines)),
                       ms.c.recorded_at >= period.start_dt,
                       ms.c.recorded_at < period.end_dt)
                .order_by(ms.c.machine_id, ms.c.parameter, ms.c.recorded_at))
        if args.machine_id:
            stmt = stmt.where(ms.c.machine_id == args.machine_id)
        if args.parameter:
            stmt = stmt.where(ms.c.parameter == args.parameter)
        series: dict[tuple[str, str, str], list[tuple[datetime, float, float, float]]] = defaultdict(list)
        for r in conn.execute(stmt):
            series[(r.machine_id, r.line_id, r.parameter)].append(
                (r.recorded_at, r.value, r.target, r.tolerance))
    drifts = [_drift(mid, lid, p, rows, period.start_dt) for (mid, lid, p), rows in series.items()]
    drifts.sort(key=lambda d: (not d.latest_out_of_tolerance, -d.out_of_tolerance_count, d.machine_id,
                               d.parameter))
    shown = drifts[: args.limit]
    return ParameterDriftResult(
        as_of=ctx.as_of, record_ids=list(dict.fromkeys(d.machine_id for d in shown)),
        period_start=period.start, period_end=period.end,
        out_of_tolerance_now=sum(d.latest_out_of_tolerance for d in drifts),
        truncated=len(drifts) > len(shown), parameters=shown)


LINE_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="line_performance",
        description=(
            "Performance of a production line (or every line in scope) over a period (default last 14 "
            "days): availability = running ÷ (running + setup + down) machine hours, down hours by reason, "
            "good output, scrap qty and scrap rate overall and per day, and the scrap-rate trend (slope, "
            "first vs second half, 'rising'/'stable'/'falling'). Use it for 'how is line X doing', "
            "OEE/availability or scrap-trend questions."),
        domain="production", args_model=LinePerformanceArgs, result_model=LinePerformanceResult,
        fn=line_performance,
    ),
    ToolSpec(
        name="machine_downtime",
        description=(
            "Machine down time over a period (default last 14 days) for a machine, line or site: total down "
            "hours and events, hours by reason code (top reasons first), by machine, and the longest down "
            "events. Use it for 'why was line X down', 'which machines lose most time'."),
        domain="production", args_model=MachineDowntimeArgs, result_model=MachineDowntimeResult,
        fn=machine_downtime,
    ),
    ToolSpec(
        name="machine_parameter_drift",
        description=(
            "Machine setting readings (e.g. temperatures, pressures, speeds) for a machine, line or site "
            "over a period (default last 14 days), optionally one parameter: latest value vs target and "
            "tolerance, count of out-of-tolerance readings, when the first one happened, and the value "
            "trend. Out-of-tolerance series come first. Use it to find process drift behind scrap or "
            "quality issues."),
        domain="production", args_model=ParameterDriftArgs, result_model=ParameterDriftResult,
        fn=machine_parameter_drift,
    ),
)
