"""demand_vs_orders: weeks from the Monday of today's week, forecast vs orders per site, totals and scope."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from tests.factories import AS_OF, TODAY, insert, make_ctx
from tests.tools.supply.scm_rows import P100, day, item, lot, stock
from tools.errors import ArgumentError
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import NotFound, ToolContext
from tools.supply.demand import TOOLS, DemandVsOrdersResult

SPEC = TOOLS[0]


def run(engine: Engine, scope: DataScope | None = None, ctx: ToolContext | None = None,
        **args: Any) -> DemandVsOrdersResult:
    result = SPEC.invoke(ctx or make_ctx(engine, scope), args)
    assert isinstance(result, DemandVsOrdersResult), result
    return result


def so(so_id: str, qty: float, due: int, status: str = "open", site: str = "P100",
       item_id: str = "FG-1001") -> dict[str, Any]:
    return {"so_id": so_id, "site_id": site, "customer": "C", "item_id": item_id, "qty": qty, "unit_price": 1.0,
            "due_date": day(due), "status": status}


def fc(site: str, week: int, qty: float, item_id: str = "FG-1001") -> dict[str, Any]:
    return {"site_id": site, "item_id": item_id, "week_start": day(week), "qty": qty}


@pytest.fixture
def plant(blank_plant: Engine) -> Engine:
    assert TODAY.weekday() == 0  # the test 'today' is a Monday: week 0 starts today
    insert(blank_plant, "items", [item("FG-1001", "finished"), item("FG-1002", "finished"),
                                  item("FG-9001", "finished"), item("RM-3001")])
    insert(blank_plant, "demand_forecast", [
        fc("P100", -7, 500), fc("P100", 0, 100), fc("P100", 7, 200), fc("P100", 9, 10),  # a mid-week row
        fc("P100", 14, 50), fc("P200", 0, 80), fc("P200", 0, 70, "FG-9001")])
    insert(blank_plant, "sales_orders", [
        so("SO-1", 30, 0), so("SO-2", 20, 4, "shipped"), so("SO-3", 5, 6, "cancelled"), so("SO-4", 250, 7, "allocated"),
        so("SO-5", 999, -1), so("SO-6", 40, 1, site="P200"), so("SO-7", 9, 13, "closed"), so("SO-8", 1, 14),
        so("SO-9", 12, 3, item_id="FG-1002"),
    ])
    insert(blank_plant, "lots", [lot("LOT-1", "RM-3001")])
    insert(blank_plant, "inventory", [stock("P100", "WH-01", "RM-3001", "LOT-1", 10)])
    return blank_plant


def rows(r: DemandVsOrdersResult) -> list[tuple[str, date, float, float, float, float | None]]:
    return [(x.site_id, x.week_start, x.forecast_qty, x.ordered_qty, x.difference, x.consumed_pct) for x in r.rows]


def test_two_weeks_every_site(plant: Engine) -> None:
    r = run(plant, item_id="FG-1001", weeks=2)
    assert rows(r) == [
        ("P100", day(0), 100.0, 50.0, -50.0, 50.0),       # SO-1 + shipped SO-2; cancelled SO-3 not counted
        ("P100", day(7), 210.0, 259.0, 49.0, 123.3),      # forecast 200 + mid-week 10; SO-4 + closed SO-7
        ("P200", day(0), 80.0, 40.0, -40.0, 50.0),
        ("P200", day(7), 0.0, 0.0, 0.0, None),            # no forecast: no percentage
    ]
    t = r.totals
    assert (t.forecast_qty, t.ordered_qty, t.difference, t.consumed_pct) == (390.0, 349.0, -41.0, 89.5)
    assert r.item_id == "FG-1001"
    assert r.record_ids == ["FG-1001", "SO-1", "SO-6", "SO-2", "SO-4", "SO-7"]


def test_default_four_weeks_from_the_monday_of_today(plant: Engine) -> None:
    wednesday = TODAY + timedelta(days=2)
    ctx = ToolContext(engine=plant, scope=P100, today=wednesday, as_of=AS_OF)
    r = run(plant, ctx=ctx, item_id="FG-1001")
    assert [x.week_start for x in r.rows] == [day(0), day(7), day(14), day(21)]
    assert [(x.forecast_qty, x.ordered_qty) for x in r.rows] == [(100, 50), (210, 259), (50, 1), (0, 0)]


def test_p100_scope_sees_only_p100(plant: Engine) -> None:
    r = run(plant, P100, item_id="FG-1001", weeks=2)
    assert [x.site_id for x in r.rows] == ["P100", "P100"]
    assert (r.totals.forecast_qty, r.totals.ordered_qty, r.totals.consumed_pct) == (310.0, 309.0, 99.7)
    assert "SO-6" not in r.record_ids and "P200" not in r.model_dump_json()


def test_site_filter_and_an_item_with_orders_only(plant: Engine) -> None:
    assert [x.site_id for x in run(plant, item_id="FG-1001", site_id="P200").rows] == ["P200"] * 4
    r = run(plant, item_id="FG-1002", weeks=1)
    assert rows(r) == [("P100", day(0), 0.0, 12.0, 12.0, None)]


def test_an_item_without_forecast_or_orders_has_no_rows(plant: Engine) -> None:
    r = run(plant, item_id="RM-3001")
    assert r.status == "ok" and r.rows == [] and r.totals.forecast_qty == 0 and r.totals.consumed_pct is None
    assert "no forecast" in r.message


@pytest.mark.parametrize(("args", "entity"), [({"item_id": "FG-9001"}, "item"),
                                              ({"item_id": "FG-1001", "site_id": "P200"}, "site")])
def test_foreign_ids_are_not_found_like_missing_ones(plant: Engine, args: dict[str, Any], entity: str) -> None:
    foreign = run_nf(plant, args)
    missing = run_nf(plant, {**args, **({"site_id": "P900"} if entity == "site" else {"item_id": "FG-0000"})})
    assert foreign.entity == missing.entity == entity
    assert foreign.message.replace(foreign.missing_ids[0], "?") == missing.message.replace(missing.missing_ids[0], "?")


def run_nf(plant: Engine, args: dict[str, Any]) -> NotFound:
    result = SPEC.invoke(make_ctx(plant, P100), args)
    assert isinstance(result, NotFound), result
    return result


@pytest.mark.parametrize(("args", "field"), [({}, "item_id"), ({"item_id": "FG-1001", "weeks": 0}, "weeks"),
                                             ({"item_id": "FG-1001", "weeks": 13}, "weeks")])
def test_malformed_arguments_name_the_field(plant: Engine, args: dict[str, Any], field: str) -> None:
    with pytest.raises(ArgumentError) as err:
        SPEC.invoke(make_ctx(plant), args)
    assert err.value.field == field


def test_demo_item_against_the_data(demo_plant: Engine) -> None:
    f_t, so_t = table("demand_forecast"), table("sales_orders")
    expected = []
    with demo_plant.connect() as conn:
        for week in range(4):
            start, end = day(7 * week), day(7 * week + 7)
            forecast = conn.execute(select(func.coalesce(func.sum(f_t.c.qty), 0.0)).where(
                f_t.c.site_id == "P100", f_t.c.item_id == "FG-1025", f_t.c.week_start == start)).scalar_one()
            ordered = conn.execute(select(func.coalesce(func.sum(so_t.c.qty), 0.0)).where(
                so_t.c.site_id == "P100", so_t.c.item_id == "FG-1025", so_t.c.status != "cancelled",
                so_t.c.due_date >= start, so_t.c.due_date < end)).scalar_one()
            expected.append((start, forecast, ordered))
    r = run(demo_plant, P100, item_id="FG-1025")
    assert [(x.week_start, x.forecast_qty, x.ordered_qty) for x in r.rows] == expected
    assert expected == [(day(0), 230, 100), (day(7), 240, 0), (day(14), 260, 110), (day(21), 250, 0)]
    assert r.totals.consumed_pct == round(210 / 980 * 100, 1)
