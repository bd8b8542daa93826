"""open_po_lines: the open-line definition, filters, ordering, price visibility and scope."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from sqlalchemy import Engine, select

from tests.factories import insert, make_ctx
from tests.tools.supply.scm_rows import P100, at, day, item, line, po, supplier
from tools.errors import ArgumentError
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import NotFound
from tools.supply import inventory, suppliers, triage
from tools.supply.procurement import TOOLS, OpenPoLinesResult

SPEC = TOOLS[0]


def run(engine: Engine, scope: DataScope | None = None, **args: Any) -> OpenPoLinesResult:
    result = SPEC.invoke(make_ctx(engine, scope), args)
    assert isinstance(result, OpenPoLinesResult), result
    return result


@pytest.fixture
def plant(blank_plant: Engine) -> Engine:
    insert(blank_plant, "items", [item("RM-3001"), item("RM-3002"), item("CP-2900", "component")])
    insert(blank_plant, "suppliers", [supplier("S-001"), supplier("S-002", buyer="cy.buyer"),
                                      supplier("S-900", buyer="bo.buyer")])
    insert(blank_plant, "purchase_orders", [
        po("PO-1001", status="acknowledged", acknowledged_at=at(-3)),
        po("PO-1002", supplier_id="S-002", buyer="cy.buyer", status="sent"),
        po("PO-1003", status="draft"), po("PO-1004", status="cancelled"), po("PO-1005", status="closed"),
        po("PO-9201", site="P200", supplier_id="S-900", buyer="bo.buyer", currency="MXN"),
    ])
    insert(blank_plant, "po_lines", [
        line("PO-1001", 1, "RM-3001", qty=100, received=40, unit_price=2.5, need=day(12)),           # partial
        line("PO-1001", 2, "RM-3001", qty=50, unit_price=4.0, need=day(-6), promised=day(-3)),       # 3 days late
        line("PO-1001", 3, "RM-3002", qty=20, received=20, unit_price=9.0, need=day(1)),             # fully received
        line("PO-1001", 4, "RM-3002", qty=20, unit_price=9.0, need=day(2), status="closed"),
        line("PO-1002", 1, "RM-3002", qty=10, unit_price=30.0, need=day(4), promised=day(7)),
        line("PO-1002", 2, "RM-3001", qty=10, unit_price=30.0, need=day(3), status="cancelled"),
        line("PO-1003", 1, "RM-3001", qty=10, unit_price=1.0, need=day(1)),
        line("PO-1004", 1, "RM-3001", qty=10, unit_price=1.0, need=day(1)),
        line("PO-1005", 1, "RM-3001", qty=10, unit_price=1.0, need=day(1)),
        line("PO-9201", 1, "CP-2900", qty=70, unit_price=55.5, need=day(-1)),
        line("PO-9201", 2, "RM-3001", qty=80, unit_price=66.5, need=day(8)),
    ])
    return blank_plant


def test_only_open_lines_ordered_by_need_date(plant: Engine) -> None:
    r = run(plant)
    assert [x.line_id for x in r.rows] == ["PO-1001/2", "PO-9201/1", "PO-1002/1", "PO-9201/2", "PO-1001/1"]
    partial = r.rows[-1]
    assert (partial.qty_ordered, partial.qty_received, partial.qty_open) == (100, 40, 60)
    late = r.rows[0]
    assert (late.expected_receipt_date, late.days_late, late.acknowledged) == (day(-3), 3, True)
    assert r.rows[2].expected_receipt_date == day(7) and r.rows[2].days_late == 0
    assert r.rows[2].supplier_name == "Supplier S-002"
    assert partial.unit_price == 2.5 and partial.open_value == 150.0 and partial.currency == "USD"
    assert {x.line_id: x.currency for x in r.rows if x.site_id == "P200"} == {"PO-9201/1": "MXN", "PO-9201/2": "MXN"}
    assert r.total_lines == 5 and not r.truncated
    # One total per PO currency: USD (P100) and MXN (P200) are never added together.
    assert r.open_value_by_currency == {"USD": pytest.approx(60 * 2.5 + 50 * 4.0 + 10 * 30.0),
                                        "MXN": pytest.approx(70 * 55.5 + 80 * 66.5)}
    assert "MXN" in r.message and "USD" in r.message


@pytest.mark.parametrize(("args", "expected"), [
    ({"late_only": True}, ["PO-1001/2", "PO-9201/1"]),
    ({"due_within_days": 7}, ["PO-1001/2", "PO-9201/1", "PO-1002/1"]),   # expected day 7 is within 7 days
    ({"due_within_days": 6}, ["PO-1001/2", "PO-9201/1"]),
    ({"supplier_id": "S-002"}, ["PO-1002/1"]),
    ({"buyer": "bea.buyer"}, ["PO-1001/2", "PO-1001/1"]),
    ({"item_id": "RM-3001", "site_id": "P100"}, ["PO-1001/2", "PO-1001/1"]),
    ({"po_id": "PO-1002"}, ["PO-1002/1"]),
    ({"site_id": "P200"}, ["PO-9201/1", "PO-9201/2"]),
])
def test_filters(plant: Engine, args: dict[str, Any], expected: list[str]) -> None:
    assert [x.line_id for x in run(plant, **args).rows] == expected


def test_limit_truncates_rows_not_totals(plant: Engine) -> None:
    r = run(plant, limit=2)
    assert [x.line_id for x in r.rows] == ["PO-1001/2", "PO-9201/1"]
    assert r.total_lines == 5 and r.truncated
    assert "PO-1001/1" in r.record_ids  # the total read it


def test_masked_and_aggregate_only_prices(plant: Engine) -> None:
    masked = run(plant, DataScope(masked_fields=frozenset({"po_lines.unit_price"})))
    assert all(x.unit_price is None and x.open_value is None for x in masked.rows)
    assert masked.open_value_by_currency is None
    assert {x.currency for x in masked.rows} == {"USD", "MXN"}  # the currency itself is not a price
    agg = run(plant, DataScope(sites=frozenset({"P100"}), aggregate_only_fields=frozenset({"po_lines.unit_price"})))
    assert all(x.unit_price is None and x.open_value is None for x in agg.rows)
    assert agg.open_value_by_currency == {"USD": pytest.approx(60 * 2.5 + 50 * 4.0 + 10 * 30.0)}  # P100 lines only
    assert "open_value_by_currency is given" in agg.message
    for dump in (masked.model_dump_json(), agg.model_dump_json()):
        for value in ("2.5", "4.0", "30.0", "55.5", "66.5"):
            assert value not in dump


def test_p100_scope_sees_no_p200_line(plant: Engine) -> None:
    r = run(plant, P100, limit=500)
    assert [x.line_id for x in r.rows] == ["PO-1001/2", "PO-1002/1", "PO-1001/1"]
    dump = r.model_dump_json()
    for p200 in ("P200", "PO-9201", "S-900", "CP-2900", "bo.buyer", "55.5", "66.5"):
        assert p200 not in dump
    assert r.open_value_by_currency == {"USD": pytest.approx(60 * 2.5 + 50 * 4.0 + 10 * 30.0)}
    assert "MXN" not in dump
    late = run(plant, P100, late_only=True, limit=1)
    assert [x.line_id for x in late.rows] == ["PO-1001/2"] and late.total_lines == 1


@pytest.mark.parametrize(("args", "entity"), [
    ({"po_id": "PO-9201"}, "purchase order"), ({"supplier_id": "S-900"}, "supplier"),
    ({"item_id": "CP-2900"}, "item"), ({"site_id": "P200"}, "site"), ({"buyer": "bo.buyer"}, "buyer"),
    ({"po_id": "PO-4040"}, "purchase order"), ({"item_id": "XX-0000"}, "item"),
])
def test_out_of_scope_or_unknown_ids_are_not_found(plant: Engine, args: dict[str, Any], entity: str) -> None:
    result = SPEC.invoke(make_ctx(plant, P100), args)
    assert isinstance(result, NotFound)
    assert result.entity == entity and result.missing_ids == list(args.values())


def test_an_existing_po_with_no_open_lines_is_an_explained_empty_answer(plant: Engine) -> None:
    r = run(plant, po_id="PO-1005")
    assert r.rows == [] and r.total_lines == 0 and "no open PO lines" in r.message
    assert r.open_value_by_currency == {}


def test_two_currencies_in_scope_give_two_totals_never_a_mixed_sum(blank_plant: Engine) -> None:
    insert(blank_plant, "items", [item("RM-3001")])
    insert(blank_plant, "suppliers", [supplier("S-001"), supplier("S-002")])
    # Same site, same buyer: only the PO currency tells the two apart.
    insert(blank_plant, "purchase_orders", [po("PO-1101"), po("PO-1102", supplier_id="S-002", currency="MXN"),
                                            po("PO-1103", currency="USD")])
    insert(blank_plant, "po_lines", [
        line("PO-1101", 1, "RM-3001", qty=10, unit_price=7.0),
        line("PO-1102", 1, "RM-3001", qty=20, received=5, unit_price=130.0),
        line("PO-1102", 2, "RM-3001", qty=2, unit_price=400.0),
        line("PO-1103", 1, "RM-3001", qty=3, unit_price=11.0),
    ])
    r = run(blank_plant, P100, buyer="bea.buyer")
    assert r.open_value_by_currency == {"MXN": 15 * 130.0 + 2 * 400.0, "USD": 10 * 7.0 + 3 * 11.0}
    assert {x.line_id: (x.currency, x.open_value) for x in r.rows} == {
        "PO-1101/1": ("USD", 70.0), "PO-1102/1": ("MXN", 1950.0), "PO-1102/2": ("MXN", 800.0),
        "PO-1103/1": ("USD", 33.0)}
    mixed = 15 * 130.0 + 2 * 400.0 + 10 * 7.0 + 3 * 11.0
    assert str(mixed) not in r.model_dump_json()
    assert run(blank_plant, P100, supplier_id="S-002").open_value_by_currency == {"MXN": 2750.0}
    # Two lines at two prices per currency: shown under a min_group of 2 (withheld under the default 3).
    agg = run(blank_plant, DataScope(sites=frozenset({"P100"}),
                                     aggregate_only_fields=frozenset({"po_lines.unit_price"}),
                                     min_group={"po_lines.unit_price": 2}))
    assert agg.open_value_by_currency == {"MXN": 2750.0, "USD": 103.0}
    assert all(x.unit_price is None and x.open_value is None for x in agg.rows)
    for value in ("7.0", "130.0", "400.0", "11.0", "1950.0", "800.0"):
        assert value not in agg.model_dump_json()
    masked = run(blank_plant, DataScope(masked_fields=frozenset({"po_lines.unit_price"})))
    assert masked.open_value_by_currency is None
    assert all(x.unit_price is None and x.open_value is None for x in masked.rows)


@pytest.mark.parametrize(("args", "field"), [
    ({"limit": 0}, "limit"), ({"due_within_days": -1}, "due_within_days"), ({"late_only": "maybe"}, "late_only"),
    ({"supplier": "S-001"}, "supplier"), ({"item_id": ""}, "item_id"),
])
def test_malformed_arguments_name_the_field(plant: Engine, args: dict[str, Any], field: str) -> None:
    with pytest.raises(ArgumentError) as err:
        SPEC.invoke(make_ctx(plant), args)
    assert err.value.field == field


def _demo_available() -> bool:
    try:
        return hasattr(importlib.import_module("tools.demo"), "build_plant")
    except ImportError:
        return False


@pytest.mark.skipif(not _demo_available(), reason="tools.demo (demo plant generator) not available yet")
def test_demo_plant_p100_scope_leaks_no_p200_record(demo_plant: Engine) -> None:
    po_t = table("purchase_orders")
    with demo_plant.connect() as conn:
        p200_pos = set(conn.execute(select(po_t.c.po_id).where(po_t.c.site_id == "P200")).scalars())
        p100_pos = set(conn.execute(select(po_t.c.po_id).where(po_t.c.site_id == "P100")).scalars())
    assert p200_pos and p100_pos
    specs = {s.name: s for s in (*TOOLS, *triage.TOOLS, *suppliers.TOOLS, *inventory.TOOLS)}
    calls = [("open_po_lines", {"limit": 500}), ("buyer_exception_triage", {"limit": 200}),
             ("supplier_scorecard", {"limit": 500}), ("items_below_reorder", {"limit": 500}),
             ("inventory_lookup", {"limit": 500})]
    for name, args in calls:
        result = specs[name].invoke(make_ctx(demo_plant, P100), args)
        dump = result.model_dump_json()
        assert result.status == "ok" and "P200" not in dump, name
        cited = {rid.split("/")[0] for rid in result.record_ids}
        assert not cited & p200_pos, name
    lines = specs["open_po_lines"].invoke(make_ctx(demo_plant, P100), {"limit": 500})
    assert isinstance(lines, OpenPoLinesResult) and {r.po_id for r in lines.rows} <= p100_pos
