"""lot_status: each ERP/MES disagreement kind on crafted rows, can_ship, scope, and the demo plant's planted hold."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, and_, func, not_, select

from tests.factories import insert, make_ctx
from tests.tools.supply.scm_rows import P100, P200, day, item, lot, stock
from tools.ops import executive
from tools.ops.lot_status import TOOLS, LotStatusResult
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import NotFound

SPEC = TOOLS[0]


def run(engine: Engine, lot_id: str, scope: DataScope | None = None) -> LotStatusResult:
    result = SPEC.invoke(make_ctx(engine, scope), {"lot_id": lot_id})
    assert isinstance(result, LotStatusResult), result
    return result


def so(so_id: str, status: str, site: str = "P100", due: int = 5) -> dict[str, Any]:
    return {"so_id": so_id, "site_id": site, "customer": f"Customer of {so_id}", "item_id": "FG-1001", "qty": 80.0,
            "unit_price": 9.99, "due_date": day(due), "status": status}


def pegged(site: str, location: str, lot_id: str, on_hand: float, reserved: float, so_id: str | None,
           status: str = "unrestricted") -> dict[str, Any]:
    return {**stock(site, location, "FG-1001", lot_id, on_hand, reserved, status), "reserved_for": so_id}


def qe(qe_id: str, lot_id: str, status: str, severity: str = "major") -> dict[str, Any]:
    return {"qe_id": qe_id, "site_id": "P100", "line_id": None, "wo_id": None, "lot_id": lot_id, "item_id": "FG-1001",
            "defect_code": "SEAL_LEAK", "severity": severity, "qty_affected": 3.0,
            "detected_at": datetime(2026, 2, 27, 8), "status": status, "description": "seal leak found"}


LOTS = {  # lot id → MES status (all FG-1001 at P100 unless named)
    "LOT-OK": "available", "LOT-HOLD": "quality_hold", "LOT-HOLD-QI": "quality_hold", "LOT-BLK": "blocked",
    "LOT-ERPBLK": "available", "LOT-QE": "available", "LOT-RES": "available", "LOT-ZERO": "quality_hold",
    "LOT-USED": "consumed", "LOT-X": "available",
}


@pytest.fixture
def plant(blank_plant: Engine) -> Engine:
    insert(blank_plant, "items", [item("FG-1001", "finished")])
    insert(blank_plant, "sales_orders", [so("SO-1", "allocated"), so("SO-2", "shipped"), so("SO-3", "open", due=2),
                                         so("SO-9", "open", "P200")])
    insert(blank_plant, "lots", [*(lot(k, "FG-1001", status=v) for k, v in LOTS.items()),
                                 lot("LOT-P200", "FG-1001", "P200", status="quality_hold")])
    insert(blank_plant, "inventory", [
        pegged("P100", "WH-01", "LOT-OK", 100, 0, None),
        pegged("P100", "WH-01", "LOT-HOLD", 50, 20, "SO-1"),
        pegged("P100", "WH-02", "LOT-HOLD", 10, 4, "SO-3"),
        pegged("P100", "QA-01", "LOT-HOLD-QI", 50, 0, None, "quality_inspection"),
        pegged("P100", "QA-01", "LOT-BLK", 30, 30, "SO-2", "blocked"),
        pegged("P100", "WH-01", "LOT-ERPBLK", 40, 0, None),
        pegged("P100", "QA-02", "LOT-ERPBLK", 10, 0, None, "blocked"),
        pegged("P100", "QA-03", "LOT-ERPBLK", 0, 0, None, "quality_inspection"),   # empty row: not usable anyway
        pegged("P100", "WH-01", "LOT-QE", 10, 0, None),
        pegged("P100", "WH-01", "LOT-RES", 30, 27, "SO-1"),
        pegged("P100", "WH-02", "LOT-RES", 3, 3, None),                            # e.g. spares for maintenance
        pegged("P100", "WH-01", "LOT-ZERO", 0, 0, None),
        pegged("P100", "WH-01", "LOT-X", 10, 0, None),
        pegged("P200", "WH-09", "LOT-X", 5, 5, "SO-9"),                            # moved to P200, reserved there
        pegged("P200", "WH-09", "LOT-P200", 5, 0, None),
    ])
    insert(blank_plant, "quality_events", [qe("QE-1", "LOT-QE", "open"), qe("QE-2", "LOT-QE", "closed"),
                                           qe("QE-3", "LOT-QE", "contained", "minor"), qe("QE-4", "LOT-OK", "closed")])
    return blank_plant


def kinds(r: LotStatusResult) -> list[str]:
    return [d.kind for d in r.disagreements]


def test_a_clean_available_lot_can_ship(plant: Engine) -> None:
    r = run(plant, "LOT-OK")
    assert (r.lot.lot_id, r.lot.item_id, r.lot.site_id, r.lot.mes_status) == ("LOT-OK", "FG-1001", "P100", "available")
    assert [(s.location, s.stock_status, s.qty_on_hand) for s in r.erp_stock] == [("WH-01", "unrestricted", 100)]
    assert r.disagreements == [] and r.open_quality_events == [] and r.allocations == [] and r.open_shipments == []
    assert r.can_ship and r.free_qty == 100.0
    assert r.verdict.startswith("Lot LOT-OK can ship") and "100 unrestricted" in r.verdict


def test_held_lot_with_unrestricted_reserved_stock(plant: Engine) -> None:
    r = run(plant, "LOT-HOLD")
    assert kinds(r) == ["mes_hold_erp_unrestricted", "held_lot_allocated"]
    unrestricted, allocated = r.disagreements
    assert unrestricted.record_ids == ["LOT-HOLD", "SO-1", "SO-3"]
    assert "60 on hand is unrestricted" in unrestricted.detail
    assert allocated.record_ids == ["LOT-HOLD", "SO-3", "SO-1"]   # open orders by due date
    assert "24 of it is reserved" in allocated.detail
    assert [(a.reserved_for, a.qty) for a in r.allocations] == [("SO-1", 20.0), ("SO-3", 4.0)]
    assert [(s.so_id, s.customer, s.due_date, s.qty, s.qty_reserved) for s in r.open_shipments] == [
        ("SO-3", "Customer of SO-3", day(2), 80.0, 4.0), ("SO-1", "Customer of SO-1", day(5), 80.0, 20.0)]
    assert not r.can_ship and r.free_qty == 36.0
    assert r.verdict == ("Lot LOT-HOLD cannot ship: its MES status is quality_hold; ERP and MES disagree "
                         "(mes_hold_erp_unrestricted, held_lot_allocated).")


def test_the_hold_rule_is_the_executive_summarys(plant: Engine) -> None:
    summary = executive.TOOLS[0].invoke(make_ctx(plant), {})
    assert isinstance(summary, executive.ExecutiveSummaryResult)
    holds = {d.record_ids[0]: d for d in summary.reconciliation if d.kind == "hold_vs_stock_status"}
    assert sorted(holds) == ["LOT-HOLD", "LOT-P200"]
    mine = run(plant, "LOT-HOLD").disagreements[0]
    assert (mine.detail, mine.record_ids) == (holds["LOT-HOLD"].description, holds["LOT-HOLD"].record_ids)


def test_a_held_lot_in_inspection_is_consistent_but_cannot_ship(plant: Engine) -> None:
    r = run(plant, "LOT-HOLD-QI")
    assert kinds(r) == [] and not r.can_ship and r.free_qty == 0.0
    assert r.verdict == ("Lot LOT-HOLD-QI cannot ship: its MES status is quality_hold; no unrestricted unreserved "
                         "stock.")


def test_a_blocked_lot_reserved_for_a_shipped_order_is_not_allocated(plant: Engine) -> None:
    r = run(plant, "LOT-BLK")
    assert kinds(r) == [] and r.open_shipments == []
    assert [(a.reserved_for, a.qty) for a in r.allocations] == [("SO-2", 30.0)]
    assert not r.can_ship


def test_a_held_lot_with_an_empty_unrestricted_row_does_not_disagree(plant: Engine) -> None:
    assert kinds(run(plant, "LOT-ZERO")) == []


def test_available_lot_with_blocked_stock(plant: Engine) -> None:
    r = run(plant, "LOT-ERPBLK")
    assert kinds(r) == ["erp_blocked_mes_available"]
    (d,) = r.disagreements
    assert d.record_ids == ["LOT-ERPBLK"] and "10 blocked at P100/QA-02" in d.detail and "QA-03" not in d.detail
    assert r.free_qty == 40.0 and not r.can_ship
    assert r.verdict == "Lot LOT-ERPBLK cannot ship: ERP and MES disagree (erp_blocked_mes_available)."


def test_open_quality_events_stop_shipping(plant: Engine) -> None:
    r = run(plant, "LOT-QE")
    assert [(e.qe_id, e.defect_code, e.severity, e.status) for e in r.open_quality_events] == [
        ("QE-1", "SEAL_LEAK", "major", "open"), ("QE-3", "SEAL_LEAK", "minor", "contained")]
    assert kinds(r) == [] and r.free_qty == 10.0 and not r.can_ship
    assert r.verdict == "Lot LOT-QE cannot ship: open quality events QE-1, QE-3."
    assert {"QE-1", "QE-3"} <= set(r.record_ids) and "QE-2" not in r.record_ids


def test_fully_reserved_lot_has_nothing_free(plant: Engine) -> None:
    r = run(plant, "LOT-RES")
    assert [(a.reserved_for, a.qty) for a in r.allocations] == [("SO-1", 27.0), (None, 3.0)]
    assert [s.so_id for s in r.open_shipments] == ["SO-1"] and kinds(r) == []
    assert r.free_qty == 3.0 and r.can_ship  # 30 − 27 free at WH-01
    consumed = run(plant, "LOT-USED")
    assert not consumed.can_ship and "its MES status is consumed" in consumed.verdict


def test_scope_cuts_other_sites_rows(plant: Engine) -> None:
    everywhere = run(plant, "LOT-X")
    assert [(s.site_id, s.location) for s in everywhere.erp_stock] == [("P100", "WH-01"), ("P200", "WH-09")]
    assert [s.so_id for s in everywhere.open_shipments] == ["SO-9"] and everywhere.free_qty == 10.0
    p100 = run(plant, "LOT-X", P100)
    assert [(s.site_id, s.location) for s in p100.erp_stock] == [("P100", "WH-01")]
    assert p100.allocations == [] and p100.open_shipments == [] and p100.can_ship
    dump = p100.model_dump_json()
    assert "SO-9" not in dump and "WH-09" not in dump and "P200" not in dump


@pytest.mark.parametrize(("lot_id", "scope"), [("LOT-P200", P100), ("LOT-OK", P200)])
def test_a_foreign_lot_is_not_found_like_a_missing_one(plant: Engine, lot_id: str, scope: DataScope) -> None:
    foreign = SPEC.invoke(make_ctx(plant, scope), {"lot_id": lot_id})
    missing = SPEC.invoke(make_ctx(plant, scope), {"lot_id": "LOT-NOPE"})
    assert isinstance(foreign, NotFound) and isinstance(missing, NotFound)
    assert (foreign.entity, foreign.missing_ids) == ("lot", [lot_id])
    assert foreign.message.replace(lot_id, "?") == missing.message.replace("LOT-NOPE", "?")


# ---------------------------------------------------------------------------- the demo plant (seed 7)


def test_demo_planted_hold(demo_plant: Engine, demo_manifest: dict[str, Any]) -> None:
    scenario = demo_manifest["scenarios"]["reconciliation"]
    lot_id, so_id = scenario["lot_id"], scenario["so_id"]
    inv, qe_t, so_t = table("inventory"), table("quality_events"), table("sales_orders")
    with demo_plant.connect() as conn:
        reserved = conn.execute(select(inv.c.reserved_for, func.sum(inv.c.qty_reserved))
                                .where(inv.c.lot_id == lot_id, inv.c.qty_reserved > 0)
                                .group_by(inv.c.reserved_for)).all()
        events = conn.execute(select(qe_t.c.qe_id).where(qe_t.c.lot_id == lot_id,
                                                         qe_t.c.status.in_(("open", "contained")))
                              .order_by(qe_t.c.detected_at)).scalars().all()
        order = conn.execute(select(so_t.c.customer, so_t.c.due_date, so_t.c.qty)
                             .where(so_t.c.so_id == so_id)).one()
    r = run(demo_plant, lot_id, P100)
    assert r.lot.mes_status == "quality_hold" and r.lot.site_id == "P100"
    assert [(a.reserved_for, a.qty) for a in r.allocations] == [tuple(x) for x in reserved] == [(so_id, 75.0)]
    assert [(s.so_id, s.customer, s.due_date, s.qty) for s in r.open_shipments] == [(so_id, *order)]
    assert kinds(r) == ["mes_hold_erp_unrestricted", "held_lot_allocated"]
    assert all(d.record_ids == [lot_id, so_id] for d in r.disagreements)
    assert [e.qe_id for e in r.open_quality_events] == events and events
    assert not r.can_ship and r.verdict.startswith(f"Lot {lot_id} cannot ship: its MES status is quality_hold")
    assert isinstance(SPEC.invoke(make_ctx(demo_plant, P200), {"lot_id": lot_id}), NotFound)


def test_demo_a_clean_lot_can_ship(demo_plant: Engine) -> None:
    lots, inv, qe_t = table("lots"), table("inventory"), table("quality_events")
    free = (select(func.sum(inv.c.qty_on_hand - inv.c.qty_reserved)).where(
        inv.c.lot_id == lots.c.lot_id, inv.c.stock_status == "unrestricted").scalar_subquery())
    unusable = select(inv.c.lot_id).where(inv.c.stock_status != "unrestricted", inv.c.qty_on_hand > 0)
    open_qe = select(qe_t.c.lot_id).where(qe_t.c.status.in_(("open", "contained")), qe_t.c.lot_id.is_not(None))
    with demo_plant.connect() as conn:
        lot_id, qty = conn.execute(
            select(lots.c.lot_id, free).where(and_(
                lots.c.site_id == "P100", lots.c.status == "available", free > 0,
                not_(lots.c.lot_id.in_(unusable)), not_(lots.c.lot_id.in_(open_qe))))
            .order_by(lots.c.lot_id).limit(1)).one()
    r = run(demo_plant, lot_id, P100)
    assert r.can_ship and r.disagreements == [] and r.free_qty == qty
