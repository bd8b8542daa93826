"""Held-out understanding-set oracles for the new question types: sales orders, a lot across systems, demand
against customer orders, inter-site transfers, maintenance orders, spare-part cover, what is running now and
outstanding PO lines (see tests/agent/oracle.py and tests/agent/data/understanding_heldout.yaml).

Written from the definitions of the issue-14 tool spec with plain SQL on the plant tables, never from tool
output. Every function keeps to the asking user's sites (a site outside them gives no rows) and returns no
price or cost unless asked for one (``value``), which the set only does for roles that may see sales prices.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from evals.oracle import Fact, OracleContext
from tests.agent.oracle_helpers import OPEN_PO_LINE, as_date, expected_date, fetch, sql_in

__all__ = ["demand_orders", "lot_state", "mos", "moves", "outstanding", "running", "sales", "spare_cover"]

EVERY_SITE = ("P100", "P200")
OPEN_SO = ("open", "allocated")
OPEN_MO = ("open", "scheduled", "in_progress")
MAX_IDS = 8
"""Ids are required facts only when a list is this short (a long answer leads with its count)."""


def scoped(ctx: OracleContext, site: str | None) -> list[str]:
    """The sites the oracle may read: ``site`` when the user holds it (else none), or every site they hold."""
    allowed = sorted(ctx.sites) if ctx.sites is not None else list(EVERY_SITE)
    return ([site] if site in allowed else []) if site else allowed


def _in(name: str, values: list[str]) -> str:
    return sql_in(name, values) if values else "1 = 0"


def _ids(ids: list[str]) -> list[Fact]:
    return [Fact("id", i) for i in ids] if len(ids) <= MAX_IDS else []


# ------------------------------------------------------------------------------------------ sales orders
def sales(ctx: OracleContext, site: str | None = None, so: str | None = None, customer: str | None = None,
          item: str | None = None, status: str | None = None, open_only: bool = False, late: bool = False,
          due_days: int | None = None, min_qty: float | None = None, value: bool = False,
          **_: Any) -> list[Fact]:
    """Sales orders matching the filters (open = open|allocated; late = due before today and open; due within
    N days = due from today through today + N; ``min_qty`` = quantity over it). One order: its id, item,
    quantity, due date and allocated quantity (+ value = qty x unit price with ``value``). Several: the count,
    the most-late order with its days late, and the ids when few."""
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT so_id, site_id, customer, item_id, qty, unit_price, due_date, status, "
                           f"(SELECT COALESCE(SUM(v.qty_reserved), 0) FROM inventory v WHERE v.reserved_for = "
                           f"s.so_id) AS allocated FROM sales_orders s WHERE {_in('site_id', scoped(ctx, site))}")
    today = ctx.today

    def is_late(r: Any) -> bool:
        return r.status in OPEN_SO and as_date(r.due_date) < today

    keep = [r for r in rows if (so is None or r.so_id == so)
            and (customer is None or customer.lower() in r.customer.lower())
            and (item is None or r.item_id == item) and (status is None or r.status == status)
            and (not open_only or r.status in OPEN_SO) and (not late or is_late(r))
            and (due_days is None or today <= as_date(r.due_date) <= today + timedelta(days=due_days))
            and (min_qty is None or r.qty > min_qty)]
    if not keep:
        return [Fact("text", "no")]
    keep.sort(key=lambda r: (not is_late(r), as_date(r.due_date), r.so_id))
    if so is not None:
        r = keep[0]
        facts = [Fact("id", r.so_id), Fact("id", r.item_id), Fact("num", r.qty), Fact("date", str(r.due_date)[:10])]
        if r.allocated:
            facts.append(Fact("num", r.allocated))
        if value:
            facts.append(Fact("num", round(r.qty * r.unit_price, 2), 0.01))
        return facts
    facts = [Fact("num", len(keep))]
    overdue = [r for r in keep if is_late(r)]
    if overdue:
        worst = max(overdue, key=lambda r: ((today - as_date(r.due_date)).days, r.so_id))
        facts += [Fact("id", worst.so_id), Fact("num", (today - as_date(worst.due_date)).days)]
    return facts + [f for f in _ids([r.so_id for r in keep]) if f not in facts]


# ------------------------------------------------------------------------------------------ one lot across systems
_STATUS_WORD = {"quality_hold": "hold", "blocked": "blocked", "available": "available", "consumed": "consumed"}


def lot_state(ctx: OracleContext, lot: str, **_: Any) -> list[Fact]:
    """A lot in MES and ERP: its MES status, the records of each disagreement (a held lot's unrestricted ERP
    location; the open shipment a held lot is reserved for and the quantity; an available lot's blocked
    location), its open quality events (the newest three), and an available lot's reservations."""
    sites = scoped(ctx, None)
    with ctx.engine.connect() as conn:
        found = fetch(conn, f"SELECT lot_id, item_id, site_id, status FROM lots WHERE lot_id = :l AND "
                            f"{_in('site_id', sites)}", l=lot)
        if not found:
            return [Fact("text", "not found")]
        stock = fetch(conn, "SELECT location, stock_status, qty_on_hand, qty_reserved, reserved_for FROM inventory "
                            "WHERE lot_id = :l ORDER BY location", l=lot)
        open_so = {r.so_id for r in fetch(conn, "SELECT so_id FROM sales_orders WHERE status IN ('open','allocated')")}
        events = fetch(conn, "SELECT qe_id FROM quality_events WHERE lot_id = :l AND status IN ('open','contained') "
                             "ORDER BY detected_at DESC, qe_id DESC", l=lot)
    status = found[0].status
    facts = [Fact("id", lot), Fact("text", _STATUS_WORD[status])]
    held = status in ("quality_hold", "blocked")
    for r in stock:
        if held and r.stock_status == "unrestricted":  # mes_hold_erp_unrestricted
            facts.append(Fact("text", r.location))
        if held and r.qty_reserved > 0 and (r.reserved_for in open_so or str(r.reserved_for).startswith("WO-")):
            facts += [Fact("id", r.reserved_for), Fact("num", r.qty_reserved)]  # held_lot_allocated
        if status == "available" and r.stock_status in ("blocked", "quality_inspection"):
            facts.append(Fact("text", r.location))  # erp_blocked_mes_available
        if status == "available" and r.reserved_for:
            facts.append(Fact("id", r.reserved_for))
    facts += [Fact("id", e.qe_id) for e in events[:3]]
    return list(dict.fromkeys(facts))


# ------------------------------------------------------------------------------------------ demand vs orders
def demand_orders(ctx: OracleContext, item: str, site: str | None = None, weeks: int = 4, **_: Any) -> list[Fact]:
    """Per site with a forecast or orders for the item: the forecast and the ordered quantity (sales orders due
    in the weeks, any status but cancelled) over ``weeks`` weeks from the Monday of today's week."""
    monday = ctx.today - timedelta(days=ctx.today.weekday())
    end = monday + timedelta(days=7 * weeks)
    facts: list[Fact] = []
    with ctx.engine.connect() as conn:
        for s in scoped(ctx, site):
            forecast = fetch(conn, "SELECT COALESCE(SUM(qty), 0) AS q, COUNT(*) AS n FROM demand_forecast WHERE "
                                   "item_id = :i AND site_id = :s AND week_start >= :a AND week_start < :b",
                             i=item, s=s, a=monday, b=end)[0]
            ordered = fetch(conn, "SELECT COALESCE(SUM(qty), 0) AS q, COUNT(*) AS n FROM sales_orders WHERE "
                                  "item_id = :i AND site_id = :s AND status != 'cancelled' AND due_date >= :a AND "
                                  "due_date < :b", i=item, s=s, a=monday, b=end)[0]
            if forecast.n or ordered.n:
                facts += [Fact("num", forecast.q), Fact("num", ordered.q)]
    return facts or [Fact("text", "no")]


# ------------------------------------------------------------------------------------------ transfers
def moves(ctx: OracleContext, site: str | None = None, item: str | None = None, lot: str | None = None,
          direction: str | None = None, days: int = 30, **_: Any) -> list[Fact]:
    """Inter-site transfers of the last ``days`` days touching the user's sites (``site``: from or to it;
    ``direction`` in/out relative to it): the count, the total quantity and the ids when few."""
    sites = scoped(ctx, site)
    since = datetime.combine(ctx.today - timedelta(days=days), time.min)
    if site and direction == "in":
        where = _in("to_site_id", sites)
    elif site and direction == "out":
        where = _in("from_site_id", sites)
    else:
        where = f"({_in('from_site_id', sites)} OR {_in('to_site_id', sites)})"
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT transfer_id, item_id, lot_id, qty FROM transfers WHERE {where} AND "
                           f"transferred_at >= :since", since=since)
    keep = [r for r in rows if (item is None or r.item_id == item) and (lot is None or r.lot_id == lot)]
    if not keep:
        return [Fact("text", "no")]
    return [Fact("num", len(keep)), Fact("num", sum(r.qty for r in keep)), *_ids([r.transfer_id for r in keep])]


# ------------------------------------------------------------------------------------------ maintenance orders
def mos(ctx: OracleContext, site: str | None = None, asset: str | None = None, line: str | None = None,
        status: str | None = None, mo_type: str | None = None, open_only: bool = False,
        within_days: int | None = None, **_: Any) -> list[Fact]:
    """Maintenance orders of assets at the user's sites matching the filters (open = open|scheduled|in_progress;
    within N days = scheduled to start from today through today + N): the count and the ids when few."""
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT o.mo_id, o.asset_id, o.mo_type, o.status, o.scheduled_start, m.line_id FROM "
                           f"maintenance_orders o JOIN assets a ON a.asset_id = o.asset_id LEFT JOIN machines m ON "
                           f"m.machine_id = a.machine_id WHERE {_in('a.site_id', scoped(ctx, site))}")
    last = ctx.today + timedelta(days=within_days or 0)
    keep = sorted((r for r in rows if (asset is None or r.asset_id == asset) and (line is None or r.line_id == line)
                   and (status is None or r.status == status) and (mo_type is None or r.mo_type == mo_type)
                   and (not open_only or r.status in OPEN_MO)
                   and (within_days is None or (r.scheduled_start is not None
                                                and ctx.today <= as_date(r.scheduled_start) <= last))),
                  key=lambda r: r.mo_id)
    if not keep:
        return [Fact("text", "no")]
    return [Fact("num", len(keep)), *_ids([r.mo_id for r in keep])]


# ------------------------------------------------------------------------------------------ spare parts
def spare_cover(ctx: OracleContext, asset: str | None = None, site: str | None = None, line: str | None = None,
                item: str | None = None, short_only: bool = False, **_: Any) -> list[Fact]:
    """Spare parts per asset with the available stock at the asset's site (unrestricted on hand - reserved).
    One asset: each part with its required and available quantity. Otherwise: how many rows are short and
    which assets and parts; when none is short (and ``short_only`` is off), the assets covered."""
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT sp.asset_id, sp.item_id, sp.qty_required, m.line_id, COALESCE((SELECT "
                           f"SUM(v.qty_on_hand - v.qty_reserved) FROM inventory v WHERE v.item_id = sp.item_id AND "
                           f"v.site_id = a.site_id AND v.stock_status = 'unrestricted'), 0) AS avail FROM spare_parts "
                           f"sp JOIN assets a ON a.asset_id = sp.asset_id LEFT JOIN machines m ON m.machine_id = "
                           f"a.machine_id WHERE {_in('a.site_id', scoped(ctx, site))} ORDER BY sp.asset_id, "
                           f"sp.item_id")
    keep = [r for r in rows if (asset is None or r.asset_id == asset) and (line is None or r.line_id == line)
            and (item is None or r.item_id == item)]
    short = [r for r in keep if r.avail < r.qty_required]
    if short_only:
        keep = short
    if not keep:
        return [Fact("text", "no")]
    if asset is not None:
        return [Fact("id", asset), *(f for r in keep for f in (Fact("id", r.item_id), Fact("num", r.qty_required),
                                                                 Fact("num", r.avail)))]
    if not short:  # nothing short: the assets covered (their count when many)
        assets = list(dict.fromkeys(r.asset_id for r in keep))
        return _ids(assets) or [Fact("num", len(assets))]
    ids = list(dict.fromkeys(i for r in short for i in (r.asset_id, r.item_id)))
    return [Fact("num", len(short)), *_ids(ids)]


# ------------------------------------------------------------------------------------------ what runs now
def running(ctx: OracleContext, line: str | None = None, site: str | None = None, **_: Any) -> list[Fact]:
    """Work orders running now (status running: current records only) with the items they make."""
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT wo_id, item_id, line_id FROM work_orders WHERE status = 'running' AND "
                           f"{_in('site_id', scoped(ctx, site))} ORDER BY wo_id")
    keep = [r for r in rows if line is None or r.line_id == line]
    return [f for r in keep for f in (Fact("id", r.wo_id), Fact("id", r.item_id))] or [Fact("text", "no")]


# ------------------------------------------------------------------------------------------ outstanding PO lines
def outstanding(ctx: OracleContext, site: str | None = None, supplier: str | None = None, item: str | None = None,
                po: str | None = None, buyer: str | None = None, min_qty: float | None = None,
                late: bool = False, **_: Any) -> list[Fact]:
    """Open PO lines still to be received (late or not; ``late`` = only those expected before today;
    ``min_qty`` = open quantity over it): the count, the ids when few, and for up to three lines their open
    quantity."""
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT l.po_id, l.line_no, l.item_id, l.need_date, l.promised_date, "
                           f"l.qty_ordered - l.qty_received AS qty_open, p.supplier_id, p.buyer_user_id FROM po_lines "
                           f"l JOIN purchase_orders p ON p.po_id = l.po_id WHERE {OPEN_PO_LINE} AND "
                           f"{_in('p.site_id', scoped(ctx, site))} ORDER BY l.need_date, l.po_id, l.line_no")
    keep = [r for r in rows if (supplier is None or r.supplier_id == supplier) and (item is None or r.item_id == item)
            and (po is None or r.po_id == po) and (buyer is None or r.buyer_user_id == buyer)
            and (min_qty is None or r.qty_open > min_qty) and (not late or expected_date(r) < ctx.today)]
    if not keep:
        return [Fact("text", "no")]
    facts = [Fact("num", len(keep)), *_ids([f"{r.po_id}/{r.line_no}" for r in keep])]
    if len(keep) <= 3:
        facts += [Fact("num", r.qty_open) for r in keep]
    return facts

