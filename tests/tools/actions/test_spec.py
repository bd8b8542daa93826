"""The action contract shared by every action: catalog, arguments, ledger, replay, concurrency, errors."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.tools.actions.helpers import P100, ctx, execute_sql, ledger, one, spec, state
from tools.actions import ensure_action_tables
from tools.actions.catalog import ACTIONS, action_catalog
from tools.actions.spec import ActionResult, ActionSpec
from tools.errors import (
    ActionSchemaMissing,
    ArgumentError,
    IdempotencyConflict,
    NothingToCompensate,
    RecordNotFound,
    UnknownTool,
)
from tools.plant.db import make_engine

NAMES = ["place_quality_hold", "release_quality_hold", "reallocate_inventory", "request_po_date_change",
         "switch_supplier", "open_supplier_review", "create_maintenance_order", "reserve_spare_parts"]
HOLD = spec("place_quality_hold")


def hold_args(lot: str) -> dict[str, Any]:
    return {"lot_id": lot, "reason": "suspect lot", "include_open_work_orders": True}


def test_catalog_lists_every_action_with_its_metadata() -> None:
    catalog = action_catalog()
    assert catalog.names == NAMES and len(catalog) == 8 and [a.name for a in ACTIONS] == NAMES
    domains = {"inventory", "procurement", "production", "quality", "maintenance"}
    for action in catalog:
        assert isinstance(action, ActionSpec) and action.risk_class == "approval"
        assert action.domain in domains and len(action.description) > 80 and action.changes
        schema = action.json_schema()
        assert schema["type"] == "object" and schema["properties"] and schema.get("required")
        assert all(p.get("description") for p in schema["properties"].values()), action.name
    assert catalog.get("switch_supplier").idempotency_key("APR-7") == "switch_supplier:APR-7"
    assert catalog.for_key("switch_supplier:APR-7").name == "switch_supplier"
    with pytest.raises(UnknownTool):
        catalog.get("delete_plant")
    with pytest.raises(ArgumentError) as err:
        HOLD.idempotency_key(" ")
    assert err.value.field == "request_id"
    with pytest.raises(ArgumentError) as err:
        HOLD.parse_args(["lot"])  # type: ignore[arg-type]
    assert err.value.field == "(arguments)"


def test_execution_ids_are_checked(plant: Engine, scenarios: dict[str, Any]) -> None:
    lot = scenarios["scrap_spike"]["lot_id"]
    for key, request, field in (("", "r", "idempotency_key"), ("k" * 161, "r", "idempotency_key"),
                                ("k", " ", "request_id")):
        with pytest.raises(ArgumentError) as err:
            HOLD.execute(ctx(plant), hold_args(lot), idempotency_key=key, request_id=request)
        assert err.value.field == field
    assert ledger(plant) == []


def test_results_are_json(plant: Engine, scenarios: dict[str, Any]) -> None:
    lot = scenarios["scrap_spike"]["lot_id"]
    subject = HOLD.subject(ctx(plant), hold_args(lot))
    pre = HOLD.precondition(ctx(plant), hold_args(lot))
    result = HOLD.execute(ctx(plant), hold_args(lot), idempotency_key="k", request_id="r")
    for value in (subject, pre, result):
        text_ = json.dumps(value.to_json())
        assert type(value).model_validate(json.loads(text_)) == value
    assert result.to_json()["changed"][0] == {"table": "lots", "key": {"lot_id": lot}, "record_id": lot,
                                              "before": {"status": "available"},
                                              "after": {"status": "quality_hold"}, "masked_fields": []}


def test_same_key_with_other_arguments_or_action_is_refused(plant: Engine, scenarios: dict[str, Any]) -> None:
    lot = scenarios["scrap_spike"]["lot_id"]
    HOLD.execute(ctx(plant), hold_args(lot), idempotency_key="k", request_id="r")
    after = state(plant)
    with pytest.raises(IdempotencyConflict):
        HOLD.execute(ctx(plant), {**hold_args(lot), "reason": "another reason"}, idempotency_key="k", request_id="r")
    with pytest.raises(IdempotencyConflict):
        spec("release_quality_hold").execute(ctx(plant), {"lot_id": lot, "reason": "suspect lot"},
                                             idempotency_key="k", request_id="r")
    with pytest.raises(IdempotencyConflict):
        spec("release_quality_hold").compensate(ctx(plant), "k")
    assert state(plant) == after and len(ledger(plant)) == 1


def test_compensation_needs_an_execution_that_changed_something(plant: Engine, scenarios: dict[str, Any]) -> None:
    lot = scenarios["scrap_spike"]["lot_id"]
    with pytest.raises(RecordNotFound) as err:
        HOLD.compensate(ctx(plant), "place_quality_hold:never")
    assert err.value.ids == ["place_quality_hold:never"]
    execute_sql(plant, "UPDATE lots SET status = 'consumed' WHERE lot_id = :lot", lot=lot)
    failed = HOLD.execute(ctx(plant), hold_args(lot), idempotency_key="k", request_id="r")
    assert failed.status == "precondition_failed"
    with pytest.raises(NothingToCompensate):
        HOLD.compensate(ctx(plant), "k")


def _race(engines: list[Engine], work: Any) -> list[Any]:
    """Run ``work(engine)`` on each engine in its own thread, started together; results or exceptions."""
    barrier = threading.Barrier(len(engines))
    out: list[Any] = [None] * len(engines)

    def run(i: int) -> None:
        barrier.wait()
        try:
            out[i] = work(engines[i])
        except Exception as exc:  # reported to the test, never swallowed
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return out


def test_concurrent_executions_of_one_key_run_once(plant_url: str, scenarios: dict[str, Any]) -> None:
    lot = scenarios["scrap_spike"]["lot_id"]
    engines = [make_engine(plant_url) for _ in range(2)]  # two engines: as two workers would hold
    try:
        before = state(engines[0])
        results = _race(engines, lambda e: HOLD.execute(ctx(e, P100), hold_args(lot),
                                                        idempotency_key="place_quality_hold:APR-1",
                                                        request_id="APR-1"))
        assert all(isinstance(r, ActionResult) for r in results), results
        assert sorted(r.replayed for r in results) == [False, True]
        assert {r.status for r in results} == {"executed"}
        assert results[0].changed == results[1].changed
        after = state(engines[0])
        assert one(engines[0], "SELECT COUNT(*) FROM action_executions") == 1
        assert one(engines[0], "SELECT status FROM lots WHERE lot_id = :lot", lot=lot) == "quality_hold"
        # Both undos race too: exactly one restores, the other replays its result.
        undos = _race(engines, lambda e: HOLD.compensate(ctx(e, P100), "place_quality_hold:APR-1"))
        assert all(isinstance(r, ActionResult) for r in undos), undos
        assert sorted(r.replayed for r in undos) == [False, True] and {r.status for r in undos} == {"compensated"}
        assert state(engines[0]) == before != after
    finally:
        for e in engines:
            e.dispose()


def test_plant_without_action_tables(plant: Engine, scenarios: dict[str, Any]) -> None:
    lot = scenarios["scrap_spike"]["lot_id"]
    with plant.begin() as conn:
        conn.execute(text("DROP TABLE action_executions"))
    assert HOLD.precondition(ctx(plant), hold_args(lot)).ok  # reads need no ledger
    with pytest.raises(ActionSchemaMissing) as err:
        HOLD.execute(ctx(plant), hold_args(lot), idempotency_key="k", request_id="r")
    assert err.value.missing == ["action_executions"]
    assert one(plant, "SELECT status FROM lots WHERE lot_id = :lot", lot=lot) == "available"
    ensure_action_tables(plant)
    ensure_action_tables(plant)  # idempotent
    assert HOLD.execute(ctx(plant), hold_args(lot), idempotency_key="k", request_id="r").status == "executed"


def test_a_key_committed_by_another_transaction_is_replayed(plant: Engine, scenarios: dict[str, Any],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The portable path: no global write lock, the key's INSERT fails, the stored result is replayed."""
    from tools.actions import _ledger

    lot = scenarios["scrap_spike"]["lot_id"]
    first = HOLD.execute(ctx(plant), hold_args(lot), idempotency_key="k", request_id="r")
    after = state(plant)
    real_load = _ledger.load

    def unseen_in_transaction(conn: Any, key: str, *, lock: bool = False) -> Any:
        return None if lock else real_load(conn, key, lock=lock)  # as if the other writer had not committed yet

    monkeypatch.setattr(_ledger, "load", unseen_in_transaction)
    execute_sql(plant, "UPDATE lots SET status = 'available' WHERE lot_id = :lot", lot=lot)  # precondition holds
    again = HOLD.execute(ctx(plant), hold_args(lot), idempotency_key="k", request_id="r")
    assert again.replayed and again.changed == first.changed
    assert one(plant, "SELECT status FROM lots WHERE lot_id = :lot", lot=lot) == "available"  # rolled back
    assert {k: v for k, v in state(plant).items() if k[0] != "lots"} == {
        k: v for k, v in after.items() if k[0] != "lots"}
