"""place_quality_hold / release_quality_hold on a private copy of the demo plant."""

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

HOLD = spec("place_quality_hold")
RELEASE = spec("release_quality_hold")


def hold_args(lot_id: str, **extra: Any) -> dict[str, Any]:
    return {"lot_id": lot_id, "reason": "scrap spike on PK1 traced to this lot", **extra}


def open_consumers(engine: Engine, lot_id: str) -> list[str]:
    return [r["wo_id"] for r in rows(
        engine, "SELECT DISTINCT w.wo_id FROM work_orders w JOIN wo_materials m ON m.wo_id = w.wo_id "
                "WHERE m.lot_id = :lot AND w.status IN ('planned', 'released', 'running') ORDER BY w.wo_id",
        lot=lot_id)]


def test_subject_value_site_and_records(plant: Engine, scenarios: dict[str, Any]) -> None:
    spike = scenarios["scrap_spike"]
    lot = spike["lot_id"]
    on_hand = one(plant, "SELECT SUM(qty_on_hand) FROM inventory WHERE lot_id = :lot", lot=lot)
    cost = one(plant, "SELECT standard_cost FROM items WHERE item_id = :i", i=spike["item_id"])
    subject = HOLD.subject(ctx(plant, P100), hold_args(lot, include_open_work_orders=True))
    assert subject.site_id == "P100" and subject.to_site_id is None
    assert subject.value_usd == pytest.approx(on_hand * cost) and subject.value_usd > 0
    assert subject.qty == pytest.approx(on_hand) and subject.supplier_id == spike["supplier_id"]
    consumers = open_consumers(plant, lot)
    assert consumers and subject.record_ids == [lot, *consumers]
    assert HOLD.subject(ctx(plant), hold_args(lot)).record_ids == [lot]  # without the work orders


def test_scrap_spike_hold_with_open_work_orders_and_undo(plant: Engine, scenarios: dict[str, Any]) -> None:
    spike = scenarios["scrap_spike"]
    lot = spike["lot_id"]
    args = hold_args(lot, include_open_work_orders=True)
    consumers = open_consumers(plant, lot)
    # The planted consumers: open PK1 work orders of the scenario; the completed ones must stay untouched.
    assert consumers and set(consumers) <= set(spike["work_order_ids"])
    completed = [w for w in spike["work_order_ids"] if w not in consumers]
    pre = HOLD.precondition(ctx(plant, P100), args)
    assert pre.ok, pre.reason
    assert pre.snapshot["lot"] == {"lot_id": lot, "status": "available"}
    unrestricted = rows(plant, "SELECT location FROM inventory WHERE lot_id = :lot AND stock_status = "
                               "'unrestricted' ORDER BY location", lot=lot)
    assert unrestricted
    before = state(plant)

    result = HOLD.execute(ctx(plant, P100), args, idempotency_key="place_quality_hold:APR-1", request_id="APR-1")

    assert result.status == "executed" and not result.replayed
    after = state(plant)
    assert_changed_exactly(before, after, result)
    assert one(plant, "SELECT status FROM lots WHERE lot_id = :lot", lot=lot) == "quality_hold"
    assert rows(plant, "SELECT DISTINCT stock_status FROM inventory WHERE lot_id = :lot", lot=lot) == [
        {"stock_status": "quality_inspection"}]
    statuses = {r["wo_id"]: r["status"] for r in rows(plant, "SELECT wo_id, status FROM work_orders")}
    assert all(statuses[w] == "held" for w in consumers)
    assert all(statuses[w] == "completed" for w in completed)
    assert {one(plant, "SELECT line_id FROM work_orders WHERE wo_id = :w", w=w) for w in consumers} == {
        spike["line_id"]}
    assert result.record_ids == [lot, *consumers]
    assert len(result.changed) == 1 + len(unrestricted) + len(consumers)

    replay = HOLD.execute(ctx(plant, P100), args, idempotency_key="place_quality_hold:APR-1", request_id="APR-1")
    assert replay.replayed and replay.status == "executed" and replay.changed == result.changed
    assert state(plant) == after and len(ledger(plant)) == 1

    undo = HOLD.compensate(ctx(plant, P100), "place_quality_hold:APR-1")
    assert undo.status == "compensated" and not undo.replayed
    assert state(plant) == before  # restored exactly
    assert ledger(plant)[0]["status"] == "compensated"
    again = HOLD.compensate(ctx(plant, P100), "place_quality_hold:APR-1")
    assert again.replayed and again.status == "compensated" and state(plant) == before
    # Replaying the execution after the undo still changes nothing.
    late = HOLD.execute(ctx(plant, P100), args, idempotency_key="place_quality_hold:APR-1", request_id="APR-1")
    assert late.replayed and late.compensated_at is not None and state(plant) == before


def test_precondition_changed_before_execution(plant: Engine, scenarios: dict[str, Any]) -> None:
    lot = scenarios["scrap_spike"]["lot_id"]
    assert HOLD.precondition(ctx(plant), hold_args(lot)).ok
    execute_sql(plant, "UPDATE lots SET status = 'blocked' WHERE lot_id = :lot", lot=lot)  # someone else acted
    before = state(plant)
    result = HOLD.execute(ctx(plant), hold_args(lot), idempotency_key="k1", request_id="APR-2")
    assert result.status == "precondition_failed" and result.changed == []
    assert result.reason is not None and "blocked" in result.reason and lot in result.reason
    assert state(plant) == before
    assert ledger(plant)[0]["status"] == "precondition_failed"
    replay = HOLD.execute(ctx(plant), hold_args(lot), idempotency_key="k1", request_id="APR-2")
    assert replay.replayed and replay.status == "precondition_failed" and state(plant) == before


def test_no_stock_left_fails_the_precondition(plant: Engine, scenarios: dict[str, Any]) -> None:
    lot = scenarios["scrap_spike"]["lot_id"]
    execute_sql(plant, "UPDATE inventory SET qty_on_hand = 0 WHERE lot_id = :lot", lot=lot)
    pre = HOLD.precondition(ctx(plant), hold_args(lot))
    assert not pre.ok and "no stock" in pre.reason


def test_compensation_conflict_changes_nothing(plant: Engine, scenarios: dict[str, Any]) -> None:
    lot = scenarios["scrap_spike"]["lot_id"]
    args = hold_args(lot, include_open_work_orders=True)
    wo = open_consumers(plant, lot)
    assert wo
    HOLD.execute(ctx(plant), args, idempotency_key="k", request_id="APR-3")
    execute_sql(plant, "UPDATE work_orders SET status = 'running' WHERE wo_id = :w", w=wo[0])  # restarted by hand
    before = state(plant)
    conflict = HOLD.compensate(ctx(plant), "k")
    assert conflict.status == "compensation_conflict" and conflict.changed == []
    assert conflict.reason is not None and wo[0] in conflict.reason and "running" in conflict.reason
    assert state(plant) == before and ledger(plant)[0]["status"] == "executed"
    execute_sql(plant, "UPDATE work_orders SET status = 'held' WHERE wo_id = :w", w=wo[0])
    assert HOLD.compensate(ctx(plant), "k").status == "compensated"
    assert one(plant, "SELECT status FROM lots WHERE lot_id = :lot", lot=lot) == "available"


def test_scope_hides_other_sites_lots(plant: Engine, scenarios: dict[str, Any]) -> None:
    lot = scenarios["scrap_spike"]["lot_id"]  # a P100 lot
    for call in (lambda: HOLD.subject(ctx(plant, P200), hold_args(lot)),
                 lambda: HOLD.precondition(ctx(plant, P200), hold_args(lot)),
                 lambda: HOLD.execute(ctx(plant, P200), hold_args(lot), idempotency_key="k", request_id="r")):
        with pytest.raises(RecordNotFound) as err:
            call()
        assert err.value.ids == [lot]
    assert ledger(plant) == []
    assert one(plant, "SELECT status FROM lots WHERE lot_id = :lot", lot=lot) == "available"
    with pytest.raises(RecordNotFound):
        HOLD.subject(ctx(plant), hold_args("LOT-P100-9999"))
    # Undo is scoped too: a P200 caller cannot undo (or even see) a P100 execution.
    HOLD.execute(ctx(plant, P100), hold_args(lot), idempotency_key="k", request_id="r")
    with pytest.raises(RecordNotFound):
        HOLD.compensate(ctx(plant, P200), "k")


def test_work_order_hold_and_release(plant: Engine) -> None:
    wo = rows(plant, "SELECT wo_id, item_id, qty_planned, qty_completed FROM work_orders WHERE status = 'released' "
                     "AND site_id = 'P200' ORDER BY wo_id LIMIT 1")[0]
    cost = one(plant, "SELECT standard_cost FROM items WHERE item_id = :i", i=wo["item_id"])
    args = {"wo_id": wo["wo_id"], "reason": "suspect material"}
    subject = HOLD.subject(ctx(plant, P200), args)
    assert subject.site_id == "P200" and subject.record_ids == [wo["wo_id"]]
    assert subject.value_usd == pytest.approx((wo["qty_planned"] - wo["qty_completed"]) * cost)
    before = state(plant)
    result = HOLD.execute(ctx(plant, P200), args, idempotency_key="h", request_id="r1")
    assert result.status == "executed"
    assert_changed_exactly(before, state(plant), result)
    assert one(plant, "SELECT status FROM work_orders WHERE wo_id = :w", w=wo["wo_id"]) == "held"
    assert not HOLD.precondition(ctx(plant), args).ok  # already held
    released = RELEASE.execute(ctx(plant, P200), args, idempotency_key="r", request_id="r2")
    assert released.status == "executed"
    assert one(plant, "SELECT status FROM work_orders WHERE wo_id = :w", w=wo["wo_id"]) == "released"
    completed = one(plant, "SELECT wo_id FROM work_orders WHERE status = 'completed' LIMIT 1")
    pre = HOLD.precondition(ctx(plant), {"wo_id": completed, "reason": "late"})
    assert not pre.ok and "completed" in pre.reason


def test_release_lot_with_held_work_orders(plant: Engine, scenarios: dict[str, Any]) -> None:
    lot = scenarios["scrap_spike"]["lot_id"]
    consumers = open_consumers(plant, lot)
    HOLD.execute(ctx(plant), hold_args(lot, include_open_work_orders=True), idempotency_key="h", request_id="1")
    pre_release = state(plant)
    args = {"lot_id": lot, "reason": "cleared by lab", "include_held_work_orders": True}
    assert RELEASE.subject(ctx(plant), args).record_ids == [lot, *consumers]
    result = RELEASE.execute(ctx(plant), args, idempotency_key="rel", request_id="2")
    assert result.status == "executed"
    assert_changed_exactly(pre_release, state(plant), result)
    assert one(plant, "SELECT status FROM lots WHERE lot_id = :lot", lot=lot) == "available"
    assert rows(plant, "SELECT DISTINCT stock_status FROM inventory WHERE lot_id = :lot", lot=lot) == [
        {"stock_status": "unrestricted"}]
    assert all(one(plant, "SELECT status FROM work_orders WHERE wo_id = :w", w=w) == "released" for w in consumers)
    # The hold can no longer be undone: its records do not hold what it wrote.
    assert HOLD.compensate(ctx(plant), "h").status == "compensation_conflict"
    not_held = RELEASE.precondition(ctx(plant), {"lot_id": lot, "reason": "again"})
    assert not not_held.ok and "available" in not_held.reason


@pytest.mark.parametrize(("raw", "field"), [
    ({"reason": "x" * 5}, "lot_id"),
    ({"lot_id": "LOT-1", "wo_id": "WO-1", "reason": "xxxx"}, "lot_id"),
    ({"lot_id": "LOT-1"}, "reason"),
    ({"lot_id": "LOT-1", "reason": "ab"}, "reason"),
    ({"wo_id": "WO-1", "reason": "xxxx", "include_open_work_orders": True}, "include_open_work_orders"),
    ({"lot_id": "LOT-1", "reason": "xxxx", "include_open_work_orders": "maybe"}, "include_open_work_orders"),
    ({"lot_id": "LOT-1", "reason": "xxxx", "colour": "red"}, "colour"),
])
def test_malformed_arguments_name_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ArgumentError) as err:
        HOLD.parse_args(raw)
    assert err.value.field == field and err.value.tool == "place_quality_hold"


@pytest.mark.parametrize("action", [HOLD, RELEASE])
def test_unvalidated_arguments_naming_neither_lot_nor_work_order_are_refused(demo_plant: Engine, action: Any) -> None:
    # Arguments built without validation skip the "exactly one of lot_id or wo_id" rule; the action still refuses.
    args = action.args_model.model_construct(lot_id=None, wo_id=None, reason="no target")
    for read in (action.subject, action.precondition):
        with pytest.raises(ArgumentError) as err:
            read(ctx(demo_plant), args)
        assert err.value.field == "lot_id" and err.value.tool == action.name


def test_hold_on_a_lot_mes_already_holds_blocks_its_erp_stock_and_undo_restores(
        plant: Engine, scenarios: dict[str, Any]) -> None:
    # The planted contradiction: quality_hold in MES while ERP shows the stock unrestricted (and pegged to an order).
    recon = scenarios["reconciliation"]
    lot = recon["lot_id"]
    assert one(plant, "SELECT status FROM lots WHERE lot_id = :lot", lot=lot) == "quality_hold"
    usable = rows(plant, "SELECT location, qty_on_hand, reserved_for FROM inventory WHERE lot_id = :lot AND "
                         "stock_status = 'unrestricted' AND qty_on_hand > 0 ORDER BY location", lot=lot)
    assert usable and recon["so_id"] in {r["reserved_for"] for r in usable}
    unrestricted = sum(r["qty_on_hand"] for r in usable)
    pre = HOLD.precondition(ctx(plant, P100), hold_args(lot))
    assert pre.ok
    assert pre.reason.startswith(f"lot {lot} is already quality_hold in MES although ERP shows {unrestricted:g} "
                                 "unrestricted; ")
    before = state(plant)

    result = HOLD.execute(ctx(plant, P100), hold_args(lot), idempotency_key="k", request_id="APR-7")

    assert result.status == "executed", result.reason
    assert_changed_exactly(before, state(plant), result)
    assert {c.table for c in result.changed} == {"inventory"}  # MES already held it: only ERP changes
    assert rows(plant, "SELECT DISTINCT stock_status FROM inventory WHERE lot_id = :lot", lot=lot) == [
        {"stock_status": "quality_inspection"}]
    assert one(plant, "SELECT status FROM lots WHERE lot_id = :lot", lot=lot) == "quality_hold"
    assert HOLD.compensate(ctx(plant, P100), "k").status == "compensated" and state(plant) == before
    # A lot held in both systems is refused as before.
    HOLD.execute(ctx(plant, P100), hold_args(lot), idempotency_key="k2", request_id="APR-8")
    again = HOLD.precondition(ctx(plant, P100), hold_args(lot))
    assert not again.ok and again.reason == f"lot {lot} is quality_hold, not available"
