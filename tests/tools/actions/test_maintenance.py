"""create_maintenance_order and reserve_spare_parts on a private copy of the demo plant."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.factories import AS_OF
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

CREATE = spec("create_maintenance_order")
RESERVE = spec("reserve_spare_parts")

FREE = ("SELECT COALESCE(SUM(i.qty_on_hand - i.qty_reserved), 0) FROM inventory i JOIN lots l ON l.lot_id = i.lot_id "
        "WHERE i.item_id = :item AND i.site_id = :site AND i.stock_status = 'unrestricted' AND l.status = 'available'")


def mo_args(asset_id: str, **extra: Any) -> dict[str, Any]:
    return {"asset_id": asset_id, "mo_type": "predictive", "priority": 1,
            "description": "Replace spindle bearings before the predicted failure", **extra}


def test_create_maintenance_order_for_the_risky_asset(plant: Engine, scenarios: dict[str, Any]) -> None:
    asset = scenarios["asset_risk"]["asset_id"]
    site, criticality = rows(plant, "SELECT site_id, criticality FROM assets WHERE asset_id = :a", a=asset)[0].values()
    start = AS_OF + timedelta(days=1)
    args = mo_args(asset, scheduled_start=start.isoformat(), scheduled_end=(start + timedelta(hours=4)).isoformat())
    subject = CREATE.subject(ctx(plant, P100), args)
    assert (subject.site_id, subject.asset_criticality, subject.value_usd) == (site, criticality, 0.0)
    assert subject.record_ids == [asset]
    pre = CREATE.precondition(ctx(plant, P100), args)
    assert pre.ok and pre.snapshot["asset"] == {"asset_id": asset, "criticality": criticality}
    active = {r["mo_id"] for r in rows(plant, "SELECT mo_id FROM maintenance_orders WHERE asset_id = :a AND status IN "
                                              "('open', 'scheduled', 'in_progress')", a=asset)}
    assert {m["mo_id"] for m in pre.snapshot["active_orders"]} == active
    highest = max(int(r["mo_id"][3:]) for r in rows(plant, "SELECT mo_id FROM maintenance_orders"))
    before = state(plant)

    result = CREATE.execute(ctx(plant, P100), args, idempotency_key="create_maintenance_order:M", request_id="M")

    assert result.status == "executed"
    after = state(plant)
    assert_changed_exactly(before, after, result)
    mo_id = f"MO-{highest + 1}"
    assert result.record_ids == [mo_id]
    mo = rows(plant, "SELECT asset_id, mo_type, status, priority FROM maintenance_orders WHERE mo_id = :m", m=mo_id)
    assert mo == [{"asset_id": asset, "mo_type": "predictive", "status": "scheduled", "priority": 1}]
    assert CREATE.execute(ctx(plant, P100), args, idempotency_key="create_maintenance_order:M",
                          request_id="M").replayed
    assert state(plant) == after and len(ledger(plant)) == 1
    assert CREATE.compensate(ctx(plant, P100), "create_maintenance_order:M").status == "compensated"
    assert state(plant) == before
    assert CREATE.compensate(ctx(plant, P100), "create_maintenance_order:M").replayed and state(plant) == before


def test_maintenance_order_undo_conflicts_once_work_started(plant: Engine, scenarios: dict[str, Any]) -> None:
    asset = scenarios["asset_risk"]["asset_id"]
    result = CREATE.execute(ctx(plant), mo_args(asset), idempotency_key="k", request_id="r")
    mo_id = result.record_ids[0]
    execute_sql(plant, "UPDATE maintenance_orders SET status = 'in_progress' WHERE mo_id = :m", m=mo_id)
    before = state(plant)
    conflict = CREATE.compensate(ctx(plant), "k")
    assert conflict.status == "compensation_conflict" and mo_id in (conflict.reason or "")
    assert state(plant) == before


def test_maintenance_order_preconditions_scope_and_arguments(plant: Engine, scenarios: dict[str, Any]) -> None:
    asset = scenarios["asset_risk"]["asset_id"]  # a P100 asset
    past = CREATE.precondition(ctx(plant), mo_args(asset, scheduled_start=(AS_OF - timedelta(days=1)).isoformat()))
    assert not past.ok and "before" in past.reason
    with pytest.raises(RecordNotFound) as err:
        CREATE.execute(ctx(plant, P200), mo_args(asset), idempotency_key="k", request_id="r")
    assert err.value.ids == [asset] and ledger(plant) == []
    for change, field in (({"scheduled_end": AS_OF.isoformat()}, "scheduled_end"), ({"mo_type": "repair"}, "mo_type"),
                          ({"priority": 9}, "priority"), ({"description": ""}, "description"),
                          ({"scheduled_start": (AS_OF + timedelta(days=2)).isoformat(),
                            "scheduled_end": (AS_OF + timedelta(days=1)).isoformat()}, "scheduled_end")):
        with pytest.raises(ArgumentError) as arg_err:
            CREATE.parse_args(mo_args(asset, **change))
        assert arg_err.value.field == field


# ---------------------------------------------------------------------------- reserve_spare_parts


def spare_with_stock(engine: Engine, asset: str) -> dict[str, Any]:
    """A listed spare of ``asset`` with enough free stock at its site for the required quantity."""
    found = rows(engine, "SELECT sp.item_id, sp.qty_required, a.site_id FROM spare_parts sp JOIN assets a ON "
                         "a.asset_id = sp.asset_id WHERE sp.asset_id = :a ORDER BY sp.item_id", a=asset)
    for spare in found:
        if one(engine, FREE, item=spare["item_id"], site=spare["site_id"]) >= spare["qty_required"]:
            return spare
    pytest.fail(f"no spare of {asset} has enough stock")


def test_reserve_spare_parts_execute_replay_undo(plant: Engine, scenarios: dict[str, Any]) -> None:
    asset = scenarios["asset_risk"]["asset_id"]
    spare = spare_with_stock(plant, asset)
    item, site, qty = spare["item_id"], spare["site_id"], spare["qty_required"]
    free = one(plant, FREE, item=item, site=site)
    args = {"asset_id": asset, "item_id": item}
    subject = RESERVE.subject(ctx(plant, P100), args)
    cost = one(plant, "SELECT standard_cost FROM items WHERE item_id = :i", i=item)
    assert subject.qty == qty and subject.value_usd == pytest.approx(qty * cost)
    assert subject.asset_criticality == one(plant, "SELECT criticality FROM assets WHERE asset_id = :a", a=asset)
    before = state(plant)

    result = RESERVE.execute(ctx(plant, P100), args, idempotency_key="reserve_spare_parts:S", request_id="S")

    assert result.status == "executed", result.reason
    after = state(plant)
    assert_changed_exactly(before, after, result)
    assert one(plant, FREE, item=item, site=site) == pytest.approx(free - qty)
    reservations = rows(plant, "SELECT asset_id, item_id, site_id, qty FROM spare_reservations")
    assert sum(r["qty"] for r in reservations) == pytest.approx(qty)
    assert {(r["asset_id"], r["item_id"], r["site_id"]) for r in reservations} == {(asset, item, site)}
    assert RESERVE.execute(ctx(plant, P100), args, idempotency_key="reserve_spare_parts:S", request_id="S").replayed
    assert state(plant) == after
    assert RESERVE.compensate(ctx(plant, P100), "reserve_spare_parts:S").status == "compensated"
    assert state(plant) == before
    assert RESERVE.compensate(ctx(plant, P100), "reserve_spare_parts:S").replayed


def test_scenario_spare_precondition_matches_the_stock(plant: Engine, scenarios: dict[str, Any]) -> None:
    risk = scenarios["asset_risk"]
    spare = rows(plant, "SELECT sp.qty_required, a.site_id FROM spare_parts sp JOIN assets a ON a.asset_id = "
                        "sp.asset_id WHERE sp.asset_id = :a AND sp.item_id = :i", a=risk["asset_id"],
                 i=risk["spare_item_id"])[0]
    free = one(plant, FREE, item=risk["spare_item_id"], site=spare["site_id"])
    pre = RESERVE.precondition(ctx(plant), {"asset_id": risk["asset_id"], "item_id": risk["spare_item_id"]})
    assert pre.ok == (free >= spare["qty_required"]) and pre.snapshot["available"] == pytest.approx(free)
    assert f"{free:g}" in pre.reason


def test_spare_stock_taken_before_execution(plant: Engine, scenarios: dict[str, Any]) -> None:
    asset = scenarios["asset_risk"]["asset_id"]
    spare = spare_with_stock(plant, asset)
    args = {"asset_id": asset, "item_id": spare["item_id"]}
    assert RESERVE.precondition(ctx(plant), args).ok
    execute_sql(plant, "UPDATE inventory SET qty_reserved = qty_on_hand WHERE item_id = :i AND site_id = :s",
                i=spare["item_id"], s=spare["site_id"])
    before = state(plant)
    result = RESERVE.execute(ctx(plant), args, idempotency_key="k", request_id="r")
    assert result.status == "precondition_failed" and "only 0 of" in (result.reason or "")
    assert state(plant) == before


def test_spare_reservation_scope_and_unknown_parts(plant: Engine, scenarios: dict[str, Any]) -> None:
    asset = scenarios["asset_risk"]["asset_id"]
    spare = spare_with_stock(plant, asset)
    with pytest.raises(RecordNotFound):
        RESERVE.subject(ctx(plant, P200), {"asset_id": asset, "item_id": spare["item_id"]})
    unlisted = one(plant, "SELECT item_id FROM items WHERE item_type = 'spare' AND item_id NOT IN (SELECT item_id FROM "
                          "spare_parts WHERE asset_id = :a) LIMIT 1", a=asset)
    with pytest.raises(RecordNotFound) as err:
        RESERVE.precondition(ctx(plant), {"asset_id": asset, "item_id": unlisted})
    assert err.value.ids == [unlisted]
    with pytest.raises(ArgumentError) as arg_err:
        RESERVE.parse_args({"asset_id": asset, "item_id": spare["item_id"], "qty": -1})
    assert arg_err.value.field == "qty"


def test_spare_stock_of_a_lot_on_hold_in_mes_is_not_reserved_and_the_reason_says_why(
        plant: Engine, scenarios: dict[str, Any]) -> None:
    asset = scenarios["asset_risk"]["asset_id"]
    spare = spare_with_stock(plant, asset)
    lots = rows(plant, "SELECT DISTINCT i.lot_id FROM inventory i JOIN lots l ON l.lot_id = i.lot_id WHERE "
                       "i.item_id = :i AND i.site_id = :s AND i.stock_status = 'unrestricted' AND "
                       "l.status = 'available' AND i.qty_on_hand > i.qty_reserved ORDER BY i.lot_id",
                i=spare["item_id"], s=spare["site_id"])
    # MES holds every lot of the spare; ERP still shows their stock unrestricted.
    execute_sql(plant, "UPDATE lots SET status = 'quality_hold' WHERE lot_id IN "
                       f"({', '.join(repr(r['lot_id']) for r in lots)})")
    before = state(plant)
    result = RESERVE.execute(ctx(plant), {"asset_id": asset, "item_id": spare["item_id"]}, idempotency_key="k",
                             request_id="r")
    assert result.status == "precondition_failed" and result.reason is not None
    assert result.reason.startswith(f"only 0 of {spare['item_id']} free at {spare['site_id']}, "
                                    f"{spare['qty_required']:g} needed; not usable: lot {lots[0]['lot_id']} is on "
                                    "quality hold in MES although ERP shows ")
    assert state(plant) == before
