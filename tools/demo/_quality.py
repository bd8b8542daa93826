"""Quality events: routine shop-floor defects, incoming inspection, and the planted ones.

Lots on quality hold or blocked always have an incoming or hold event that
explains why; the scrap spike has open SEAL-LEAK events naming the film lot.
"""

from __future__ import annotations

import random
from datetime import timedelta

from tools.demo._model import Lot, Plant, QualityEvent, WorkOrder

__all__ = ["build_quality_events"]

_ROUTINE = 300


def _fill(plant: Plant, rng: random.Random, template: str, *, item_id: str, qty: float,
          wo: WorkOrder | None = None, lot: Lot | None = None) -> str:
    machine = line_name = ""
    if wo is not None:
        line = plant.line(wo.line_id)
        machine, line_name = rng.choice(line.machines).name, line.name
    supplier = ""
    if lot is not None and lot.supplier_id:
        supplier = next(s.name for s in plant.suppliers if s.supplier_id == lot.supplier_id)
    return template.format(item=plant.items[item_id].description, qty=int(qty), wo=wo.wo_id if wo else "",
                           lot=lot.lot_id if lot else "", machine=machine, line=line_name, supplier=supplier)


def _incoming_qty(rng: random.Random, code: str, lot: Lot) -> float:
    """Samples out of tolerance, damaged units, or the whole lot when paperwork is missing."""
    if code == "INC-DIM":
        return float(rng.randint(3, 15))
    if code == "INC-DMG":
        return float(max(3, round(lot.qty_received * rng.uniform(0.01, 0.04))))
    return lot.qty_received


def _status(rng: random.Random, age_days: float) -> str:
    if age_days > 14:
        return "closed" if rng.random() < 0.92 else "contained"
    if age_days > 4:
        return rng.choice(("closed", "contained", "contained", "open"))
    return rng.choice(("open", "open", "contained"))


def _routine(plant: Plant, rng: random.Random) -> None:
    defects = plant.vocab.quality["defects"]
    started = [wo for wo in plant.work_orders if wo.days]
    for wo in rng.choices(started, weights=[len(wo.days) for wo in started], k=_ROUTINE):
        day = rng.choice(wo.days)
        detected = max(wo.start, day.at - timedelta(minutes=rng.randint(30, 600)))
        line_type = plant.line(wo.line_id).line_type
        code = rng.choice(sorted(defects[line_type]))
        qty = float(max(1, round(max(day.good, 1) * rng.uniform(0.002, 0.02))))
        severity = rng.choices(("minor", "major", "critical"), weights=(70, 25, 5))[0]
        text = _fill(plant, rng, rng.choice(defects[line_type][code]), item_id=wo.item_id, qty=qty, wo=wo,
                     lot=wo.output_lot)
        age = (plant.as_of - detected).total_seconds() / 86400
        plant.quality_events.append(QualityEvent(wo.site_id, wo.item_id, code, severity, qty, detected,
                                                 _status(rng, age), text, wo.line_id, wo, wo.output_lot))


def _incoming(plant: Plant, rng: random.Random) -> None:
    texts = plant.vocab.quality["defects"]["incoming"]
    purchased = [lot for lot in plant.lots if lot.wo is None and lot.supplier_id]
    for lot in purchased:
        if lot.status not in ("quality_hold", "blocked"):
            continue
        code = rng.choice(("INC-DOC", "INC-DIM")) if lot.status == "quality_hold" else "INC-DMG"
        qty = _incoming_qty(rng, code, lot)
        detected = lot.received_at + timedelta(hours=rng.randint(2, 20))
        detected = min(detected, plant.as_of - timedelta(minutes=30))
        status = "open" if lot.status == "quality_hold" else "contained"
        plant.quality_events.append(QualityEvent(
            lot.site_id, lot.item_id, code, "major", qty, detected, status,
            _fill(plant, rng, rng.choice(texts[code]), item_id=lot.item_id, qty=qty, lot=lot), lot=lot,
            tag="incoming"))
    history = [lot for lot in purchased if lot.status == "consumed"
               and plant.as_of - timedelta(days=60) < lot.received_at < plant.as_of - timedelta(days=10)]
    for lot in rng.sample(history, min(12, len(history))):
        code = rng.choice(("INC-DOC", "INC-DIM", "INC-DMG"))
        qty = _incoming_qty(rng, code, lot)
        plant.quality_events.append(QualityEvent(
            lot.site_id, lot.item_id, code, "minor", qty, lot.received_at + timedelta(hours=rng.randint(2, 30)),
            "closed", _fill(plant, rng, rng.choice(texts[code]), item_id=lot.item_id, qty=qty, lot=lot), lot=lot,
            tag="incoming"))


def _planted(plant: Plant, rng: random.Random) -> None:
    scen = plant.scen
    if not scen.planted:
        return
    texts = plant.vocab.quality["defects"]["scenario"]
    spike = sorted((wo for wo in plant.work_orders if wo.spike), key=lambda w: w.start)
    sealer = next(m for m in plant.line("P100-PK1").machines if m.machine_id == scen.sealer_id)
    for n, wo in enumerate(spike[-4:]):
        day = wo.days[-1]
        qty = float(max(5, sum(q for _, q in day.scrap) // 3))
        template = texts["SEAL-LEAK"][n % len(texts["SEAL-LEAK"])]
        text = template.format(item=plant.items[wo.item_id].description, qty=int(qty), wo=wo.wo_id,
                               lot=scen.spike_lot.lot_id if scen.spike_lot else "", machine=sealer.name)
        plant.quality_events.append(QualityEvent(
            "P100", scen.film_item, "SEAL-LEAK", "major", qty, day.at - timedelta(hours=rng.randint(1, 5)), "open",
            text, "P100-PK1", wo, scen.spike_lot, tag="scenario"))
    lot = scen.hold_lot
    if lot is not None and lot.wo is not None:
        qty = float(round(lot.qty_received * 0.1))
        text = _fill(plant, rng, texts["HOLD"][0], item_id=lot.item_id, qty=qty, wo=lot.wo, lot=lot)
        detected = min(lot.received_at + timedelta(hours=rng.randint(2, 8)), plant.as_of - timedelta(hours=1))
        plant.quality_events.append(QualityEvent(lot.site_id, lot.item_id, "FUNC-FAIL", "critical", qty, detected,
                                                 "open", text, lot.wo.line_id, lot.wo, lot, tag="hold"))


def build_quality_events(plant: Plant) -> None:
    """Create all quality events and number them QE-10001... in detection order."""
    rng = plant.rng("quality")
    _routine(plant, rng)
    _incoming(plant, rng)
    _planted(plant, rng)
    plant.quality_events.sort(key=lambda q: (q.detected_at, q.site_id, q.item_id, q.defect_code))
    for n, event in enumerate(plant.quality_events):
        event.qe_id = f"QE-{10001 + n}"
