"""Answer writers for the operations tools: work orders, lines, machines, scrap, quality, assets, summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.rules.format import cite, day, join, label, mapping_of, more, num, pct, rows_of, when, withheld_values

if TYPE_CHECKING:
    from agent.rules.focus import Focus, Writer

__all__ = ["WRITERS"]

MAX_ROWS = 10

RECONCILIATION_LABELS = {
    "hold_vs_stock_status": "lot on quality hold/blocked in ERP but its stock is unrestricted",
    "wo_completion_vs_receipt": "work order completed quantity differs from the quantity received into its lots",
    "po_receipt_vs_lot": "PO line received quantity differs from the lots received against it",
}


def _scope(args: Mapping[str, Any]) -> str:
    for key, word in (("machine_id", "on"), ("line_id", "on"), ("site_id", "at")):
        if args.get(key):
            return f" {word} {args[key]}"
    return ""


def _period(result: Mapping[str, Any]) -> str:
    return f"from {day(result.get('period_start'))} to {day(result.get('period_end'))}"


def work_orders(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Work orders matching the filters."""
    rows = rows_of(result, "work_orders")
    args = focus.args
    wanted = set(focus.entities.ids.get("wo", ()))
    if wanted:
        picked = [r for r in rows if r.get("wo_id") in wanted]
        if not picked:
            return [f"{', '.join(sorted(wanted))} is not among the work orders that match "
                    f"{'(it is not late)' if args.get('late_only') else ''}".rstrip() + "."]
        rows = picked
    kind = "late work orders" if args.get("late_only") else "work orders"
    status = f" with status {args['status']}" if args.get("status") else ""
    scope = _scope(args) + (f" for {args['item_id']}" if args.get("item_id") else "")
    if not rows:
        return [f"No {kind}{status}{scope} match."]
    total = len(rows) if wanted else int(result.get("total_matching") or len(rows))
    late = 0 if wanted else int(result.get("late_count") or 0)
    head = (f"{'Late work order' if args.get('late_only') else 'Work order'} {', '.join(sorted(wanted))}" if wanted
            else f"{num(total)} {kind}{status}{scope}")
    if late and not args.get("late_only"):
        head += f", {num(late)} of them late"
    out = [head + ":"]
    for r in rows[:focus.rows]:
        late_text = f", {num(r.get('days_late'))} days late" if r.get("late") else ""
        out.append(f"- {r.get('wo_id')} {r.get('item_id')} on {r.get('line_id')}: {r.get('status')}, "
                   f"{num(r.get('qty_completed'))} of {num(r.get('qty_planned'))} done ({num(r.get('progress_pct'))}%)"
                   f", planned {when(r.get('planned_start'))} to {when(r.get('planned_end'))}, due "
                   f"{day(r.get('due_date'))}{late_text} {cite(r.get('wo_id'))}")
    tail = more(min(focus.rows, len(rows)), total)
    return [*out, tail] if tail else out


def at_risk(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Upcoming work orders short of components or on a line with a risky asset."""
    rows = rows_of(result, "at_risk")
    checked = num(result.get("checked_count"))
    window = day(result.get("window_end"))
    if not rows:
        return [f"None of the {checked} planned or released work orders starting by {window}{_scope(focus.args)} "
                "is at risk (components covered, no high-risk asset on their lines)."]
    out = [f"{num(len(rows))} of {checked} planned or released work orders starting by {window}"
           f"{_scope(focus.args)} are at risk:"]
    for r in rows[:focus.rows]:
        reasons = []
        missing = rows_of(r, "missing_components")
        if missing:
            reasons.append("short of " + ", ".join(
                f"{m.get('item_id')} (needs {num(m.get('required_qty'))}, {num(m.get('available_qty'))} available, "
                f"{num(m.get('incoming_qty'))} incoming, short {num(m.get('shortfall_qty'))})" for m in missing[:4]))
        assets = rows_of(r, "risky_assets")
        if assets:
            reasons.append("asset risk: " + ", ".join(
                f"{a.get('asset_id')} {pct(a.get('failure_probability'))} failure probability within "
                f"{num(a.get('horizon_days'))} days" for a in assets[:3]))
        ids = [r.get("wo_id"), *(m.get("item_id") for m in missing[:4]), *(a.get("asset_id") for a in assets[:3])]
        out.append(f"- {r.get('wo_id')} ({r.get('item_id')} on {r.get('line_id')}, {r.get('status')}, starts "
                   f"{when(r.get('planned_start'))}): {'; '.join(reasons)} {cite(*ids)}")
    return out


def line_performance(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Availability, output and scrap per line."""
    lines = rows_of(result, "lines")
    if not lines:
        return [f"No line data{_scope(focus.args)} {_period(result)}."]
    out = [f"Line performance {_period(result)}:"]
    for ln in lines[:focus.rows]:
        trend = mapping_of(ln, "scrap_trend")
        reasons = rows_of(ln, "down_by_reason")[:3]
        down = ("; top down reasons " + ", ".join(
            f"{d.get('reason_code')} {num(d.get('hours'))} h ({num(d.get('events'))} events)" for d in reasons)
            if reasons else "")
        out.append(f"- {ln.get('line_id')}: availability {pct(ln.get('availability'))} (running "
                   f"{num(ln.get('running_hours'))} h, setup {num(ln.get('setup_hours'))} h, down "
                   f"{num(ln.get('down_hours'))} h); good output {num(ln.get('good_qty'))}, scrap "
                   f"{num(ln.get('scrap_qty'))} (scrap rate {pct(ln.get('scrap_rate'))}, trend "
                   f"{trend.get('direction', 'unknown')}){down} {cite(ln.get('line_id'))}")
    return out


def downtime(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Down hours by reason and machine, and the longest stops."""
    scope = _scope(focus.args)
    if not result.get("event_count"):
        return [f"No down time recorded{scope} {_period(result)}."]
    machine_ids = [m.get("machine_id") for m in rows_of(result, "by_machine")][:6]
    out = [f"Down time{scope} {_period(result)}: {num(result.get('total_down_hours'))} h over "
           f"{num(result.get('event_count'))} down events {cite(*machine_ids)}."]
    reasons = rows_of(result, "by_reason")[:5]
    if reasons:
        out.append("Top reasons: " + "; ".join(f"{r.get('reason_code')} {num(r.get('hours'))} h ({num(r.get('events'))}"
                                               " events)" for r in reasons) + ".")
    machines = rows_of(result, "by_machine")[:3]
    if machines:
        out.append("Most affected machines: " + "; ".join(
            f"{m.get('machine_id')} on {m.get('line_id')} {num(m.get('hours'))} h, mostly {m.get('top_reason')} "
            f"{cite(m.get('machine_id'))}" for m in machines) + ".")
    longest = rows_of(result, "longest_events")[:3]
    if longest:
        out.append("Longest stops: " + "; ".join(
            f"{e.get('machine_id')} from {when(e.get('started_at'))}, {num(e.get('hours'))} h, {e.get('reason_code')} "
            f"{cite(e.get('machine_id'))}" for e in longest) + ".")
    return out


def drift(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Machine settings vs target and tolerance, out-of-tolerance first."""
    params = rows_of(result, "parameters")
    scope = _scope(focus.args)
    if focus.intent == "scrap_root_cause":
        params = [p for p in params if p.get("out_of_tolerance_count") or p.get("drifting_away")]
        if not params:
            return [f"No machine setting{scope} was out of tolerance or drifting {_period(result)}."]
    if not params:
        return [f"No machine setting readings{scope} {_period(result)}."]
    out = [f"Machine settings{scope} {_period(result)}: {num(result.get('out_of_tolerance_now'))} out of tolerance "
           "at the latest reading."]
    for p in params[:8]:
        trend = mapping_of(p, "trend")
        state = "OUT of tolerance" if p.get("latest_out_of_tolerance") else "within tolerance"
        first = (f" since {when(p.get('first_out_of_tolerance_at'))}" if p.get("first_out_of_tolerance_at") else "")
        away = ", drifting away from target" if p.get("drifting_away") else ""
        out.append(f"- {p.get('machine_id')} {p.get('parameter')}: latest {num(p.get('latest_value'))} vs target "
                   f"{num(p.get('target'))} ± {num(p.get('tolerance'))} at {when(p.get('latest_at'))}, {state}; "
                   f"{num(p.get('out_of_tolerance_count'))} of {num(p.get('readings'))} readings out of tolerance"
                   f"{first}; trend {trend.get('direction', 'unknown')}{away} {cite(p.get('machine_id'))}")
    return out


def scrap(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Scrap rate, reasons, work orders and the input lot it concentrates on."""
    lines = [str(x) for x in result.get("line_ids") or []]
    where = ", ".join(lines) if lines else "the lines in scope"
    if not result.get("scrap_qty") and not result.get("good_qty"):
        return [f"No output or scrap recorded on {where} {_period(result)} {cite(*lines)}."]
    trend = mapping_of(result, "trend")
    halves = (f" ({pct(trend.get('first_half'))} in the first half, {pct(trend.get('second_half'))} in the second)"
              if trend.get("first_half") is not None and trend.get("second_half") is not None else "")
    out = [f"Scrap on {where} {_period(result)}: {num(result.get('scrap_qty'))} scrapped vs "
           f"{num(result.get('good_qty'))} good (scrap rate {pct(result.get('scrap_rate'))}), trend "
           f"{trend.get('direction', 'unknown')}{halves} {cite(*lines[:6])}."]
    reasons = rows_of(result, "by_reason")[:4]
    if reasons:
        out.append("By reason: " + ", ".join(f"{r.get('reason_code')} {num(r.get('qty'))} ({pct(r.get('share'))})"
                                            for r in reasons) + ".")
    lots = rows_of(result, "by_input_lot")
    if lots and (lots[0].get("excess_share") or 0) > 0:
        lot = lots[0]
        supplier = join([str(lot.get("supplier_id") or ""), label(lot.get("supplier_name")) or ""], " ")
        out.append(f"Scrap concentrates on input lot {lot.get('lot_id')} ({lot.get('item_id')}"
                   f"{', supplier ' + supplier if supplier else ''}): the {num(lot.get('work_orders'))} work orders "
                   f"that consumed it scrapped {num(lot.get('scrap_qty'))} at {pct(lot.get('scrap_rate'))} vs a "
                   f"baseline of {pct(lot.get('baseline_scrap_rate'))} "
                   f"{cite(lot.get('lot_id'), lot.get('supplier_id'))}.")
    wos = rows_of(result, "by_work_order")[:3]
    if wos:
        out.append("Work orders with most scrap: " + "; ".join(
            f"{w.get('wo_id')} {num(w.get('scrap_qty'))} scrapped, rate {pct(w.get('scrap_rate'))} "
            f"{cite(w.get('wo_id'))}"
            for w in wos) + ".")
    return out


def quality_events(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Quality events with counts by severity, status and defect, newest first."""
    events = rows_of(result, "events")
    total = int(result.get("total_matching") or 0)
    filters = " ".join(f"{k.replace('_id', '').replace('_', ' ')} {v}" for k, v in focus.args.items()
                       if k in ("line_id", "lot_id", "item_id", "wo_id", "defect_code", "severity", "status",
                                "site_id") and v)
    scope = f" ({filters})" if filters else ""
    if not total and not events:
        return [f"No quality events match{scope}."]

    def counts(key: str) -> str:
        data = result.get(key)
        return ", ".join(f"{k} {num(v)}" for k, v in data.items()) if isinstance(data, Mapping) else ""

    out = [f"{num(total)} quality events{scope}; by severity: {counts('by_severity')}; by status: "
           f"{counts('by_status')}."]
    by_defect = result.get("by_defect")
    if isinstance(by_defect, Mapping) and by_defect:
        top = sorted(by_defect.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))[:3]
        out.append("Most frequent defects: " + ", ".join(f"{k} {num(v)}" for k, v in top) + ".")
    out.append("Newest:")
    for e in events[:8]:
        where = join([f"on {e.get('line_id')}" if e.get("line_id") else "",
                      f"lot {e.get('lot_id')}" if e.get("lot_id") else "",
                      f"{e.get('wo_id')}" if e.get("wo_id") else ""], ", ")
        out.append(f"- {e.get('qe_id')} {day(e.get('detected_at'))} {e.get('defect_code')} {e.get('severity')} "
                   f"{e.get('status')}, {num(e.get('qty_affected'))} affected ({e.get('item_id')}"
                   f"{', ' + where if where else ''}) {cite(e.get('qe_id'), e.get('lot_id'), e.get('wo_id'))}")
    return out


def genealogy(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Where a lot came from and where it was used."""
    lot = mapping_of(result, "lot")
    lot_id = lot.get("lot_id")
    origin = str(lot.get("origin") or "unknown")
    if origin == "purchased":
        name = label(lot.get("supplier_name")) or ""
        source = f"purchased from {lot.get('supplier_id')} {name} on {lot.get('po_line_id') or 'an unknown PO line'}"
    elif origin == "produced":
        source = f"produced by {lot.get('producing_wo_id')}"
    else:
        source = "of unknown origin"
    out = [f"{lot_id} ({lot.get('item_id')}, {lot.get('site_id')}) was {source}; status {lot.get('status')}, "
           f"{num(lot.get('qty_received'))} received "
           f"{cite(lot_id, lot.get('supplier_id'), lot.get('po_line_id'), lot.get('producing_wo_id'))}."]
    up = rows_of(result, "upstream_lots")
    if up:
        up = up[:MAX_ROWS]
        out.append("Made from: " + ", ".join(f"{u.get('lot_id')} ({u.get('item_id')}"
                                            f"{', ' + str(u.get('supplier_id')) if u.get('supplier_id') else ''})"
                                            for u in up) + f" {cite(*[u.get('lot_id') for u in up])}.")
    down = rows_of(result, "downstream_work_orders")
    if down:
        out.append("Used by work orders: " + ", ".join(
            f"{w.get('wo_id')} ({w.get('item_id')} on {w.get('line_id')}, {w.get('status')})" for w in down[:MAX_ROWS])
            + f" {cite(*[w.get('wo_id') for w in down[:MAX_ROWS]])}.")
    else:
        out.append("No work order has consumed it.")
    produced = rows_of(result, "downstream_lots")
    if produced:
        out.append("Those produced lots: " + ", ".join(f"{p.get('lot_id')} ({p.get('item_id')}, {p.get('status')})"
                                                      for p in produced[:MAX_ROWS])
                   + f" {cite(*[p.get('lot_id') for p in produced[:MAX_ROWS]])}.")
    reservations = rows_of(result, "reservations")
    if reservations:
        out.append("Reserved for sales orders: " + ", ".join(
            f"{r.get('so_id')} ({label(r.get('customer')) or 'customer'}: {num(r.get('qty_reserved'))} of "
            f"{r.get('lot_id')}, due {day(r.get('due_date'))})" for r in reservations[:MAX_ROWS])
            + f" {cite(*[r.get('so_id') for r in reservations[:MAX_ROWS]])}.")
    return out


def assets(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Assets at risk of failure, or the spare parts of one asset."""
    rows = rows_of(result, "assets")
    threshold = result.get("threshold")
    if focus.intent == "spare_parts":
        if not rows:
            return [f"I found no health score for {focus.args.get('asset_id')}, so I cannot list its spares."]
        a = rows[0]
        spares = rows_of(a, "spare_parts")
        head = (f"{a.get('asset_id')} {label(a.get('name')) or ''} ({a.get('machine_id') or 'no machine'}, "
                f"{a.get('line_id') or a.get('site_id')}): latest failure probability "
                f"{pct(a.get('failure_probability'))} within {num(a.get('horizon_days'))} days "
                f"{cite(a.get('asset_id'))}.")
        if not spares:
            return [head, "No spare parts are listed for this asset."]
        out = [head, "Spare parts:"]
        for s in spares:
            gap = f" — SHORT by {num(s.get('shortfall_qty'))}" if s.get("short") else ""
            out.append(f"- {s.get('item_id')} {label(s.get('description')) or ''}: needs "
                       f"{num(s.get('qty_required'))}, {num(s.get('qty_available'))} available{gap} "
                       f"{cite(s.get('item_id'))}")
        return out
    if not rows:
        return [f"No assets{_scope(focus.args)} at or above {pct(threshold)} predicted failure probability."]
    out = [f"{num(result.get('total_matching') or len(rows))} assets{_scope(focus.args)} at or above {pct(threshold)} "
           "predicted failure probability, riskiest first:"]
    for a in rows[:8]:
        parts = [f"{pct(a.get('failure_probability'))} within {num(a.get('horizon_days'))} days, criticality "
                 f"{a.get('criticality')}, signal: {label(a.get('top_signal')) or 'n/a'}"]
        mos = rows_of(a, "open_maintenance_orders")
        if mos:
            parts.append("open maintenance " + ", ".join(
                f"{m.get('mo_id')} ({m.get('mo_type')}, {m.get('status')}"
                f"{', from ' + when(m.get('scheduled_start')) if m.get('scheduled_start') else ''})" for m in mos[:2]))
        else:
            parts.append("no open maintenance order")
        wos = rows_of(a, "scheduled_work_orders")
        if wos:
            parts.append("work orders planned on its line: " + ", ".join(
                f"{w.get('wo_id')} from {when(w.get('planned_start'))}" for w in wos[:3]))
        short = [p for p in rows_of(a, "spare_parts") if p.get("short")]
        if short:
            parts.append("spares short: " + ", ".join(f"{p.get('item_id')} (needs {num(p.get('qty_required'))}, "
                                                      f"{num(p.get('qty_available'))} available)" for p in short[:3]))
        ids = [a.get("asset_id"), *(m.get("mo_id") for m in mos[:2]), *(w.get("wo_id") for w in wos[:3]),
               *(p.get("item_id") for p in short[:3])]
        out.append(f"- {a.get('asset_id')} {label(a.get('name')) or ''} ({a.get('machine_id') or 'no machine'}, "
                   f"{a.get('line_id') or a.get('site_id')}): {'; '.join(parts)} {cite(*ids)}")
    return out


def executive(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Per-site overview, or the ERP/MES reconciliation."""
    sites = rows_of(result, "sites")
    recon = rows_of(result, "reconciliation")
    out: list[str] = []
    if focus.intent == "reconciliation":
        if not recon:
            return ["No records where ERP and MES disagree in the sites you can see."]
        out.append(f"{num(len(recon))} records where ERP and MES disagree:")
    else:
        if not sites:
            return ["No site data in your scope."]
        for s in sites:
            qe = mapping_of(s, "open_quality_events")
            quality = ", ".join(f"{k} {num(v)}" for k, v in qe.items()) or "none"
            value = s.get("open_po_value_by_currency")
            shown = sorted((c, v) for c, v in value.items() if v is not None) if isinstance(value, Mapping) else []
            po_value = (" worth " + ", ".join(f"{c} {num(v)}" for c, v in shown)) if shown else ""
            withheld = "; ".join(withheld_values(s.get("open_po_value_withheld"), "open PO value"))
            po_value += f" ({withheld})" if withheld else ""
            risky = [str(x) for x in s.get("assets_at_risk") or []]
            out.append(f"{s.get('site_id')} {label(s.get('site_name')) or ''}: "
                       f"{num(s.get('open_work_orders'))} open work orders ({num(s.get('late_work_orders'))} late); "
                       f"availability {pct(s.get('availability'))} and scrap rate {pct(s.get('scrap_rate'))} "
                       f"({num(s.get('scrap_qty'))} scrap vs "
                       f"{num(s.get('good_qty'))} good) {_period(result)}; open quality events: {quality}; "
                       f"{num(s.get('open_po_lines'))} open PO lines ({num(s.get('past_due_po_lines'))} past due)"
                       f"{po_value}; assets at risk: {', '.join(risky) or 'none'}; "
                       f"{num(s.get('reconciliation_issues'))} ERP/MES disagreements {cite(*risky)}.")
        if recon:
            out.append("ERP/MES disagreements:")
    for d in recon[:focus.rows]:
        ids = [str(x) for x in d.get("record_ids") or []]
        out.append(f"- {RECONCILIATION_LABELS.get(str(d.get('kind')), str(d.get('kind')))} at {d.get('site_id')} "
                   f"{cite(*ids)}")
    return out


WRITERS: dict[str, Writer] = {
    "work_orders": work_orders,
    "work_orders_at_risk": at_risk,
    "line_performance": line_performance,
    "machine_downtime": downtime,
    "machine_parameter_drift": drift,
    "scrap_analysis": scrap,
    "quality_events": quality_events,
    "lot_genealogy": genealogy,
    "assets_at_risk": assets,
    "executive_summary": executive,
}
