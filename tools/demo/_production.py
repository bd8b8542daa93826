"""Shop-floor execution: daily good output and scrap per work order, and the lots they produce.

MES confirmations carry good output only; scrap goes to scrap records. The
planted scrap spike lives here: P100-PK1 orders that started in the last ten
days run on the suspect film lot and scrap rises day by day.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from tools.demo._calendar import work_segments
from tools.demo._model import DayOutput, Lot, Plant, WorkOrder

__all__ = ["SPIKE_DAYS", "execute", "spike_start", "split_total"]

SPIKE_DAYS = 10
"""The scrap spike covers today-10 ... today-1."""
_BASE_SCRAP = {"packaging": (0.008, 0.018), "assembly": (0.005, 0.014), "machining": (0.01, 0.022)}


def spike_start(today: date) -> datetime:
    """Midnight at the start of the spike window."""
    return datetime.combine(today - timedelta(days=SPIKE_DAYS), time(0))


def split_total(total: int, weights: list[float]) -> list[int]:
    """Split an integer total in proportion to weights, exactly (largest remainder)."""
    if not weights or sum(weights) <= 0:
        return [0] * len(weights)
    raw = [total * w / sum(weights) for w in weights]
    parts = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - parts[i]), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _scrap_split(rng: random.Random, scrap: int, reasons: list[str], spike: bool) -> list[tuple[str, int]]:
    if scrap <= 0:
        return []
    if spike:
        startup = min(scrap - 1, max(0, round(scrap * rng.uniform(0.05, 0.15))))
        return [(r, q) for r, q in (("SEAL_FAIL", scrap - startup), ("STARTUP_WASTE", startup)) if q > 0]
    if scrap >= 4 and rng.random() < 0.35:
        first, second = rng.sample(reasons, 2)
        part = rng.randint(1, scrap - 1)
        return [(first, part), (second, scrap - part)]
    return [(rng.choice(reasons), scrap)]


def _run(plant: Plant, rng: random.Random, wo: WorkOrder) -> None:
    line = plant.line(wo.line_id)
    segments = work_segments(wo.start, min(wo.end, plant.as_of))
    if not segments:
        return
    share = rng.uniform(0.985, 1.005) if wo.status == "completed" else wo.progress
    total = round(wo.qty_planned * share)
    produced = split_total(total, [(hi - lo).total_seconds() for lo, hi in segments])
    low, high = _BASE_SCRAP[line.line_type]
    base_rate = rng.uniform(low, high)
    reasons: list[str] = plant.vocab.quality["scrap_reasons"][line.line_type]
    first_day = plant.today - timedelta(days=SPIKE_DAYS)
    for (_, hi), qty in zip(segments, produced, strict=True):
        if qty <= 0:
            continue
        if wo.spike:
            ramp = (hi.date() - first_day).days / (SPIKE_DAYS - 1)
            rate = 0.03 + 0.09 * ramp + rng.uniform(-0.006, 0.006)
        else:
            rate = base_rate * rng.uniform(0.7, 1.3)
        scrap = round(qty * rate)
        wo.days.append(DayOutput(hi, qty - scrap, _scrap_split(rng, scrap, reasons, wo.spike)))
    if wo.qty_completed > 0:
        lot = Lot(wo.item_id, wo.site_id, wo.days[-1].at, wo.qty_completed, wo=wo)
        wo.output_lot = lot
        plant.lots.append(lot)


def execute(plant: Plant) -> None:
    """Produce MES output for every started order and create the manufactured lots."""
    rng = plant.rng("execution")
    start = spike_start(plant.today)
    film = plant.scen.film_item
    for wo in plant.work_orders:
        if wo.status not in ("completed", "running"):
            continue
        wo.spike = (plant.scen.planted and wo.line_id == "P100-PK1" and wo.start >= start
                    and any(b.component == film for b in plant.components(wo.item_id)))
        _run(plant, rng, wo)
