"""Expected facts for the rules-model question set, computed by direct SQL on the demo plant.

Each oracle re-derives what a correct answer must state from the plant tables
and the shared semantics of /work/notes/COMMON.md (never from tool or model
output); planted scenarios come from the generator's manifest. A fact is an id,
a number, a percentage, a date or a phrase that the answer must contain.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, text

from evals import oracle as eval_oracle
from evals.oracle import Fact, OracleContext  # the same fact and context types as the eval suites' oracle

__all__ = ["ORACLES", "Fact", "OracleContext"]


def _rows(conn: Connection, sql: str, **params: Any) -> list[Any]:
    return list(conn.execute(text(sql), params))


def _sites(ctx: OracleContext, site: str | None) -> list[str]:
    every = ["P100", "P200"]
    return [site] if site else sorted(ctx.sites) if ctx.sites is not None else every


def _in(name: str, values: Iterable[str]) -> str:
    quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
    return f"{name} IN ({quoted})"


def _period(ctx: OracleContext, days: int | None, start: str | None, end: str | None,
            default: int) -> tuple[datetime, datetime]:
    """[start 00:00, end + 1 day 00:00) of a look-back period (tools: days ending today, or start/end)."""
    first = date.fromisoformat(start) if start else ctx.today - timedelta(days=(days or default) - 1)
    last = date.fromisoformat(end) if end else ctx.today
    return datetime.combine(first, time.min), datetime.combine(last + timedelta(days=1), time.min)


# ------------------------------------------------------------------------------------------ inventory
def stock(ctx: OracleContext, item: str | None = None, site: str | None = None, status: str | None = None,
          **_: Any) -> list[Fact]:
    """Available stock (Σ on hand − reserved, unrestricted rows) per site; or the lots in a given status."""
    with ctx.engine.connect() as conn:
        if status:
            rows = _rows(conn, f"SELECT lot_id, qty_on_hand FROM inventory WHERE stock_status = :s "
                               f"AND {_in('site_id', _sites(ctx, site))}" + (" AND item_id = :i" if item else ""),
                         s=status, i=item)
            return [Fact("id", r.lot_id) for r in rows] + [Fact("num", r.qty_on_hand) for r in rows]
        rows = _rows(conn, f"SELECT site_id, SUM(qty_on_hand - qty_reserved) AS avail FROM inventory WHERE "
                           f"item_id = :i AND stock_status = 'unrestricted' AND "
                           f"{_in('site_id', _sites(ctx, site))} GROUP BY site_id", i=item)
    return [Fact("num", r.avail) for r in rows] or [Fact("text", "no")]


def lot_location(ctx: OracleContext, lot: str, **_: Any) -> list[Fact]:
    """Where a lot's stock is: its locations and quantities on hand."""
    with ctx.engine.connect() as conn:
        rows = _rows(conn, "SELECT location, qty_on_hand FROM inventory WHERE lot_id = :l", l=lot)
    return [Fact("id", lot)] + [f for r in rows for f in (Fact("text", r.location), Fact("num", r.qty_on_hand))]


Flow = tuple[date, int, float]


def _events(conn: Connection, item: str, site: str, today: date, end: date) -> tuple[float, list[Flow]]:
    """Available stock and dated flows (day, 0 supply / 1 demand, qty) of an item at a site (COMMON.md rules;
    component need = qty_per × qty_planned − issued, the lead's component-requirement rule)."""
    avail = _rows(conn, "SELECT COALESCE(SUM(qty_on_hand - qty_reserved), 0) AS a FROM inventory WHERE item_id = :i "
                        "AND site_id = :s AND stock_status = 'unrestricted'", i=item, s=site)[0].a
    flows: list[tuple[date, int, float]] = []

    def add(day: Any, kind: int, qty: float) -> None:
        when = max(date.fromisoformat(str(day)[:10]), today)
        if qty > 0 and when <= end:
            flows.append((when, kind, float(qty)))

    for r in _rows(conn, "SELECT COALESCE(l.promised_date, l.need_date) AS d, l.qty_ordered - l.qty_received AS q "
                         "FROM po_lines l JOIN purchase_orders p ON p.po_id = l.po_id WHERE l.item_id = :i AND "
                         "p.site_id = :s AND l.line_status = 'open' AND p.status IN ('approved','sent','acknowledged') "
                         "AND l.qty_received < l.qty_ordered", i=item, s=site):
        add(r.d, 0, r.q)
    for r in _rows(conn, "SELECT planned_end, qty_planned - qty_completed AS q FROM work_orders WHERE item_id = :i AND "
                         "site_id = :s AND status IN ('planned','released','running')", i=item, s=site):
        add(r.planned_end, 0, r.q)
    item_type = _rows(conn, "SELECT item_type FROM items WHERE item_id = :i", i=item)[0].item_type
    if item_type == "finished":
        monday = today - timedelta(days=today.weekday())
        for r in _rows(conn, "SELECT week_start, qty FROM demand_forecast WHERE item_id = :i AND site_id = :s AND "
                             "week_start >= :m", i=item, s=site, m=monday):
            add(r.week_start, 1, r.qty)
    else:
        for r in _rows(conn, "SELECT w.planned_start, b.qty_per * w.qty_planned - COALESCE((SELECT "
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
        for s in _sites(ctx, site):
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
        rows = _rows(conn, f"SELECT r.site_id, r.item_id, r.min_qty, i.abc_class, i.item_type, "
                           f"COALESCE((SELECT SUM(v.qty_on_hand - v.qty_reserved) FROM inventory v WHERE v.item_id = "
                           f"r.item_id AND v.site_id = r.site_id AND v.stock_status = 'unrestricted'), 0) AS avail "
                           f"FROM reorder_points r JOIN items i ON i.item_id = r.item_id WHERE "
                           f"{_in('r.site_id', _sites(ctx, site))}")
    low = [r for r in rows if r.avail < r.min_qty and (item_type is None or r.item_type == item_type)
           and (abc is None or r.abc_class == abc)]
    if not low:
        return [Fact("text", "No items")]
    low.sort(key=lambda r: (-round((r.min_qty - r.avail) / r.min_qty, 4), r.abc_class, -(r.min_qty - r.avail),
                            r.site_id, r.item_id))
    return [Fact("num", len(low)), Fact("id", low[0].item_id)]


# ------------------------------------------------------------------------------------------ procurement
_OPEN = ("l.line_status = 'open' AND p.status IN ('approved','sent','acknowledged') AND l.qty_received < l.qty_ordered")


def _open_lines(conn: Connection, ctx: OracleContext, site: str | None = None, **where: Any) -> list[Any]:
    rows = _rows(conn, f"SELECT l.po_id, l.line_no, l.item_id, l.need_date, l.promised_date, l.original_promised_date, "
                       f"l.qty_ordered - l.qty_received AS qty_open, l.unit_price, p.supplier_id, p.site_id, p.status, "
                       f"p.buyer_user_id, p.approved_at, p.acknowledged_at, p.order_date, p.currency FROM po_lines l "
                       f"JOIN purchase_orders p ON p.po_id = l.po_id WHERE {_OPEN} AND "
                       f"{_in('p.site_id', _sites(ctx, site))}")
    keys = {"item": "item_id", "supplier": "supplier_id", "buyer": "buyer_user_id", "po": "po_id"}
    return [r for r in rows if all(v is None or getattr(r, keys[k]) == v for k, v in where.items())]


def _expected(r: Any) -> date:
    return date.fromisoformat(str(r.promised_date or r.need_date)[:10])


def open_lines(ctx: OracleContext, site: str | None = None, late: bool = False, due_days: int | None = None,
               **where: Any) -> list[Fact]:
    """Open PO lines (optionally late, or expected within N days): their count, and their ids when few."""
    with ctx.engine.connect() as conn:
        rows = _open_lines(conn, ctx, site, **where)
    if late:
        rows = [r for r in rows if _expected(r) < ctx.today]
    if due_days is not None:
        rows = [r for r in rows if _expected(r) <= ctx.today + timedelta(days=due_days)]
    if not rows:
        return [Fact("text", "no")]
    ids = [Fact("id", f"{r.po_id}/{r.line_no}") for r in rows] if len(rows) <= 10 else []
    return [Fact("num", len(rows)), *ids]


def _d(value: Any) -> date:
    return date.fromisoformat(str(value)[:10])


def triage(ctx: OracleContext, category: str, buyer: str | None = None, site: str | None = None,
           supplier: str | None = None, **_: Any) -> list[Fact]:
    """The count of one buyer-exception category, re-derived from its rule (tolerance 2, unconfirmed after 3 days)."""
    if category == "order_now":
        scenario = ctx.manifest["scenarios"]["reallocation"]
        return [Fact("id", scenario["item_id"])]
    with ctx.engine.connect() as conn:
        rows = _open_lines(conn, ctx, site, buyer=buyer, supplier=supplier)
        rules: dict[str, Callable[[Any], bool]] = {
            "past_due": lambda r: _expected(r) < ctx.today,
            "expedite": lambda r: r.promised_date is not None and (_d(r.promised_date) - _d(r.need_date)).days > 2,
            "reschedule_out": lambda r: r.promised_date is not None
            and (_d(r.need_date) - _d(r.promised_date)).days > 2,
            "unconfirmed": lambda r: r.status in ("approved", "sent") and r.acknowledged_at is None
            and r.approved_at is not None and _d(r.approved_at) < ctx.today - timedelta(days=3),
            "supplier_slip": lambda r: bool(r.promised_date and r.original_promised_date)
            and _d(r.promised_date) > _d(r.original_promised_date),
        }
        if category in rules:
            hits = [r for r in rows if rules[category](r)]
        elif category == "price_variance":
            hits = []
            for r in rows:
                ref = _rows(conn, "SELECT unit_price, currency FROM supplier_prices WHERE supplier_id = :s AND "
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
            hits = _rows(conn, f"SELECT t.lot_id FROM lots t JOIN po_lines l ON l.po_id = t.po_id AND "
                               f"l.line_no = t.po_line_no JOIN purchase_orders p ON p.po_id = l.po_id WHERE "
                               f"t.status IN ('quality_hold','blocked') AND {_in('p.site_id', _sites(ctx, site))} "
                               f"AND (({_OPEN}) OR t.received_at >= :since)", since=since)
        elif category == "cancel_candidate":
            hits = []
            for r in rows:
                arrives, through = max(_expected(r), ctx.today), _d(r.need_date) + timedelta(days=28)
                avail, flows = _events(conn, r.item_id, r.site_id, ctx.today, max(arrives, through))
                rmin = _rows(conn, "SELECT min_qty FROM reorder_points WHERE item_id = :i AND site_id = :s",
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
        receipts = _rows(conn, f"SELECT p.supplier_id, t.received_at, l.promised_date, l.need_date FROM lots t "
                               f"JOIN po_lines l ON l.po_id = t.po_id AND l.line_no = t.po_line_no JOIN "
                               f"purchase_orders p ON p.po_id = l.po_id WHERE t.received_at >= :since AND "
                               f"{_in('p.site_id', _sites(ctx, site))} AND {_in('t.site_id', _sites(ctx, site))}",
                         since=since)
        lines = _open_lines(conn, ctx, site)
        suppliers = [r.supplier_id for r in _rows(conn, f"SELECT DISTINCT supplier_id FROM purchase_orders WHERE "
                                                        f"{_in('site_id', _sites(ctx, site))}")]
    got, on_time = Counter(r.supplier_id for r in receipts), Counter(
        r.supplier_id for r in receipts if _d(r.received_at) <= _d(r.promised_date or r.need_date))
    if supplier:
        mine = [ln for ln in lines if ln.supplier_id == supplier]
        return [Fact("id", supplier), Fact("num", got[supplier]), Fact("num", on_time[supplier]),
                Fact("num", len(mine)), Fact("num", sum(1 for ln in mine if _expected(ln) < ctx.today))]
    scored = sorted((on_time[s] / got[s], s) for s in suppliers if got[s])
    return [Fact("id", scored[0][1]), Fact("pct", scored[0][0], 0.0006)]


def alternatives(ctx: OracleContext, item: str, **_: Any) -> list[Fact]:
    """Suppliers with a price valid today for the item (in scope), and the best one (lead time, on-time, id)."""
    with ctx.engine.connect() as conn:
        rows = _rows(conn, f"SELECT DISTINCT sp.supplier_id, sp.lead_time_days, s.on_time_rate FROM "
                           f"supplier_prices sp JOIN suppliers s ON s.supplier_id = sp.supplier_id WHERE "
                           f"sp.item_id = :i AND sp.valid_from <= :t AND sp.valid_to >= :t AND (EXISTS (SELECT 1 "
                           f"FROM purchase_orders p WHERE p.supplier_id = s.supplier_id AND "
                           f"{_in('p.site_id', _sites(ctx, None))}) OR NOT EXISTS (SELECT 1 FROM purchase_orders p "
                           f"WHERE p.supplier_id = s.supplier_id))", i=item, t=ctx.today)
    rows.sort(key=lambda r: (r.lead_time_days, -r.on_time_rate, r.supplier_id))
    return [Fact("id", r.supplier_id) for r in rows[:10]] or [Fact("text", "No supplier")]


# ------------------------------------------------------------------------------------------ production
def work_orders(ctx: OracleContext, line: str | None = None, site: str | None = None, status: str | None = None,
                item: str | None = None, late: bool = False, planned_from: str | None = None,
                planned_to: str | None = None, **_: Any) -> list[Fact]:
    """Work orders matching the filters ('open' = planned/released/running/held; late = due before today and not
    completed/cancelled): their count, and their ids when few."""
    with ctx.engine.connect() as conn:
        rows = _rows(conn, f"SELECT wo_id, line_id, item_id, status, planned_start, planned_end, due_date FROM "
                           f"work_orders WHERE {_in('site_id', _sites(ctx, site))}")
    statuses = {"open": {"planned", "released", "running", "held"}}.get(status or "", {status} if status else None)
    keep = [r for r in rows if (line is None or r.line_id == line) and (item is None or r.item_id == item)
            and (statuses is None or r.status in statuses)
            and (not late or (_d(r.due_date) < ctx.today and r.status not in ("completed", "cancelled")))
            and (planned_from is None or _d(r.planned_end) >= date.fromisoformat(planned_from))
            and (planned_to is None or _d(r.planned_start) <= date.fromisoformat(planned_to))]
    if not keep:
        return [Fact("text", "No")]
    return [Fact("num", len(keep)), *([Fact("id", r.wo_id) for r in keep] if len(keep) <= 10 else [])]


def _latest_health(conn: Connection) -> dict[str, Any]:
    rows = _rows(conn, "SELECT a.asset_id, a.site_id, a.machine_id, m.line_id, h.failure_probability, h.scored_at FROM "
                       "assets a JOIN asset_health h ON h.asset_id = a.asset_id LEFT JOIN machines m ON "
                       "m.machine_id = a.machine_id ORDER BY h.scored_at")
    return {r.asset_id: r for r in rows}  # the last row per asset is the latest score


def wo_asset_risk(ctx: OracleContext, days: int = 7, site: str | None = None, line: str | None = None,
                  **_: Any) -> list[Fact]:
    """Planned/released WOs starting before the end of the window on a line with an asset at ≥ 0.8 failure risk."""
    end = datetime.combine(ctx.today + timedelta(days=days + 1), time.min)
    with ctx.engine.connect() as conn:
        risky = {r.line_id for r in _latest_health(conn).values() if r.failure_probability >= 0.8 and r.line_id}
        rows = _rows(conn, f"SELECT wo_id, line_id, planned_start FROM work_orders WHERE status IN "
                           f"('planned','released') AND {_in('site_id', _sites(ctx, site))}")
    hits = sorted((str(r.planned_start), r.wo_id) for r in rows if r.line_id in risky
                  and (line is None or r.line_id == line) and datetime.fromisoformat(str(r.planned_start)) < end)
    # The answer lists the first rows in planned-start order: require the earliest five.
    return [Fact("id", w) for _, w in hits[:5]] or [Fact("text", "None")]


def _state_hours(conn: Connection, line: str | None, machine: str | None, site: str | None, ctx: OracleContext,
                 start: datetime, end: datetime) -> list[tuple[str, str | None, float]]:
    """(state, reason, hours) of machine events clipped to [start, end)."""
    where = ("e.machine_id = :m" if machine else "m.line_id = :l" if line
             else _in("pl.site_id", _sites(ctx, site)))
    rows = _rows(conn, f"SELECT e.state, e.reason_code, e.started_at, e.ended_at FROM machine_events e JOIN machines m "
                       f"ON m.machine_id = e.machine_id JOIN production_lines pl ON pl.line_id = m.line_id WHERE "
                       f"{where} AND e.ended_at > :a AND e.started_at < :b", m=machine, l=line, a=start, b=end)
    out = []
    for r in rows:
        a = max(datetime.fromisoformat(str(r.started_at)), start)
        b = min(datetime.fromisoformat(str(r.ended_at)), end)
        out.append((r.state, r.reason_code, max((b - a).total_seconds(), 0.0) / 3600.0))
    return out


def line_perf(ctx: OracleContext, line: str, days: int | None = None, start: str | None = None,
              end: str | None = None, **_: Any) -> list[Fact]:
    """Availability = running ÷ (running + setup + down) and scrap rate = scrap ÷ (good + scrap) of a line."""
    a, b = _period(ctx, days, start, end, 14)
    with ctx.engine.connect() as conn:
        hours: dict[str, float] = defaultdict(float)
        for state, _reason, h in _state_hours(conn, line, None, None, ctx, a, b):
            hours[state] += h
        good = _rows(conn, "SELECT COALESCE(SUM(qty_good), 0) AS q FROM production_confirmations WHERE line_id = :l "
                           "AND confirmed_at >= :a AND confirmed_at < :b", l=line, a=a, b=b)[0].q
        scrap = _rows(conn, "SELECT COALESCE(SUM(qty), 0) AS q FROM scrap_records WHERE line_id = :l AND "
                            "recorded_at >= :a AND recorded_at < :b", l=line, a=a, b=b)[0].q
    busy = hours["running"] + hours["setup"] + hours["down"]
    facts = [Fact("id", line)]
    if busy:
        facts.append(Fact("pct", hours["running"] / busy, 0.0006))
    if good + scrap:
        facts.append(Fact("pct", scrap / (good + scrap), 0.0006))
    return facts


def downtime(ctx: OracleContext, line: str | None = None, machine: str | None = None, site: str | None = None,
             days: int | None = None, start: str | None = None, end: str | None = None, **_: Any) -> list[Fact]:
    """Total down hours and the top down reason over the period."""
    a, b = _period(ctx, days, start, end, 14)
    with ctx.engine.connect() as conn:
        down = [(reason, h) for state, reason, h in _state_hours(conn, line, machine, site, ctx, a, b)
                if state == "down"]
    if not down:
        return [Fact("text", "No down time")]
    by_reason: dict[str, float] = defaultdict(float)
    for reason, h in down:
        by_reason[reason or "UNKNOWN"] += h
    top = sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return [Fact("num", sum(h for _, h in down), 0.06), Fact("text", top)]


def drift(ctx: OracleContext, line: str | None = None, machine: str | None = None, parameter: str | None = None,
          days: int | None = None, start: str | None = None, end: str | None = None, **_: Any) -> list[Fact]:
    """Settings whose latest reading is out of tolerance: machine, parameter, latest value, out-of-tolerance count."""
    a, b = _period(ctx, days, start, end, 14)
    where = "s.machine_id = :m" if machine else "m.line_id = :l"
    with ctx.engine.connect() as conn:
        rows = _rows(conn, f"SELECT s.machine_id, s.parameter, s.recorded_at, s.value, s.target, s.tolerance FROM "
                           f"machine_settings s JOIN machines m ON m.machine_id = s.machine_id WHERE {where} AND "
                           f"s.recorded_at >= :a AND s.recorded_at < :b ORDER BY s.recorded_at", m=machine, l=line,
                     a=a, b=b)
    series: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for r in rows:
        if parameter is None or r.parameter == parameter:
            series[(r.machine_id, r.parameter)].append(r)
    facts: list[Fact] = []
    for (mid, param), readings in sorted(series.items()):
        last = readings[-1]
        if abs(last.value - last.target) > last.tolerance:
            oot = sum(1 for r in readings if abs(r.value - r.target) > r.tolerance)
            facts += [Fact("id", mid), Fact("text", param), Fact("num", last.value), Fact("num", oot)]
    return facts or [Fact("text", "0 out of tolerance")]


def scrap(ctx: OracleContext, line: str | None = None, site: str | None = None, days: int | None = None,
          start: str | None = None, end: str | None = None, spike: bool = False, **_: Any) -> list[Fact]:
    """Scrap quantity and top scrap reason over the period; with ``spike`` the planted root cause too."""
    a, b = _period(ctx, days, start, end, 10)
    where = "line_id = :l" if line else _in("site_id", _sites(ctx, site))
    with ctx.engine.connect() as conn:
        rows = _rows(conn, f"SELECT reason_code, SUM(qty) AS q FROM scrap_records WHERE {where} AND recorded_at >= :a "
                           f"AND recorded_at < :b GROUP BY reason_code", l=line, a=a, b=b)
    if not rows:
        return [Fact("text", "No output or scrap")]
    top = sorted(rows, key=lambda r: (-r.q, r.reason_code))[0]
    facts = [Fact("num", sum(r.q for r in rows)), Fact("text", top.reason_code)]
    if spike:
        s = ctx.manifest["scenarios"]["scrap_spike"]
        facts += [Fact("id", s["lot_id"]), Fact("id", s["supplier_id"]), Fact("id", s["machine_id"]),
                  Fact("text", s["parameter"])]
    return facts


# ------------------------------------------------------------------------------------------ quality
def quality(ctx: OracleContext, site: str | None = None, line: str | None = None, lot: str | None = None,
            defect: str | None = None, severity: str | None = None, status: str | None = None,
            days: int | None = None, start: str | None = None, **_: Any) -> list[Fact]:
    """How many quality events match, and the newest one."""
    with ctx.engine.connect() as conn:
        rows = _rows(conn, f"SELECT qe_id, line_id, lot_id, defect_code, severity, status, detected_at FROM "
                           f"quality_events WHERE {_in('site_id', _sites(ctx, site))} ORDER BY detected_at DESC, "
                           f"qe_id DESC")
    since = (date.fromisoformat(start) if start else ctx.today - timedelta(days=days - 1) if days else None)
    statuses = {"unresolved": {"open", "contained"}}.get(status or "", {status} if status else None)
    keep = [r for r in rows if (line is None or r.line_id == line) and (lot is None or r.lot_id == lot)
            and (defect is None or r.defect_code == defect) and (severity is None or r.severity == severity)
            and (statuses is None or r.status in statuses) and (since is None or _d(r.detected_at) >= since)]
    return [Fact("num", len(keep)), Fact("id", keep[0].qe_id)] if keep else [Fact("text", "No quality events")]


def genealogy(ctx: OracleContext, lot: str, **_: Any) -> list[Fact]:
    """Where a lot came from (supplier and PO line, or producing WO) and the WOs that consumed it."""
    with ctx.engine.connect() as conn:
        origin = _rows(conn, "SELECT supplier_id, po_id, po_line_no, wo_id FROM lots WHERE lot_id = :l", l=lot)[0]
        used = [r.wo_id for r in _rows(conn, "SELECT DISTINCT wo_id FROM wo_materials WHERE lot_id = :l", l=lot)]
    facts = [Fact("id", lot)]
    if origin.po_id:
        facts += [Fact("id", origin.supplier_id), Fact("id", f"{origin.po_id}/{origin.po_line_no}")]
    if origin.wo_id:
        facts.append(Fact("id", origin.wo_id))
    return facts + ([Fact("id", w) for w in used] if len(used) <= 10 else [])


# ------------------------------------------------------------------------------------------ maintenance
def assets_risk(ctx: OracleContext, threshold: float = 0.5, site: str | None = None, line: str | None = None,
                **_: Any) -> list[Fact]:
    """Assets whose latest failure probability is at or above the threshold, and the top probability."""
    with ctx.engine.connect() as conn:
        latest = _latest_health(conn)
    keep = sorted((r for r in latest.values() if r.failure_probability >= threshold
                   and r.site_id in _sites(ctx, site) and (line is None or r.line_id == line)),
                  key=lambda r: (-r.failure_probability, r.asset_id))
    if not keep:
        return [Fact("text", "No assets")]
    return [*(Fact("id", r.asset_id) for r in keep[:8]), Fact("pct", keep[0].failure_probability, 0.0006)]


def spares(ctx: OracleContext, asset: str, **_: Any) -> list[Fact]:
    """The asset's spare parts with the unrestricted stock available at its site."""
    with ctx.engine.connect() as conn:
        rows = _rows(conn, "SELECT sp.item_id, sp.qty_required, COALESCE((SELECT SUM(v.qty_on_hand - v.qty_reserved) "
                           "FROM inventory v WHERE v.item_id = sp.item_id AND v.site_id = a.site_id AND "
                           "v.stock_status = 'unrestricted'), 0) AS avail FROM spare_parts sp JOIN assets a ON "
                           "a.asset_id = sp.asset_id WHERE sp.asset_id = :a", a=asset)
    return [Fact("id", asset), *(f for r in rows for f in (Fact("id", r.item_id), Fact("num", r.qty_required),
                                                            Fact("num", r.avail)))]


# ------------------------------------------------------------------------------------------ executive
def summary(ctx: OracleContext, site: str | None = None, **_: Any) -> list[Fact]:
    """Per site: open and late work orders, open and past-due PO lines."""
    facts: list[Fact] = []
    with ctx.engine.connect() as conn:
        for s in _sites(ctx, site):
            wos = _rows(conn, "SELECT status, due_date FROM work_orders WHERE site_id = :s", s=s)
            open_wo = [w for w in wos if w.status in ("planned", "released", "running", "held")]
            lines = _open_lines(conn, ctx, s)
            facts += [Fact("num", len(open_wo)), Fact("num", sum(1 for w in open_wo if _d(w.due_date) < ctx.today)),
                      Fact("num", len(lines)), Fact("num", sum(1 for ln in lines if _expected(ln) < ctx.today))]
    return facts


def reconciliation(ctx: OracleContext, site: str | None = None, **_: Any) -> list[Fact]:
    """Records where ERP and MES disagree, by the three reconciliation rules (the eval suites' oracle)."""
    return eval_oracle.reconciliation(ctx, site)


def po_line(ctx: OracleContext, line: str, **_: Any) -> list[Fact]:
    """One PO line: its id, item and open quantity."""
    po_id, line_no = line.split("/")
    with ctx.engine.connect() as conn:
        r = _rows(conn, "SELECT item_id, qty_ordered - qty_received AS q FROM po_lines WHERE po_id = :p AND "
                        "line_no = :n", p=po_id, n=int(line_no))[0]
    return [Fact("id", line), Fact("id", r.item_id), Fact("num", r.q)]


def work_order(ctx: OracleContext, wo: str, **_: Any) -> list[Fact]:
    """One work order: its id, item, line and status."""
    with ctx.engine.connect() as conn:
        r = _rows(conn, "SELECT item_id, line_id, status FROM work_orders WHERE wo_id = :w", w=wo)[0]
    return [Fact("id", wo), Fact("id", r.item_id), Fact("id", r.line_id), Fact("text", r.status)]


def asset(ctx: OracleContext, asset: str, **_: Any) -> list[Fact]:
    """One asset: its id and latest failure probability."""
    with ctx.engine.connect() as conn:
        latest = _latest_health(conn)[asset]
    return [Fact("id", asset), Fact("pct", latest.failure_probability, 0.0006)]


def wo_shortage(ctx: OracleContext, days: int = 7, site: str | None = None, **_: Any) -> list[Fact]:
    """The first upcoming planned/released WO short of a component (stock plus PO receipts due by its start,
    allocated to open WOs in planned-start order) and that component."""
    end = datetime.combine(ctx.today + timedelta(days=days + 1), time.min)
    with ctx.engine.connect() as conn:
        sites = _sites(ctx, site)
        wos = _rows(conn, f"SELECT wo_id, site_id, item_id, status, qty_planned, planned_start FROM work_orders "
                          f"WHERE status IN ('planned','released','running') AND {_in('site_id', sites)} "
                          f"ORDER BY planned_start, wo_id")
        taken: Counter[tuple[str, str]] = Counter()
        for w in wos:
            if datetime.fromisoformat(str(w.planned_start)) >= end:
                continue
            start = max(_d(w.planned_start), ctx.today)
            for b in _rows(conn, "SELECT component_item_id AS c, qty_per FROM bom_lines WHERE parent_item_id = :i "
                                 "ORDER BY component_item_id", i=w.item_id):
                issued = _rows(conn, "SELECT COALESCE(SUM(qty_issued), 0) AS q FROM wo_materials WHERE wo_id = :w "
                                     "AND item_id = :c", w=w.wo_id, c=b.c)[0].q
                need = max(b.qty_per * w.qty_planned - issued, 0.0)
                stock = _rows(conn, "SELECT COALESCE(SUM(qty_on_hand - qty_reserved), 0) AS q FROM inventory WHERE "
                                    "item_id = :c AND site_id = :s AND stock_status = 'unrestricted'",
                              c=b.c, s=w.site_id)[0].q
                incoming = sum(r.qty_open for r in _open_lines(conn, ctx, w.site_id, item=b.c)
                               if max(_expected(r), ctx.today) <= start)
                left = max(stock + incoming - taken[(w.site_id, b.c)], 0.0)
                if need > left + 1e-6 and w.status in ("planned", "released"):
                    return [Fact("id", w.wo_id), Fact("id", b.c)]
                taken[(w.site_id, b.c)] += min(need, left)
    return [Fact("text", "None")]


# ------------------------------------------------------------------------------------------ no tool
def says(ctx: OracleContext, phrases: list[str], ids: list[str] | None = None, **_: Any) -> list[Fact]:
    """Answers without tools (clarifications, refusals): phrases and candidate ids the text must contain."""
    return [*(Fact("text", p) for p in phrases), *(Fact("id", i) for i in ids or [])]


ORACLES: dict[str, Callable[..., list[Fact]]] = {
    f.__name__: f for f in (stock, lot_location, projection, below_reorder, open_lines, triage, scorecard,
                            alternatives, work_orders, wo_asset_risk, line_perf, downtime, drift, scrap, quality,
                            genealogy, assets_risk, spares, summary, reconciliation, po_line, work_order, asset,
                            wo_shortage, says)
}
