"""Maintenance tools on crafted rows (hand-computed expectations) and on the generated demo plant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.factories import insert, make_ctx
from tools.errors import ArgumentError
from tools.ops import maintenance
from tools.scope import DataScope
from tools.spec import NotFound, ToolContext

P100 = DataScope.for_sites(["P100"])
TOOL = maintenance.TOOLS[0]


def run(ctx: ToolContext, args: dict[str, Any]) -> Any:
    """Invoke the tool through its spec (argument validation, NotFound) and return its typed result."""
    return TOOL.invoke(ctx, args)


def dt(day: int, hour: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour)


def _wo(wo_id: str, status: str, start: datetime, end: datetime, line: str = "P100-PK1") -> dict[str, Any]:
    return {"wo_id": wo_id, "site_id": line[:4], "line_id": line, "item_id": "FG-1001", "qty_planned": 100.0,
            "qty_completed": 40.0 if status == "running" else 0.0, "qty_scrapped": 0.0, "status": status,
            "planned_start": start, "planned_end": end, "due_date": end.date()}


@pytest.fixture
def plant(blank_plant: Engine) -> Engine:
    e = blank_plant
    insert(e, "items", [
        {"item_id": i, "description": f"{i} part", "item_type": t, "uom": "EA", "standard_cost": 1.0,
         "abc_class": "C"} for i, t in (("FG-1001", "finished"), ("SP-1", "spare"), ("SP-2", "spare"))])
    insert(e, "production_lines", [
        {"line_id": line, "site_id": line[:4], "name": line, "line_type": "packaging", "rate_per_hour": 100.0}
        for line in ("P100-PK1", "P200-MC1")])
    insert(e, "machines", [{"machine_id": "M-P100-PK1-01", "line_id": "P100-PK1", "name": "sealer"},
                           {"machine_id": "M-P200-MC1-01", "line_id": "P200-MC1", "name": "lathe"}])
    insert(e, "assets", [
        {"asset_id": a, "site_id": site, "machine_id": m, "name": a, "criticality": c, "mtbf_hours": 400.0}
        for a, site, m, c in (("AS-1", "P100", "M-P100-PK1-01", "A"), ("AS-2", "P100", None, "C"),
                              ("AS-9", "P200", "M-P200-MC1-01", "A"))])
    insert(e, "asset_health", [
        {"asset_id": a, "scored_at": at, "failure_probability": p, "horizon_days": h, "model_version": "v2",
         "top_signal": sig}
        for a, at, p, h, sig in (("AS-1", dt(20, month=2), 0.9, 7, "old"), ("AS-1", dt(1, 5), 0.6, 7, "bearing temp"),
                                 ("AS-2", dt(1, 5), 0.55, 30, "age"), ("AS-9", dt(1, 5), 0.95, 7, "vibration"))])
    insert(e, "maintenance_orders", [
        {"mo_id": mo, "asset_id": a, "mo_type": "predictive", "status": st, "priority": pr,
         "scheduled_start": dt(5, 8), "scheduled_end": dt(5, 12), "description": f"{mo} text"}
        for mo, a, st, pr in (("MO-1", "AS-1", "open", 2), ("MO-2", "AS-1", "completed", 1),
                              ("MO-3", "AS-1", "scheduled", 1), ("MO-9", "AS-9", "open", 1))])
    insert(e, "spare_parts", [{"asset_id": a, "item_id": i, "qty_required": q}
                              for a, i, q in (("AS-1", "SP-1", 2.0), ("AS-1", "SP-2", 1.0), ("AS-9", "SP-1", 1.0))])
    insert(e, "lots", [{"lot_id": lot, "item_id": i, "site_id": site, "status": "available", "qty_received": 10.0}
                       for lot, i, site in (("LOT-S1", "SP-1", "P100"), ("LOT-S2", "SP-1", "P100"),
                                            ("LOT-S3", "SP-2", "P100"), ("LOT-S9", "SP-1", "P200"))])
    insert(e, "inventory", [
        {"site_id": site, "location": "MRO", "item_id": i, "lot_id": lot, "qty_on_hand": q, "qty_reserved": r,
         "stock_status": st}
        for site, i, lot, q, r, st in (("P100", "SP-1", "LOT-S1", 1.0, 0.0, "unrestricted"),
                                       ("P100", "SP-1", "LOT-S2", 5.0, 0.0, "blocked"),
                                       ("P100", "SP-2", "LOT-S3", 4.0, 1.0, "unrestricted"),
                                       ("P200", "SP-1", "LOT-S9", 10.0, 0.0, "unrestricted"))])
    insert(e, "work_orders", [
        _wo("WO-1", "planned", dt(4, 8), dt(4, 20)),
        _wo("WO-2", "planned", dt(15, 8), dt(15, 20)),               # after the 7-day horizon
        _wo("WO-3", "completed", dt(3, 8), dt(3, 20)),               # not scheduled any more
        _wo("WO-4", "running", dt(25, 8, month=2), dt(3, 20)),       # started earlier, still running
        _wo("WO-5", "planned", dt(20, 8, month=2), dt(21, 8, month=2)),  # its window is over
        _wo("WO-9", "planned", dt(4, 8), dt(4, 20), line="P200-MC1"),
    ])
    return e


def test_assets_at_risk_with_orders_work_and_spare_shortfall(plant: Engine) -> None:
    res = run(make_ctx(plant, P100), {})
    assert [(a.asset_id, a.failure_probability) for a in res.assets] == [("AS-1", 0.6), ("AS-2", 0.55)]
    as1, as2 = res.assets
    assert (as1.line_id, as1.horizon_days, as1.top_signal, as1.criticality) == ("P100-PK1", 7, "bearing temp", "A")
    assert [m.mo_id for m in as1.open_maintenance_orders] == ["MO-3", "MO-1"]  # completed MO-2 left out
    assert [(w.wo_id, w.qty_remaining) for w in as1.scheduled_work_orders] == [("WO-4", 60.0), ("WO-1", 100.0)]
    # SP-1: 1 unrestricted (the blocked 5 and P200's 10 do not count); SP-2: 4 on hand − 1 reserved
    assert [(s.item_id, s.qty_required, s.qty_available, s.short, s.shortfall_qty) for s in as1.spare_parts] == [
        ("SP-1", 2.0, 1.0, True, 1.0), ("SP-2", 1.0, 3.0, False, 0.0)]
    assert as1.spares_short and not as2.spares_short
    assert as2.line_id is None and as2.scheduled_work_orders == [] and as2.spare_parts == []
    assert {"AS-1", "MO-3", "WO-4", "SP-1"} <= set(res.record_ids)
    assert "P200" not in res.model_dump_json() and "AS-9" not in res.record_ids


def test_assets_at_risk_threshold_filters_and_scope(plant: Engine) -> None:
    assert run(make_ctx(plant, P100), {"threshold": 0.7}).assets == []  # AS-1's 0.9 is not its latest
    at_threshold = run(make_ctx(plant, P100), {"threshold": 0.6})
    assert [a.asset_id for a in at_threshold.assets] == ["AS-1"]  # 0.6 ≥ 0.6 counts
    everywhere = run(make_ctx(plant), {"threshold": 0.7})
    assert [a.asset_id for a in everywhere.assets] == ["AS-9"]
    assert everywhere.assets[0].spare_parts[0].qty_available == 10.0  # P200 stock for the P200 asset
    line = run(make_ctx(plant), {"line_id": "P100-PK1"})
    assert [a.asset_id for a in line.assets] == ["AS-1"]
    limited = run(make_ctx(plant), {"limit": 1})
    assert limited.truncated and limited.total_matching == 3 and len(limited.assets) == 1
    one = run(make_ctx(plant), {"asset_id": "AS-2"})
    assert [a.asset_id for a in one.assets] == ["AS-2"]
    missing = run(make_ctx(plant, P100), {"asset_id": "AS-9"})
    assert isinstance(missing, NotFound) and missing.entity == "asset"
    assert isinstance(run(make_ctx(plant, P100), {"site_id": "P200"}), NotFound)
    with pytest.raises(ArgumentError) as err:
        run(make_ctx(plant), {"threshold": 1.5})
    assert err.value.field == "threshold"


def test_demo_asset_risk_shows_spare_shortage_and_work_order(demo_plant: Engine,
                                                              demo_manifest: dict[str, Any]) -> None:
    risk = demo_manifest["scenarios"]["asset_risk"]
    res = run(make_ctx(demo_plant), {})
    found = {a.asset_id: a for a in res.assets}
    assert risk["asset_id"] in found
    asset = found[risk["asset_id"]]
    assert asset.failure_probability == pytest.approx(risk["failure_probability"])
    assert (asset.machine_id, asset.line_id) == (risk["machine_id"], risk["line_id"])
    spare = {s.item_id: s for s in asset.spare_parts}[risk["spare_item_id"]]
    assert spare.short and spare.shortfall_qty > 0 and asset.spares_short
    assert risk["work_order_id"] in {w.wo_id for w in asset.scheduled_work_orders}
