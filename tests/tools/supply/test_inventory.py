"""inventory_lookup, projected_stock and items_below_reorder on crafted rows (expected values by hand)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.factories import insert, make_ctx
from tests.tools.supply.scm_rows import P100, at, day, item, line, lot, po, seed_lines, stock, supplier, wo
from tools.errors import ArgumentError
from tools.scope import DataScope
from tools.spec import NotFound, ToolResult
from tools.supply.inventory import TOOLS, BelowReorderResult, InventoryLookupResult, ProjectedStockResult
from tools.supply.projection import projected_positions

SPECS = {spec.name: spec for spec in TOOLS}


def _demo_available() -> bool:
    try:
        return hasattr(importlib.import_module("tools.demo"), "build_plant")
    except ImportError:
        return False


needs_demo = pytest.mark.skipif(not _demo_available(), reason="tools.demo (demo plant generator) not available yet")


def call(engine: Engine, tool: str, scope: DataScope | None = None, **args: Any) -> ToolResult:
    return SPECS[tool].invoke(make_ctx(engine, scope), args)


def lookup(engine: Engine, scope: DataScope | None = None, **args: Any) -> InventoryLookupResult:
    result = call(engine, "inventory_lookup", scope, **args)
    assert isinstance(result, InventoryLookupResult), result
    return result


def projected(engine: Engine, scope: DataScope | None = None, **args: Any) -> ProjectedStockResult:
    result = call(engine, "projected_stock", scope, **args)
    assert isinstance(result, ProjectedStockResult), result
    return result


def below(engine: Engine, scope: DataScope | None = None, **args: Any) -> BelowReorderResult:
    result = call(engine, "items_below_reorder", scope, **args)
    assert isinstance(result, BelowReorderResult), result
    return result


@pytest.fixture
def stocked(blank_plant: Engine) -> Engine:
    insert(blank_plant, "items", [item("RM-3001", abc="B"), item("RM-3002", abc="A"), item("RM-3003"),
                                  item("CP-2900", "component", abc="B")])
    insert(blank_plant, "lots", [
        lot("LOT-P100-0001", "RM-3001"), lot("LOT-P100-0002", "RM-3001", status="quality_hold"),
        lot("LOT-P100-0003", "RM-3001", status="blocked"), lot("LOT-P100-0004", "RM-3003"),
        lot("LOT-P200-0001", "RM-3001", "P200"), lot("LOT-P200-0002", "CP-2900", "P200", status="blocked"),
    ])
    insert(blank_plant, "inventory", [
        stock("P100", "RM-01", "RM-3001", "LOT-P100-0001", 100, reserved=30),
        stock("P100", "QC-01", "RM-3001", "LOT-P100-0002", 40, status="quality_inspection"),
        stock("P100", "MRB-01", "RM-3001", "LOT-P100-0003", 5, status="blocked"),
        stock("P100", "RM-02", "RM-3003", "LOT-P100-0004", 20),
        stock("P200", "RM-01", "RM-3001", "LOT-P200-0001", 70),
        stock("P200", "MRB-01", "CP-2900", "LOT-P200-0002", 9, status="blocked"),
    ])
    insert(blank_plant, "reorder_points", [
        {"site_id": "P100", "item_id": "RM-3001", "min_qty": 100.0, "max_qty": 400.0},
        {"site_id": "P100", "item_id": "RM-3002", "min_qty": 50.0, "max_qty": 100.0},
        {"site_id": "P100", "item_id": "RM-3003", "min_qty": 10.0, "max_qty": 60.0},
        {"site_id": "P200", "item_id": "RM-3001", "min_qty": 50.0, "max_qty": 90.0},
        {"site_id": "P200", "item_id": "CP-2900", "min_qty": 100.0, "max_qty": 200.0},
    ])
    insert(blank_plant, "suppliers", [supplier("S-001")])
    insert(blank_plant, "purchase_orders", [po("PO-1001", status="acknowledged", acknowledged_at=at(-2))])
    insert(blank_plant, "po_lines", [line("PO-1001", 1, "RM-3001", qty=100, need=day(5), promised=day(4)),
                                     line("PO-1001", 2, "RM-3001", qty=100, need=day(9), promised=day(9))])
    return blank_plant


# ---------------------------------------------------------------------------- inventory_lookup


def test_lookup_rows_and_totals(stocked: Engine) -> None:
    r = lookup(stocked, item_id="RM-3001")
    assert [(x.site_id, x.lot_id) for x in r.rows] == [
        ("P100", "LOT-P100-0003"), ("P100", "LOT-P100-0002"), ("P100", "LOT-P100-0001"), ("P200", "LOT-P200-0001")]
    first = next(x for x in r.rows if x.lot_id == "LOT-P100-0001")
    assert (first.qty_on_hand, first.qty_reserved, first.qty_available, first.lot_status) == (100, 30, 70, "available")
    assert next(x for x in r.rows if x.lot_id == "LOT-P100-0002").qty_available == 0  # QI stock is not available
    totals = {t.site_id: t for t in r.totals}
    p100 = totals["P100"]
    assert (p100.qty_on_hand, p100.qty_reserved, p100.qty_available) == (145, 30, 70)
    assert (p100.qty_quality_inspection, p100.qty_blocked, p100.rows) == (40, 5, 3)
    assert totals["P200"].qty_available == 70
    assert set(r.record_ids) == {"LOT-P100-0001", "LOT-P100-0002", "LOT-P100-0003", "LOT-P200-0001", "RM-3001"}


def test_lookup_filters_and_limit_keep_totals(stocked: Engine) -> None:
    assert [x.lot_id for x in lookup(stocked, stock_status="blocked").rows] == ["LOT-P100-0003", "LOT-P200-0002"]
    assert [x.lot_id for x in lookup(stocked, location="RM-02").rows] == ["LOT-P100-0004"]
    assert [x.lot_id for x in lookup(stocked, lot_id="LOT-P200-0001").rows] == ["LOT-P200-0001"]
    r = lookup(stocked, P100, item_id="RM-3001", limit=1)
    assert len(r.rows) == 1 and r.total_rows == 3 and r.truncated
    assert r.totals[0].qty_on_hand == 145


def test_lookup_in_p100_scope_sees_no_p200_row(stocked: Engine) -> None:
    r = lookup(stocked, P100)
    assert {x.site_id for x in r.rows} == {"P100"} and r.total_rows == 4
    dump = r.model_dump_json()
    assert "P200" not in dump and "CP-2900" not in dump


@pytest.mark.parametrize(("args", "entity"), [
    ({"lot_id": "LOT-P200-0001"}, "lot"), ({"lot_id": "LOT-P100-9999"}, "lot"), ({"item_id": "CP-2900"}, "item"),
    ({"item_id": "XX-0001"}, "item"), ({"site_id": "P200"}, "site"),
])
def test_lookup_not_found(stocked: Engine, args: dict[str, Any], entity: str) -> None:
    result = call(stocked, "inventory_lookup", P100, **args)
    assert isinstance(result, NotFound) and result.entity == entity and result.missing_ids == list(args.values())


def test_item_present_at_site_without_stock_is_an_explained_empty_answer(stocked: Engine) -> None:
    r = lookup(stocked, item_id="RM-3002")  # has a reorder point at P100, no stock
    assert r.rows == [] and r.totals == [] and "no inventory rows" in r.message


# ---------------------------------------------------------------------------- projected_stock


def test_projection_of_a_finished_item(blank_plant: Engine) -> None:
    seed_lines(blank_plant)
    insert(blank_plant, "items", [item("FG-1001", "finished")])
    insert(blank_plant, "suppliers", [supplier("S-001")])
    insert(blank_plant, "lots", [lot("LOT-P100-0101", "FG-1001"), lot("LOT-P100-0102", "FG-1001")])
    insert(blank_plant, "inventory", [stock("P100", "WH-01", "FG-1001", "LOT-P100-0101", 120, reserved=20),
                                      stock("P100", "QC-01", "FG-1001", "LOT-P100-0102", 50,
                                            status="quality_inspection")])
    insert(blank_plant, "reorder_points", [{"site_id": "P100", "item_id": "FG-1001", "min_qty": 60.0,
                                            "max_qty": 300.0}])
    insert(blank_plant, "demand_forecast", [{"site_id": "P100", "item_id": "FG-1001", "week_start": day(w), "qty": q}
                                            for w, q in ((-7, 999), (0, 30), (7, 30), (14, 30), (21, 30), (28, 40),
                                                         (35, 500))])
    insert(blank_plant, "purchase_orders", [po("PO-8001", status="acknowledged", acknowledged_at=at(-9)),
                                            po("PO-8002", status="draft")])
    insert(blank_plant, "po_lines", [line("PO-8001", 1, "FG-1001", qty=50, received=30, promised=day(-2)),
                                     line("PO-8002", 1, "FG-1001", qty=1000, promised=day(3))])
    insert(blank_plant, "work_orders", [wo("WO-8001", "FG-1001", planned=40, completed=10, start=8, end=10),
                                        wo("WO-8002", "FG-1001", planned=500, status="held", start=1),
                                        wo("WO-8003", "FG-1001", planned=500, status="completed", start=1)])
    r = projected(blank_plant, item_id="FG-1001")
    assert r.item_type == "finished" and len(r.projections) == 1
    p = r.projections[0]
    assert p.start_available == 100  # 120 − 20 reserved; QI stock excluded
    # today: +20 (past-due PO arrives today) −30 → 90; d7 −30 → 60; d10 +30 → 90; d14 → 60; d21 → 30; d28 −40 → −10
    assert [(d.date, d.closing_balance) for d in p.days] == [
        (day(0), 90), (day(7), 60), (day(10), 90), (day(14), 60), (day(21), 30), (day(28), -10)]
    assert [e.record_id for e in p.events][:2] == ["PO-8001/1", "FC-P100-FG-1001-2026-03-02"]
    assert p.events[0].scheduled_date == day(-2) and p.events[0].date == day(0)
    assert (p.first_below_min_date, p.first_shortage_date) == (day(21), day(28))
    assert (p.lowest_balance, p.shortage_qty, p.total_supply, p.total_demand) == (-10, 10, 50, 160)
    assert {"PO-8001/1", "WO-8001", "LOT-P100-0101"} <= set(r.record_ids)
    for ignored in ("PO-8002/1", "WO-8002", "WO-8003", "LOT-P100-0102", "FC-P100-FG-1001-2026-02-23"):
        assert ignored not in r.record_ids
    short = projected(blank_plant, item_id="FG-1001", horizon_days=27).projections[0]
    assert short.first_shortage_date is None and short.end_balance == 30 and short.horizon_end == day(27)


def test_projection_of_a_component_uses_work_order_demand_net_of_issues(blank_plant: Engine) -> None:
    seed_lines(blank_plant)
    insert(blank_plant, "items", [item("FG-1001", "finished"), item("CP-2001", "component")])
    insert(blank_plant, "bom_lines", [{"parent_item_id": "FG-1001", "component_item_id": "CP-2001", "qty_per": 2.0}])
    insert(blank_plant, "lots", [lot("LOT-P100-0201", "CP-2001")])
    insert(blank_plant, "inventory", [stock("P100", "RM-02", "CP-2001", "LOT-P100-0201", 80)])
    insert(blank_plant, "work_orders", [
        wo("WO-8101", "FG-1001", planned=50, completed=10, status="running", start=-1, end=2),
        wo("WO-8102", "FG-1001", planned=20, status="planned", start=3),
        wo("WO-8103", "FG-1001", planned=999, status="cancelled", start=1),
    ])
    insert(blank_plant, "wo_materials", [{"wo_id": "WO-8101", "lot_id": "LOT-P100-0201", "item_id": "CP-2001",
                                          "qty_issued": 30.0}])
    insert(blank_plant, "demand_forecast", [{"site_id": "P100", "item_id": "CP-2001", "week_start": day(7),
                                             "qty": 999.0}])  # forecasts drive finished items only
    p = projected(blank_plant, item_id="CP-2001").projections[0]
    # today: 2 × 50 required − 30 already issued = 70 → 10 left; day 3: 2 × 20 = 40 → −30
    assert [(e.record_id, e.date, e.qty, e.balance_after) for e in p.events] == [
        ("WO-8101", day(0), -70, 10), ("WO-8102", day(3), -40, -30)]
    assert p.first_shortage_date == day(3) and p.first_below_min_date is None and p.reorder_min is None


def test_projection_per_site_and_scope(stocked: Engine) -> None:
    both = projected(stocked, item_id="RM-3001")
    assert [(p.site_id, p.start_available) for p in both.projections] == [("P100", 70), ("P200", 70)]
    p100 = both.projections[0]
    assert [(d.date, d.closing_balance) for d in p100.days] == [(day(4), 170), (day(9), 270)]
    assert p100.first_below_min_date == day(0)  # 70 < 100 from the start
    scoped = projected(stocked, P100, item_id="RM-3001")
    assert [p.site_id for p in scoped.projections] == ["P100"]
    assert "P200" not in scoped.model_dump_json()
    one = projected(stocked, item_id="RM-3001", site_id="P200")
    assert [p.site_id for p in one.projections] == ["P200"] and one.projections[0].events == []


def test_projected_positions_helper_matches_the_tool_and_honours_scope(stocked: Engine) -> None:
    with stocked.connect() as conn:
        everything = projected_positions(conn, DataScope.unrestricted(), today=day(0), horizon_days=28)
        scoped = projected_positions(conn, P100, today=day(0), horizon_days=28)
    assert set(scoped) == {("RM-3001", "P100"), ("RM-3002", "P100"), ("RM-3003", "P100")}
    assert {("RM-3001", "P200"), ("CP-2900", "P200")} <= set(everything)
    assert scoped[("RM-3001", "P100")] == projected(stocked, item_id="RM-3001", site_id="P100").projections[0]


@pytest.mark.parametrize(("scope", "args", "entity"), [
    (P100, {"item_id": "CP-2900"}, "item"), (None, {"item_id": "CP-2900", "site_id": "P100"}, "item"),
    (P100, {"item_id": "RM-3001", "site_id": "P200"}, "site"), (None, {"item_id": "NOPE-1"}, "item"),
])
def test_projection_not_found(stocked: Engine, scope: DataScope | None, args: dict[str, Any], entity: str) -> None:
    result = call(stocked, "projected_stock", scope, **args)
    assert isinstance(result, NotFound) and result.entity == entity


@pytest.mark.parametrize(("tool", "args", "field"), [
    ("projected_stock", {}, "item_id"), ("projected_stock", {"item_id": "RM-3001", "horizon_days": 0}, "horizon_days"),
    ("inventory_lookup", {"stock_status": "lost"}, "stock_status"), ("inventory_lookup", {"limit": 501}, "limit"),
    ("items_below_reorder", {"abc_class": "D"}, "abc_class"), ("items_below_reorder", {"site": "P100"}, "site"),
])
def test_malformed_arguments_name_the_field(stocked: Engine, tool: str, args: dict[str, Any], field: str) -> None:
    with pytest.raises(ArgumentError) as err:
        call(stocked, tool, None, **args)
    assert err.value.field == field


# ---------------------------------------------------------------------------- items_below_reorder


def test_below_reorder_sorted_by_severity(stocked: Engine) -> None:
    r = below(stocked)
    assert [(x.site_id, x.item_id, x.severity) for x in r.rows] == [
        ("P100", "RM-3002", 1.0), ("P200", "CP-2900", 1.0), ("P100", "RM-3001", 0.3)]
    rm = r.rows[2]
    assert (rm.available, rm.shortfall_to_min, rm.shortfall_to_max) == (70, 30, 330)
    assert (rm.open_po_qty, rm.next_receipt_date) == (200, day(4))
    assert r.rows[1].available == 0  # blocked stock does not count
    assert [x.item_id for x in below(stocked, abc_class="A").rows] == ["RM-3002"]
    assert [x.item_id for x in below(stocked, item_type="component").rows] == ["CP-2900"]


def test_below_reorder_in_scope_and_top_n(stocked: Engine) -> None:
    r = below(stocked, P100, limit=1)
    assert [x.item_id for x in r.rows] == ["RM-3002"] and r.total_below == 2
    full = below(stocked, P100)
    dump = full.model_dump_json()
    assert "P200" not in dump and "CP-2900" not in dump
    assert "PO-1001/1" in full.record_ids and "LOT-P100-0001" in full.record_ids
    nf = call(stocked, "items_below_reorder", P100, site_id="P200")
    assert isinstance(nf, NotFound) and nf.entity == "site"


# ---------------------------------------------------------------------------- demo plant


@needs_demo
def test_demo_reallocation_scenario(demo_plant: Engine, demo_manifest: dict[str, Any]) -> None:
    scenario = demo_manifest["scenarios"]["reallocation"]
    item_id, short_site, surplus_site = scenario["item_id"], scenario["short_site"], scenario["surplus_site"]
    short = projected(demo_plant, item_id=item_id, site_id=short_site).projections[0]
    assert short.first_shortage_date is not None
    surplus = projected(demo_plant, item_id=item_id, site_id=surplus_site).projections[0]
    assert surplus.reorder_max is not None and surplus.start_available > surplus.reorder_max
    scoped = projected(demo_plant, DataScope.for_sites([short_site]), item_id=item_id)
    assert [p.site_id for p in scoped.projections] == [short_site]
