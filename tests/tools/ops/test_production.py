"""Production tools on crafted rows (hand-computed expectations) and on the generated demo plant."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.factories import insert, make_ctx
from tools.errors import ArgumentError
from tools.ops import production
from tools.scope import DataScope
from tools.spec import NotFound, ToolContext, ToolSpec

P100 = DataScope.for_sites(["P100"])


def spec(name: str) -> ToolSpec:
    return next(s for s in production.TOOLS if s.name == name)


def run(name: str, ctx: ToolContext, args: dict[str, Any]) -> Any:
    """Invoke a tool through its spec (argument validation, NotFound) and return its typed result."""
    return spec(name).invoke(ctx, args)


def dt(day: int, hour: int = 0, month: int = 2) -> datetime:
    return datetime(2026, month, day, hour)


def _wo(wo_id: str, line: str, status: str, start: datetime, due: date, qty: float = 10.0,
        done: float = 0.0, item: str = "FG-1001", site: str | None = None) -> dict[str, Any]:
    return {"wo_id": wo_id, "site_id": site or line[:4], "line_id": line, "item_id": item, "qty_planned": qty,
            "qty_completed": done, "qty_scrapped": 0.0, "status": status, "planned_start": start,
            "planned_end": start.replace(hour=20), "due_date": due}


@pytest.fixture
def plant(blank_plant: Engine) -> Engine:
    e = blank_plant
    insert(e, "items", [
        {"item_id": i, "description": i, "item_type": t, "uom": "EA", "standard_cost": 1.0, "abc_class": "B"}
        for i, t in (("FG-1001", "finished"), ("CMP-1", "component"), ("FG-2001", "finished"))])
    insert(e, "bom_lines", [{"parent_item_id": "FG-1001", "component_item_id": "CMP-1", "qty_per": 2.0},
                            {"parent_item_id": "FG-2001", "component_item_id": "CMP-1", "qty_per": 1.0}])
    insert(e, "production_lines", [
        {"line_id": line, "site_id": line[:4], "name": line, "line_type": "packaging", "rate_per_hour": 100.0}
        for line in ("P100-PK1", "P100-PK2", "P100-AS1", "P200-MC1")])
    insert(e, "machines", [{"machine_id": f"M-{line}-0{n}", "line_id": line, "name": "m"}
                           for line in ("P100-PK1", "P100-PK2", "P200-MC1") for n in (1, 2)])
    return e


# ----------------------------------------------------------------------------------------- work orders


@pytest.fixture
def wo_plant(plant: Engine) -> Engine:
    insert(plant, "work_orders", [
        _wo("WO-1", "P100-PK1", "completed", dt(20), date(2026, 2, 25), qty=10, done=10),
        _wo("WO-2", "P100-PK1", "running", dt(26), date(2026, 2, 27), qty=40, done=10),
        _wo("WO-3", "P100-PK1", "planned", dt(4, 8, 3), date(2026, 3, 6)),
        _wo("WO-4", "P100-PK2", "cancelled", dt(10), date(2026, 2, 12)),
        _wo("WO-9", "P200-MC1", "planned", dt(1), date(2026, 2, 20), item="FG-2001"),
    ])
    return plant


def test_work_orders_progress_late_flag_and_filters(wo_plant: Engine) -> None:
    ctx = make_ctx(wo_plant)
    res = run("work_orders", ctx, {"line_id": "P100-PK1"})
    assert [w.wo_id for w in res.work_orders] == ["WO-1", "WO-2", "WO-3"]
    by_id = {w.wo_id: w for w in res.work_orders}
    assert by_id["WO-2"].progress_pct == 25.0 and by_id["WO-2"].late and by_id["WO-2"].days_late == 3
    assert not by_id["WO-1"].late and not by_id["WO-3"].late  # completed / not yet due
    assert res.late_count == 1 and res.total_matching == 3 and not res.truncated

    late = run("work_orders", ctx, {"late_only": True})
    assert [w.wo_id for w in late.work_orders] == ["WO-9", "WO-2"]  # cancelled WO-4 is never late
    opened = run("work_orders", ctx, {"status": "open", "site_id": "P100"})
    assert [w.wo_id for w in opened.work_orders] == ["WO-2", "WO-3"]
    window = run("work_orders", ctx, {"planned_from": "2026-03-01", "planned_to": "2026-03-10"})
    assert [w.wo_id for w in window.work_orders] == ["WO-3"]
    due = run("work_orders", ctx, {"due_from": "2026-02-21", "due_to": "2026-02-27"})
    assert [w.wo_id for w in due.work_orders] == ["WO-1", "WO-2"]
    limited = run("work_orders", ctx, {"limit": 2})
    assert len(limited.work_orders) == 2 and limited.truncated and limited.total_matching == 5


def test_work_orders_scope_and_errors(wo_plant: Engine) -> None:
    ctx = make_ctx(wo_plant, P100)
    res = run("work_orders", ctx, {})
    assert "P200" not in res.model_dump_json() and "WO-9" not in res.record_ids
    assert res.late_count == 1  # WO-9 (P200) is late too, but out of scope
    missing = run("work_orders", ctx, {"line_id": "P200-MC1"})
    assert isinstance(missing, NotFound) and missing.missing_ids == ["P200-MC1"]
    assert isinstance(run("work_orders", ctx, {"item_id": "FG-9999"}), NotFound)
    with pytest.raises(ArgumentError) as err:
        run("work_orders", ctx, {"planned_from": "2026-03-05", "planned_to": "2026-03-01"})
    assert err.value.field == "planned_to"
    with pytest.raises(ArgumentError) as err:
        run("work_orders", ctx, {"status": "done"})
    assert err.value.field == "status"
    with pytest.raises(ArgumentError) as err:
        run("work_orders", ctx, {"limit": 0})
    assert err.value.field == "limit"


# ---------------------------------------------------------------------------------- work orders at risk


@pytest.fixture
def risk_plant(plant: Engine) -> Engine:
    e = plant
    insert(e, "lots", [{"lot_id": lot, "item_id": "CMP-1", "site_id": site, "status": "available",
                        "qty_received": 500.0} for lot, site in (("LOT-C1", "P100"), ("LOT-C2", "P100"),
                                                                 ("LOT-C9", "P200"))])
    insert(e, "inventory", [
        {"site_id": "P100", "location": "A1", "item_id": "CMP-1", "lot_id": "LOT-C1", "qty_on_hand": 150.0,
         "qty_reserved": 10.0, "stock_status": "unrestricted"},
        {"site_id": "P100", "location": "Q1", "item_id": "CMP-1", "lot_id": "LOT-C2", "qty_on_hand": 500.0,
         "qty_reserved": 0.0, "stock_status": "blocked"},
        {"site_id": "P200", "location": "A1", "item_id": "CMP-1", "lot_id": "LOT-C9", "qty_on_hand": 900.0,
         "qty_reserved": 0.0, "stock_status": "unrestricted"},
    ])  # available at P100 = 150 − 10 = 140 (blocked stock does not count); P200's stock is not P100's
    insert(e, "work_orders", [
        _wo("WO-R", "P100-PK1", "running", dt(28, 6), date(2026, 3, 3), qty=50, done=20),   # needs 100 − 40
        _wo("WO-A", "P100-PK1", "planned", dt(3, 8, 3), date(2026, 3, 5), qty=30),          # needs 60
        _wo("WO-B", "P100-PK1", "released", dt(4, 8, 3), date(2026, 3, 6), qty=40),         # needs 80
        _wo("WO-D", "P100-PK2", "planned", dt(5, 8, 3), date(2026, 3, 7), qty=20, item="FG-2001"),  # 20
        _wo("WO-H", "P100-PK1", "held", dt(2, 8, 3), date(2026, 3, 5), qty=100),            # held: ignored
        _wo("WO-C", "P100-PK1", "planned", dt(20, 8, 3), date(2026, 3, 25), qty=10),        # beyond window
        _wo("WO-P2", "P200-MC1", "planned", dt(3, 8, 3), date(2026, 3, 5), qty=10, item="FG-2001"),
    ])
    insert(e, "wo_materials", [{"wo_id": "WO-R", "lot_id": "LOT-C1", "item_id": "CMP-1", "qty_issued": 40.0}])
    insert(e, "suppliers", [{"supplier_id": "S-1", "name": "S1", "country": "US", "on_time_rate": 0.9,
                             "quality_ppm": 10, "risk_rating": "low", "bank_account": "X",
                             "buyer_user_id": "bea.buyer", "notes": ""}])
    insert(e, "purchase_orders", [{"po_id": po, "supplier_id": "S-1", "site_id": site, "buyer_user_id": "bea.buyer",
                                   "status": st, "order_date": date(2026, 2, 1)}
                                  for po, site, st in (("PO-1", "P100", "acknowledged"), ("PO-2", "P100", "draft"),
                                                       ("PO-9", "P200", "sent"))])
    insert(e, "po_lines", [
        {"po_id": po, "line_no": n, "item_id": "CMP-1", "qty_ordered": q, "qty_received": 0.0, "unit_price": 1.0,
         "need_date": need, "promised_date": promised}
        for po, n, q, need, promised in (
            ("PO-1", 1, 30.0, date(2026, 3, 4), date(2026, 3, 4)),  # arrives the day WO-B starts
            ("PO-1", 2, 5.0, date(2026, 2, 25), None),              # past due: counts as arriving today
            ("PO-1", 3, 50.0, date(2026, 3, 6), date(2026, 3, 6)),  # after every checked WO's start
            ("PO-2", 1, 999.0, date(2026, 3, 1), None),             # draft PO: not supply
            ("PO-9", 1, 999.0, date(2026, 3, 1), None))])           # another site's supply
    insert(e, "assets", [
        {"asset_id": "AS-1", "site_id": "P100", "machine_id": "M-P100-PK2-01", "name": "sealer",
         "criticality": "A", "mtbf_hours": 500.0},
        {"asset_id": "AS-2", "site_id": "P100", "machine_id": "M-P100-PK1-01", "name": "filler",
         "criticality": "B", "mtbf_hours": 500.0}])
    insert(e, "asset_health", [
        {"asset_id": "AS-1", "scored_at": dt(1, 5, 3), "failure_probability": 0.85, "horizon_days": 14,
         "model_version": "v1", "top_signal": "vibration"},
        {"asset_id": "AS-2", "scored_at": dt(20), "failure_probability": 0.95, "horizon_days": 14,
         "model_version": "v1", "top_signal": "old score"},
        {"asset_id": "AS-2", "scored_at": dt(1, 5, 3), "failure_probability": 0.7, "horizon_days": 14,
         "model_version": "v1", "top_signal": "temperature"}])  # AS-2's latest score is below 0.8
    return e


def test_work_orders_at_risk_allocates_stock_in_planned_start_order(risk_plant: Engine) -> None:
    res = run("work_orders_at_risk", make_ctx(risk_plant, P100), {"count_incoming_po": False})
    # Stock 140: WO-R draws 2 × 50 − 40 issued = 60 (→80), WO-A 60 (→20), WO-B needs 80 of the 20 left,
    # WO-D needs 20 of none.
    assert res.checked_count == 3  # WO-A, WO-B, WO-D (running, held and later WOs are not checked)
    assert [w.wo_id for w in res.at_risk] == ["WO-B", "WO-D"]
    b, d = res.at_risk
    assert b.reasons == ["component shortage"] and b.risky_assets == []
    assert [(m.item_id, m.required_qty, m.available_qty, m.incoming_qty, m.shortfall_qty)
            for m in b.missing_components] == [("CMP-1", 80.0, 20.0, 0.0, 60.0)]
    assert d.reasons == ["component shortage", "asset risk"]
    assert d.missing_components[0].shortfall_qty == 20.0
    assert [(a.asset_id, a.failure_probability) for a in d.risky_assets] == [("AS-1", 0.85)]
    assert "P200" not in res.model_dump_json()

    line = run("work_orders_at_risk", make_ctx(risk_plant),
               {"line_id": "P100-PK1", "days": 3, "count_incoming_po": False})
    assert line.window_end == date(2026, 3, 5) and line.checked_count == 2
    assert [w.wo_id for w in line.at_risk] == ["WO-B"]
    lower = run("work_orders_at_risk", make_ctx(risk_plant),
                {"line_id": "P100-PK1", "asset_risk_threshold": 0.6, "count_incoming_po": False})
    assert [w.reasons for w in lower.at_risk] == [["asset risk"], ["component shortage", "asset risk"]]


def test_work_orders_at_risk_counts_open_po_due_by_the_start(risk_plant: Engine) -> None:
    res = run("work_orders_at_risk", make_ctx(risk_plant, P100), {})
    # 5 past due count from today: WO-R 60 (of 145), WO-A 60 (of 85); by WO-B's start 30 more arrive:
    # 175 − 120 = 55 for 80; nothing more arrives before WO-D starts (the 50 come on the 6th).
    assert [(w.wo_id, [(m.available_qty, m.incoming_qty, m.shortfall_qty) for m in w.missing_components])
            for w in res.at_risk] == [("WO-B", [(55.0, 35.0, 25.0)]), ("WO-D", [(0.0, 35.0, 20.0)])]


def test_work_orders_at_risk_named_line_out_of_scope(risk_plant: Engine) -> None:
    res = run("work_orders_at_risk", make_ctx(risk_plant, P100), {"line_id": "P200-MC1"})
    assert isinstance(res, NotFound) and res.entity == "production line"
    with pytest.raises(ArgumentError) as err:
        run("work_orders_at_risk", make_ctx(risk_plant), {"days": "soon"})
    assert err.value.field == "days"


# ------------------------------------------------------------------------------ line and machine tools


def _event(machine: str, start: datetime, end: datetime, state: str, reason: str | None = None) -> dict[str, Any]:
    return {"machine_id": machine, "started_at": start, "ended_at": end, "state": state, "reason_code": reason}


@pytest.fixture
def mes_plant(plant: Engine) -> Engine:
    e = plant
    m1, m2, m9 = "M-P100-PK1-01", "M-P100-PK1-02", "M-P200-MC1-01"
    insert(e, "machine_events", [
        _event(m1, dt(24, 22), dt(25, 2), "running"),  # 2 h fall inside the period
        _event(m1, dt(25, 2), dt(25, 4), "setup"),
        _event(m1, dt(25, 4), dt(25, 5), "down", "JAM"),
        _event(m1, dt(25, 5), dt(25, 8), "running"),
        _event(m1, dt(25, 8), dt(25, 20), "idle"),
        _event(m2, dt(26, 0), dt(26, 4), "running"),
        _event(m2, dt(26, 4), dt(26, 6), "down", "ELEC"),
        _event(m2, dt(28, 23), dt(1, 1, 3), "down", "JAM"),  # 1 h inside the period
        _event(m9, dt(26, 0), dt(26, 10), "down", "JAM"),
    ])
    insert(e, "work_orders", [_wo("WO-1", "P100-PK1", "running", dt(20), date(2026, 3, 9), qty=1000),
                              _wo("WO-2", "P100-PK2", "running", dt(20), date(2026, 3, 9), qty=1000),
                              _wo("WO-9", "P200-MC1", "running", dt(20), date(2026, 3, 9), qty=1000)])
    good: list[dict[str, Any]] = []
    scrap: list[dict[str, Any]] = []
    for n, (day, g, s) in enumerate([(25, 99, 1), (26, 98, 2), (27, 90, 10), (28, 80, 20)]):
        for wo, line, gq, sq in (("WO-1", "P100-PK1", g, s), ("WO-2", "P100-PK2", 95, 5),
                                 ("WO-9", "P200-MC1", 50, 50)):
            good.append({"confirmation_id": f"C-{wo}-{n}", "wo_id": wo, "site_id": line[:4], "line_id": line,
                         "confirmed_at": dt(day, 12), "qty_good": gq})
            scrap.append({"scrap_id": f"SCR-{wo}-{n}", "site_id": line[:4], "line_id": line, "wo_id": wo,
                          "item_id": "FG-1001", "qty": sq, "reason_code": "SEAL", "recorded_at": dt(day, 13)})
    insert(e, "production_confirmations", good)
    insert(e, "scrap_records", scrap)
    Setting = tuple[str, str, int, float, float, float]
    settings: list[Setting] = [(m1, "seal_temp", day, v, 180.0, 5.0)
                               for day, v in ((24, 190), (25, 180), (26, 182), (27, 186), (28, 188))]
    settings += [(m1, "speed", day, v, 100.0, 10.0) for day, v in ((25, 100), (26, 110), (27, 90), (28, 100))]
    settings += [(m9, "seal_temp", 27, 300.0, 180.0, 5.0)]
    insert(e, "machine_settings", [{"machine_id": m, "parameter": p, "recorded_at": dt(d, 8), "value": v,
                                    "target": t, "tolerance": tol} for m, p, d, v, t, tol in settings])
    return e


PERIOD = {"start": "2026-02-25", "end": "2026-02-28"}


def test_line_performance_availability_scrap_rate_and_trend(mes_plant: Engine) -> None:
    res = run("line_performance", make_ctx(mes_plant, P100), PERIOD)
    assert [x.line_id for x in res.lines] == ["P100-AS1", "P100-PK1", "P100-PK2"]
    empty, pk1, pk2 = res.lines
    # running 2+3+4 = 9 h, setup 2 h, down 1+2+1 = 4 h, idle 12 h → 9 / 15
    assert (pk1.running_hours, pk1.setup_hours, pk1.down_hours, pk1.idle_hours) == (9.0, 2.0, 4.0, 12.0)
    assert pk1.availability == 0.6
    assert [(d.reason_code, d.hours, d.events) for d in pk1.down_by_reason] == [("ELEC", 2.0, 1), ("JAM", 2.0, 2)]
    assert [d.scrap_rate for d in pk1.daily] == [0.01, 0.02, 0.1, 0.2]
    assert (pk1.good_qty, pk1.scrap_qty, pk1.scrap_rate) == (367.0, 33.0, 0.0825)
    # halves pooled: 3/200 then 30/200; least-squares slope of (0,.01),(1,.02),(2,.1),(3,.2) = 0.325 / 5
    assert (pk1.scrap_trend.first_half, pk1.scrap_trend.second_half) == (0.015, 0.15)
    assert pk1.scrap_trend.slope_per_day == pytest.approx(0.065)
    assert pk1.scrap_trend.direction == "rising"
    assert pk2.scrap_trend.direction == "stable" and pk2.scrap_rate == 0.05
    assert empty.availability is None and empty.scrap_rate is None and empty.scrap_trend.direction == "unknown"
    assert "P200" not in res.model_dump_json()


def test_line_performance_default_period_and_errors(mes_plant: Engine) -> None:
    ctx = make_ctx(mes_plant)
    res = run("line_performance", ctx, {"line_id": "P100-PK1", "days": 7})
    assert (res.period_start, res.period_end) == (date(2026, 2, 24), date(2026, 3, 2))
    assert len(res.lines[0].daily) == 7 and res.lines[0].running_hours == 11.0  # all 4 h of the 24th-25th run count
    with pytest.raises(ArgumentError) as err:
        run("line_performance", ctx, {"start": "2026-02-28", "end": "2026-02-20"})
    assert err.value.field == "end"
    with pytest.raises(ArgumentError) as err:
        run("line_performance", ctx, {"start": "2026-03-20"})  # after today, no end given
    assert err.value.field == "start"
    with pytest.raises(ArgumentError) as err:
        run("line_performance", ctx, {"days": 0})
    assert err.value.field == "days"
    with pytest.raises(ArgumentError) as err:
        run("line_performance", ctx, {"line": "P100-PK1"})
    assert err.value.field == "line"
    res = run("line_performance", make_ctx(mes_plant, P100), {"line_id": "P200-MC1"})
    assert isinstance(res, NotFound)


def test_machine_downtime_totals_and_top_reasons(mes_plant: Engine) -> None:
    ctx = make_ctx(mes_plant, P100)
    res = run("machine_downtime", ctx, PERIOD)
    assert (res.total_down_hours, res.event_count) == (4.0, 3)
    assert [(r.reason_code, r.hours, r.events) for r in res.by_reason] == [("ELEC", 2.0, 1), ("JAM", 2.0, 2)]
    assert [(m.machine_id, m.hours, m.events, m.top_reason) for m in res.by_machine] == [
        ("M-P100-PK1-02", 3.0, 2, "ELEC"), ("M-P100-PK1-01", 1.0, 1, "JAM")]
    assert res.longest_events[0].hours == 2.0 and res.longest_events[0].reason_code == "ELEC"
    assert "P200" not in res.model_dump_json()
    jam = run("machine_downtime", ctx, {**PERIOD, "reason_code": "JAM"})
    assert (jam.total_down_hours, jam.event_count) == (2.0, 2)
    one = run("machine_downtime", ctx, {**PERIOD, "machine_id": "M-P100-PK1-01"})
    assert [m.machine_id for m in one.by_machine] == ["M-P100-PK1-01"] and one.total_down_hours == 1.0
    everywhere = run("machine_downtime", make_ctx(mes_plant), PERIOD)
    assert everywhere.total_down_hours == 14.0  # the P200 machine's 10 h count when in scope
    missing = run("machine_downtime", ctx, {"machine_id": "M-P200-MC1-01"})
    assert isinstance(missing, NotFound) and missing.entity == "machine"


def test_machine_parameter_drift_first_out_of_tolerance_and_trend(mes_plant: Engine) -> None:
    ctx = make_ctx(mes_plant, P100)
    res = run("machine_parameter_drift", ctx, {**PERIOD, "machine_id": "M-P100-PK1-01"})
    assert [p.parameter for p in res.parameters] == ["seal_temp", "speed"]
    seal, speed = res.parameters
    assert (seal.readings, seal.latest_value, seal.latest_deviation) == (4, 188.0, 8.0)
    assert seal.latest_out_of_tolerance and seal.out_of_tolerance_count == 2
    assert seal.first_out_of_tolerance_at == dt(27, 8)  # the out-of-tolerance reading on the 24th is before
    assert (seal.trend.first_half, seal.trend.second_half, seal.trend.direction) == (181.0, 187.0, "rising")
    assert seal.trend.slope_per_day == pytest.approx(2.8) and seal.drifting_away
    # 110 and 90 sit exactly on the tolerance band's edges: still in tolerance
    assert speed.trend.direction == "falling" and speed.out_of_tolerance_count == 0  # halves 105 → 95
    assert speed.first_out_of_tolerance_at is None and not speed.drifting_away
    assert res.out_of_tolerance_now == 1
    only = run("machine_parameter_drift", ctx, {**PERIOD, "line_id": "P100-PK1", "parameter": "speed"})
    assert [(p.machine_id, p.parameter) for p in only.parameters] == [("M-P100-PK1-01", "speed")]
    site = run("machine_parameter_drift", ctx, PERIOD)
    assert "P200" not in site.model_dump_json() and len(site.parameters) == 2
    missing = run("machine_parameter_drift", ctx, {"machine_id": "M-P200-MC1-01"})
    assert isinstance(missing, NotFound)


# ------------------------------------------------------------------------------------------ demo plant


def test_demo_parameter_drift_shows_the_planted_machine(demo_plant: Engine, demo_manifest: dict[str, Any]) -> None:
    spike = demo_manifest["scenarios"]["scrap_spike"]
    ctx = make_ctx(demo_plant, DataScope.for_sites([spike["site_id"]]))
    res = run("machine_parameter_drift", ctx, {"machine_id": spike["machine_id"],
                                                       "parameter": spike["parameter"]})
    assert len(res.parameters) == 1
    drift = res.parameters[0]
    assert drift.latest_out_of_tolerance and drift.out_of_tolerance_count > 0
    assert drift.first_out_of_tolerance_at is not None and drift.drifting_away
    whole_line = run("machine_parameter_drift", ctx, {"line_id": spike["line_id"]})
    assert (whole_line.parameters[0].machine_id, whole_line.parameters[0].parameter) == (
        spike["machine_id"], spike["parameter"])


def test_demo_asset_risk_work_order_is_flagged(demo_plant: Engine, demo_manifest: dict[str, Any]) -> None:
    risk = demo_manifest["scenarios"]["asset_risk"]
    args = {"line_id": risk["line_id"], "days": 14,
            "asset_risk_threshold": min(0.8, risk["failure_probability"])}
    res = run("work_orders_at_risk", make_ctx(demo_plant), args)
    flagged = {w.wo_id: w for w in res.at_risk}
    assert risk["work_order_id"] in flagged
    assert "asset risk" in flagged[risk["work_order_id"]].reasons
    assert risk["asset_id"] in {a.asset_id for a in flagged[risk["work_order_id"]].risky_assets}
