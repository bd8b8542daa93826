"""Rules-accuracy oracles for the supply-chain questions: stock, projections, reorder points, PO lines, buyer
triage and suppliers (see tests/agent/oracle.py)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection

from evals.oracle import Fact, OracleContext
from tests.agent.oracle_helpers import (
    OPEN_PO_LINE,
    as_date,
    expected_date,
    fetch,
    open_po_lines,
    site_ids,
    sql_in,
)

__all__ = ["alternatives", "below_reorder", "lot_location", "open_lines", "projection", "scorecard", "stock", "triage"]

def stock(ctx: OracleContext, item: str | None = None, site: str | None = None, status: str | None = None,
          **_: Any) -> list[Fact]:
    """Available stock (Σ on hand − reserved, unrestricted rows) per site; or the lots in a given status."""
    with ctx.engine.connect() as conn:
        if status:
            rows = fetch(conn, f"SELECT lot_id, qty_on_hand FROM inventory WHERE stock_status = :s "
                               f"AND {sql_in('site_id', site_ids(ctx, site))}" + (" AND item_id = :i" if item else ""),
                         s=status, i=item)
            return [Fact("id", r.lot_id) for r in rows] + [Fact("num", r.qty_on_hand) for r in rows]
        rows = fetch(conn, f"SELECT site_id, SUM(qty_on_hand - qty_reserved) AS avail FROM inventory WHERE "
                           f"item_id = :i AND stock_status = 'unrestricted' AND "
                           f"{sql_in('site_id', site_ids(ctx, site))} GROUP BY site_id", i=item)
    return [Fact("num", r.avail) for r in rows] or [Fact("text", "no")]


def lot_location(ctx: OracleContext, lot: str, **_: Any) -> list[Fact]:
    """Where a lot's stock is: its locations and quantities on hand."""
    with ctx.engine.connect() as conn:
        rows = fetch(conn, "SELECT location, qty_on_hand FROM inventory WHERE lot_id = :l", l=lot)
    return [Fact("id", lot)] + [f for r in rows for f in (Fact("text", r.location), Fact("num", r.qty_on_hand))]


Flow = tuple[date, int, float]


def _events(conn: Connection, item: str, site: str, today: date, end: date) -> tuple[float, list[Flow]]:
    """Available stock and dated flows (day, 0 supply / 1 demand, qty) of an item at a site (COMMON.md rules;
    component need = qty_per × qty_planned − issued, the lead's component-requirement rule)."""
    avail = fetch(conn, "SELECT COALESCE(SUM(qty_on_hand - qty_reserved), 0) AS a FROM inventory WHERE item_id = :i "
                        "AND site_id = :s AND stock_status = 'unrestricted'", i=item, s=site)[0].a
    flows: list[tuple[date, int, float]] = []

    def add(day: Any, kind: int, qty: float) -> None:
        when = max(date.fromisoformat(str(day)[:10]), today)
        if qty > 0 and when <= end:
            flows.append((when, kind, float(qty)))

    for r in fetch(conn, "SELECT COALESCE(l.promised_date, l.need_date) AS d, l.qty_ordered - l.qty_received AS q "
                         "FROM po_lines l JOIN purchase_orders p ON p.po_id = l.po_id WHERE l.item_id = :i AND "
                         "p.site_id = :s AND l.line_status = 'open' AND p.status IN ('approved','sent','acknowledged') "
                         "AND l.qty_received < l.qty_ordered", i=item, s=site):
        add(r.d, 0, r.q)
    for r in fetch(conn, "SELECT planned_end, qty_planned - qty_completed AS q FROM work_orders WHERE item_id = :i AND "
                         "site_id = :s AND status IN ('planned','released','running')", i=item, s=site):
        add(r.planned_end, 0, r.q)
    item_type = fetch(conn, "SELECT item_type FROM items WHERE item_id = :i", i=item)[0].item_type
    if item_type == "finished":
        monday = today - timedelta(days=today.weekday())
        for r in fetch(conn, "SELECT week_start, qty FROM demand_forecast WHERE item_id = :i AND site_id = :s AND "
                             "week_start >= :m", i=item, s=site, m=monday):
            add(r.week_start, 1, r.qty)
    else:
        for r in fetch(conn, "SELECT w.planned_start, b.qty_per * w.qty_planned - COALESCE((SELECT "
                             "SUM(m.qty_issued) FROM wo_materials m WHERE m.wo_id = w.wo_id AND m.item_id = :i), 0) "
                             "AS q FROM work_orders w JOIN bom_lines b ON b.parent_item_id = w.item_id WHERE "
                             "b.component_item_id = :i AND w.site_id = :s AND w.status IN "
                             "('planned','released','running')", i=item, s=site):
            add(r.planned_start, 1, r.q)
    return float(avail), sorted(flows)


def _first_short(avail: float, flows: list[tuple[date, int, float]], today: date) -> date | None:
    balance, by_day = avail, defaultdict[date, float](float)
    for day, kind, qty in flows:
        by_day[day] += qty if kind == 0 else -qty
    if balance < 0:
        return today
    for day in sorted(by_day):
        balance += by_day[day]
        if balance < -1e-9:
            return day
    return None


def projection(ctx: OracleContext, item: str, site: str | None = None, horizon: int = 28, **_: Any) -> list[Fact]:
    """Start availability and the first shortage date (or 'no shortage') per site holding the item."""
    facts: list[Fact] = []
    with ctx.engine.connect() as conn:
        for s in site_ids(ctx, site):
            avail, flows = _events(conn, item, s, ctx.today, ctx.today + timedelta(days=horizon))
            if not flows and not avail:
                continue
            short = _first_short(avail, flows, ctx.today)
            facts += [Fact("num", avail), Fact("date", short.isoformat()) if short else Fact("text", "no shortage")]
    return facts


def below_reorder(ctx: OracleContext, site: str | None = None, item_type: str | None = None, abc: str | None = None,
                  **_: Any) -> list[Fact]:
    """How many item/site positions are below the reorder minimum, and the most severe one."""
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT r.site_id, r.item_id, r.min_qty, i.abc_class, i.item_type, "
                           f"COALESCE((SELECT SUM(v.qty_on_hand - v.qty_reserved) FROM inventory v WHERE v.item_id = "
                           f"r.item_id AND v.site_id = r.site_id AND v.stock_status = 'unrestricted'), 0) AS avail "
                           f"FROM reorder_points r JOIN items i ON i.item_id = r.item_id WHERE "
                           f"{sql_in('r.site_id', site_ids(ctx, site))}")
    low = [r for r in rows if r.avail < r.min_qty and (item_type is None or r.item_type == item_type)
           and (abc is None or r.abc_class == abc)]
    if not low:
        return [Fact("text", "No items")]
    low.sort(key=lambda r: (-round((r.min_qty - r.avail) / r.min_qty, 4), r.abc_class, -(r.min_qty - r.avail),
                            r.site_id, r.item_id))
    return [Fact("num", len(low)), Fact("id", low[0].item_id)]


def open_lines(ctx: OracleContext, site: str | None = None, late: bool = False, due_days: int | None = None,
               **where: Any) -> list[Fact]:
    """Open PO lines (optionally late, or expected within N days): their count, and their ids when few."""
    with ctx.engine.connect() as conn:
        rows = open_po_lines(conn, ctx, site, **where)
    if late:
        rows = [r for r in rows if expected_date(r) < ctx.today]
    if due_days is not None:
        rows = [r for r in rows if expected_date(r) <= ctx.today + timedelta(days=due_days)]
    if not rows:
        return [Fact("text", "no")]
    ids = [Fact("id", f"{r.po_id}/{r.line_no}") for r in rows] if len(rows) <= 10 else []
    return [Fact("num", len(rows)), *ids]


def triage(ctx: OracleContext, category: str, buyer: str | None = None, site: str | None = None,
           supplier: str | None = None, **_: Any) -> list[Fact]:
    """The count of one buyer-exception category, re-derived from its rule (tolerance 2, unconfirmed after 3 days)."""
    if category == "order_now":
        scenario = ctx.manifest["scenarios"]["reallocation"]
        return [Fact("id", scenario["item_id"])]
    with ctx.engine.connect() as conn:
        rows = open_po_lines(conn, ctx, site, buyer=buyer, supplier=supplier)
        rules: dict[str, Callable[[Any], bool]] = {
            "past_due": lambda r: expected_date(r) < ctx.today,
            "expedite": lambda r: r.promised_date is not None
            and (as_date(r.promised_date) - as_date(r.need_date)).days > 2,
            "reschedule_out": lambda r: r.promised_date is not None
            and (as_date(r.need_date) - as_date(r.promised_date)).days > 2,
            "unconfirmed": lambda r: r.status in ("approved", "sent") and r.acknowledged_at is None
            and r.approved_at is not None and as_date(r.approved_at) < ctx.today - timedelta(days=3),
            "supplier_slip": lambda r: bool(r.promised_date and r.original_promised_date)
            and as_date(r.promised_date) > as_date(r.original_promised_date),
        }
        if category in rules:
            hits = [r for r in rows if rules[category](r)]
        elif category == "price_variance":
            hits = []
            for r in rows:
                ref = fetch(conn, "SELECT unit_price, currency FROM supplier_prices WHERE supplier_id = :s AND "
                                  "item_id = :i AND valid_from <= :d AND valid_to >= :d ORDER BY valid_from DESC",
                            s=r.supplier_id, i=r.item_id, d=r.order_date)
                if ref and ref[0].unit_price > 0 and ref[0].currency == r.currency:
                    pct = (r.unit_price - ref[0].unit_price) / ref[0].unit_price * 100
                    if abs(pct) > 5.0 + 1e-9:
                        hits.append((-abs(pct), f"{r.po_id}/{r.line_no}"))
            if hits:
                return [Fact("num", len(hits)), Fact("id", min(hits)[1])]
        elif category == "quality_blocked":
            since = datetime.combine(ctx.today - timedelta(days=30), time.min)
            hits = fetch(conn, f"SELECT t.lot_id FROM lots t JOIN po_lines l ON l.po_id = t.po_id AND "
                               f"l.line_no = t.po_line_no JOIN purchase_orders p ON p.po_id = l.po_id WHERE "
                               f"t.status IN ('quality_hold','blocked') AND {sql_in('p.site_id', site_ids(ctx, site))} "
                               f"AND (({OPEN_PO_LINE}) OR t.received_at >= :since)", since=since)
        elif category == "cancel_candidate":
            hits = []
            for r in rows:
                arrives, through = max(expected_date(r), ctx.today), as_date(r.need_date) + timedelta(days=28)
                avail, flows = _events(conn, r.item_id, r.site_id, ctx.today, max(arrives, through))
                rmin = fetch(conn, "SELECT min_qty FROM reorder_points WHERE item_id = :i AND site_id = :s",
                             i=r.item_id, s=r.site_id)
                earlier = sum(q for d, k, q in flows if k == 0 and d < arrives)
                demand = sum(q for d, k, q in flows if k == 1 and d <= through)
                if avail + earlier >= demand + (rmin[0].min_qty if rmin else 0.0):
                    hits.append(r)
        else:
            raise ValueError(f"no oracle for triage category {category}")
    return [Fact("num", len(hits))] if hits else [Fact("text", "No")]


def scorecard(ctx: OracleContext, supplier: str | None = None, site: str | None = None, **_: Any) -> list[Fact]:
    """One supplier's receipts on time, open and late lines; or the worst supplier on time."""
    since = datetime.combine(ctx.today - timedelta(days=365), time.min)
    with ctx.engine.connect() as conn:
        receipts = fetch(conn, f"SELECT p.supplier_id, t.received_at, l.promised_date, l.need_date FROM lots t "
                               f"JOIN po_lines l ON l.po_id = t.po_id AND l.line_no = t.po_line_no JOIN "
                               f"purchase_orders p ON p.po_id = l.po_id WHERE t.received_at >= :since AND "
                               f"{sql_in('p.site_id', site_ids(ctx, site))} AND "
                               f"{sql_in('t.site_id', site_ids(ctx, site))}",
                         since=since)
        lines = open_po_lines(conn, ctx, site)
        suppliers = [r.supplier_id for r in fetch(conn, f"SELECT DISTINCT supplier_id FROM purchase_orders WHERE "
                                                        f"{sql_in('site_id', site_ids(ctx, site))}")]
    got, on_time = Counter(r.supplier_id for r in receipts), Counter(
        r.supplier_id for r in receipts if as_date(r.received_at) <= as_date(r.promised_date or r.need_date))
    if supplier:
        mine = [ln for ln in lines if ln.supplier_id == supplier]
        return [Fact("id", supplier), Fact("num", got[supplier]), Fact("num", on_time[supplier]),
                Fact("num", len(mine)), Fact("num", sum(1 for ln in mine if expected_date(ln) < ctx.today))]
    scored = sorted((on_time[s] / got[s], s) for s in suppliers if got[s])
    return [Fact("id", scored[0][1]), Fact("pct", scored[0][0], 0.0006)]


def alternatives(ctx: OracleContext, item: str, **_: Any) -> list[Fact]:
    """Suppliers with a price valid today for the item (in scope), and the best one (lead time, on-time, id)."""
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT DISTINCT sp.supplier_id, sp.lead_time_days, s.on_time_rate FROM "
                           f"supplier_prices sp JOIN suppliers s ON s.supplier_id = sp.supplier_id WHERE "
                           f"sp.item_id = :i AND sp.valid_from <= :t AND sp.valid_to >= :t AND (EXISTS (SELECT 1 "
                           f"FROM purchase_orders p WHERE p.supplier_id = s.supplier_id AND "
                           f"{sql_in('p.site_id', site_ids(ctx, None))}) OR NOT EXISTS (SELECT 1 FROM "
                           f"purchase_orders p WHERE p.supplier_id = s.supplier_id))", i=item, t=ctx.today)
    rows.sort(key=lambda r: (r.lead_time_days, -r.on_time_rate, r.supplier_id))
    return [Fact("id", r.supplier_id) for r in rows[:10]] or [Fact("text", "No supplier")]
