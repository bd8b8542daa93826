"""Valid arguments for every action on P100 records of the demo plant, and table snapshots for before/after checks.

The records are found with SQL (not hard-coded), so the cases keep working when the generator's ids move;
each is chosen so the action's precondition holds and routing sees a P100 subject.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, select, text

from tests.factories import TODAY
from tools.plant.schema import table

FREE = ("SELECT COALESCE(SUM(i.qty_on_hand - i.qty_reserved), 0) FROM inventory i JOIN lots l ON l.lot_id = i.lot_id "
        "WHERE i.item_id = :item AND i.site_id = :site AND i.stock_status = 'unrestricted' AND l.status = 'available'")
OPEN_LINES = ("SELECT pl.po_id, pl.line_no, pl.item_id, pl.promised_date, po.supplier_id, po.buyer_user_id "
              "FROM po_lines pl JOIN purchase_orders po ON po.po_id = pl.po_id WHERE pl.line_status = 'open' "
              "AND po.status IN ('approved', 'sent', 'acknowledged') AND pl.qty_received < pl.qty_ordered "
              "AND po.site_id = 'P100' ")


def rows(engine: Engine, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a raw SELECT as dicts."""
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def execute(engine: Engine, sql: str, **params: Any) -> None:
    """A raw write: someone changing the plant behind the copilot's back."""
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def scalar(engine: Engine, sql: str, **params: Any) -> Any:
    """The single value of a raw SELECT."""
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def first(engine: Engine, sql: str, **params: Any) -> dict[str, Any]:
    """The first row of a raw SELECT (the demo plant must have one)."""
    found = rows(engine, sql + " LIMIT 1", **params)
    assert found, f"the demo plant has no row for: {sql}"
    return found[0]


def p100_cases(engine: Engine, spike: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Arguments for each action, all on P100 data, with preconditions that hold on the fresh demo plant."""
    held = first(engine, "SELECT wo_id FROM work_orders WHERE site_id = 'P100' AND status = 'held' ORDER BY wo_id")
    stock = first(engine, "SELECT i.item_id, it.standard_cost FROM inventory i JOIN lots l ON l.lot_id = i.lot_id "
                          "JOIN items it ON it.item_id = i.item_id WHERE i.site_id = 'P100' AND i.stock_status = "
                          "'unrestricted' AND l.status = 'available' AND i.qty_on_hand - i.qty_reserved >= 2 AND "
                          "it.standard_cost BETWEEN 1 AND 1000 ORDER BY i.item_id")
    # bea.buyer's own line, promised far enough out that a 2-day pull-in stays after today.
    own = first(engine, OPEN_LINES + "AND po.buyer_user_id = 'bea.buyer' AND pl.promised_date >= :d "
                                     "ORDER BY pl.po_id, pl.line_no", d=TODAY + timedelta(days=5))
    switch = first(engine, OPEN_LINES + "AND pl.qty_received = 0 AND EXISTS (SELECT 1 FROM supplier_prices sp "
                                        "WHERE sp.item_id = pl.item_id AND sp.supplier_id <> po.supplier_id AND "
                                        "sp.valid_from <= :d AND sp.valid_to >= :d AND sp.min_qty <= pl.qty_ordered) "
                                        "ORDER BY pl.po_id, pl.line_no", d=TODAY)
    alt = first(engine, "SELECT supplier_id FROM supplier_prices WHERE item_id = :i AND supplier_id <> :s AND "
                        "valid_from <= :d AND valid_to >= :d ORDER BY supplier_id",
                i=switch["item_id"], s=switch["supplier_id"], d=TODAY)
    spares = rows(engine, "SELECT sp.asset_id, sp.item_id, sp.qty_required FROM spare_parts sp JOIN assets a ON "
                          "a.asset_id = sp.asset_id WHERE a.site_id = 'P100' AND a.criticality = 'B' "
                          "ORDER BY sp.asset_id, sp.item_id")
    spare = next(s for s in spares if scalar(engine, FREE, item=s["item_id"], site="P100") >= s["qty_required"])
    promised = own["promised_date"]
    promised = promised if isinstance(promised, date) else date.fromisoformat(str(promised))
    return {
        "place_quality_hold": {"lot_id": spike["lot_id"], "include_open_work_orders": True,
                               "reason": "scrap spike on P100-PK1"},
        "release_quality_hold": {"wo_id": held["wo_id"], "reason": "investigation closed"},
        "reallocate_inventory": {"item_id": stock["item_id"], "qty": 1, "from_site_id": "P100",
                                 "to_site_id": "P200", "reason": "cover a P200 shortage"},
        "request_po_date_change": {"po_id": own["po_id"], "line_no": own["line_no"],
                                   "new_promised_date": (promised - timedelta(days=2)).isoformat(),
                                   "reason": "expedite for the PK1 plan"},
        "switch_supplier": {"po_id": switch["po_id"], "line_no": switch["line_no"],
                            "new_supplier_id": alt["supplier_id"], "reason": "current supplier's quality"},
        "open_supplier_review": {"supplier_id": spike["supplier_id"], "lot_ids": [spike["lot_id"]],
                                 "reason": "scrap spike traced to this supplier lot"},
        "create_maintenance_order": {"asset_id": spare["asset_id"], "mo_type": "corrective",
                                     "description": "check seal heater calibration"},
        "reserve_spare_parts": {"asset_id": spare["asset_id"], "item_id": spare["item_id"],
                                "reason": "planned repair"},
    }


WRITABLE = ("lots", "inventory", "work_orders", "po_lines", "purchase_orders", "maintenance_orders",
            "po_change_requests", "supplier_reviews", "transfers", "spare_reservations")
"""Plant tables actions write (the idempotency ledger excluded)."""


def snapshot(engine: Engine, tables: Iterable[str] = WRITABLE) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of ``tables``, sorted: compare two snapshots for 'nothing changed' / 'restored exactly'."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name in tables:
            t = table(name)
            out[name] = sorted((tuple(r) for r in conn.execute(select(t))), key=repr)
    return out


def ledger_rows(engine: Engine) -> list[dict[str, Any]]:
    """The idempotency ledger (one row per execution that ran or refused on changed data)."""
    return rows(engine, "SELECT idempotency_key, request_id, action, status FROM action_executions ORDER BY "
                        "idempotency_key")
