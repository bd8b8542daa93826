"""Purchase order headers: lines grouped per supplier and week, with statuses and dates.

A PO's status follows its lines (all received: closed; some open: approved,
sent or acknowledged; never approved: draft; all cancelled: cancelled). Prices
are the supplier price valid on the order date, except planted variances.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from tools.demo._master import money
from tools.demo._model import Plant, POLine, PurchaseOrder

__all__ = ["build_purchase_orders"]


def _chunks(rng: random.Random, lines: list[POLine]) -> list[list[POLine]]:
    chunks: list[list[POLine]] = []
    cap = 0
    for line in sorted(lines, key=lambda ln: (ln.order_date, ln.need_date, ln.item_id)):
        current = chunks[-1] if chunks else None
        if (current is None or len(current) >= cap
                or (line.order_date - current[0].order_date).days > 7):
            chunks.append([line])
            cap = rng.choice((1, 2, 2, 3, 3, 4, 5))
        else:
            current.append(line)
    return chunks


def _moment(rng: random.Random, day: datetime | None, fallback: datetime) -> datetime:
    base = day if day is not None else fallback
    return base.replace(hour=rng.randint(8, 16), minute=rng.choice((0, 10, 20, 30, 40, 50)))


def _status(plant: Plant, rng: random.Random, po: PurchaseOrder, kind: str) -> None:
    as_of = plant.as_of
    approved = _moment(rng, datetime.combine(po.order_date, time(0)), as_of)
    acked = min(approved + timedelta(days=rng.randint(1, 3), hours=rng.randint(0, 5)), as_of - timedelta(hours=1))
    statuses = [ln.line_status for ln in po.lines]
    if kind == "draft":
        po.status, po.approved_at, po.acknowledged_at = "draft", None, None
    elif all(s == "cancelled" for s in statuses):
        po.status, po.approved_at, po.acknowledged_at = "cancelled", approved, None
    elif "open" not in statuses:
        po.status, po.approved_at, po.acknowledged_at = "closed", approved, acked
    elif any(ln.lots for ln in po.lines):
        po.status, po.approved_at, po.acknowledged_at = "acknowledged", approved, acked
    elif po.order_date >= plant.today - timedelta(days=3):
        po.status = "approved" if rng.random() < 0.5 else "sent"
        po.approved_at, po.acknowledged_at = approved, None
    elif rng.random() < 0.2:
        po.status, po.approved_at, po.acknowledged_at = "sent", approved, None
    else:
        po.status, po.approved_at, po.acknowledged_at = "acknowledged", approved, acked


def _ensure_unconfirmed(plant: Plant, pos: list[PurchaseOrder]) -> None:
    """Every site has at least one sent order the supplier has not acknowledged for over 3 days."""
    limit = plant.as_of - timedelta(days=3)
    for site in plant.sites:
        mine = [po for po in pos if po.site_id == site["site_id"]]
        if any(po.status in ("approved", "sent") and po.approved_at is not None and po.approved_at < limit
               for po in mine):
            continue
        for po in mine:
            if (po.status == "acknowledged" and not any(ln.lots for ln in po.lines)
                    and po.approved_at is not None and po.approved_at < limit):
                po.status, po.acknowledged_at = "sent", None
                break


def build_purchase_orders(plant: Plant) -> None:
    """Group lines into POs, set statuses, dates, prices and ids (chronological PO-24001...)."""
    rng = plant.rng("purchase-orders")
    suppliers = {s.supplier_id: s for s in plant.suppliers}
    groups: dict[tuple[str, str, str], list[POLine]] = {}
    for line in plant.po_lines:
        kind = line.kind if line.kind in ("draft", "cancelled") else "active"
        groups.setdefault((line.site_id, line.supplier_id, kind), []).append(line)
    pos: list[PurchaseOrder] = []
    for (site_id, supplier_id, kind), lines in sorted(groups.items()):
        buyer = "bea.buyer" if site_id == "P100" else suppliers[supplier_id].buyer
        for chunk in _chunks(rng, lines):
            order_date = min(ln.order_date for ln in chunk)
            currency = plant.price_at(supplier_id, chunk[0].item_id, order_date).currency
            po = PurchaseOrder("", supplier_id, site_id, buyer, "", order_date, None, None, currency, chunk)
            for line in chunk:
                line.order_date = order_date
                line.po = po
                price = plant.price_at(supplier_id, line.item_id, order_date).unit_price
                line.unit_price = money(price * line.price_factor)
            _status(plant, rng, po, kind)
            pos.append(po)
    _ensure_unconfirmed(plant, pos)
    pos.sort(key=lambda po: (po.order_date, po.site_id, po.supplier_id, po.lines[0].item_id))
    for n, po in enumerate(pos):
        po.po_id = f"PO-{24001 + n}"
        po.lines.sort(key=lambda ln: (ln.need_date, ln.item_id))
        for k, line in enumerate(po.lines, start=1):
            line.line_no = k
    plant.purchase_orders = pos
