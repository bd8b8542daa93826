"""Rules-accuracy oracles for the operations questions: work orders, lines, machines, scrap, quality, assets and
the plant summary (see tests/agent/oracle.py)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection

from evals import oracle as eval_oracle
from evals.oracle import Fact, OracleContext
from tests.agent.oracle_helpers import (
    as_date,
    expected_date,
    fetch,
    latest_health,
    look_back,
    open_po_lines,
    site_ids,
    sql_in,
)

__all__ = ["asset", "assets_risk", "downtime", "drift", "genealogy", "line_perf", "po_line", "quality",
           "reconciliation", "scrap", "spares", "summary", "wo_asset_risk", "wo_shortage", "work_order",
           "work_orders"]

def work_orders(ctx: OracleContext, line: str | None = None, site: str | None = None, status: str | None = None,
                item: str | None = None, late: bool = False, planned_from: str | None = None,
                planned_to: str | None = None, **_: Any) -> list[Fact]:
    """Work orders matching the filters ('open' = planned/released/running/held; late = due before today and not
    completed/cancelled): their count, and their ids when few."""
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT wo_id, line_id, item_id, status, planned_start, planned_end, due_date FROM "
                           f"work_orders WHERE {sql_in('site_id', site_ids(ctx, site))}")
    statuses = {"open": {"planned", "released", "running", "held"}}.get(status or "", {status} if status else None)
    keep = [r for r in rows if (line is None or r.line_id == line) and (item is None or r.item_id == item)
            and (statuses is None or r.status in statuses)
            and (not late or (as_date(r.due_date) < ctx.today and r.status not in ("completed", "cancelled")))
            and (planned_from is None or as_date(r.planned_end) >= date.fromisoformat(planned_from))
            and (planned_to is None or as_date(r.planned_start) <= date.fromisoformat(planned_to))]
    if not keep:
        return [Fact("text", "No")]
    return [Fact("num", len(keep)), *([Fact("id", r.wo_id) for r in keep] if len(keep) <= 10 else [])]


def wo_asset_risk(ctx: OracleContext, days: int = 7, site: str | None = None, line: str | None = None,
                  **_: Any) -> list[Fact]:
    """Planned/released WOs starting before the end of the window on a line with an asset at ≥ 0.8 failure risk."""
    end = datetime.combine(ctx.today + timedelta(days=days + 1), time.min)
    with ctx.engine.connect() as conn:
        risky = {r.line_id for r in latest_health(conn).values() if r.failure_probability >= 0.8 and r.line_id}
        rows = fetch(conn, f"SELECT wo_id, line_id, planned_start FROM work_orders WHERE status IN "
                           f"('planned','released') AND {sql_in('site_id', site_ids(ctx, site))}")
    hits = sorted((str(r.planned_start), r.wo_id) for r in rows if r.line_id in risky
                  and (line is None or r.line_id == line) and datetime.fromisoformat(str(r.planned_start)) < end)
    # The answer lists the first rows in planned-start order: require the earliest five.
    return [Fact("id", w) for _, w in hits[:5]] or [Fact("text", "None")]


def _state_hours(conn: Connection, line: str | None, machine: str | None, site: str | None, ctx: OracleContext,
                 start: datetime, end: datetime) -> list[tuple[str, str | None, float]]:
    """(state, reason, hours) of machine events clipped to [start, end)."""
    where = ("e.machine_id = :m" if machine else "m.line_id = :l" if line
             else sql_in("pl.site_id", site_ids(ctx, site)))
    rows = fetch(conn, f"SELECT e.state, e.reason_code, e.started_at, e.ended_at FROM machine_events e JOIN machines m "
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
    a, b = look_back(ctx, days, start, end, 14)
    with ctx.engine.connect() as conn:
        hours: dict[str, float] = defaultdict(float)
        for state, _reason, h in _state_hours(conn, line, None, None, ctx, a, b):
            hours[state] += h
        good = fetch(conn, "SELECT COALESCE(SUM(qty_good), 0) AS q FROM production_confirmations WHERE line_id = :l "
                           "AND confirmed_at >= :a AND confirmed_at < :b", l=line, a=a, b=b)[0].q
        scrap = fetch(conn, "SELECT COALESCE(SUM(qty), 0) AS q FROM scrap_records WHERE line_id = :l AND "
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
    a, b = look_back(ctx, days, start, end, 14)
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
    a, b = look_back(ctx, days, start, end, 14)
    where = "s.machine_id = :m" if machine else "m.line_id = :l"
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT s.machine_id, s.parameter, s.recorded_at, s.value, s.target, s.tolerance FROM "
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
    a, b = look_back(ctx, days, start, end, 10)
    where = "line_id = :l" if line else sql_in("site_id", site_ids(ctx, site))
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT reason_code, SUM(qty) AS q FROM scrap_records WHERE {where} AND recorded_at >= :a "
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


def quality(ctx: OracleContext, site: str | None = None, line: str | None = None, lot: str | None = None,
            defect: str | None = None, severity: str | None = None, status: str | None = None,
            days: int | None = None, start: str | None = None, **_: Any) -> list[Fact]:
    """How many quality events match, and the newest one."""
    with ctx.engine.connect() as conn:
        rows = fetch(conn, f"SELECT qe_id, line_id, lot_id, defect_code, severity, status, detected_at FROM "
                           f"quality_events WHERE {sql_in('site_id', site_ids(ctx, site))} ORDER BY detected_at DESC, "
                           f"qe_id DESC")
    since = (date.fromisoformat(start) if start else ctx.today - timedelta(days=days - 1) if days else None)
    statuses = {"unresolved": {"open", "contained"}}.get(status or "", {status} if status else None)
    keep = [r for r in rows if (line is None or r.line_id == line) and (lot is None or r.lot_id == lot)
            and (defect is None or r.defect_code == defect) and (severity is None or r.severity == severity)
            and (statuses is None or r.status in statuses) and (since is None or as_date(r.detected_at) >= since)]
    return [Fact("num", len(keep)), Fact("id", keep[0].qe_id)] if keep else [Fact("text", "No quality events")]


def genealogy(ctx: OracleContext, lot: str, **_: Any) -> list[Fact]:
    """Where a lot came from (supplier and PO line, or producing WO) and the WOs that consumed it."""
    with ctx.engine.connect() as conn:
        origin = fetch(conn, "SELECT supplier_id, po_id, po_line_no, wo_id FROM lots WHERE lot_id = :l", l=lot)[0]
        used = [r.wo_id for r in fetch(conn, "SELECT DISTINCT wo_id FROM wo_materials WHERE lot_id = :l", l=lot)]
    facts = [Fact("id", lot)]
    if origin.po_id:
        facts += [Fact("id", origin.supplier_id), Fact("id", f"{origin.po_id}/{origin.po_line_no}")]
    if origin.wo_id:
        facts.append(Fact("id", origin.wo_id))
    return facts + ([Fact("id", w) for w in used] if len(used) <= 10 else [])


def assets_risk(ctx: OracleContext, threshold: float = 0.5, site: str | None = None, line: str | None = None,
                **_: Any) -> list[Fact]:
    """Assets whose latest failure probability is at or above the threshold, and the top probability."""
    with ctx.engine.connect() as conn:
        latest = latest_health(conn)
    keep = sorted((r for r in latest.values() if r.failure_probability >= threshold
                   and r.site_id in site_ids(ctx, site) and (line is None or r.line_id == line)),
                  key=lambda r: (-r.failure_probability, r.asset_id))
    if not keep:
        return [Fact("text", "No assets")]
    return [*(Fact("id", r.asset_id) for r in keep[:8]), Fact("pct", keep[0].failure_probability, 0.0006)]


def spares(ctx: OracleContext, asset: str, **_: Any) -> list[Fact]:
    """The asset's spare parts with the unrestricted stock available at its site."""
    with ctx.engine.connect() as conn:
        rows = fetch(conn, "SELECT sp.item_id, sp.qty_required, COALESCE((SELECT SUM(v.qty_on_hand - v.qty_reserved) "
                           "FROM inventory v WHERE v.item_id = sp.item_id AND v.site_id = a.site_id AND "
                           "v.stock_status = 'unrestricted'), 0) AS avail FROM spare_parts sp JOIN assets a ON "
                           "a.asset_id = sp.asset_id WHERE sp.asset_id = :a", a=asset)
    return [Fact("id", asset), *(f for r in rows for f in (Fact("id", r.item_id), Fact("num", r.qty_required),
                                                            Fact("num", r.avail)))]


def summary(ctx: OracleContext, site: str | None = None, **_: Any) -> list[Fact]:
    """Per site: open and late work orders, open and past-due PO lines."""
    facts: list[Fact] = []
    with ctx.engine.connect() as conn:
        for s in site_ids(ctx, site):
            wos = fetch(conn, "SELECT status, due_date FROM work_orders WHERE site_id = :s", s=s)
            open_wo = [w for w in wos if w.status in ("planned", "released", "running", "held")]
            lines = open_po_lines(conn, ctx, s)
            facts += [Fact("num", len(open_wo)),
                      Fact("num", sum(1 for w in open_wo if as_date(w.due_date) < ctx.today)),
                      Fact("num", len(lines)), Fact("num", sum(1 for ln in lines if expected_date(ln) < ctx.today))]
    return facts


def reconciliation(ctx: OracleContext, site: str | None = None, **_: Any) -> list[Fact]:
    """Records where ERP and MES disagree, by the three reconciliation rules (the eval suites' oracle)."""
    return eval_oracle.reconciliation(ctx, site)


def po_line(ctx: OracleContext, line: str, **_: Any) -> list[Fact]:
    """One PO line: its id, item and open quantity."""
    po_id, line_no = line.split("/")
    with ctx.engine.connect() as conn:
        r = fetch(conn, "SELECT item_id, qty_ordered - qty_received AS q FROM po_lines WHERE po_id = :p AND "
                        "line_no = :n", p=po_id, n=int(line_no))[0]
    return [Fact("id", line), Fact("id", r.item_id), Fact("num", r.q)]


def work_order(ctx: OracleContext, wo: str, **_: Any) -> list[Fact]:
    """One work order: its id, item, line and status."""
    with ctx.engine.connect() as conn:
        r = fetch(conn, "SELECT item_id, line_id, status FROM work_orders WHERE wo_id = :w", w=wo)[0]
    return [Fact("id", wo), Fact("id", r.item_id), Fact("id", r.line_id), Fact("text", r.status)]


def asset(ctx: OracleContext, asset: str, **_: Any) -> list[Fact]:
    """One asset: its id and latest failure probability."""
    with ctx.engine.connect() as conn:
        latest = latest_health(conn)[asset]
    return [Fact("id", asset), Fact("pct", latest.failure_probability, 0.0006)]


def wo_shortage(ctx: OracleContext, days: int = 7, site: str | None = None, **_: Any) -> list[Fact]:
    """The first upcoming planned/released WO short of a component (stock plus PO receipts due by its start,
    allocated to open WOs in planned-start order) and that component."""
    end = datetime.combine(ctx.today + timedelta(days=days + 1), time.min)
    with ctx.engine.connect() as conn:
        sites = site_ids(ctx, site)
        wos = fetch(conn, f"SELECT wo_id, site_id, item_id, status, qty_planned, planned_start FROM work_orders "
                          f"WHERE status IN ('planned','released','running') AND {sql_in('site_id', sites)} "
                          f"ORDER BY planned_start, wo_id")
        taken: Counter[tuple[str, str]] = Counter()
        for w in wos:
            if datetime.fromisoformat(str(w.planned_start)) >= end:
                continue
            start = max(as_date(w.planned_start), ctx.today)
            for b in fetch(conn, "SELECT component_item_id AS c, qty_per FROM bom_lines WHERE parent_item_id = :i "
                                 "ORDER BY component_item_id", i=w.item_id):
                issued = fetch(conn, "SELECT COALESCE(SUM(qty_issued), 0) AS q FROM wo_materials WHERE wo_id = :w "
                                     "AND item_id = :c", w=w.wo_id, c=b.c)[0].q
                need = max(b.qty_per * w.qty_planned - issued, 0.0)
                stock = fetch(conn, "SELECT COALESCE(SUM(qty_on_hand - qty_reserved), 0) AS q FROM inventory WHERE "
                                    "item_id = :c AND site_id = :s AND stock_status = 'unrestricted'",
                              c=b.c, s=w.site_id)[0].q
                incoming = sum(r.qty_open for r in open_po_lines(conn, ctx, w.site_id, item=b.c)
                               if max(expected_date(r), ctx.today) <= start)
                left = max(stock + incoming - taken[(w.site_id, b.c)], 0.0)
                if need > left + 1e-6 and w.status in ("planned", "released"):
                    return [Fact("id", w.wo_id), Fact("id", b.c)]
                taken[(w.site_id, b.c)] += min(need, left)
    return [Fact("text", "None")]
