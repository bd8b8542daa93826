"""The demo-plant generator's data: referential integrity, minimum counts, id formats, ERP-shaped orders and
the consistency rules (clock, material issues, lot ledgers, reorder points, prices).

Most checks read the session plant (``demo_plant``) through the ``db`` fixture.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.factories import AS_OF, TODAY
from tests.tools.demo.demo_helpers import LINES, SITES, available_stock, index

# ---------------------------------------------------------------- integrity, counts, ids


def test_foreign_keys_hold(demo_plant: Engine) -> None:
    with demo_plant.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == []


def test_minimum_counts(db: dict[str, list[dict[str, Any]]]) -> None:
    minimum = {"items": 300, "suppliers": 40, "po_lines": 600, "work_orders": 200, "machine_events": 1500,
               "quality_events": 300, "scrap_records": 300, "assets": 60, "lots": 300, "inventory": 200,
               "sales_orders": 50, "production_confirmations": 200, "wo_materials": 200, "asset_health": 120,
               "maintenance_orders": 40, "spare_parts": 60, "machine_settings": 200, "supplier_prices": 100,
               "reorder_points": 50, "bom_lines": 100}
    for name, low in minimum.items():
        assert len(db[name]) >= low, name
    assert len(db["suppliers"]) == 40 and len(db["assets"]) == 60
    types = {i["item_type"] for i in db["items"]}
    assert types == {"finished", "component", "raw", "spare"}
    assert {(s["site_id"], s["name"]) for s in db["sites"]} == {
        ("P100", "Aurora Packaging & Assembly"), ("P200", "Monterrey Components")}
    assert {ln["line_id"]: ln["line_type"] for ln in db["production_lines"]} == LINES
    per_line: dict[str, int] = defaultdict(int)
    for m in db["machines"]:
        per_line[m["line_id"]] += 1
    assert all(3 <= per_line[line] <= 5 for line in LINES)


ID_FORMATS = {
    ("items", "item_id"): r"(FG-1|CP-2|RM-3|SP-4)\d{3}",
    ("suppliers", "supplier_id"): r"S-0[0-4]\d",
    ("purchase_orders", "po_id"): r"PO-2\d{4}",
    ("sales_orders", "so_id"): r"SO-\d{5}",
    ("work_orders", "wo_id"): r"WO-\d{4}",
    ("lots", "lot_id"): r"LOT-P[12]00-\d{4}",
    ("quality_events", "qe_id"): r"QE-\d{5}",
    ("scrap_records", "scrap_id"): r"SCR-\d{5}",
    ("assets", "asset_id"): r"AS-\d{3}",
    ("maintenance_orders", "mo_id"): r"MO-\d{4}",
    ("machines", "machine_id"): r"M-P[12]00-(PK|AS|MC)\d-\d{2}",
    ("production_lines", "line_id"): r"P[12]00-(PK|AS|MC)\d",
}


def test_id_formats(db: dict[str, list[dict[str, Any]]]) -> None:
    for (name, column), pattern in ID_FORMATS.items():
        bad = [r[column] for r in db[name] if not re.fullmatch(pattern, r[column])]
        assert not bad, (name, bad[:5])
    assert min(int(r["po_id"][3:]) for r in db["purchase_orders"]) == 24001
    assert min(int(r["wo_id"][3:]) for r in db["work_orders"]) == 5101
    for m in db["machines"]:
        assert m["machine_id"].startswith(f"M-{m['line_id']}-")
    for lot in db["lots"]:
        assert lot["lot_id"].startswith(f"LOT-{lot['site_id']}-")


def test_bills_of_material_and_orders_are_shaped_like_an_erp(db: dict[str, list[dict[str, Any]]]) -> None:
    items = index(db["items"], "item_id")
    parts: dict[str, list[str]] = defaultdict(list)
    for b in db["bom_lines"]:
        parts[b["parent_item_id"]].append(items[b["component_item_id"]]["item_type"])
        assert b["qty_per"] > 0
    for item in items.values():
        if item["item_type"] == "finished":
            assert 2 <= len(parts[item["item_id"]]) <= 6, item
        elif item["item_id"] in parts:  # machined components: turned or milled from one bar
            assert parts[item["item_id"]] == ["raw"]
    lines_per_po: dict[str, int] = defaultdict(int)
    for ln in db["po_lines"]:
        lines_per_po[ln["po_id"]] += 1
    assert set(lines_per_po) == {po["po_id"] for po in db["purchase_orders"]}
    assert max(lines_per_po.values()) <= 5
    window = [w for w in db["work_orders"]
              if AS_OF - timedelta(days=28) <= w["planned_start"] < AS_OF + timedelta(days=28)]
    assert len(window) >= 200


def test_buyers_and_sensitive_fields(db: dict[str, list[dict[str, Any]]]) -> None:
    assert {s["buyer_user_id"] for s in db["suppliers"]} == {"bea.buyer", "bo.buyer"}
    buyers = {(po["site_id"], po["buyer_user_id"]) for po in db["purchase_orders"]}
    assert buyers == {("P100", "bea.buyer"), ("P200", "bea.buyer"), ("P200", "bo.buyer")}
    assert all(len(s["bank_account"]) >= 18 for s in db["suppliers"])
    assert {p["currency"] for p in db["supplier_prices"]} == {"USD", "MXN"}
    prices = {p["currency"] for p in db["purchase_orders"]}
    assert prices == {"USD", "MXN"}


def test_forecast_weeks(db: dict[str, list[dict[str, Any]]]) -> None:
    weeks = sorted({r["week_start"] for r in db["demand_forecast"]})
    assert len(weeks) == 12 and all(w.weekday() == 0 for w in weeks)
    this_week = TODAY - timedelta(days=TODAY.weekday())
    assert weeks[4] == this_week and weeks[0] == this_week - timedelta(days=28)
    finished = {i["item_id"] for i in db["items"] if i["item_type"] == "finished"}
    assert {r["item_id"] for r in db["demand_forecast"]} == finished
    assert len(db["demand_forecast"]) == 12 * len(finished)


# ---------------------------------------------------------------- consistency rules


def test_machine_events_contiguous(db: dict[str, list[dict[str, Any]]]) -> None:
    by_machine: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in db["machine_events"]:
        by_machine[e["machine_id"]].append(e)
    assert set(by_machine) == {m["machine_id"] for m in db["machines"]}
    for machine, events in by_machine.items():
        events.sort(key=lambda e: e["started_at"])
        assert events[-1]["ended_at"] == AS_OF, machine
        for a, b in pairwise(events):
            assert a["started_at"] < a["ended_at"] == b["started_at"], (machine, a, b)
    states = {e["state"] for e in db["machine_events"]}
    assert states == {"running", "idle", "setup", "down"}
    reasons = {e["reason_code"] for e in db["machine_events"] if e["state"] == "down"}
    assert {"JAM", "MECH_FAIL", "NO_MATERIAL"} <= reasons


def test_work_orders_follow_the_clock(db: dict[str, list[dict[str, Any]]]) -> None:
    statuses = {w["status"] for w in db["work_orders"]}
    assert statuses == {"planned", "released", "running", "held", "completed", "cancelled"}
    confirmed: dict[str, float] = defaultdict(float)
    for c in db["production_confirmations"]:
        confirmed[c["wo_id"]] += c["qty_good"]
        assert c["confirmed_at"] <= AS_OF
    scrapped: dict[str, float] = defaultdict(float)
    for s in db["scrap_records"]:
        scrapped[s["wo_id"]] += s["qty"]
    for w in db["work_orders"]:
        assert confirmed[w["wo_id"]] == w["qty_completed"] and scrapped[w["wo_id"]] == w["qty_scrapped"]
        if w["status"] == "completed":
            assert w["planned_end"] <= AS_OF and w["qty_completed"] > 0
        elif w["status"] == "running":
            assert w["planned_start"] < AS_OF < w["planned_end"]
        elif w["status"] in ("planned", "released"):
            assert w["planned_start"] >= AS_OF and w["qty_completed"] == 0


def test_material_issues_match_bom_and_progress(db: dict[str, list[dict[str, Any]]]) -> None:
    bom: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for b in db["bom_lines"]:
        bom[b["parent_item_id"]].append(b)
    lots = index(db["lots"], "lot_id")
    issued: dict[tuple[str, str], float] = defaultdict(float)
    for m in db["wo_materials"]:
        assert lots[m["lot_id"]]["item_id"] == m["item_id"]
        issued[(m["wo_id"], m["item_id"])] += m["qty_issued"]
    wos = index(db["work_orders"], "wo_id")
    for w in wos.values():
        produced = w["qty_completed"] + w["qty_scrapped"]
        for b in bom[w["item_id"]]:
            assert issued[(w["wo_id"], b["component_item_id"])] == pytest.approx(b["qty_per"] * produced,
                                                                                 abs=0.01)
    assert all(wos[wo]["site_id"] == lots[lot]["site_id"] for wo, lot in
               ((m["wo_id"], m["lot_id"]) for m in db["wo_materials"]))


def test_lot_ledgers(db: dict[str, list[dict[str, Any]]]) -> None:
    issued: dict[str, float] = defaultdict(float)
    for m in db["wo_materials"]:
        issued[m["lot_id"]] += m["qty_issued"]
    on_hand: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in db["inventory"]:
        on_hand[row["lot_id"]].append(row)
        assert 0 <= row["qty_reserved"] <= row["qty_on_hand"]
    items = index(db["items"], "item_id")
    sales = index(db["sales_orders"], "so_id")
    statuses = {"available": {"unrestricted"}, "quality_hold": {"quality_inspection"}, "blocked": {"blocked"}}
    for lot in db["lots"]:
        rows = on_hand[lot["lot_id"]]
        assert lot["received_at"] <= AS_OF
        assert (lot["po_id"] is None) != (lot["wo_id"] is None), lot
        if lot["status"] == "consumed":
            assert not rows
            continue
        assert rows and all(r["item_id"] == lot["item_id"] and r["site_id"] == lot["site_id"] for r in rows)
        if items[lot["item_id"]]["item_type"] != "finished":
            left = lot["qty_received"] - issued[lot["lot_id"]]
            assert sum(r["qty_on_hand"] for r in rows) == pytest.approx(left, abs=0.01), lot
        for r in rows:
            if r["reserved_for"]:
                so = sales[r["reserved_for"]]
                assert (so["item_id"], so["site_id"]) == (lot["item_id"], lot["site_id"])
                assert so["status"] == "allocated"
    planted = {lot["lot_id"] for lot in db["lots"] if lot["status"] in ("quality_hold", "blocked")
               and any(r["stock_status"] == "unrestricted" for r in on_hand[lot["lot_id"]])}
    assert len(planted) == 1
    for lot in db["lots"]:
        if lot["status"] != "consumed" and lot["lot_id"] not in planted:
            assert {r["stock_status"] for r in on_hand[lot["lot_id"]]} <= statuses[lot["status"]]
    locations = {r["location"] for r in db["inventory"]}
    assert {"WH-01", "RM-01", "MRO-01", "QC-01"} <= locations and any(loc.startswith("LS-") for loc in locations)


def test_reorder_points_and_supplier_prices(db: dict[str, list[dict[str, Any]]]) -> None:
    assert all(0 < r["min_qty"] < r["max_qty"] for r in db["reorder_points"])
    windows: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in db["supplier_prices"]:
        assert p["valid_from"] <= p["valid_to"]
        windows[(p["supplier_id"], p["item_id"])].append(p)
    for prices in windows.values():
        prices.sort(key=lambda p: p["valid_from"])
        assert all(a["valid_to"] < b["valid_from"] for a, b in pairwise(prices))
    assert any(p["valid_to"] < TODAY for p in db["supplier_prices"])
    available = available_stock(db)
    below = [r for r in db["reorder_points"] if available.get((r["item_id"], r["site_id"]), 0) < r["min_qty"]]
    assert {r["site_id"] for r in below} == set(SITES)
