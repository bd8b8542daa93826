"""sales_orders: filters, ordering (late first), summary and `more`, allocated stock, price masking and scope."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.factories import TODAY, insert, make_ctx
from tests.tools.supply.scm_rows import P100, day, item, lot, stock
from tools.errors import ArgumentError
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import NotFound
from tools.supply.sales import TOOLS, SalesOrdersResult

SPEC = TOOLS[0]
PRICE = "sales_orders.unit_price"
# What the gate builds from the shipped policy: planners never see sales prices, finance and executives do.
PLANNER_P100 = DataScope(sites=frozenset({"P100"}), masked_fields=frozenset({PRICE, "po_lines.unit_price"}))
EXECUTIVE = DataScope(masked_fields=frozenset({"suppliers.bank_account"}),
                      aggregate_only_fields=frozenset({"po_lines.unit_price"}))


def run(engine: Engine, scope: DataScope | None = None, **args: Any) -> SalesOrdersResult:
    result = SPEC.invoke(make_ctx(engine, scope), args)
    assert isinstance(result, SalesOrdersResult), result
    return result


def so(so_id: str, customer: str, item_id: str, qty: float, price: float, due: int, status: str,
       site: str = "P100") -> dict[str, Any]:
    return {"so_id": so_id, "site_id": site, "customer": customer, "item_id": item_id, "qty": qty,
            "unit_price": price, "due_date": day(due), "status": status}


ORDERS = [
    so("SO-1", "Acme Pumps Inc.", "FG-1001", 100, 12.34, -5, "open"),            # 5 days late
    so("SO-2", "Northern Fluid Power", "FG-1001", 50, 23.45, -1, "allocated"),   # 1 day late, 30 (+5 at P200) reserved
    so("SO-3", "ACME PUMPS INC.", "FG-1002", 40, 5.67, 0, "open"),               # due today: not late
    so("SO-4", "Beta 100% Tools", "FG-1001", 70, 3.21, 3, "allocated"),
    so("SO-5", "Acme Pumps Inc.", "FG-1001", 10, 1.11, -10, "shipped"),          # past due but shipped: not late
    so("SO-6", "Gamma_Works", "FG-1002", 5, 2.22, 8, "cancelled"),
    so("SO-7", "Delta", "FG-1001", 25, 4.44, 7, "closed"),
    so("SO-9001", "Acme Pumps Inc.", "FG-9001", 300, 99.91, -2, "open", "P200"),  # late, 12 reserved
    so("SO-9002", "Omega", "FG-1001", 60, 77.71, 2, "open", "P200"),
]
P100_IDS = [o["so_id"] for o in ORDERS if o["site_id"] == "P100"]
PRICES = ("12.34", "23.45", "5.67", "3.21", "1.11", "2.22", "4.44", "99.91", "77.71", "1234.0", "1172.5")


@pytest.fixture
def plant(blank_plant: Engine) -> Engine:
    # FG-1002 has sales orders only (no stock, lot or forecast): still an item of P100.
    insert(blank_plant, "items", [item("FG-1001", "finished"), item("FG-1002", "finished"),
                                  item("FG-9001", "finished")])
    insert(blank_plant, "sales_orders", ORDERS)
    insert(blank_plant, "lots", [lot("LOT-A", "FG-1001"), lot("LOT-B", "FG-1001"), lot("LOT-Y", "FG-1001", "P200"),
                                 lot("LOT-Z", "FG-9001", "P200")])
    insert(blank_plant, "inventory", [
        {**stock("P100", "WH-01", "FG-1001", "LOT-A", 100, 20), "reserved_for": "SO-2"},
        {**stock("P100", "WH-02", "FG-1001", "LOT-B", 50, 10), "reserved_for": "SO-2"},
        {**stock("P200", "WH-01", "FG-1001", "LOT-Y", 10, 5), "reserved_for": "SO-2"},   # another site's stock
        {**stock("P200", "WH-01", "FG-9001", "LOT-Z", 40, 12), "reserved_for": "SO-9001"},
        stock("P100", "WH-03", "FG-1001", "LOT-A", 7, 0),
    ])
    return blank_plant


def test_every_order_late_first_then_by_due_date(plant: Engine) -> None:
    r = run(plant, EXECUTIVE)
    assert [x.so_id for x in r.rows] == ["SO-1", "SO-9001", "SO-2", "SO-5", "SO-3", "SO-9002", "SO-4", "SO-7",
                                         "SO-6"]
    by_id = {x.so_id: x for x in r.rows}
    assert [by_id[i].days_late for i in ("SO-1", "SO-9001", "SO-2", "SO-3", "SO-4")] == [5, 2, 1, 0, 0]
    assert all(by_id[i].days_late is None for i in ("SO-5", "SO-6", "SO-7"))  # done orders are never late
    assert by_id["SO-2"].allocated_qty == 35.0 and by_id["SO-9001"].allocated_qty == 12.0
    assert by_id["SO-1"].allocated_qty == 0.0
    assert (by_id["SO-1"].unit_price, by_id["SO-1"].value) == (12.34, 1234.0)
    assert (by_id["SO-2"].unit_price, by_id["SO-2"].value) == (23.45, 1172.5)
    s = r.summary
    assert (s.count, s.late, s.qty_total) == (9, 3, 660.0)
    assert s.by_status == {"open": 4, "allocated": 2, "shipped": 1, "closed": 1, "cancelled": 1}
    assert r.more == 0 and r.record_ids[:9] == [x.so_id for x in r.rows]


@pytest.mark.parametrize(("args", "expected"), [
    ({"late_only": True}, ["SO-1", "SO-9001", "SO-2"]),
    ({"open_only": True}, ["SO-1", "SO-9001", "SO-2", "SO-3", "SO-9002", "SO-4"]),
    ({"due_within_days": 3}, ["SO-3", "SO-9002", "SO-4"]),     # today through today+3; late ones excluded
    ({"due_within_days": 0}, ["SO-3"]),
    ({"due_within_days": 8, "open_only": True}, ["SO-3", "SO-9002", "SO-4"]),
    ({"customer": "acme"}, ["SO-1", "SO-9001", "SO-5", "SO-3"]),  # substring, any case
    ({"customer": "PUMPS inc"}, ["SO-1", "SO-9001", "SO-5", "SO-3"]),
    ({"customer": "100%"}, ["SO-4"]),                           # % and _ are literal, not wildcards
    ({"customer": "a_w"}, ["SO-6"]),
    ({"customer": "a%w"}, []),
    ({"status": "shipped"}, ["SO-5"]),
    ({"status": "cancelled", "open_only": True}, []),
    ({"item_id": "FG-1002"}, ["SO-3", "SO-6"]),
    ({"so_id": "SO-2"}, ["SO-2"]),
    ({"site_id": "P200"}, ["SO-9001", "SO-9002"]),
    ({"site_id": "P100", "late_only": True}, ["SO-1", "SO-2"]),
    ({"item_id": "FG-1001", "site_id": "P200"}, ["SO-9002"]),
])
def test_filters(plant: Engine, args: dict[str, Any], expected: list[str]) -> None:
    r = run(plant, **args)
    assert [x.so_id for x in r.rows] == expected
    assert r.summary.count == len(expected) and r.more == 0


def test_no_match_says_the_named_records_exist(plant: Engine) -> None:
    r = run(plant, status="cancelled", open_only=True)
    assert r.status == "ok" and r.rows == [] and r.summary.count == 0 and r.summary.by_status == {}
    assert "the named records exist" in r.message


def test_limit_shows_the_first_rows_and_counts_the_rest(plant: Engine) -> None:
    r = run(plant, limit=2)
    assert [x.so_id for x in r.rows] == ["SO-1", "SO-9001"]
    assert r.more == 7 and r.summary.count == 9 and r.summary.late == 3 and r.summary.qty_total == 660.0
    assert {o["so_id"] for o in ORDERS} <= set(r.record_ids)  # the summary read every order


def test_planner_scope_sees_no_prices_and_no_p200_order(plant: Engine) -> None:
    r = run(plant, PLANNER_P100)
    assert [x.so_id for x in r.rows] == ["SO-1", "SO-2", "SO-5", "SO-3", "SO-4", "SO-7", "SO-6"]
    assert all(x.unit_price is None and x.value is None for x in r.rows)
    # Stock of SO-2 reserved at P200 is another site's row: not counted.
    assert {x.so_id: x.allocated_qty for x in r.rows}["SO-2"] == 30.0
    assert (r.summary.count, r.summary.late, r.summary.qty_total) == (7, 2, 300.0)
    dump = r.model_dump_json()
    for foreign in ("P200", "SO-9001", "SO-9002", "FG-9001", "Omega", *PRICES):
        assert foreign not in dump
    assert "prices are hidden" in r.message


def test_finance_and_executive_scopes_see_prices(plant: Engine) -> None:
    for scope in (DataScope.unrestricted(), EXECUTIVE):
        rows = {x.so_id: x for x in run(plant, scope, site_id="P100").rows}
        assert {i: (x.unit_price, x.value) for i, x in rows.items() if i in ("SO-3", "SO-4")} == {
            "SO-3": (5.67, round(40 * 5.67, 2)), "SO-4": (3.21, round(70 * 3.21, 2))}


@pytest.mark.parametrize("args", [{"so_id": "SO-9001"}, {"item_id": "FG-9001"}, {"site_id": "P200"}])
def test_foreign_ids_are_not_found_like_missing_ones(plant: Engine, args: dict[str, Any]) -> None:
    (key, foreign), = args.items()
    missing = {"so_id": "SO-0000", "item_id": "FG-0000", "site_id": "P900"}[key]
    a = SPEC.invoke(make_ctx(plant, P100), {key: foreign})
    b = SPEC.invoke(make_ctx(plant, P100), {key: missing})
    assert isinstance(a, NotFound) and isinstance(b, NotFound)
    assert (a.entity, a.missing_ids) == (b.entity, [foreign])
    assert a.message.replace(foreign, "?") == b.message.replace(missing, "?")
    assert "P200" not in a.model_dump_json().replace(foreign, "")


@pytest.mark.parametrize(("args", "field"), [
    ({"limit": 201}, "limit"), ({"limit": 0}, "limit"), ({"due_within_days": -1}, "due_within_days"),
    ({"status": "late"}, "status"), ({"customer": ""}, "customer"), ({"buyer": "x"}, "buyer"),
])
def test_malformed_arguments_name_the_field(plant: Engine, args: dict[str, Any], field: str) -> None:
    with pytest.raises(ArgumentError) as err:
        SPEC.invoke(make_ctx(plant), args)
    assert err.value.field == field


# ---------------------------------------------------------------------------- the demo plant (seed 7)


def test_demo_late_orders_match_the_data(demo_plant: Engine) -> None:
    so_t = table("sales_orders")
    with demo_plant.connect() as conn:
        late = conn.execute(select(so_t.c.so_id, so_t.c.site_id).where(
            so_t.c.status.in_(("open", "allocated")), so_t.c.due_date < TODAY)
            .order_by(so_t.c.due_date, so_t.c.so_id)).all()
    everywhere = run(demo_plant, late_only=True, limit=200)
    assert [x.so_id for x in everywhere.rows] == [r.so_id for r in late] == ["SO-30109"]
    assert everywhere.rows[0].days_late == (TODAY - everywhere.rows[0].due_date).days == 3
    p100 = run(demo_plant, PLANNER_P100, site_id="P100", late_only=True)
    assert [x.so_id for x in p100.rows] == [r.so_id for r in late if r.site_id == "P100"] == []
    assert p100.summary.count == 0 and p100.more == 0


def test_demo_open_orders_summary_and_allocation(demo_plant: Engine, demo_manifest: dict[str, Any]) -> None:
    so_t, inv = table("sales_orders"), table("inventory")
    held_so = demo_manifest["scenarios"]["reconciliation"]["so_id"]
    with demo_plant.connect() as conn:
        per_status = dict(conn.execute(select(so_t.c.status, func.count()).where(
            so_t.c.site_id == "P100", so_t.c.status.in_(("open", "allocated"))).group_by(so_t.c.status)).all())
        qty = conn.execute(select(func.sum(so_t.c.qty)).where(
            so_t.c.site_id == "P100", so_t.c.status.in_(("open", "allocated")))).scalar_one()
        reserved = conn.execute(select(func.sum(inv.c.qty_reserved)).where(inv.c.reserved_for == held_so)).scalar_one()
    r = run(demo_plant, PLANNER_P100, open_only=True)
    assert r.summary.by_status == per_status and r.summary.count == sum(per_status.values())
    assert r.summary.qty_total == qty and r.more == r.summary.count - 20 and len(r.rows) == 20
    one = run(demo_plant, PLANNER_P100, so_id=held_so).rows
    assert [(x.so_id, x.allocated_qty, x.unit_price) for x in one] == [(held_so, reserved, None)]
