"""reallocate_inventory on a private copy of the demo plant (the planted reallocation scenario)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from tests.tools.actions.helpers import (
    P100,
    P200,
    assert_changed_exactly,
    ctx,
    execute_sql,
    ledger,
    one,
    rows,
    spec,
    state,
)
from tools.errors import ArgumentError, RecordNotFound

MOVE = spec("reallocate_inventory")

FREE = ("SELECT COALESCE(SUM(i.qty_on_hand - i.qty_reserved), 0) FROM inventory i JOIN lots l ON l.lot_id = i.lot_id "
        "WHERE i.item_id = :item AND i.site_id = :site AND i.stock_status = 'unrestricted' AND l.status = 'available'")


def free(engine: Engine, item: str, site: str) -> float:
    return float(one(engine, FREE, item=item, site=site))


def move_args(sc: dict[str, Any], qty: float, **extra: Any) -> dict[str, Any]:
    return {"item_id": sc["item_id"], "qty": qty, "from_site_id": sc["surplus_site"],
            "to_site_id": sc["short_site"], "reason": "cover the shortage at the other plant", **extra}


def oldest_rows(engine: Engine, item: str, site: str) -> list[dict[str, Any]]:
    return rows(engine, "SELECT i.lot_id, i.location, i.qty_on_hand - i.qty_reserved AS free FROM inventory i "
                        "JOIN lots l ON l.lot_id = i.lot_id WHERE i.item_id = :item AND i.site_id = :site AND "
                        "i.stock_status = 'unrestricted' AND l.status = 'available' AND i.qty_on_hand > i.qty_reserved "
                        "ORDER BY l.received_at, i.lot_id, i.location", item=item, site=site)


def test_move_to_other_site_replay_and_undo(plant: Engine, scenarios: dict[str, Any]) -> None:
    sc = scenarios["reallocation"]
    item, src, dst = sc["item_id"], sc["surplus_site"], sc["short_site"]
    source = oldest_rows(plant, item, src)
    qty = source[0]["free"] + 1.0  # needs more than the oldest row: two rows move
    free_src, free_dst = free(plant, item, src), free(plant, item, dst)
    assert free_src > qty
    cost = one(plant, "SELECT standard_cost FROM items WHERE item_id = :i", i=item)
    subject = MOVE.subject(ctx(plant, P100), move_args(sc, qty))
    assert (subject.site_id, subject.to_site_id) == (src, dst)
    assert subject.value_usd == pytest.approx(qty * cost) and subject.qty == qty
    before = state(plant)

    result = MOVE.execute(ctx(plant, P100), move_args(sc, qty), idempotency_key="reallocate_inventory:APR-9",
                          request_id="APR-9")

    assert result.status == "executed", result.reason
    after = state(plant)
    assert_changed_exactly(before, after, result)
    assert free(plant, item, src) == pytest.approx(free_src - qty)
    assert free(plant, item, dst) == pytest.approx(free_dst + qty)
    transfers = rows(plant, "SELECT * FROM transfers ORDER BY transfer_id")
    assert [t["transfer_id"] for t in transfers] == ["TR-000001", "TR-000002"]
    assert [(t["lot_id"], t["from_location"]) for t in transfers] == [
        (r["lot_id"], r["location"]) for r in source[:2]]
    assert sum(t["qty"] for t in transfers) == pytest.approx(qty)
    assert {(t["from_site_id"], t["to_site_id"], t["request_id"]) for t in transfers} == {(src, dst, "APR-9")}

    replay = MOVE.execute(ctx(plant, P100), move_args(sc, qty), idempotency_key="reallocate_inventory:APR-9",
                          request_id="APR-9")
    assert replay.replayed and state(plant) == after and len(ledger(plant)) == 1

    undo = MOVE.compensate(ctx(plant, P100), "reallocate_inventory:APR-9")
    assert undo.status == "compensated" and state(plant) == before
    assert MOVE.compensate(ctx(plant, P100), "reallocate_inventory:APR-9").replayed and state(plant) == before


def test_stock_consumed_before_execution(plant: Engine, scenarios: dict[str, Any]) -> None:
    sc = scenarios["reallocation"]
    qty = 100.0
    assert MOVE.precondition(ctx(plant), move_args(sc, qty)).ok
    # Someone reserves the stock in between: only 40 stay free (on the oldest row).
    source = oldest_rows(plant, sc["item_id"], sc["surplus_site"])
    for i, r in enumerate(source):
        execute_sql(plant, "UPDATE inventory SET qty_reserved = qty_on_hand - :keep WHERE site_id = :s AND "
                           "lot_id = :lot AND location = :loc AND item_id = :item", keep=40.0 if i == 0 else 0.0,
                    s=sc["surplus_site"], lot=r["lot_id"], loc=r["location"], item=sc["item_id"])
    assert free(plant, sc["item_id"], sc["surplus_site"]) == pytest.approx(40.0)
    before = state(plant)
    result = MOVE.execute(ctx(plant), move_args(sc, qty), idempotency_key="k", request_id="r")
    assert result.status == "precondition_failed" and result.reason is not None
    assert "only 40 of" in result.reason and "100 requested" in result.reason
    assert state(plant) == before and result.changed == []


def test_undo_conflicts_when_moved_stock_was_used(plant: Engine, scenarios: dict[str, Any]) -> None:
    sc = scenarios["reallocation"]
    result = MOVE.execute(ctx(plant), move_args(sc, 50.0), idempotency_key="k", request_id="r")
    dest = [c for c in result.changed if c.table == "inventory" and c.key["site_id"] == sc["short_site"]]
    assert len(dest) == 1
    execute_sql(plant, "UPDATE inventory SET qty_on_hand = qty_on_hand - 10 WHERE site_id = :s AND location = :loc "
                       "AND item_id = :item AND lot_id = :lot", s=dest[0].key["site_id"], loc=dest[0].key["location"],
                item=dest[0].key["item_id"], lot=dest[0].key["lot_id"])
    before = state(plant)
    conflict = MOVE.compensate(ctx(plant), "k")
    assert conflict.status == "compensation_conflict" and "qty_on_hand" in (conflict.reason or "")
    assert state(plant) == before


def test_issue_to_a_work_order(plant: Engine, scenarios: dict[str, Any]) -> None:
    sc = scenarios["reallocation"]
    wo = rows(plant, "SELECT w.wo_id, w.site_id FROM work_orders w JOIN bom_lines b ON b.parent_item_id = w.item_id "
                     "WHERE b.component_item_id = :item AND w.site_id = :site AND w.status IN ('planned', 'released') "
                     "ORDER BY w.wo_id LIMIT 1", item=sc["item_id"], site=sc["short_site"])[0]
    args = {"item_id": sc["item_id"], "qty": 25.0, "from_site_id": sc["surplus_site"], "to_wo_id": wo["wo_id"],
            "reason": "line down without it"}
    with pytest.raises(RecordNotFound) as err:  # a P100 caller cannot name a P200 work order
        MOVE.subject(ctx(plant, P100), args)
    assert err.value.ids == [wo["wo_id"]]
    subject = MOVE.subject(ctx(plant), args)
    assert subject.to_site_id == sc["short_site"] and wo["wo_id"] in subject.record_ids
    before = state(plant)
    result = MOVE.execute(ctx(plant), args, idempotency_key="k", request_id="r")
    assert result.status == "executed", result.reason
    assert_changed_exactly(before, state(plant), result)
    issued = one(plant, "SELECT SUM(qty_issued) FROM wo_materials WHERE wo_id = :w AND item_id = :i",
                 w=wo["wo_id"], i=sc["item_id"])
    assert issued == pytest.approx(25.0)
    assert one(plant, "SELECT to_wo_id FROM transfers") == wo["wo_id"]
    assert MOVE.compensate(ctx(plant), "k").status == "compensated" and state(plant) == before


def test_item_outside_the_work_orders_bom(plant: Engine, scenarios: dict[str, Any]) -> None:
    sc = scenarios["reallocation"]
    wo = one(plant, "SELECT wo_id FROM work_orders w WHERE status = 'released' AND NOT EXISTS (SELECT 1 FROM "
                    "bom_lines b WHERE b.parent_item_id = w.item_id AND b.component_item_id = :i) LIMIT 1",
             i=sc["item_id"])
    pre = MOVE.precondition(ctx(plant), {"item_id": sc["item_id"], "qty": 1, "from_site_id": sc["surplus_site"],
                                         "to_wo_id": wo, "reason": "test"})
    assert not pre.ok and "bill of materials" in pre.reason


def test_scope_and_unknown_records(plant: Engine, scenarios: dict[str, Any]) -> None:
    sc = scenarios["reallocation"]  # source P100
    with pytest.raises(RecordNotFound) as err:
        MOVE.execute(ctx(plant, P200), move_args(sc, 5.0), idempotency_key="k", request_id="r")
    assert err.value.entity == "site" and ledger(plant) == []
    with pytest.raises(RecordNotFound):
        MOVE.subject(ctx(plant), move_args(sc, 5.0, to_site_id="P999"))
    with pytest.raises(RecordNotFound):
        MOVE.subject(ctx(plant), move_args(sc, 5.0, item_id="NOPE-1"))
    p200_lot = one(plant, "SELECT lot_id FROM lots WHERE site_id = 'P200' LIMIT 1")
    with pytest.raises(RecordNotFound):
        MOVE.subject(ctx(plant, P100), move_args(sc, 5.0, from_lot_id=p200_lot))


@pytest.mark.parametrize(("change", "field"), [
    ({"qty": 0}, "qty"),
    ({"qty": "lots"}, "qty"),
    ({"to_site_id": None}, "to_site_id"),
    ({"to_wo_id": "WO-1"}, "to_site_id"),
    ({"to_site_id": "P100"}, "to_site_id"),
    ({"item_id": ""}, "item_id"),
    ({"reason": None}, "reason"),
])
def test_malformed_arguments_name_the_field(change: dict[str, Any], field: str) -> None:
    raw = {"item_id": "CP-2039", "qty": 5, "from_site_id": "P100", "to_site_id": "P200", "reason": "test", **change}
    with pytest.raises(ArgumentError) as err:
        MOVE.parse_args(raw)
    assert err.value.field == field


def test_unvalidated_arguments_without_a_destination_are_refused(demo_plant: Engine) -> None:
    # Arguments built without validation skip the "exactly one destination" rule; the action still refuses.
    args = MOVE.args_model.model_construct(item_id="CP-2039", qty=5.0, from_site_id="P100", from_lot_id=None,
                                           to_site_id=None, to_wo_id=None, reason="test")
    with pytest.raises(ArgumentError) as err:
        MOVE.precondition(ctx(demo_plant), args)
    assert err.value.field == "to_site_id" and err.value.tool == "reallocate_inventory"
