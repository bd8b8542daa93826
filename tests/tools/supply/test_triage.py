"""buyer_exception_triage: every rule at its edges, the open-line definition, price masking and scope."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.factories import insert, make_ctx
from tests.tools.supply.scm_rows import P100, at, day, item, line, lot, po, price, seed_lines, stock, supplier, wo
from tools.errors import ArgumentError
from tools.scope import DataScope
from tools.spec import NotFound
from tools.supply.triage import ALL_CATEGORIES, TOOLS, TriageResult

SPEC = TOOLS[0]


def _demo_available() -> bool:
    try:
        return hasattr(importlib.import_module("tools.demo"), "build_plant")
    except ImportError:
        return False


needs_demo = pytest.mark.skipif(not _demo_available(), reason="tools.demo (demo plant generator) not available yet")


def run(engine: Engine, scope: DataScope | None = None, **args: Any) -> TriageResult:
    result = SPEC.invoke(make_ctx(engine, scope), args)
    assert isinstance(result, TriageResult), result
    return result


def line_ids(rows: list[Any]) -> set[str]:
    return {r.line_id for r in rows}


def seed_basic(engine: Engine, items: tuple[str, ...] = ("RM-3001",)) -> None:
    insert(engine, "items", [item(i) for i in items])
    insert(engine, "suppliers", [supplier("S-001"), supplier("S-002")])


def test_date_rules_flag_one_day_past_tolerance_not_at_it(blank_plant: Engine) -> None:
    seed_basic(blank_plant)
    insert(blank_plant, "purchase_orders", [po("PO-1001", status="acknowledged", acknowledged_at=at(-1))])
    insert(blank_plant, "po_lines", [
        line("PO-1001", 1, "RM-3001", need=day(10), promised=day(12)),  # exactly +2: fine
        line("PO-1001", 2, "RM-3001", need=day(10), promised=day(13)),  # +3: expedite
        line("PO-1001", 3, "RM-3001", need=day(10), promised=day(8)),   # exactly −2: fine
        line("PO-1001", 4, "RM-3001", need=day(10), promised=day(7)),   # −3: reschedule out
        line("PO-1001", 5, "RM-3001", need=day(-5), promised=day(0)),   # expected today: not past due
        line("PO-1001", 6, "RM-3001", need=day(-5), promised=day(-1)),  # 1 day late
        line("PO-1001", 7, "RM-3001", need=day(-1)),                    # no promise: need date is late
        line("PO-1001", 8, "RM-3001", need=day(20), promised=day(20), original=day(15)),  # slipped 5
        line("PO-1001", 9, "RM-3001", need=day(15), promised=day(15), original=day(15)),  # kept promise
    ])
    r = run(blank_plant)
    assert line_ids(r.expedite) == {"PO-1001/2", "PO-1001/5", "PO-1001/6"}
    assert {x.line_id: x.days_after_need for x in r.expedite} == {"PO-1001/2": 3, "PO-1001/5": 5, "PO-1001/6": 4}
    assert line_ids(r.reschedule_out) == {"PO-1001/4"}
    assert r.reschedule_out[0].days_before_need == 3
    assert [(x.line_id, x.days_late) for x in r.past_due] == [("PO-1001/6", 1), ("PO-1001/7", 1)]
    assert [(x.line_id, x.slip_days) for x in r.supplier_slip] == [("PO-1001/8", 5)]
    assert r.unconfirmed == []  # acknowledged
    assert all(x.reason for x in [*r.expedite, *r.reschedule_out, *r.past_due, *r.supplier_slip])
    assert r.counts["expedite"] == 3 and r.counts["past_due"] == 2
    # A wider tolerance moves the edge.
    wide = run(blank_plant, tolerance_days=3, categories=["expedite", "reschedule_out"])
    assert line_ids(wide.expedite) == {"PO-1001/5", "PO-1001/6"}
    assert wide.reschedule_out == []
    assert set(wide.counts) == {"expedite", "reschedule_out"}


def test_only_open_lines_count_and_partial_receipts_use_open_qty(blank_plant: Engine) -> None:
    seed_basic(blank_plant)
    late: dict[str, Any] = {"need": day(-5), "promised": day(-3)}
    insert(blank_plant, "purchase_orders", [
        po("PO-1002", status="cancelled"), po("PO-1003", status="draft"), po("PO-1004", status="closed"),
        po("PO-1005", status="acknowledged", acknowledged_at=at(-2)),
    ])
    insert(blank_plant, "po_lines", [
        line("PO-1002", 1, "RM-3001", **late), line("PO-1003", 1, "RM-3001", **late),
        line("PO-1004", 1, "RM-3001", **late),
        line("PO-1005", 1, "RM-3001", status="closed", **late),
        line("PO-1005", 2, "RM-3001", status="cancelled", **late),
        line("PO-1005", 3, "RM-3001", qty=100, received=100, **late),  # fully received, still flagged open
        line("PO-1005", 4, "RM-3001", qty=100, received=40, **late),   # partial receipt
    ])
    r = run(blank_plant)
    assert [(x.line_id, x.qty_open) for x in r.past_due] == [("PO-1005/4", 60.0)]
    assert r.open_lines_considered == 1
    assert line_ids(r.expedite) == set() and r.counts["past_due"] == 1


def test_unconfirmed_at_exactly_n_days_is_not_flagged_n_plus_one_is(blank_plant: Engine) -> None:
    seed_basic(blank_plant)
    insert(blank_plant, "purchase_orders", [
        po("PO-2001", approved_at=at(-3, 23)),           # approved 3 days ago: not yet
        po("PO-2002", approved_at=at(-4, 1)),            # 4 days ago: flagged
        po("PO-2003", status="sent", approved_at=at(-10)),
        po("PO-2004", status="acknowledged", approved_at=at(-10), acknowledged_at=at(-9)),
        po("PO-2005", status="sent", approved_at=at(-10), acknowledged_at=at(-8)),
        po("PO-2006", approved_at=at(-10)),              # nothing open on it
    ])
    insert(blank_plant, "po_lines", [
        *(line(p, 1, "RM-3001") for p in ("PO-2001", "PO-2002", "PO-2003", "PO-2004", "PO-2005")),
        line("PO-2006", 1, "RM-3001", received=100, status="closed"),
    ])
    r = run(blank_plant, categories=["unconfirmed"])
    assert [(x.line_id, x.days_since_approval) for x in r.unconfirmed] == [("PO-2003/1", 10), ("PO-2002/1", 4)]
    assert run(blank_plant, categories=["unconfirmed"], unconfirmed_after_days=4).counts["unconfirmed"] == 1


def seed_prices(engine: Engine) -> None:
    seed_basic(engine, ("RM-3001", "RM-3002", "RM-3003"))
    insert(engine, "supplier_prices", [
        price("S-001", "RM-3001", 80.0),
        price("S-001", "RM-3002", 80.0, valid_from=day(-10)),  # not valid on the order date
        price("S-001", "RM-3003", 50.0),
        price("S-001", "RM-3003", 100.0, valid_from=day(-30)),  # newer row wins on the order date
    ])
    insert(engine, "purchase_orders", [po("PO-3001", order_date=day(-20))])
    insert(engine, "po_lines", [
        line("PO-3001", 1, "RM-3001", unit_price=84.0),    # exactly +5 %
        line("PO-3001", 2, "RM-3001", unit_price=84.01),   # above
        line("PO-3001", 3, "RM-3001", unit_price=76.0),    # exactly −5 %
        line("PO-3001", 4, "RM-3001", unit_price=75.99),   # below
        line("PO-3001", 5, "RM-3002", unit_price=200.0),   # no list price on the order date
        line("PO-3001", 6, "RM-3003", unit_price=104.0),   # +4 % against the newer row
    ])


def test_price_variance_flags_only_beyond_the_percentage(blank_plant: Engine) -> None:
    seed_prices(blank_plant)
    r = run(blank_plant, categories=["price_variance"])
    assert [(x.line_id, x.variance_pct) for x in r.price_variance] == [("PO-3001/2", 5.01), ("PO-3001/4", -5.01)]
    assert r.price_variance[0].list_unit_price == 80.0 and r.price_variance[0].po_unit_price == 84.01
    assert r.unavailable == {}
    assert r.price_variance[0].currency == "USD" and "USD" in r.price_variance[0].reason
    assert r.open_value_by_currency == {"USD": pytest.approx(100 * (84 + 84.01 + 76 + 75.99 + 200 + 104))}
    tight = run(blank_plant, categories=["price_variance"], price_variance_pct=1.0)
    assert line_ids(tight.price_variance) == {"PO-3001/1", "PO-3001/2", "PO-3001/3", "PO-3001/4", "PO-3001/6"}


@pytest.mark.parametrize("scope", [
    DataScope(masked_fields=frozenset({"po_lines.unit_price"})),
    DataScope(masked_fields=frozenset({"supplier_prices.unit_price"})),
    DataScope(aggregate_only_fields=frozenset({"po_lines.unit_price", "supplier_prices.unit_price"})),
])
def test_hidden_prices_make_price_variance_unavailable_and_leak_nothing(blank_plant: Engine,
                                                                       scope: DataScope) -> None:
    seed_prices(blank_plant)
    r = run(blank_plant, scope)
    assert "price_variance" in r.unavailable and "price_variance" not in r.counts
    assert r.price_variance == []
    dump = r.model_dump_json()
    for value in ("84.01", "75.99", "84.0", "76.0", "104.0", "80.0"):
        assert value not in dump
    if scope.can_aggregate("po_lines.unit_price"):
        assert r.open_value_by_currency == {"USD": pytest.approx(100 * (84 + 84.01 + 76 + 75.99 + 200 + 104))}
    else:
        assert r.open_value_by_currency is None


def test_price_variance_compares_only_prices_in_the_same_currency(blank_plant: Engine) -> None:
    seed_basic(blank_plant, ("RM-3001", "RM-3002"))
    insert(blank_plant, "supplier_prices", [price("S-001", "RM-3001", 1500.0, currency="MXN"),
                                            price("S-001", "RM-3002", 80.0, currency="USD")])
    insert(blank_plant, "purchase_orders", [po("PO-3101", order_date=day(-20)),
                                            po("PO-3102", order_date=day(-20), currency="MXN")])
    insert(blank_plant, "po_lines", [
        line("PO-3101", 1, "RM-3001", unit_price=84.0),    # USD line, MXN list price: not comparable
        line("PO-3101", 2, "RM-3002", unit_price=100.0),   # USD vs USD: +25 %
        line("PO-3102", 1, "RM-3001", unit_price=1700.0),  # MXN vs MXN: +13.33 %
        line("PO-3102", 2, "RM-3002", unit_price=1.0),     # MXN line, USD list price: not comparable
    ])
    r = run(blank_plant, categories=["price_variance"])
    assert [(x.line_id, x.currency, x.variance_pct) for x in r.price_variance] == [
        ("PO-3101/2", "USD", 25.0), ("PO-3102/1", "MXN", 13.33)]
    assert r.counts == {"price_variance": 2}
    assert "PO-3101/1" not in r.record_ids and "PO-3102/2" not in r.record_ids
    # One total per PO currency, never added across currencies.
    assert r.open_value_by_currency == {"MXN": 100 * (1700.0 + 1.0), "USD": 100 * (84.0 + 100.0)}
    assert str(100 * (1700.0 + 1.0 + 84.0 + 100.0)) not in r.model_dump_json()


def test_quality_blocked_covers_open_and_recently_received_lines(blank_plant: Engine) -> None:
    seed_basic(blank_plant)
    insert(blank_plant, "purchase_orders", [po("PO-4001")])
    insert(blank_plant, "po_lines", [
        line("PO-4001", 1, "RM-3001", received=50),
        line("PO-4001", 2, "RM-3001", received=100, status="closed"),
        line("PO-4001", 3, "RM-3001", received=100, status="closed"),
        line("PO-4001", 4, "RM-3001", received=50),
    ])
    ref = {"supplier_id": "S-001", "po_id": "PO-4001"}
    insert(blank_plant, "lots", [
        lot("LOT-P100-0001", "RM-3001", status="quality_hold", po_line_no=1, received_at=at(-2), qty=50, **ref),
        lot("LOT-P100-0002", "RM-3001", status="blocked", po_line_no=2, received_at=at(-10), qty=100, **ref),
        lot("LOT-P100-0003", "RM-3001", status="blocked", po_line_no=3, received_at=at(-40), qty=100, **ref),
        lot("LOT-P100-0004", "RM-3001", status="available", po_line_no=4, received_at=at(-1), qty=50, **ref),
    ])
    r = run(blank_plant, categories=["quality_blocked"])
    assert [(x.lot_id, x.line_id, x.line_open) for x in r.quality_blocked] == [
        ("LOT-P100-0001", "PO-4001/1", True), ("LOT-P100-0002", "PO-4001/2", False)]
    assert r.quality_blocked[1].qty_open == 0.0 and "blocked" in r.quality_blocked[1].reason
    assert "LOT-P100-0001" in r.record_ids
    wider = run(blank_plant, categories=["quality_blocked"], recent_receipt_days=45)
    assert wider.counts["quality_blocked"] == 3


def test_cancel_candidate_when_stock_and_earlier_supply_cover_demand_plus_min(blank_plant: Engine) -> None:
    seed_lines(blank_plant)
    insert(blank_plant, "items", [item("FG-1001", "finished"), *(item(f"RM-300{i}") for i in (1, 2, 3))])
    insert(blank_plant, "suppliers", [supplier("S-001")])
    insert(blank_plant, "bom_lines", [{"parent_item_id": "FG-1001", "component_item_id": f"RM-300{i}",
                                       "qty_per": 2.0} for i in (1, 2, 3)])
    # Demand 200 of each component on day 5; a big WO on day 39 is past need (day 10) + 28 and ignored.
    insert(blank_plant, "work_orders", [wo("WO-5001", "FG-1001", planned=100, start=5),
                                        wo("WO-5002", "FG-1001", planned=500, start=39)])
    insert(blank_plant, "reorder_points", [{"site_id": "P100", "item_id": f"RM-300{i}", "min_qty": 100.0,
                                            "max_qty": 400.0} for i in (1, 2, 3)])
    insert(blank_plant, "lots", [lot(f"LOT-P100-000{i}", f"RM-300{i}") for i in (1, 2, 3)]
           + [lot("LOT-P100-0009", "RM-3002")])
    insert(blank_plant, "inventory", [
        stock("P100", "RM-01", "RM-3001", "LOT-P100-0001", 300),   # 300 ≥ 200 + 100: exactly covered
        stock("P100", "RM-01", "RM-3002", "LOT-P100-0002", 299),   # one short
        stock("P100", "QC-01", "RM-3002", "LOT-P100-0009", 1000, status="quality_inspection"),  # not available
        stock("P100", "RM-01", "RM-3003", "LOT-P100-0003", 200),
    ])
    insert(blank_plant, "purchase_orders", [po("PO-6001", status="acknowledged", acknowledged_at=at(-5))])
    insert(blank_plant, "po_lines", [
        line("PO-6001", 1, "RM-3001", qty=50, need=day(10), promised=day(10)),
        line("PO-6001", 2, "RM-3002", qty=50, need=day(10), promised=day(10)),
        line("PO-6001", 3, "RM-3003", qty=100, need=day(3), promised=day(3)),   # earlier supply for line 4
        line("PO-6001", 4, "RM-3003", qty=80, need=day(10), promised=day(10)),
    ])
    r = run(blank_plant, categories=["cancel_candidate"])
    rows = {x.line_id: x for x in r.cancel_candidate}
    assert set(rows) == {"PO-6001/1", "PO-6001/4"}
    four = rows["PO-6001/4"]
    assert (four.available_qty, four.earlier_supply_qty, four.demand_qty, four.reorder_min) == (200, 100, 200, 100)
    assert four.covered_through == day(38)
    assert "PO-6001/3" in four.driving_record_ids and "WO-5001" in four.driving_record_ids
    assert "WO-5002" not in four.driving_record_ids


def test_order_now_inside_best_lead_time_without_a_line_to_pull_in(blank_plant: Engine) -> None:
    seed_lines(blank_plant)
    rms = ("RM-3101", "RM-3102", "RM-3103", "RM-3104", "RM-3105", "RM-3106")
    insert(blank_plant, "items", [item("FG-1001", "finished"), item("FG-1002", "finished"), *(item(i) for i in rms)])
    insert(blank_plant, "suppliers", [supplier("S-001"), supplier("S-002"), supplier("S-003", on_time=0.95)])
    insert(blank_plant, "bom_lines", [
        *({"parent_item_id": "FG-1001", "component_item_id": i, "qty_per": 2.0} for i in rms if i != "RM-3104"),
        {"parent_item_id": "FG-1002", "component_item_id": "RM-3104", "qty_per": 2.0},
    ])
    insert(blank_plant, "work_orders", [wo("WO-5101", "FG-1001", planned=50, start=5),   # demand 100 on day 5
                                        wo("WO-5102", "FG-1002", planned=50, start=12)])  # demand 100 on day 12
    insert(blank_plant, "lots", [lot(f"LOT-P100-01{n}", i) for n, i in enumerate(rms)]
           + [lot("LOT-P200-0101", "RM-3101", "P200"), lot("LOT-P200-0102", "RM-3103", "P200")])
    insert(blank_plant, "inventory", [stock("P100", "RM-01", i, f"LOT-P100-01{n}", 50) for n, i in enumerate(rms)]
           + [stock("P200", "RM-01", "RM-3101", "LOT-P200-0101", 900),    # 600 above P200's max
              stock("P200", "RM-01", "RM-3103", "LOT-P200-0102", 250)])   # below P200's max
    insert(blank_plant, "reorder_points", [
        {"site_id": "P100", "item_id": "RM-3101", "min_qty": 40.0, "max_qty": 200.0},
        {"site_id": "P200", "item_id": "RM-3101", "min_qty": 100.0, "max_qty": 300.0},
        {"site_id": "P200", "item_id": "RM-3103", "min_qty": 100.0, "max_qty": 300.0},
    ])
    insert(blank_plant, "supplier_prices", [
        *(price("S-001", i, lead=10, min_qty=100) for i in rms if i != "RM-3105"),
        price("S-002", "RM-3101", lead=20),
        price("S-003", "RM-3101", lead=10),                       # same lead time, better on-time: best
        price("S-001", "RM-3105", lead=1, valid_to=day(-1)),      # expired: no valid source
    ])
    insert(blank_plant, "purchase_orders", [po("PO-7001", status="acknowledged", acknowledged_at=at(-3))])
    insert(blank_plant, "po_lines", [
        line("PO-7001", 1, "RM-3102", qty=60, need=day(8), promised=day(8)),    # inside lead time, covers 50
        line("PO-7001", 2, "RM-3103", qty=30, need=day(8), promised=day(8)),    # too small to cover 50
        line("PO-7001", 3, "RM-3106", qty=500, need=day(15), promised=day(15)),  # a new order arrives sooner
    ])
    r = run(blank_plant, categories=["order_now"])
    rows = {(x.item_id, x.site_id): x for x in r.order_now}
    assert set(rows) == {("RM-3101", "P100"), ("RM-3103", "P100"), ("RM-3106", "P100")}
    a = rows[("RM-3101", "P100")]
    assert (a.suggested_supplier_id, a.lead_time_days, a.first_shortage_date) == ("S-003", 10, day(5))
    assert (a.shortage_qty, a.suggested_qty) == (50.0, 250.0)  # reorder max 200 + deficit 50
    assert [(x.site_id, x.qty_above_max) for x in a.surplus_elsewhere] == [("P200", 600.0)]
    b = rows[("RM-3103", "P100")]
    assert (b.suggested_supplier_id, b.shortage_qty, b.suggested_qty) == ("S-001", 50.0, 100.0)  # supplier min
    assert "WO-5101" in b.driving_record_ids and "PO-7001/2" in b.driving_record_ids
    assert b.surplus_elsewhere == []
    assert rows[("RM-3106", "P100")].lead_time_end == day(10)
    scoped = run(blank_plant, P100, categories=["order_now"])
    assert [x.surplus_elsewhere for x in scoped.order_now] == [[], [], []]  # P200 stock is out of scope


def seed_two_sites(engine: Engine) -> None:
    seed_lines(engine)
    insert(engine, "items", [item("RM-3001"), item("FG-1001", "finished"), item("FG-1002", "finished"),
                             item("CP-2900", "component")])
    insert(engine, "suppliers", [supplier("S-001"), supplier("S-900", buyer="bo.buyer")])
    insert(engine, "bom_lines", [{"parent_item_id": "FG-1001", "component_item_id": "RM-3001", "qty_per": 1.0},
                                 {"parent_item_id": "FG-1002", "component_item_id": "RM-3001", "qty_per": 1.0},
                                 {"parent_item_id": "FG-1002", "component_item_id": "CP-2900", "qty_per": 1.0}])
    insert(engine, "supplier_prices", [price("S-900", "CP-2900", lead=30), price("S-001", "RM-3001", lead=30)])
    # 30 of RM-3001 needed on day 3 at each site; only 10 + 5 arrive: short inside the 30-day lead time.
    insert(engine, "work_orders", [wo("WO-5201", "FG-1001", planned=30, start=3),
                                   wo("WO-9201", "FG-1002", site="P200", line_id="P200-MC1", planned=30, start=3)])
    for site, po_id, sup, buyer in (("P100", "PO-1101", "S-001", "bea.buyer"),
                                    ("P200", "PO-9201", "S-900", "bo.buyer")):
        insert(engine, "purchase_orders", [po(po_id, site=site, supplier_id=sup, buyer=buyer, approved_at=at(-9),
                                              currency="USD" if site == "P100" else "MXN")])
        insert(engine, "po_lines", [
            line(po_id, 1, "RM-3001", qty=10, unit_price=7.0 if site == "P100" else 11.0, need=day(-5),
                 promised=day(-2), original=day(-6)),
            line(po_id, 2, "RM-3001", qty=10, received=5, unit_price=3.0, need=day(20), promised=day(5)),
        ])
        insert(engine, "lots", [lot(f"LOT-{site}-0001", "RM-3001", site, status="quality_hold", po_id=po_id,
                                    po_line_no=2, supplier_id=sup, received_at=at(-1), qty=5)])


def test_p100_scope_never_returns_p200_ids_and_counts_stay_in_scope(blank_plant: Engine) -> None:
    seed_two_sites(blank_plant)
    everything = run(blank_plant)
    for category in ("past_due", "expedite", "reschedule_out", "unconfirmed", "supplier_slip", "quality_blocked",
                     "order_now"):
        sites = {x.site_id for x in getattr(everything, category)}
        assert sites == {"P100", "P200"}, category
    scoped = run(blank_plant, P100)
    dump = scoped.model_dump_json()
    for p200 in ("P200", "PO-9201", "S-900", "LOT-P200", "WO-9201", "bo.buyer", "CP-2900"):
        assert p200 not in dump
    assert scoped.counts == run(blank_plant, site_id="P100").counts
    assert scoped.counts["past_due"] == 1 and scoped.counts["order_now"] == 1
    assert everything.counts["order_now"] == 3  # RM-3001 at both sites, CP-2900 at P200
    assert scoped.open_value_by_currency == {"USD": pytest.approx(10 * 7.0 + 5 * 3.0)}
    assert "MXN" not in dump
    assert everything.open_value_by_currency == {"USD": pytest.approx(10 * 7.0 + 5 * 3.0),
                                                 "MXN": pytest.approx(10 * 11.0 + 5 * 3.0)}
    limited = run(blank_plant, P100, limit=1)
    assert all(len(getattr(limited, c)) <= 1 for c in ALL_CATEGORIES)


@pytest.mark.parametrize(("args", "entity"), [
    ({"site_id": "P200"}, "site"), ({"supplier_id": "S-900"}, "supplier"), ({"buyer": "bo.buyer"}, "buyer"),
    ({"supplier_id": "S-404"}, "supplier"), ({"site_id": "P999"}, "site"),
])
def test_named_records_outside_scope_are_not_found(blank_plant: Engine, args: dict[str, Any], entity: str) -> None:
    seed_two_sites(blank_plant)
    result = SPEC.invoke(make_ctx(blank_plant, P100), args)
    assert isinstance(result, NotFound)
    assert result.entity == entity and result.missing_ids == [next(iter(args.values()))]


@pytest.mark.parametrize(("args", "field"), [
    ({"categories": ["bogus"]}, "categories.0"), ({"categories": []}, "categories"),
    ({"tolerance_days": -1}, "tolerance_days"), ({"limit": 0}, "limit"), ({"foo": 1}, "foo"),
    ({"price_variance_pct": "lots"}, "price_variance_pct"),
])
def test_malformed_arguments_name_the_field(blank_plant: Engine, args: dict[str, Any], field: str) -> None:
    with pytest.raises(ArgumentError) as err:
        SPEC.invoke(make_ctx(blank_plant), args)
    assert err.value.field == field


def test_limit_keeps_counts_and_orders_worst_first(blank_plant: Engine) -> None:
    seed_basic(blank_plant)
    insert(blank_plant, "purchase_orders", [po("PO-1201", status="acknowledged", acknowledged_at=at(-1))])
    insert(blank_plant, "po_lines", [line("PO-1201", n, "RM-3001", need=day(-n)) for n in (1, 2, 3)])
    r = run(blank_plant, categories=["past_due"], limit=2)
    assert r.counts == {"past_due": 3}
    assert [x.line_id for x in r.past_due] == ["PO-1201/3", "PO-1201/2"]
    assert "PO-1201/1" in r.record_ids  # counted, so cited


@needs_demo
@pytest.mark.parametrize("site", ["P100", "P200"])
def test_demo_plant_has_hits_in_every_category_at_each_site(demo_plant: Engine, site: str) -> None:
    r = run(demo_plant, site_id=site)
    assert r.unavailable == {}
    missing = [c for c in ALL_CATEGORIES if r.counts.get(c, 0) == 0]
    assert missing == [], f"no {missing} hits at {site}: {r.counts}"
    assert all(row.site_id == site for c in ALL_CATEGORIES for row in getattr(r, c))
    scoped = run(demo_plant, DataScope.for_sites([site]))
    # Line-based categories see the same lines; order_now may differ because a supplier used only by the
    # other site is not offered to a single-site scope (so the best source and its lead time can change).
    assert {c: n for c, n in scoped.counts.items() if c != "order_now"} == \
        {c: n for c, n in r.counts.items() if c != "order_now"}
    assert all(row.site_id == site for row in scoped.order_now)
