"""transfers: newest first, site/direction/item/lot/days filters, summary and `more`, and the two-ended scope."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.factories import insert, make_ctx
from tests.tools.supply.scm_rows import P100, P200, at, item, lot, seed_lines, stock, wo
from tools.errors import ArgumentError
from tools.scope import DataScope
from tools.spec import NotFound
from tools.supply.transfers import TOOLS, TransfersResult

SPEC = TOOLS[0]


def run(engine: Engine, scope: DataScope | None = None, **args: Any) -> TransfersResult:
    result = SPEC.invoke(make_ctx(engine, scope), args)
    assert isinstance(result, TransfersResult), result
    return result


def tr(n: int, item_id: str, lot_id: str, qty: float, frm: tuple[str, str], to: tuple[str, str | None],
       when: datetime, wo_id: str | None = None) -> dict[str, Any]:
    return {"transfer_id": f"TR-{n:06d}", "item_id": item_id, "lot_id": lot_id, "qty": qty, "from_site_id": frm[0],
            "from_location": frm[1], "to_site_id": to[0], "to_location": to[1], "to_wo_id": wo_id,
            "transferred_at": when, "request_id": f"req-{n}"}


@pytest.fixture
def plant(blank_plant: Engine) -> Engine:
    seed_lines(blank_plant)
    insert(blank_plant, "items", [item("CP-2039", "component"), item("RM-3001"), item("RM-9009")])
    insert(blank_plant, "lots", [lot("LOT-P100-0001", "CP-2039"), lot("LOT-P100-0002", "CP-2039"),
                                 lot("LOT-P200-0001", "RM-3001", "P200"), lot("LOT-P200-0002", "RM-3001", "P200"),
                                 lot("LOT-P200-0009", "RM-9009", "P200")])
    insert(blank_plant, "inventory", [stock("P100", "WH-01", "CP-2039", "LOT-P100-0001", 10),
                                      stock("P100", "WH-03", "RM-3001", "LOT-P200-0001", 15),
                                      stock("P200", "WH-02", "RM-9009", "LOT-P200-0009", 3)])
    insert(blank_plant, "work_orders", [wo("WO-1001", "CP-2039"),
                                        wo("WO-9201", "CP-2039", site="P200", line_id="P200-MC1"),
                                        wo("WO-9202", "RM-3001", site="P200", line_id="P200-MC1")])
    insert(blank_plant, "transfers", [
        tr(1, "CP-2039", "LOT-P100-0001", 100, ("P100", "WH-01"), ("P200", "WH-05"), at(-2)),
        tr(2, "CP-2039", "LOT-P100-0001", 20, ("P100", "WH-01"), ("P200", None), at(-1), "WO-9201"),
        tr(3, "RM-3001", "LOT-P200-0001", 15, ("P200", "WH-02"), ("P100", "WH-03"), at(-5)),
        tr(4, "RM-3001", "LOT-P200-0002", 7, ("P200", "WH-02"), ("P200", None), at(-3), "WO-9202"),  # P200 only
        tr(5, "CP-2039", "LOT-P100-0002", 50, ("P100", "WH-01"), ("P200", "WH-05"), at(-40)),        # long ago
        tr(6, "CP-2039", "LOT-P100-0001", 5, ("P100", "WH-01"), ("P100", None), at(0, 5), "WO-1001"),
    ])
    return blank_plant


def ids(r: TransfersResult) -> list[str]:
    return [x.transfer_id for x in r.rows]


def test_newest_first_with_summary(plant: Engine) -> None:
    r = run(plant)
    assert ids(r) == ["TR-000006", "TR-000002", "TR-000001", "TR-000004", "TR-000003"]
    assert (r.summary.count, r.summary.qty_total, r.more) == (5, 5 + 20 + 100 + 7 + 15, 0)
    first = r.rows[0]
    assert (first.item_id, first.lot_id, first.qty, first.from_site_id, first.from_location, first.to_site_id,
            first.to_location, first.to_wo_id, first.transferred_at) == (
        "CP-2039", "LOT-P100-0001", 5.0, "P100", "WH-01", "P100", None, "WO-1001", at(0, 5))
    assert {"TR-000006", "LOT-P100-0001", "WO-1001", "WO-9201", "WO-9202"} <= set(r.record_ids)


@pytest.mark.parametrize(("args", "expected"), [
    ({"days": 60}, ["TR-000006", "TR-000002", "TR-000001", "TR-000004", "TR-000003", "TR-000005"]),
    ({"days": 1}, ["TR-000006"]),                                           # today only
    ({"days": 3}, ["TR-000006", "TR-000002", "TR-000001"]),
    ({"site_id": "P100"}, ["TR-000006", "TR-000002", "TR-000001", "TR-000003"]),
    ({"site_id": "P100", "direction": "out"}, ["TR-000006", "TR-000002", "TR-000001"]),
    ({"site_id": "P100", "direction": "in"}, ["TR-000006", "TR-000003"]),  # an issue to a P100 WO is both
    ({"site_id": "P200", "direction": "in"}, ["TR-000002", "TR-000001", "TR-000004"]),
    ({"site_id": "P200", "direction": "out"}, ["TR-000004", "TR-000003"]),
    ({"item_id": "RM-3001"}, ["TR-000004", "TR-000003"]),
    ({"lot_id": "LOT-P100-0001"}, ["TR-000006", "TR-000002", "TR-000001"]),
    ({"lot_id": "LOT-P100-0002"}, []),                                      # only long ago
    ({"item_id": "CP-2039", "site_id": "P200", "direction": "in"}, ["TR-000002", "TR-000001"]),
])
def test_filters(plant: Engine, args: dict[str, Any], expected: list[str]) -> None:
    r = run(plant, **args)
    assert ids(r) == expected and r.summary.count == len(expected)


def test_limit_and_more(plant: Engine) -> None:
    r = run(plant, limit=2)
    assert ids(r) == ["TR-000006", "TR-000002"] and r.more == 3
    assert (r.summary.count, r.summary.qty_total) == (5, 147.0)
    assert "TR-000003" in r.record_ids  # the summary read it


def test_no_match_says_the_named_records_exist(plant: Engine) -> None:
    r = run(plant, lot_id="LOT-P100-0002")
    assert r.rows == [] and r.summary.count == 0 and r.more == 0 and "the named records exist" in r.message


def test_p100_scope_sees_its_transfers_but_not_p200_details(plant: Engine) -> None:
    r = run(plant, P100)
    assert ids(r) == ["TR-000006", "TR-000002", "TR-000001", "TR-000003"]   # TR-000004 is P200 to P200
    rows = {x.transfer_id: x for x in r.rows}
    # The P200 end of a transfer keeps its site id only: no location, no work order.
    assert (rows["TR-000001"].from_location, rows["TR-000001"].to_location) == ("WH-01", None)
    assert (rows["TR-000002"].to_location, rows["TR-000002"].to_wo_id) == (None, None)
    assert (rows["TR-000003"].from_location, rows["TR-000003"].to_location) == (None, "WH-03")
    assert (r.summary.count, r.summary.qty_total) == (4, 140.0)
    dump = r.model_dump_json()
    for p200 in ("WO-9201", "WO-9202", "WH-05", "WH-02", "LOT-P200-0002", "TR-000004"):
        assert p200 not in dump
    p200 = run(plant, P200)
    assert ids(p200) == ["TR-000002", "TR-000001", "TR-000004", "TR-000003"]
    assert {x.transfer_id: x.from_location for x in p200.rows}["TR-000001"] is None
    assert {x.transfer_id: x.to_wo_id for x in p200.rows}["TR-000002"] == "WO-9201"


@pytest.mark.parametrize(("args", "missing"), [
    ({"lot_id": "LOT-P200-0002"}, {"lot_id": "LOT-NOPE"}),
    ({"item_id": "RM-9009"}, {"item_id": "RM-0000"}),
    ({"site_id": "P200"}, {"site_id": "P900"}),
])
def test_foreign_ids_are_not_found_like_missing_ones(plant: Engine, args: dict[str, Any],
                                                     missing: dict[str, Any]) -> None:
    a, b = SPEC.invoke(make_ctx(plant, P100), args), SPEC.invoke(make_ctx(plant, P100), missing)
    assert isinstance(a, NotFound) and isinstance(b, NotFound) and a.entity == b.entity
    assert a.message.replace(a.missing_ids[0], "?") == b.message.replace(b.missing_ids[0], "?")


@pytest.mark.parametrize(("args", "field"), [({"direction": "in"}, "direction"),
                                             ({"site_id": "P100", "direction": "both"}, "direction"),
                                             ({"days": 0}, "days"), ({"limit": 201}, "limit")])
def test_malformed_arguments_name_the_field(plant: Engine, args: dict[str, Any], field: str) -> None:
    with pytest.raises(ArgumentError) as err:
        SPEC.invoke(make_ctx(plant), args)
    assert err.value.field == field


def test_the_demo_plant_has_no_transfers_until_a_reallocation_runs(demo_plant: Engine) -> None:
    r = run(demo_plant, P100, days=3650)
    assert r.rows == [] and r.summary.count == 0 and r.summary.qty_total == 0.0
