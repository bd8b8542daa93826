"""The executive summary and its ERP/MES reconciliation rules, on crafted rows and on the demo plant."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.factories import insert, make_ctx
from tools.errors import ArgumentError
from tools.ops import executive
from tools.scope import DataScope
from tools.spec import NotFound, ToolContext

P100 = DataScope.for_sites(["P100"])
TOOL = executive.TOOLS[0]


def run(ctx: ToolContext, args: dict[str, Any]) -> Any:
    """Invoke the tool through its spec (argument validation, NotFound) and return its typed result."""
    return TOOL.invoke(ctx, args)
PRICE = "po_lines.unit_price"


def _lot(lot_id: str, site: str = "P100", status: str = "available", qty: float = 0.0, *,
         wo_id: str | None = None, po: tuple[str, int] | None = None) -> dict[str, Any]:
    return {"lot_id": lot_id, "item_id": "FG-1001", "site_id": site, "status": status, "qty_received": qty,
            "wo_id": wo_id, "supplier_id": "S-1" if po else None, "po_id": po[0] if po else None,
            "po_line_no": po[1] if po else None}


def _inv(lot_id: str, qty: float, status: str, site: str = "P100", so: str | None = None) -> dict[str, Any]:
    return {"site_id": site, "location": "A1", "item_id": "FG-1001", "lot_id": lot_id, "qty_on_hand": qty,
            "qty_reserved": 2.0 if so else 0.0, "reserved_for": so, "stock_status": status}


def _wo(wo_id: str, status: str, done: float, due: date, site: str = "P100") -> dict[str, Any]:
    return {"wo_id": wo_id, "site_id": site, "line_id": f"{site}-PK1", "item_id": "FG-1001", "qty_planned": 100.0,
            "qty_completed": done, "qty_scrapped": 0.0, "status": status, "planned_start": datetime(2026, 2, 20),
            "planned_end": datetime(2026, 2, 21), "due_date": due}


def _pol(po: str, n: int, ordered: float, received: float, price: float, need: date,
         promised: date | None = None, status: str = "open") -> dict[str, Any]:
    return {"po_id": po, "line_no": n, "item_id": "FG-1001", "qty_ordered": ordered, "qty_received": received,
            "unit_price": price, "need_date": need, "promised_date": promised, "line_status": status}


@pytest.fixture
def consistent(blank_plant: Engine) -> Engine:
    """Rows every reconciliation rule accepts, plus the numbers the summary counts."""
    e = blank_plant
    insert(e, "items", [{"item_id": "FG-1001", "description": "fg", "item_type": "finished", "uom": "EA",
                         "standard_cost": 1.0, "abc_class": "A"}])
    insert(e, "suppliers", [{"supplier_id": "S-1", "name": "S1", "country": "US", "on_time_rate": 0.9,
                             "quality_ppm": 10, "risk_rating": "low", "bank_account": "X",
                             "buyer_user_id": "bea.buyer", "notes": ""}])
    insert(e, "production_lines", [{"line_id": f"{s}-PK1", "site_id": s, "name": s, "line_type": "packaging",
                                    "rate_per_hour": 10.0} for s in ("P100", "P200")])
    insert(e, "machines", [{"machine_id": f"M-{s}-PK1-01", "line_id": f"{s}-PK1", "name": "m"}
                           for s in ("P100", "P200")])
    insert(e, "purchase_orders", [
        {"po_id": po, "supplier_id": "S-1", "site_id": site, "buyer_user_id": "bea.buyer", "status": st,
         "order_date": date(2026, 2, 1), "currency": "MXN" if site == "P200" else "USD"}
        for po, site, st in (("PO-1", "P100", "approved"), ("PO-2", "P200", "sent"), ("PO-3", "P100", "draft"))])
    insert(e, "po_lines", [
        _pol("PO-1", 1, 100, 100, 2.0, date(2026, 2, 10)),                      # fully received: not open
        _pol("PO-1", 2, 100, 50, 2.0, date(2026, 2, 10), date(2026, 2, 20)),    # open, promised in the past
        _pol("PO-1", 3, 10, 0, 5.0, date(2026, 2, 15), date(2026, 3, 20)),     # open, promised later: not due
        _pol("PO-1", 4, 10, 0, 5.0, date(2026, 2, 1), status="closed"),         # closed line: not open
        _pol("PO-2", 1, 100, 20, 3.0, date(2026, 2, 1)),                        # P200, open, past due
        _pol("PO-3", 1, 10, 0, 1.0, date(2026, 2, 1)),                          # draft PO: not open
    ])
    insert(e, "work_orders", [
        _wo("WO-C1", "completed", 100, date(2026, 2, 20)), _wo("WO-R", "running", 0, date(2026, 3, 10)),
        _wo("WO-R2", "running", 30, date(2026, 2, 27)), _wo("WO-P", "planned", 0, date(2026, 3, 5)),
        _wo("WO-X", "cancelled", 10, date(2026, 2, 1)), _wo("WO-9", "running", 0, date(2026, 2, 1), "P200")])
    insert(e, "lots", [
        _lot("LOT-F1", qty=50, wo_id="WO-C1"), _lot("LOT-F2", qty=50, wo_id="WO-C1"),
        _lot("LOT-R2", qty=30, wo_id="WO-R2"),
        _lot("LOT-P1", qty=60, po=("PO-1", 1)), _lot("LOT-P2", qty=40, po=("PO-1", 1)),
        _lot("LOT-P3", qty=50, po=("PO-1", 2)), _lot("LOT-Q", "P200", qty=20, po=("PO-2", 1)),
        _lot("LOT-H2", status="quality_hold"), _lot("LOT-B", status="blocked"), _lot("LOT-OK")])
    insert(e, "inventory", [_inv("LOT-H2", 5, "quality_inspection"), _inv("LOT-B", 0, "unrestricted"),
                            _inv("LOT-OK", 7, "unrestricted")])
    insert(e, "quality_events", [
        {"qe_id": qe, "site_id": site, "line_id": None, "wo_id": None, "lot_id": None, "item_id": "FG-1001",
         "defect_code": "D", "severity": sev, "qty_affected": 1.0, "detected_at": datetime(2026, 2, 27),
         "status": st, "description": "x"}
        for qe, site, sev, st in (("QE-1", "P100", "major", "open"), ("QE-2", "P100", "critical", "contained"),
                                  ("QE-3", "P100", "minor", "closed"), ("QE-9", "P200", "critical", "open"))])
    insert(e, "machine_events", [
        {"machine_id": m, "started_at": datetime(2026, 2, 27, a), "ended_at": datetime(2026, 2, 27, b),
         "state": st, "reason_code": None}
        for m, a, b, st in (("M-P100-PK1-01", 0, 6, "running"), ("M-P100-PK1-01", 6, 8, "down"),
                            ("M-P100-PK1-01", 8, 20, "idle"), ("M-P200-PK1-01", 0, 10, "down"))])
    insert(e, "production_confirmations", [
        {"confirmation_id": c, "wo_id": w, "site_id": s, "line_id": f"{s}-PK1",
         "confirmed_at": datetime(2026, 2, 27, 12), "qty_good": q}
        for c, w, s, q in (("C-1", "WO-R", "P100", 95.0), ("C-9", "WO-9", "P200", 10.0))])
    insert(e, "scrap_records", [
        {"scrap_id": s_id, "site_id": s, "line_id": f"{s}-PK1", "wo_id": w, "lot_id": None, "item_id": "FG-1001",
         "qty": q, "reason_code": "R", "recorded_at": datetime(2026, 2, 27, 13)}
        for s_id, w, s, q in (("SCR-1", "WO-R", "P100", 5.0), ("SCR-9", "WO-9", "P200", 10.0))])
    insert(e, "assets", [{"asset_id": a, "site_id": s, "machine_id": f"M-{s}-PK1-01", "name": a,
                          "criticality": "A", "mtbf_hours": 100.0} for a, s in (("AS-1", "P100"), ("AS-9", "P200"))])
    insert(e, "asset_health", [{"asset_id": a, "scored_at": datetime(2026, 3, 1), "failure_probability": p,
                                "horizon_days": 7, "model_version": "v", "top_signal": "t"}
                               for a, p in (("AS-1", 0.6), ("AS-9", 0.4))])
    return e


@pytest.fixture
def disagreeing(consistent: Engine) -> Engine:
    """The consistent plant plus one planted disagreement of each kind per site."""
    e = consistent
    insert(e, "work_orders", [_wo("WO-C2", "completed", 100, date(2026, 2, 20))])
    insert(e, "po_lines", [_pol("PO-1", 5, 50, 50, 1.0, date(2026, 2, 1), status="closed"),
                           _pol("PO-2", 2, 10, 10, 1.0, date(2026, 2, 1), status="closed")])
    insert(e, "lots", [_lot("LOT-F3", qty=80, wo_id="WO-C2"), _lot("LOT-P5", qty=30, po=("PO-1", 5)),
                       _lot("LOT-H", status="quality_hold"), _lot("LOT-BL", status="blocked"),
                       _lot("LOT-H9", "P200", status="quality_hold")])
    insert(e, "sales_orders", [{"so_id": "SO-1", "site_id": "P100", "customer": "Acme", "item_id": "FG-1001",
                                "qty": 2.0, "unit_price": 9.0, "due_date": date(2026, 3, 9), "status": "allocated"}])
    insert(e, "inventory", [_inv("LOT-H", 5, "unrestricted", so="SO-1"), _inv("LOT-BL", 2, "unrestricted"),
                            _inv("LOT-H9", 3, "unrestricted", "P200")])
    return e


def test_reconciliation_finds_nothing_on_consistent_rows(consistent: Engine) -> None:
    res = run(make_ctx(consistent), {})
    assert res.reconciliation == []
    assert [s.reconciliation_issues for s in res.sites] == [0, 0]


def test_reconciliation_rules_detect_each_disagreement(disagreeing: Engine) -> None:
    res = run(make_ctx(disagreeing), {})
    found = sorted((d.kind, d.site_id, tuple(d.record_ids)) for d in res.reconciliation)
    assert found == [
        ("hold_vs_stock_status", "P100", ("LOT-BL",)),
        ("hold_vs_stock_status", "P100", ("LOT-H", "SO-1")),  # its usable stock is reserved for SO-1
        ("hold_vs_stock_status", "P200", ("LOT-H9",)),
        ("po_receipt_vs_lot", "P100", ("PO-1/5", "LOT-P5")),    # 50 received on the line, 30 in its lot
        ("po_receipt_vs_lot", "P200", ("PO-2/2",)),             # 10 received, no lot at all
        ("wo_completion_vs_receipt", "P100", ("WO-C2", "LOT-F3")),  # 100 completed, 80 into lots
    ]
    hold = next(d for d in res.reconciliation if d.record_ids[0] == "LOT-H")
    assert "quality_hold" in hold.description and "5" in hold.description and "SO-1" in hold.description
    assert [s.reconciliation_issues for s in res.sites] == [4, 2]
    assert {"LOT-H", "PO-1/5", "WO-C2"} <= set(res.record_ids)


def test_reconciliation_honours_scope(disagreeing: Engine) -> None:
    res = run(make_ctx(disagreeing, P100), {})
    assert {d.site_id for d in res.reconciliation} == {"P100"} and len(res.reconciliation) == 4
    assert "P200" not in res.model_dump_json() and "LOT-H9" not in res.model_dump_json()


def test_site_summary_numbers(consistent: Engine) -> None:
    res = run(make_ctx(consistent), {})
    assert (res.period_start, res.period_end) == (date(2026, 2, 24), date(2026, 3, 2))
    p100, p200 = res.sites
    assert (p100.site_id, p100.site_name) == ("P100", "Aurora Packaging & Assembly")
    assert (p100.open_work_orders, p100.late_work_orders) == (3, 1)  # WO-R, WO-R2, WO-P; WO-R2 is late
    assert p100.availability == 0.75 and p100.scrap_rate == 0.05   # 6 / (6 + 2); 5 / (95 + 5)
    assert p100.open_quality_events == {"critical": 1, "major": 1}
    assert (p100.open_po_lines, p100.past_due_po_lines, p100.open_po_value_by_currency) == (2, 1, {"USD": 150.0})
    assert p100.assets_at_risk == ["AS-1"]  # 150 = 50×2 + 10×5
    assert (p200.open_po_lines, p200.open_po_value_by_currency, p200.availability, p200.scrap_rate) == (
        1, {"MXN": 240.0}, 0.0, 0.5)
    assert p200.assets_at_risk == [] and p200.late_work_orders == 1


def test_summary_scope_and_price_aggregation(consistent: Engine) -> None:
    scoped = run(make_ctx(consistent, P100), {})
    assert [s.site_id for s in scoped.sites] == ["P100"] and "P200" not in scoped.model_dump_json()
    masked = run(make_ctx(consistent, DataScope.for_sites(["P100"], masked=[PRICE])), {})
    assert masked.sites[0].open_po_value_by_currency is None and masked.sites[0].open_po_lines == 2
    # Aggregate-only: two lines at two prices are shown under a min_group of 2, withheld under the default 3.
    two = DataScope(sites=frozenset({"P100"}), aggregate_only_fields=frozenset({PRICE}), min_group={PRICE: 2})
    assert run(make_ctx(consistent, two), {}).sites[0].open_po_value_by_currency == {"USD": 150.0}
    aggregate_only = DataScope(sites=frozenset({"P100"}), aggregate_only_fields=frozenset({PRICE}))
    withheld = run(make_ctx(consistent, aggregate_only), {}).sites[0]
    assert withheld.open_po_value_by_currency == {"USD": None}
    assert withheld.open_po_value_withheld["USD"].rows == 2 and "150" not in withheld.model_dump_json()
    assert PRICE in TOOL.sensitive_fields
    one = run(make_ctx(consistent), {"site_id": "P200"})
    assert [s.site_id for s in one.sites] == ["P200"]
    missing = run(make_ctx(consistent, P100), {"site_id": "P200"})
    assert isinstance(missing, NotFound) and missing.entity == "site"
    with pytest.raises(ArgumentError) as err:
        run(make_ctx(consistent), {"days": 0})
    assert err.value.field == "days"


def test_open_po_value_is_per_currency_never_summed_across(consistent: Engine) -> None:
    insert(consistent, "purchase_orders", [
        {"po_id": "PO-4", "supplier_id": "S-1", "site_id": "P100", "buyer_user_id": "bea.buyer",
         "status": "acknowledged", "order_date": date(2026, 2, 1), "currency": "MXN"}])
    insert(consistent, "po_lines", [_pol("PO-4", 1, 30, 10, 17.5, date(2026, 3, 10))])  # 20 open × 17.5 MXN
    res = run(make_ctx(consistent), {})
    p100, p200 = res.sites
    assert p100.open_po_lines == 3
    assert p100.open_po_value_by_currency == {"MXN": 350.0, "USD": 150.0}
    assert p200.open_po_value_by_currency == {"MXN": 240.0}  # other sites are never added in
    dump = res.model_dump_json()
    assert "500.0" not in dump and "590.0" not in dump and "740.0" not in dump
    masked = run(make_ctx(consistent, DataScope(masked_fields=frozenset({PRICE}))), {})
    assert [s.open_po_value_by_currency for s in masked.sites] == [None, None]
    assert "17.5" not in masked.model_dump_json() and "350.0" not in masked.model_dump_json()


def test_a_site_without_open_po_lines_has_an_empty_value_map(blank_plant: Engine) -> None:
    res = run(make_ctx(blank_plant), {})
    assert [(s.open_po_lines, s.open_po_value_by_currency) for s in res.sites] == [(0, {}), (0, {})]
    masked = run(make_ctx(blank_plant, DataScope(masked_fields=frozenset({PRICE}))), {})
    assert [s.open_po_value_by_currency for s in masked.sites] == [None, None]


def test_demo_reconciliation_matches_the_planted_disagreements(demo_plant: Engine,
                                                               demo_manifest: dict[str, Any]) -> None:
    planted = demo_manifest["scenarios"]["reconciliation"]["disagreements"]
    res = run(make_ctx(demo_plant), {})
    assert len(res.reconciliation) == len(planted)
    for expected in planted:
        matches = [d for d in res.reconciliation
                   if d.kind == expected["kind"] and set(expected["record_ids"]) <= set(d.record_ids)]
        assert len(matches) == 1, expected
