"""Row builders for crafted supply-chain tests (items, suppliers, POs, lots, stock) in ``blank_plant``."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Engine

from tests.factories import TODAY, insert
from tools.scope import DataScope

P100 = DataScope.for_sites(["P100"])
P200 = DataScope.for_sites(["P200"])


def day(offset: int) -> date:
    """TODAY + offset days."""
    return TODAY + timedelta(days=offset)


def at(offset: int, hour: int = 10) -> datetime:
    """A datetime on TODAY + offset days."""
    return datetime.combine(day(offset), time(hour, 0))


def item(item_id: str, item_type: str = "raw", abc: str = "B", description: str | None = None) -> dict[str, Any]:
    return {"item_id": item_id, "description": description or f"test {item_type} {item_id}", "item_type": item_type,
            "uom": "EA", "standard_cost": 2.5, "abc_class": abc}


def supplier(supplier_id: str, *, buyer: str = "bea.buyer", on_time: float = 0.9, ppm: int = 500,
             risk: str = "low", notes: str = "") -> dict[str, Any]:
    return {"supplier_id": supplier_id, "name": f"Supplier {supplier_id}", "country": "US", "on_time_rate": on_time,
            "quality_ppm": ppm, "risk_rating": risk, "bank_account": f"BANK-{supplier_id}-0042",
            "buyer_user_id": buyer, "notes": notes}


def price(supplier_id: str, item_id: str, unit_price: float = 100.0, *, lead: int = 10, min_qty: float = 1.0,
          valid_from: date | None = None, valid_to: date | None = None, currency: str = "USD") -> dict[str, Any]:
    return {"supplier_id": supplier_id, "item_id": item_id, "valid_from": valid_from or day(-365),
            "valid_to": valid_to or day(365), "unit_price": unit_price, "currency": currency, "lead_time_days": lead,
            "min_qty": min_qty}


def po(po_id: str, *, site: str = "P100", supplier_id: str = "S-001", status: str = "approved",
       buyer: str = "bea.buyer", order_date: date | None = None, approved_at: datetime | None = None,
       acknowledged_at: datetime | None = None, currency: str = "USD") -> dict[str, Any]:
    return {"po_id": po_id, "supplier_id": supplier_id, "site_id": site, "buyer_user_id": buyer, "status": status,
            "order_date": order_date or day(-20),
            "approved_at": approved_at if approved_at is not None or status == "draft" else at(-1),
            "acknowledged_at": acknowledged_at, "currency": currency}


def line(po_id: str, line_no: int, item_id: str, *, qty: float = 100.0, received: float = 0.0,
         unit_price: float = 100.0, need: date | None = None, promised: date | None = None,
         original: date | None = None, status: str = "open") -> dict[str, Any]:
    return {"po_id": po_id, "line_no": line_no, "item_id": item_id, "qty_ordered": qty, "qty_received": received,
            "unit_price": unit_price, "need_date": need or day(10), "promised_date": promised,
            "original_promised_date": original, "line_status": status}


def lot(lot_id: str, item_id: str, site: str = "P100", *, status: str = "available", po_id: str | None = None,
        po_line_no: int | None = None, supplier_id: str | None = None, received_at: datetime | None = None,
        qty: float = 0.0) -> dict[str, Any]:
    return {"lot_id": lot_id, "item_id": item_id, "site_id": site, "supplier_id": supplier_id, "po_id": po_id,
            "po_line_no": po_line_no, "wo_id": None, "received_at": received_at, "qty_received": qty,
            "status": status}


def stock(site: str, location: str, item_id: str, lot_id: str, on_hand: float, reserved: float = 0.0,
          status: str = "unrestricted") -> dict[str, Any]:
    return {"site_id": site, "location": location, "item_id": item_id, "lot_id": lot_id, "qty_on_hand": on_hand,
            "qty_reserved": reserved, "reserved_for": None, "stock_status": status}


def wo(wo_id: str, item_id: str, *, site: str = "P100", line_id: str = "P100-AS1", planned: float = 50.0,
       completed: float = 0.0, status: str = "released", start: int = 5, end: int | None = None) -> dict[str, Any]:
    return {"wo_id": wo_id, "site_id": site, "line_id": line_id, "item_id": item_id, "so_id": None,
            "qty_planned": planned, "qty_completed": completed, "qty_scrapped": 0.0, "status": status,
            "planned_start": at(start, 6), "planned_end": at(start if end is None else end, 18),
            "due_date": day(start if end is None else end)}


def seed_lines(engine: Engine) -> None:
    """One production line per site (work orders need one)."""
    insert(engine, "production_lines", [
        {"line_id": "P100-AS1", "site_id": "P100", "name": "Assembly Line 1", "line_type": "assembly",
         "rate_per_hour": 30.0},
        {"line_id": "P200-MC1", "site_id": "P200", "name": "Machining Cell 1", "line_type": "machining",
         "rate_per_hour": 45.0},
    ])
