"""MES time series: machine state events and process-parameter readings.

Each machine has one contiguous timeline over the last four weeks up to the
as-of time: idle off shift and when its line has no order, running with stops
(down, setup) while an order runs, and a changeover at each order start.
P100-AS1 breaks down far more often (the reallocation's constrained line), and
the PK1 heat sealer's seal temperature drifts out of tolerance (scrap spike).
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import Any

from tools.demo._calendar import is_workday
from tools.demo._model import Machine, Plant
from tools.demo._production import spike_start

__all__ = ["EVENT_DAYS", "build_mes"]

EVENT_DAYS = 28
"""Days of MES history before the as-of time."""
_Segment = tuple[datetime, datetime, str, str | None]


def _productive(plant: Plant, line_id: str, start: datetime) -> tuple[list[tuple[datetime, datetime]], list[datetime]]:
    busy, changeovers = [], []
    for wo in plant.work_orders:
        if wo.line_id == line_id and wo.days and wo.end > start:
            busy.append((max(wo.start, start), min(wo.end, plant.as_of)))
            if wo.start >= start:
                changeovers.append(wo.start)
    return sorted(busy), sorted(changeovers)


def _stops(plant: Plant, rng: random.Random, machine: Machine, lo: datetime, hi: datetime,
           out: list[_Segment]) -> None:
    reasons: list[list[Any]] = plant.vocab.plant["stop_reasons"]
    constrained = plant.scen.planted and machine.line_id == "P100-AS1"
    failing = machine.machine_id == plant.scen.asset_machine and lo >= plant.as_of - timedelta(days=7)
    mean_run = 60.0 if constrained else 150.0
    weights = [float(r[2]) * (6.0 if constrained and r[1] == "MECH_FAIL" else 1.0)
               * (2.0 if failing and r[1] == "MECH_FAIL" else 1.0) for r in reasons]
    t = lo
    while t < hi:
        run_end = min(hi, t + timedelta(minutes=max(10, round(rng.expovariate(1 / mean_run)))))
        out.append((t, run_end, "running", None))
        t = run_end
        if t >= hi:
            break
        state, reason, _, mean = rng.choices(reasons, weights=weights)[0]
        stop_end = min(hi, t + timedelta(minutes=max(3, round(float(mean) * rng.uniform(0.4, 1.6)))))
        out.append((t, stop_end, state, reason))
        t = stop_end


def _machine_timeline(plant: Plant, rng: random.Random, machine: Machine, start: datetime,
                      busy: list[tuple[datetime, datetime]], changeovers: list[datetime]) -> list[_Segment]:
    idle = plant.vocab.plant["idle_reasons"]
    out: list[_Segment] = []
    day = start.date()
    while datetime.combine(day, time(0)) < plant.as_of:
        day_start, day_end = datetime.combine(day, time(0)), min(plant.as_of, datetime.combine(day, time(0))
                                                                   + timedelta(days=1))
        if not is_workday(day):
            out.append((day_start, day_end, "idle", idle["off_shift"]))
            day += timedelta(days=1)
            continue
        shift_lo, shift_hi = datetime.combine(day, time(6)), min(day_end, datetime.combine(day, time(22)))
        out.append((day_start, min(shift_lo, day_end), "idle", idle["off_shift"]))
        t = shift_lo
        for lo, hi in busy:
            lo, hi = max(lo, shift_lo), min(hi, shift_hi)
            if hi <= lo or hi <= t:
                continue
            if lo > t:
                out.append((t, lo, "idle", idle["no_order"]))
            lo = max(lo, t)
            cuts = [c for c in changeovers if lo <= c < hi]
            piece = lo
            for cut in cuts:
                if cut > piece:
                    _stops(plant, rng, machine, piece, cut, out)
                setup_end = min(hi, cut + timedelta(minutes=rng.randint(20, 50)))
                out.append((cut, setup_end, "setup", "CHANGEOVER"))
                piece = max(piece, setup_end)
            if piece < hi:
                _stops(plant, rng, machine, piece, hi, out)
            t = hi
        if t < shift_hi:
            out.append((t, shift_hi, "idle", idle["no_order"]))
        if shift_hi < day_end:
            out.append((shift_hi, day_end, "idle", idle["off_shift"]))
        day += timedelta(days=1)
    merged: list[_Segment] = []
    for seg in out:
        if seg[1] <= seg[0]:
            continue
        if merged and merged[-1][2:] == seg[2:] and merged[-1][1] == seg[0]:
            merged[-1] = (merged[-1][0], seg[1], seg[2], seg[3])
        else:
            merged.append(seg)
    return merged


def _events(plant: Plant) -> list[dict[str, Any]]:
    rng = plant.rng("mes-events")
    start = datetime.combine(plant.today - timedelta(days=EVENT_DAYS), time(0))
    rows: list[dict[str, Any]] = []
    for line in plant.lines:
        busy, changeovers = _productive(plant, line.line_id, start)
        for machine in line.machines:
            for lo, hi, state, reason in _machine_timeline(plant, rng, machine, start, busy, changeovers):
                rows.append({"machine_id": machine.machine_id, "started_at": lo, "ended_at": hi, "state": state,
                             "reason_code": reason})
    for n, row in enumerate(rows, start=1):
        row["event_id"] = n
    return rows


def _reading(value: float, target: float) -> float:
    return round(value, 1 if abs(target) >= 100 else 2 if abs(target) >= 1 else 3)


def _drift(plant: Plant) -> dict[date, int]:
    """Working days of the spike window -> position (0 = first); the sealer is fully drifted by the last two."""
    day = spike_start(plant.today).date()
    out: dict[date, int] = {}
    while day < plant.today:
        if is_workday(day):
            out[day] = len(out)
        day += timedelta(days=1)
    return out


def _settings(plant: Plant) -> list[dict[str, Any]]:
    rng = plant.rng("mes-settings")
    types = plant.vocab.plant["machine_types"]
    drift_days = _drift(plant)
    full = max(1, len(drift_days) - 2)
    rows: list[dict[str, Any]] = []
    for line in plant.lines:
        for machine in line.machines:
            for parameter, (target, tolerance) in types[machine.mtype]["parameters"].items():
                scenario = (plant.scen.planted and machine.machine_id == plant.scen.sealer_id
                            and parameter == "seal_temperature")
                day: date = plant.today - timedelta(days=EVENT_DAYS)
                while day < plant.today:
                    if is_workday(day):
                        for hour in (7, 11, 15, 19):
                            moment = datetime.combine(day, time(hour, rng.randint(0, 9)))
                            noise = max(-0.8, min(0.8, rng.gauss(0, 0.25))) * tolerance
                            value = target + noise
                            if scenario:
                                # in tolerance, then a steady climb to ~192 over the spike window
                                value = target + 0.6 + max(-0.7, min(0.7, rng.gauss(0, 0.35)))
                                if day in drift_days:
                                    value += 6.6 * min(1.0, (drift_days[day] + hour / 24) / full)
                            rows.append({"machine_id": machine.machine_id, "parameter": parameter,
                                         "recorded_at": moment, "value": _reading(value, target),
                                         "target": float(target), "tolerance": float(tolerance)})
                    day += timedelta(days=1)
    return rows


def build_mes(plant: Plant) -> None:
    """Machine events and process settings for every machine."""
    plant.rows["machine_events"] = _events(plant)
    plant.rows["machine_settings"] = _settings(plant)
