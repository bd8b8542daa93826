"""The planted scenarios of the demo plant (scrap spike, asset risk, reallocation, reconciliation) and the
buyer-triage categories, checked against the shared semantics re-derived from the tables."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest

from tests.factories import AS_OF, TODAY
from tests.tools.demo.demo_helpers import LINES, OPEN_WO, SITES, available_stock, index


def _open_lines(db: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    pos = index(db["purchase_orders"], "po_id")
    out = []
    for ln in db["po_lines"]:
        po = pos[ln["po_id"]]
        if (ln["line_status"] == "open" and po["status"] in ("approved", "sent", "acknowledged")
                and ln["qty_received"] < ln["qty_ordered"]):
            out.append({**ln, "site_id": po["site_id"], "supplier_id": po["supplier_id"],
                        "order_date": po["order_date"], "expected": ln["promised_date"] or ln["need_date"]})
    return out


def _first_shortage(db: dict[str, list[dict[str, Any]]], item_id: str, site_id: str, days: int) -> date | None:
    """First day within ``days`` the projected stock (COMMON.md definition) of a component goes below zero."""
    return _projection(db, item_id, site_id, days)[0]


def _projection(db: dict[str, list[dict[str, Any]]], item_id: str, site_id: str,
                days: int) -> tuple[date | None, float]:
    """(first day below zero, lowest closing balance) of a component's projected stock over ``days``."""
    moves: dict[date, float] = defaultdict(float)
    for ln in _open_lines(db):
        if (ln["item_id"], ln["site_id"]) == (item_id, site_id):
            moves[max(ln["expected"], TODAY)] += ln["qty_ordered"] - ln["qty_received"]
    issued: dict[str, float] = defaultdict(float)
    for m in db["wo_materials"]:
        if m["item_id"] == item_id:
            issued[m["wo_id"]] += m["qty_issued"]
    qty_per = {b["parent_item_id"]: b["qty_per"] for b in db["bom_lines"] if b["component_item_id"] == item_id}
    for w in db["work_orders"]:
        if w["site_id"] != site_id or w["status"] not in OPEN_WO:
            continue
        if w["item_id"] == item_id:
            moves[max(w["planned_end"].date(), TODAY)] += w["qty_planned"] - w["qty_completed"]
        if w["item_id"] in qty_per:
            need = qty_per[w["item_id"]] * (w["qty_planned"] - w["qty_completed"]) - issued[w["wo_id"]]
            moves[max(w["planned_start"].date(), TODAY)] -= need
    balance = lowest = available_stock(db).get((item_id, site_id), 0.0)
    first: date | None = None
    for offset in range(days + 1):
        day = TODAY + timedelta(days=offset)
        balance += moves.get(day, 0.0)
        lowest = min(lowest, balance)
        if balance < 0 and first is None:
            first = day
    return first, lowest


def _line_needs(db: dict[str, list[dict[str, Any]]], item_id: str, site_id: str, days: int) -> dict[str, float]:
    """Work order -> what it still needs of ``item_id`` (qty_per x planned - issued), open orders of the
    site starting within ``days`` of the as-of time (the line guard's rule)."""
    issued: dict[str, float] = defaultdict(float)
    for m in db["wo_materials"]:
        if m["item_id"] == item_id:
            issued[m["wo_id"]] += m["qty_issued"]
    qty_per = {b["parent_item_id"]: b["qty_per"] for b in db["bom_lines"] if b["component_item_id"] == item_id}
    out = {}
    for w in sorted(db["work_orders"], key=lambda w: (w["planned_start"], w["wo_id"])):
        if (w["site_id"] == site_id and w["status"] in OPEN_WO and w["item_id"] in qty_per
                and w["planned_start"] < AS_OF + timedelta(days=days)):
            need = qty_per[w["item_id"]] * w["qty_planned"] - issued[w["wo_id"]]
            if need > 0:
                out[w["wo_id"]] = need
    return out


def _availability(db: dict[str, list[dict[str, Any]]], days: int = 14) -> dict[str, float]:
    start = AS_OF - timedelta(days=days)
    line_of = {m["machine_id"]: m["line_id"] for m in db["machines"]}
    time: dict[tuple[str, str], float] = defaultdict(float)
    for e in db["machine_events"]:
        lo, hi = max(e["started_at"], start), min(e["ended_at"], AS_OF)
        if hi > lo:
            time[(line_of[e["machine_id"]], e["state"])] += (hi - lo).total_seconds()
    return {line: time[(line, "running")] / sum(time[(line, s)] for s in ("running", "setup", "down"))
            for line in LINES}


# ---------------------------------------------------------------- planted scenarios


def _daily_scrap_rate(db: dict[str, list[dict[str, Any]]], line_id: str) -> dict[date, float]:
    good: dict[date, float] = defaultdict(float)
    scrap: dict[date, float] = defaultdict(float)
    for c in db["production_confirmations"]:
        if c["line_id"] == line_id:
            good[c["confirmed_at"].date()] += c["qty_good"]
    for s in db["scrap_records"]:
        if s["line_id"] == line_id:
            scrap[s["recorded_at"].date()] += s["qty"]
    return {d: scrap[d] / (good[d] + scrap[d]) for d in sorted(set(good) | set(scrap)) if good[d] + scrap[d]}


def test_scrap_spike(db: dict[str, list[dict[str, Any]]], demo_manifest: dict[str, Any]) -> None:
    spike = demo_manifest["scenarios"]["scrap_spike"]
    assert (spike["site_id"], spike["line_id"], spike["parameter"]) == ("P100", "P100-PK1", "seal_temperature")
    first = TODAY - timedelta(days=10)
    rates = _daily_scrap_rate(db, "P100-PK1")
    before = [r for d, r in rates.items() if TODAY - timedelta(days=35) <= d < first]
    during = [(d, r) for d, r in rates.items() if first <= d < TODAY]
    assert len(before) >= 10 and max(before) <= 0.03 and 0.005 <= sum(before) / len(before) <= 0.02
    assert len(during) >= 3 and 0.08 <= during[-1][1] <= 0.14 and during[-1][1] >= during[0][1]
    assert sum(r for _, r in during) / len(during) >= 3 * sum(before) / len(before)
    # concentration: >= 70 % of the window's scrap is on orders that consumed the one suspect lot
    lot = index(db["lots"], "lot_id")[spike["lot_id"]]
    assert lot["po_id"] is not None and lot["wo_id"] is None and lot["status"] == "available"
    assert (lot["item_id"], lot["supplier_id"]) == (spike["item_id"], spike["supplier_id"])
    assert index(db["items"], "item_id")[lot["item_id"]]["item_type"] == "raw"
    on_lot = {m["wo_id"] for m in db["wo_materials"] if m["lot_id"] == lot["lot_id"]}
    window = [s for s in db["scrap_records"] if s["line_id"] == "P100-PK1" and s["recorded_at"].date() >= first]
    share = sum(s["qty"] for s in window if s["wo_id"] in on_lot) / sum(s["qty"] for s in window)
    assert share >= 0.7
    assert set(spike["work_order_ids"]) == on_lot and spike["work_order_ids"]
    stock = [r for r in db["inventory"] if r["lot_id"] == lot["lot_id"] and r["stock_status"] == "unrestricted"]
    assert sum(r["qty_on_hand"] - r["qty_reserved"] for r in stock) > 0
    # the heat sealer drifts out of tolerance during the window
    readings = sorted((s for s in db["machine_settings"] if s["machine_id"] == spike["machine_id"]
                       and s["parameter"] == "seal_temperature"), key=lambda s: s["recorded_at"])
    machine = index(db["machines"], "machine_id")[spike["machine_id"]]
    assert machine["line_id"] == "P100-PK1" and "Heat Sealer" in machine["name"]
    assert all((s["target"], s["tolerance"]) == (185.0, 5.0) for s in readings)
    old = [s["value"] for s in readings if s["recorded_at"].date() < first]
    assert old and all(abs(v - 185) <= 5 for v in old)
    days = sorted({s["recorded_at"].date() for s in readings if s["recorded_at"].date() >= first})
    last_two = [s["value"] for s in readings if s["recorded_at"].date() in days[-2:]]
    assert len(last_two) >= 6 and all(v > 190 for v in last_two)
    leaks = [q for q in db["quality_events"] if q["defect_code"] == "SEAL-LEAK" and q["lot_id"] == lot["lot_id"]]
    assert len(leaks) >= 2 and all(q["status"] == "open" and q["line_id"] == "P100-PK1" for q in leaks)
    film_users = {b["parent_item_id"] for b in db["bom_lines"] if b["component_item_id"] == lot["item_id"]}
    upcoming = [w for w in db["work_orders"] if w["line_id"] == "P100-PK1" and w["status"] in OPEN_WO
                and w["planned_start"] <= AS_OF + timedelta(days=5) and w["item_id"] in film_users]
    assert upcoming
    # no other machine parameter is out of tolerance
    out = {s["machine_id"] for s in db["machine_settings"] if abs(s["value"] - s["target"]) > s["tolerance"]}
    assert out == {spike["machine_id"]}


def test_asset_risk(db: dict[str, list[dict[str, Any]]], demo_manifest: dict[str, Any]) -> None:
    risk = demo_manifest["scenarios"]["asset_risk"]
    asset = index(db["assets"], "asset_id")[risk["asset_id"]]
    assert (asset["criticality"], asset["site_id"], asset["machine_id"]) == ("A", "P100", risk["machine_id"])
    assert index(db["machines"], "machine_id")[risk["machine_id"]]["line_id"] == risk["line_id"]
    latest: dict[str, dict[str, Any]] = {}
    for h in sorted(db["asset_health"], key=lambda h: h["scored_at"]):
        latest[h["asset_id"]] = h
    top = latest[risk["asset_id"]]
    assert top["failure_probability"] >= 0.8 and top["horizon_days"] <= 7
    assert top["failure_probability"] == risk["failure_probability"] and "vibration" in top["top_signal"]
    assert [a for a, h in latest.items() if h["failure_probability"] >= 0.8] == [risk["asset_id"]]
    wo = index(db["work_orders"], "wo_id")[risk["work_order_id"]]
    assert wo["line_id"] == risk["line_id"] and wo["status"] in ("released", "running")
    assert AS_OF <= wo["planned_start"] <= AS_OF + timedelta(days=3)
    need = [s for s in db["spare_parts"] if s["asset_id"] == risk["asset_id"] and s["item_id"] == risk["spare_item_id"]]
    assert len(need) == 1
    assert available_stock(db).get((risk["spare_item_id"], "P100"), 0.0) < need[0]["qty_required"]
    # every other spare requirement is covered at its asset's site
    site = {a["asset_id"]: a["site_id"] for a in db["assets"]}
    short = [s for s in db["spare_parts"]
             if available_stock(db).get((s["item_id"], site[s["asset_id"]]), 0.0) < s["qty_required"]]
    assert [(s["asset_id"], s["item_id"]) for s in short] == [(risk["asset_id"], risk["spare_item_id"])]


def test_reallocation(db: dict[str, list[dict[str, Any]]], demo_manifest: dict[str, Any]) -> None:
    realloc = demo_manifest["scenarios"]["reallocation"]
    item, line = realloc["item_id"], realloc["constrained_line_id"]
    assert (realloc["short_site"], realloc["surplus_site"]) == ("P200", "P100")
    reorder = {(r["item_id"], r["site_id"]): r for r in db["reorder_points"]}
    available = available_stock(db)
    shortage = _first_shortage(db, item, "P200", 14)
    assert shortage is not None and shortage <= TODAY + timedelta(days=14)
    assert available[(item, "P200")] < reorder[(item, "P200")]["min_qty"]
    assert available[(item, "P100")] > reorder[(item, "P100")]["max_qty"]
    assert _first_shortage(db, item, "P100", 28) is None
    # ERP shows P100's stock free and above its maximum, but MES schedules most of it on the constrained
    # line: what P100 can spare (the margin) is less than P200's shortage.
    days = realloc["horizon_days"]
    needs = _line_needs(db, item, "P100", days)
    wo_line = {w["wo_id"]: w["line_id"] for w in db["work_orders"]}
    assert list(needs) == realloc["line_work_order_ids"] and {wo_line[wo] for wo in needs} == {line}
    assert realloc["line_need_qty"] == pytest.approx(sum(needs.values()))
    assert realloc["free_qty"] == pytest.approx(available[(item, "P100")])
    assert realloc["margin_qty"] == pytest.approx(realloc["free_qty"] - realloc["line_need_qty"])
    first, lowest = _projection(db, item, "P200", days)
    assert first is not None and realloc["short_qty"] == pytest.approx(-lowest)
    assert 0 < realloc["allowed_qty"] <= realloc["margin_qty"] < realloc["short_qty"] == realloc["blocked_qty"]
    users = {b["parent_item_id"] for b in db["bom_lines"] if b["component_item_id"] == item}
    assert any(w["line_id"] == line and w["status"] in OPEN_WO and w["item_id"] in users
               for w in db["work_orders"])
    availability = _availability(db)
    others = [a for ln, a in availability.items() if ln != line]
    assert availability[line] < min(others) - 0.1


def test_reconciliation_only_planted_rows_disagree(db: dict[str, list[dict[str, Any]]],
                                                   demo_manifest: dict[str, Any]) -> None:
    recon = demo_manifest["scenarios"]["reconciliation"]
    kinds = {d["kind"]: d["record_ids"] for d in recon["disagreements"]}
    assert set(kinds) == {"hold_vs_stock_status", "wo_completion_vs_receipt", "po_receipt_vs_lot"}
    lots = db["lots"]
    held = {lot["lot_id"] for lot in lots if lot["status"] in ("quality_hold", "blocked")}
    hold_rows = [r for r in db["inventory"] if r["lot_id"] in held and r["qty_on_hand"] > 0
                 and r["stock_status"] == "unrestricted"]
    assert {r["lot_id"] for r in hold_rows} == {recon["lot_id"]}
    assert any(r["qty_reserved"] > 0 and r["reserved_for"] == recon["so_id"] for r in hold_rows)
    assert kinds["hold_vs_stock_status"][0] == recon["lot_id"]
    received: dict[str, float] = defaultdict(float)
    by_line: dict[tuple[str, int], float] = defaultdict(float)
    for lot in lots:
        if lot["wo_id"]:
            received[lot["wo_id"]] += lot["qty_received"]
        if lot["po_id"]:
            by_line[(lot["po_id"], lot["po_line_no"])] += lot["qty_received"]
    wo_gaps = {w["wo_id"] for w in db["work_orders"] if w["status"] in ("completed", "running")
               and w["qty_completed"] != received[w["wo_id"]]}
    assert wo_gaps == {kinds["wo_completion_vs_receipt"][0]}
    po_gaps = {f"{ln['po_id']}/{ln['line_no']}" for ln in db["po_lines"]
               if ln["qty_received"] != by_line[(ln["po_id"], ln["line_no"])]}
    assert po_gaps == {kinds["po_receipt_vs_lot"][0]}


# ---------------------------------------------------------------- buyer triage


def _triage(db: dict[str, list[dict[str, Any]]]) -> dict[str, set[str]]:
    """Open PO lines per triage category, as 'SITE:PO/LINE' (definitions in COMMON.md and the brief)."""
    lines = _open_lines(db)
    pos = index(db["purchase_orders"], "po_id")
    prices: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in db["supplier_prices"]:
        prices[(p["supplier_id"], p["item_id"])].append(p)
    lot_status: dict[tuple[str, int], set[str]] = defaultdict(set)
    for lot in db["lots"]:
        if lot["po_id"]:
            lot_status[(lot["po_id"], lot["po_line_no"])].add(lot["status"])
    out: dict[str, set[str]] = defaultdict(set)
    for ln in lines:
        tag = f"{ln['site_id']}:{ln['po_id']}/{ln['line_no']}"
        if ln["expected"] < TODAY:
            out["past_due"].add(tag)
        if ln["expected"] > ln["need_date"] + timedelta(days=2):
            out["expedite"].add(tag)
        if ln["expected"] <= ln["need_date"] - timedelta(days=14):
            out["reschedule_out"].add(tag)
        if ln["promised_date"] and ln["original_promised_date"] and ln["promised_date"] > ln["original_promised_date"]:
            out["supplier_slip"].add(tag)
        valid = [p for p in prices[(ln["supplier_id"], ln["item_id"])]
                 if p["valid_from"] <= ln["order_date"] <= p["valid_to"]]
        assert len(valid) == 1, tag
        if abs(ln["unit_price"] - valid[0]["unit_price"]) / valid[0]["unit_price"] > 0.05:
            out["price_variance"].add(tag)
        if lot_status[(ln["po_id"], ln["line_no"])] & {"quality_hold", "blocked"}:
            out["quality_blocked"].add(tag)
        po = pos[ln["po_id"]]
        if (po["status"] in ("approved", "sent") and po["acknowledged_at"] is None
                and po["approved_at"] <= AS_OF - timedelta(days=3)):
            out["unconfirmed"].add(tag)
    return out


def test_every_triage_category_has_hits_at_both_sites(db: dict[str, list[dict[str, Any]]]) -> None:
    triage = _triage(db)
    for category in ("past_due", "expedite", "reschedule_out", "unconfirmed", "supplier_slip",
                     "price_variance", "quality_blocked"):
        sites = {tag.split(":")[0] for tag in triage[category]}
        assert sites == set(SITES), category
    statuses = {po["status"] for po in db["purchase_orders"]}
    assert statuses == {"draft", "approved", "sent", "acknowledged", "closed", "cancelled"}
    line_statuses = {ln["line_status"] for ln in db["po_lines"]}
    assert line_statuses == {"open", "closed", "cancelled"}
    partial = [ln for ln in _open_lines(db) if 0 < ln["qty_received"] < ln["qty_ordered"]]
    assert {ln["site_id"] for ln in partial} == set(SITES)
