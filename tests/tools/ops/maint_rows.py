"""A crafted two-site maintenance plant in ``blank_plant``: assets, health scores, maintenance orders, spare
parts, spare stock and reservations, small enough that every expectation is computed by hand.

P100: AS-1 on P100-PK1 (latest score 0.6, an older 0.9), AS-3 on P100-MC1 (0.8), AS-2 a facility asset with no
machine and no score. P200: AS-9 on P200-MC1 (0.95). TODAY is Monday 2026-03-02.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine

from tests.factories import TODAY, insert
from tools.scope import DataScope

P100 = DataScope.for_sites(["P100"])
P200 = DataScope.for_sites(["P200"])
COST = "items.standard_cost"
COSTS = {"SP-1": 12.5, "SP-2": 40.0, "SP-3": 7.25, "SP-4": 3.0, "FG-1001": 9.0}


def at(offset: int | None, hour: int = 8) -> datetime | None:
    """A datetime on TODAY + offset days; ``None`` for no offset (an unscheduled order)."""
    return None if offset is None else datetime.combine(TODAY + timedelta(days=offset), time(hour))


# mo_id, asset, type, status, priority, start (days from today, hour)
ORDERS: tuple[tuple[str, str, str, str, int, tuple[int, int] | None], ...] = (
    ("MO-1", "AS-1", "predictive", "open", 2, None),
    ("MO-2", "AS-1", "preventive", "completed", 3, (-5, 8)),
    ("MO-3", "AS-1", "preventive", "scheduled", 2, (3, 8)),
    ("MO-10", "AS-1", "preventive", "scheduled", 4, (3, 8)),   # same start as MO-3, less urgent
    ("MO-4", "AS-3", "corrective", "in_progress", 1, (-1, 22)),  # started yesterday
    ("MO-5", "AS-3", "preventive", "scheduled", 3, (0, 14)),     # today
    ("MO-8", "AS-3", "preventive", "scheduled", 3, (8, 6)),      # one day past a 7-day window
    ("MO-6", "AS-2", "preventive", "scheduled", 4, (7, 6)),      # last day of a 7-day window
    ("MO-7", "AS-2", "corrective", "cancelled", 3, None),
    ("MO-9", "AS-9", "predictive", "open", 1, (1, 6)),           # P200
)


def seed_maintenance(e: Engine) -> Engine:
    """Insert the crafted maintenance plant into ``e`` (a blank plant) and return it."""
    insert(e, "items", [
        {"item_id": i, "description": f"{i} part", "item_type": "finished" if i.startswith("FG") else "spare",
         "uom": "EA", "standard_cost": cost, "abc_class": "C"} for i, cost in COSTS.items()])
    insert(e, "production_lines", [
        {"line_id": line, "site_id": line[:4], "name": line, "line_type": "packaging", "rate_per_hour": 100.0}
        for line in ("P100-PK1", "P100-MC1", "P200-MC1")])
    insert(e, "machines", [{"machine_id": f"M-{line}-01", "line_id": line, "name": line}
                           for line in ("P100-PK1", "P100-MC1", "P200-MC1")])
    insert(e, "assets", [
        {"asset_id": a, "site_id": site, "machine_id": m, "name": f"{a} name", "criticality": "A",
         "mtbf_hours": 400.0}
        for a, site, m in (("AS-1", "P100", "M-P100-PK1-01"), ("AS-2", "P100", None),
                           ("AS-3", "P100", "M-P100-MC1-01"), ("AS-9", "P200", "M-P200-MC1-01"))])
    insert(e, "asset_health", [
        {"asset_id": a, "scored_at": at(days, 2), "failure_probability": p, "horizon_days": 7,
         "model_version": "v2", "top_signal": "vibration"}
        for a, days, p in (("AS-1", -7, 0.9), ("AS-1", 0, 0.6), ("AS-3", 0, 0.8), ("AS-9", 0, 0.95))])
    insert(e, "maintenance_orders", [
        {"mo_id": mo, "asset_id": a, "mo_type": t, "status": st, "priority": pr,
         "scheduled_start": at(*start) if start else None,
         "scheduled_end": at(start[0], start[1] + 1) if start else None, "description": f"{mo} text"}
        for mo, a, t, st, pr, start in ORDERS])
    insert(e, "spare_parts", [{"asset_id": a, "item_id": i, "qty_required": q} for a, i, q in (
        ("AS-1", "SP-1", 2.0), ("AS-1", "SP-2", 1.0), ("AS-3", "SP-1", 1.0), ("AS-3", "SP-3", 4.0),
        ("AS-2", "SP-2", 1.0), ("AS-9", "SP-1", 1.0), ("AS-9", "SP-4", 1.0))])
    lots = (("LOT-S1", "SP-1", "P100"), ("LOT-S2", "SP-1", "P100"), ("LOT-S3", "SP-2", "P100"),
            ("LOT-S4", "SP-3", "P100"), ("LOT-S5", "SP-3", "P100"), ("LOT-S9", "SP-1", "P200"))
    insert(e, "lots", [{"lot_id": lot, "item_id": i, "site_id": site, "status": "available", "qty_received": 10.0}
                       for lot, i, site in lots])
    insert(e, "inventory", [
        {"site_id": site, "location": "MRO", "item_id": i, "lot_id": lot, "qty_on_hand": q, "qty_reserved": r,
         "stock_status": st}
        for site, i, lot, q, r, st in (("P100", "SP-1", "LOT-S1", 1.0, 0.0, "unrestricted"),
                                       ("P100", "SP-1", "LOT-S2", 5.0, 0.0, "blocked"),
                                       ("P100", "SP-2", "LOT-S3", 4.0, 1.5, "unrestricted"),
                                       ("P100", "SP-3", "LOT-S4", 3.0, 0.0, "unrestricted"),
                                       ("P100", "SP-3", "LOT-S5", 2.0, 0.0, "quality_inspection"),
                                       ("P200", "SP-1", "LOT-S9", 10.0, 2.0, "unrestricted"))])
    insert(e, "spare_reservations", [
        {"reservation_id": rid, "asset_id": a, "item_id": i, "site_id": site, "location": "MRO", "lot_id": lot,
         "qty": q, "reserved_at": at(-1), "request_id": "req-test"}
        for rid, a, i, site, lot, q in (("SPR-1", "AS-1", "SP-2", "P100", "LOT-S3", 1.0),
                                        ("SPR-2", "AS-1", "SP-2", "P100", "LOT-S3", 0.5),
                                        ("SPR-9", "AS-9", "SP-1", "P200", "LOT-S9", 2.0))])
    return e


def fields_of(rows: Any, *fields: str) -> list[tuple[Any, ...]]:
    """The named fields of each result row, as tuples."""
    return [tuple(getattr(r, f) for f in fields) for r in rows]
