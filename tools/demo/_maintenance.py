"""Assets, predictive health scores, maintenance orders, spare-part needs and spare stock.

The planted asset risk: the spindle of the P100-MC1 machining center is
A-critical, its failure probability climbed above 0.8, the line has an order
starting right after the as-of time, and P100 holds fewer spindle bearing sets
than a repair needs.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from typing import Any

from tools.demo._model import Lot, Machine, Plant

__all__ = ["build_maintenance"]

_A_TYPES = ("Heat Sealer", "CNC Machining Center", "Hydraulic Press", "End-of-Line Tester", "CNC Lathe")
_ASSET_COUNT = 60


def _assets(plant: Plant, rng: random.Random) -> list[dict[str, Any]]:
    subs: dict[str, list[str]] = plant.vocab.maintenance["sub_assets"]
    mains: list[tuple[str, Machine | None, str]] = []
    extra: list[tuple[str, Machine | None, str]] = []
    for line in plant.lines:
        for machine in line.machines:
            mains.append((line.site_id, machine, machine.name))
            for sub in subs.get(machine.mtype, []):
                entry = (line.site_id, machine, f"{machine.name} - {sub}")
                is_scenario = line.line_id == plant.scen.asset_line and machine.mtype == "CNC Machining Center"
                (mains if is_scenario and sub == "spindle" else extra).append(entry)
    facilities: list[tuple[str, Machine | None, str]] = [
        (site, None, name) for site, names in plant.vocab.maintenance["facility_assets"].items() for name in names
    ]
    chosen = mains + facilities
    chosen += rng.sample(extra, _ASSET_COUNT - len(chosen))
    chosen.sort(key=lambda a: (a[0], a[1].machine_id if a[1] else "~", a[2]))
    rows = []
    for n, (site_id, owner, name) in enumerate(chosen, start=1):
        asset_id = f"AS-{n:03d}"
        if owner is None:
            crit = "B"
        elif owner.mtype in _A_TYPES and " - " not in name:
            crit = "A"
        else:
            crit = rng.choice(("B", "B", "C"))
        if (plant.scen.planted and owner is not None and owner.line_id == plant.scen.asset_line
                and owner.mtype == "CNC Machining Center" and name.endswith("spindle")):
            crit = "A"
            plant.scen.asset_id, plant.scen.asset_machine = asset_id, owner.machine_id
        mtbf = {"A": (600, 1500), "B": (900, 2500), "C": (1500, 5000)}[crit]
        rows.append({"asset_id": asset_id, "site_id": site_id,
                     "machine_id": owner.machine_id if owner else None, "name": name,
                     "criticality": crit, "mtbf_hours": float(round(rng.uniform(*mtbf), -1)),
                     "_mtype": owner.mtype if owner else "*"})
    return rows


def _health(plant: Plant, rng: random.Random, assets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    vocab = plant.vocab.maintenance
    version, signals, alarms = vocab["model_version"], vocab["signals"], vocab["scenario_signals"]
    rows: list[dict[str, Any]] = []
    latest: dict[str, float] = {}
    for asset in assets:
        horizon = 30 if asset["machine_id"] is None else 7
        p = rng.uniform(0.02, 0.15)
        drift = rng.uniform(0.03, 0.07) if rng.random() < 0.12 else 0.0
        for weeks_back in range(7, -1, -1):
            p = min(0.62, max(0.01, p + drift + rng.gauss(0, 0.015)))
            when = datetime.combine(plant.today - timedelta(days=7 * weeks_back), time(2))
            signal = signals[rng.randrange(4)] if p < 0.25 else signals[4 + rng.randrange(len(signals) - 4)]
            rows.append({"asset_id": asset["asset_id"], "scored_at": when, "failure_probability": round(p, 3),
                         "horizon_days": horizon, "model_version": version, "top_signal": signal})
        latest[asset["asset_id"]] = round(p, 3)
        if asset["asset_id"] == plant.scen.asset_id:
            rows = [r for r in rows if r["asset_id"] != asset["asset_id"]]
            final = round(rng.uniform(0.82, 0.9), 2)
            path = [0.06, 0.07, 0.09, 0.12, 0.18, 0.31, 0.52, 0.58, 0.64, 0.69, 0.74, 0.79, final]
            days = [49, 42, 35, 28, 21, 14, 7, 6, 5, 4, 3, 2, 0]
            for prob, back in zip(path, days, strict=True):
                signal = alarms[0] if prob < 0.5 else alarms[1] if prob < 0.75 else alarms[2]
                if prob < 0.25:
                    signal = signals[0]
                rows.append({"asset_id": asset["asset_id"],
                             "scored_at": datetime.combine(plant.today - timedelta(days=back), time(2)),
                             "failure_probability": prob, "horizon_days": 7, "model_version": version,
                             "top_signal": signal})
            plant.scen.failure_probability = final
    return rows


def _orders(plant: Plant, rng: random.Random, assets: list[dict[str, Any]],
            health: list[dict[str, Any]]) -> list[dict[str, Any]]:
    texts = plant.vocab.maintenance["mo_texts"]
    latest = {r["asset_id"]: r["failure_probability"] for r in sorted(health, key=lambda r: r["scored_at"])}
    today = plant.today
    rows: list[dict[str, Any]] = []

    def add(asset: dict[str, Any], mo_type: str, status: str, start: datetime | None, hours: float,
            priority: int) -> None:
        end = start + timedelta(hours=hours) if start else None
        rows.append({"asset_id": asset["asset_id"], "mo_type": mo_type, "status": status, "priority": priority,
                     "scheduled_start": start, "scheduled_end": end,
                     "description": rng.choice(texts[mo_type]).format(asset=asset["name"])})

    for asset in assets:
        def at(days: int) -> datetime:
            return datetime.combine(today + timedelta(days=days), time(rng.choice((6, 8, 14, 22))))

        if rng.random() < 0.7:
            add(asset, "preventive", "completed", at(-rng.randint(5, 60)), rng.choice((2, 4, 6)), rng.randint(3, 4))
        if rng.random() < 0.6:
            add(asset, "preventive", "scheduled", at(rng.randint(3, 40)), rng.choice((2, 4, 8)), rng.randint(3, 4))
        roll = rng.random()
        if roll < 0.2:
            add(asset, "corrective", "completed", at(-rng.randint(2, 40)), rng.choice((1, 3, 5)), rng.randint(1, 2))
        elif roll < 0.25:
            add(asset, "corrective", "in_progress", at(-1), 30, 1)
        elif roll < 0.3:
            add(asset, "corrective", "open", None, 4, 2)
        elif roll < 0.32:
            add(asset, "corrective", "cancelled", None, 2, 3)
        if asset["asset_id"] == plant.scen.asset_id or latest[asset["asset_id"]] >= 0.4:
            if plant.scen.planted:
                add(asset, "predictive", "open", None, 6, 2)
                if asset["asset_id"] != plant.scen.asset_id:  # described in the manifest (exceptions)
                    plant.scen.exceptions.append(("unscheduled_predictive_order", asset["site_id"],
                                                  {"record_ids": [asset["asset_id"]], "item_ids": []}))
            else:  # a healthy plant: the planner has already scheduled the predictive work
                add(asset, "predictive", "scheduled", at(rng.randint(1, 3)), 6, 2)
    rows.sort(key=lambda r: (r["scheduled_start"] or datetime.max, r["asset_id"], r["mo_type"]))
    for n, row in enumerate(rows):
        row["mo_id"] = f"MO-{6001 + n}"
    return rows


def _spares(plant: Plant, rng: random.Random, assets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spares = [i for i in plant.items.values() if i.item_type == "spare"]
    scenario_spare = next(i for i in spares if i.description.startswith("Spindle bearing set 7014"))
    plant.scen.spare_item = scenario_spare.item_id
    rows: list[dict[str, Any]] = []
    for asset in assets:
        # the spindle bearing set is the scenario asset's part; other P100 assets do not list it
        own = [i for i in spares if i.tag == asset["_mtype"]
               and (i is not scenario_spare or asset["site_id"] != "P100")]
        general = [i for i in spares if i.tag == "*"]
        picks = rng.sample(own, min(len(own), rng.randint(1, 2))) if own else []
        if not picks or rng.random() < 0.4:
            picks += rng.sample([g for g in general if g not in picks], 1)
        if asset["asset_id"] == plant.scen.asset_id:
            picks = [scenario_spare, *[p for p in picks if p is not scenario_spare][:1]]
        for item in picks:
            qty = 2.0 if "bearing" in item.description.lower() else float(rng.choice((1, 1, 2, 4)))
            rows.append({"asset_id": asset["asset_id"], "item_id": item.item_id, "qty_required": qty})
    return rows


def _spare_stock(plant: Plant, rng: random.Random, assets: list[dict[str, Any]],
                 needs: list[dict[str, Any]]) -> None:
    site_of = {a["asset_id"]: a["site_id"] for a in assets}
    required: dict[tuple[str, str], float] = {}
    for row in needs:
        key = (row["item_id"], site_of[row["asset_id"]])
        required[key] = max(required.get(key, 0.0), row["qty_required"])
    for item in plant.items.values():
        if item.item_type == "spare" and not any(k[0] == item.item_id for k in required) and rng.random() < 0.5:
            required[(item.item_id, rng.choice(("P100", "P200")))] = 0.0
    latest = plant.as_of - timedelta(days=20)
    for (item_id, site_id), need in sorted(required.items()):
        stock = need + rng.randint(0, 3) if need else float(rng.randint(1, 6))
        if plant.scen.planted and item_id == plant.scen.spare_item and site_id == "P100":
            stock = need - 1  # one bearing set short of a spindle repair
        parts = [stock] if stock < 4 or rng.random() < 0.6 else [stock // 2, stock - stock // 2]
        for qty in parts:
            if qty <= 0:
                continue
            when = datetime.combine(plant.today - timedelta(days=rng.randint(20, 250)), time(rng.randint(8, 15)))
            while when.weekday() >= 5:
                when -= timedelta(days=1)
            plant.lots.append(Lot(item_id, site_id, min(when, latest), float(qty),
                                  supplier_id=plant.sourcing[(item_id, site_id)]))


def build_maintenance(plant: Plant) -> None:
    """Assets, health history, maintenance orders, spare needs and spare stock lots."""
    rng = plant.rng("maintenance")
    assets = _assets(plant, rng)
    health = _health(plant, rng, assets)
    orders = _orders(plant, rng, assets, health)
    needs = _spares(plant, rng, assets)
    _spare_stock(plant, rng, assets, needs)
    plant.rows["assets"] = [{k: v for k, v in a.items() if not k.startswith("_")} for a in assets]
    plant.rows["asset_health"] = health
    plant.rows["maintenance_orders"] = orders
    plant.rows["spare_parts"] = needs
    upcoming = [wo for wo in plant.work_orders if wo.line_id == plant.scen.asset_line
                and wo.status in ("released", "running") and wo.start >= plant.as_of]
    plant.scen.asset_wo = min(upcoming, key=lambda w: w.start) if upcoming else None
