"""Rendering the in-memory plant into table rows (plain dicts keyed by column name)."""

from __future__ import annotations

from typing import Any

from tools.demo._model import Plant
from tools.demo._planning import forecast_weeks

__all__ = ["assign_lot_ids", "render"]

Rows = list[dict[str, Any]]


def assign_lot_ids(plant: Plant) -> None:
    """Number lots per site in receipt order: LOT-P100-0001, LOT-P100-0002..."""
    counters: dict[str, int] = {}
    for lot in sorted(plant.lots, key=lambda lot: (lot.site_id, lot.received_at, lot.item_id, lot.qty_received)):
        counters[lot.site_id] = counters.get(lot.site_id, 0) + 1
        lot.lot_id = f"LOT-{lot.site_id}-{counters[lot.site_id]:04d}"


def _master(plant: Plant, out: dict[str, Rows]) -> None:
    out["sites"] = [dict(s) for s in plant.sites]
    out["items"] = [{"item_id": i.item_id, "description": i.description, "item_type": i.item_type, "uom": i.uom,
                     "standard_cost": i.standard_cost, "abc_class": i.abc_class} for i in plant.items.values()]
    out["bom_lines"] = [{"parent_item_id": b.parent, "component_item_id": b.component, "qty_per": b.qty_per}
                        for b in plant.bom]
    out["suppliers"] = [{"supplier_id": s.supplier_id, "name": s.name, "country": s.country,
                         "on_time_rate": s.on_time_rate, "quality_ppm": s.quality_ppm,
                         "risk_rating": s.risk_rating, "bank_account": s.bank_account,
                         "buyer_user_id": s.buyer, "notes": s.notes} for s in plant.suppliers]
    out["supplier_prices"] = [{"supplier_id": p.supplier_id, "item_id": p.item_id, "valid_from": p.valid_from,
                               "valid_to": p.valid_to, "unit_price": p.unit_price, "currency": p.currency,
                               "lead_time_days": p.lead_time_days, "min_qty": p.min_qty} for p in plant.prices]
    out["production_lines"] = [{"line_id": ln.line_id, "site_id": ln.site_id, "name": ln.name,
                                "line_type": ln.line_type, "rate_per_hour": ln.rate} for ln in plant.lines]
    out["machines"] = [{"machine_id": m.machine_id, "line_id": m.line_id, "name": m.name}
                       for ln in plant.lines for m in ln.machines]
    weeks = forecast_weeks(plant.today)
    out["demand_forecast"] = [{"site_id": site, "item_id": item, "week_start": week, "qty": demand[week]}
                              for (item, site), demand in plant.weekly_demand.items() for week in weeks]


def _purchasing(plant: Plant, out: dict[str, Rows]) -> None:
    out["purchase_orders"] = [{"po_id": po.po_id, "supplier_id": po.supplier_id, "site_id": po.site_id,
                               "buyer_user_id": po.buyer, "status": po.status, "order_date": po.order_date,
                               "approved_at": po.approved_at, "acknowledged_at": po.acknowledged_at,
                               "currency": po.currency} for po in plant.purchase_orders]
    out["po_lines"] = [{"po_id": po.po_id, "line_no": ln.line_no, "item_id": ln.item_id,
                        "qty_ordered": ln.qty_ordered, "qty_received": ln.qty_received, "unit_price": ln.unit_price,
                        "need_date": ln.need_date, "promised_date": ln.promised_date,
                        "original_promised_date": ln.original_promised_date, "line_status": ln.line_status}
                       for po in plant.purchase_orders for ln in po.lines]
    out["sales_orders"] = [{"so_id": so.so_id, "site_id": so.site_id, "customer": so.customer,
                            "item_id": so.item_id, "qty": so.qty, "unit_price": so.unit_price,
                            "due_date": so.due_date, "status": so.status} for so in plant.sales_orders]


def _stock(plant: Plant, out: dict[str, Rows]) -> None:
    lots = sorted(plant.lots, key=lambda lot: lot.lot_id)
    out["lots"] = [{"lot_id": lot.lot_id, "item_id": lot.item_id, "site_id": lot.site_id,
                    "supplier_id": lot.supplier_id,
                    "po_id": lot.po_line.po.po_id if lot.po_line and lot.po_line.po else None,
                    "po_line_no": lot.po_line.line_no if lot.po_line else None,
                    "wo_id": lot.wo.wo_id if lot.wo else None, "received_at": lot.received_at,
                    "qty_received": lot.qty_received, "status": lot.status} for lot in lots]
    out["inventory"] = [{"site_id": lot.site_id, "location": p.location, "item_id": lot.item_id,
                         "lot_id": lot.lot_id, "qty_on_hand": p.qty_on_hand, "qty_reserved": p.qty_reserved,
                         "reserved_for": p.reserved_for, "stock_status": p.stock_status}
                        for lot in lots for p in lot.placements]


def _production(plant: Plant, out: dict[str, Rows]) -> None:
    out["work_orders"] = [{"wo_id": wo.wo_id, "site_id": wo.site_id, "line_id": wo.line_id, "item_id": wo.item_id,
                           "so_id": wo.so_id, "qty_planned": wo.qty_planned, "qty_completed": wo.qty_completed,
                           "qty_scrapped": wo.qty_scrapped, "status": wo.status, "planned_start": wo.start,
                           "planned_end": wo.end, "due_date": wo.due} for wo in plant.work_orders]
    days = sorted(((day.at, wo.line_id, wo, day) for wo in plant.work_orders for day in wo.days),
                  key=lambda d: (d[0], d[1], d[2].wo_id))
    confirmations: Rows = []
    scrap: Rows = []
    for at, line_id, wo, day in days:
        if day.good > 0:
            confirmations.append({"confirmation_id": f"CNF-{100001 + len(confirmations)}", "wo_id": wo.wo_id,
                                  "site_id": wo.site_id, "line_id": line_id, "confirmed_at": at,
                                  "qty_good": float(day.good)})
        for reason, qty in day.scrap:
            scrap.append({"scrap_id": f"SCR-{20001 + len(scrap)}", "site_id": wo.site_id, "line_id": line_id,
                          "wo_id": wo.wo_id, "lot_id": None, "item_id": wo.item_id, "qty": float(qty),
                          "reason_code": reason, "recorded_at": at})
    out["production_confirmations"] = confirmations
    out["scrap_records"] = scrap
    issued: dict[tuple[str, str], dict[str, Any]] = {}
    for issue in plant.issues:
        key = (issue.wo.wo_id, issue.lot.lot_id)
        row = issued.setdefault(key, {"wo_id": key[0], "lot_id": key[1], "item_id": issue.lot.item_id,
                                      "qty_issued": 0.0})
        row["qty_issued"] = round(row["qty_issued"] + issue.qty, 3)
    out["wo_materials"] = [issued[k] for k in sorted(issued)]
    out["quality_events"] = [{"qe_id": q.qe_id, "site_id": q.site_id, "line_id": q.line_id,
                              "wo_id": q.wo.wo_id if q.wo else None, "lot_id": q.lot.lot_id if q.lot else None,
                              "item_id": q.item_id, "defect_code": q.defect_code, "severity": q.severity,
                              "qty_affected": q.qty_affected, "detected_at": q.detected_at, "status": q.status,
                              "description": q.description} for q in plant.quality_events]


def render(plant: Plant) -> dict[str, Rows]:
    """Rows for every table, keyed by table name."""
    out: dict[str, Rows] = {}
    _master(plant, out)
    _purchasing(plant, out)
    _stock(plant, out)
    _production(plant, out)
    for name, rows in plant.rows.items():
        out[name] = rows
    return out
