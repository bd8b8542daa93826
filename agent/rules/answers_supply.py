"""Answer writers for the supply-chain tools: inventory, projections, reorder points, POs, triage, suppliers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.rules.format import (
    cite,
    data_text,
    day,
    join,
    label,
    mapping_of,
    more,
    num,
    open_values,
    pct,
    rows_of,
    signed,
)

if TYPE_CHECKING:
    from agent.rules.focus import Focus, Writer

__all__ = ["WRITERS"]


TRIAGE_LABELS = {
    "past_due": "past due", "expedite": "expedite", "reschedule_out": "reschedule out",
    "cancel_candidate": "cancel candidate", "order_now": "order now", "unconfirmed": "unconfirmed",
    "supplier_slip": "supplier slip", "price_variance": "price variance", "quality_blocked": "quality blocked",
}


def _filters(args: Mapping[str, Any]) -> str:
    parts = []
    for key, word in (("item_id", "for"), ("lot_id", "for lot"), ("supplier_id", "from"), ("po_id", "on"),
                      ("site_id", "at"), ("buyer", "for buyer")):
        if args.get(key):
            parts.append(f"{word} {args[key]}")
    return (" " + " ".join(parts)) if parts else ""


def inventory(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Stock totals per item and site, or where a lot is."""
    rows, totals = rows_of(result, "rows"), rows_of(result, "totals")
    args = focus.args
    if not rows and not totals:
        what = f"lot {args['lot_id']}" if args.get("lot_id") else "stock"
        status = f" in {args['stock_status']} status" if args.get("stock_status") else ""
        return [f"I found no {what}{status} on hand{_filters({k: v for k, v in args.items() if k != 'lot_id'})} "
                "in the inventory you can see."]
    out: list[str] = []
    if args.get("lot_id"):
        for r in rows[:focus.rows]:
            out.append(f"{r.get('lot_id')} ({r.get('item_id')}) is at {r.get('site_id')}, location "
                       f"{r.get('location')}: {num(r.get('qty_on_hand'))} on hand, {num(r.get('qty_reserved'))} "
                       f"reserved, {num(r.get('qty_available'))} available; stock status {r.get('stock_status')}, "
                       f"lot status {r.get('lot_status')} {cite(r.get('lot_id'))}.")
        return out
    for t in totals:
        lots = [r.get("lot_id") for r in rows if r.get("item_id") == t.get("item_id")
                and r.get("site_id") == t.get("site_id")]
        extra = join([f"{num(t.get('qty_quality_inspection'))} in quality inspection"
                      if t.get("qty_quality_inspection") else "",
                      f"{num(t.get('qty_blocked'))} blocked" if t.get("qty_blocked") else ""], ", ")
        out.append(f"{t.get('item_id')} at {t.get('site_id')}: {num(t.get('qty_available'))} available "
                   f"({num(t.get('qty_on_hand'))} on hand, {num(t.get('qty_reserved'))} reserved"
                   f"{', ' + extra if extra else ''}) in {num(t.get('rows'))} inventory rows {cite(*lots[:8])}.")
    if args.get("stock_status") or len(totals) == 0:
        for r in rows[:focus.rows]:
            out.append(f"- {r.get('lot_id')} ({r.get('item_id')}) at {r.get('site_id')} {r.get('location')}: "
                       f"{num(r.get('qty_on_hand'))} on hand, {r.get('stock_status')} {cite(r.get('lot_id'))}")
    if result.get("truncated"):
        out.append(more(focus.rows, int(result.get("total_rows") or 0)))
    return out


def projection(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """When an item runs short, per site."""
    item = result.get("item_id")
    projections = rows_of(result, "projections")
    if not projections:
        return [f"{item} has no stock, supply or demand in your scope, so there is nothing to project "
                f"{cite(item)}."]
    out = []
    for p in projections:
        events = rows_of(p, "events")
        head = (f"{item} at {p.get('site_id')}: {num(p.get('start_available'))} available today "
                f"({day(p.get('horizon_start'))})")
        if p.get("first_shortage_date"):
            head += (f"; projected to run short on {day(p.get('first_shortage_date'))}, deepest shortfall "
                     f"{num(p.get('shortage_qty'))} on {day(p.get('lowest_balance_date'))}")
        else:
            head += (f"; no shortage projected through {day(p.get('horizon_end'))} (lowest balance "
                     f"{num(p.get('lowest_balance'))} on {day(p.get('lowest_balance_date'))}, ending at "
                     f"{num(p.get('end_balance'))})")
        if p.get("first_below_min_date"):
            head += f"; below the reorder min of {num(p.get('reorder_min'))} from {day(p.get('first_below_min_date'))}"
        drivers = [e.get("record_id") for e in events[:6]]
        out.append(head + f" {cite(item, *drivers)}.")
        if events:
            steps = [f"{day(e.get('date'))} {str(e.get('kind', '')).replace('_', ' ')} {signed(e.get('qty'))} → "
                     f"{num(e.get('balance_after'))} {cite(e.get('record_id'))}" for e in events[:5]]
            out.append("  First movements: " + "; ".join(steps) + ".")
    return out


def below_reorder(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Items below their reorder minimum, most severe first."""
    rows = rows_of(result, "rows")
    where = _filters({"site_id": focus.args.get("site_id")})
    if not rows:
        return [f"No items are below their reorder minimum{where}."]
    total = int(result.get("total_below") or len(rows))
    out = [f"{num(total)} item positions are below their reorder minimum{where}, most severe first:"]
    for r in rows[:focus.rows]:
        receipt = f", next receipt {day(r.get('next_receipt_date'))}" if r.get("next_receipt_date") else ""
        out.append(f"- {r.get('item_id')} at {r.get('site_id')}: {num(r.get('available'))} available vs min "
                   f"{num(r.get('reorder_min'))} (short {num(r.get('shortfall_to_min'))} to min, "
                   f"{num(r.get('shortfall_to_max'))} to max); {num(r.get('open_po_qty'))} on order{receipt} "
                   f"{cite(r.get('item_id'))}")
    tail = more(min(focus.rows, len(rows)), total)
    return [*out, tail] if tail else out


def open_po_lines(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Open (or late, or soon due) PO lines."""
    rows = rows_of(result, "rows")
    args = focus.args
    wanted = set(focus.entities.ids.get("po_line", ()))
    if wanted and rows:
        picked = [r for r in rows if r.get("line_id") in wanted]
        if not picked:
            others = [r.get("line_id") for r in rows[:focus.rows]]
            return [f"{', '.join(sorted(wanted))} is not open (fully received, closed or cancelled); "
                    f"{num(len(rows))} other lines of {args.get('po_id')} are still open {cite(*others)}."]
        rows = picked
    kind = "late open PO lines" if args.get("late_only") else (
        "open PO lines due in that window (late ones included)" if args.get("due_within_days") is not None
        else "open PO lines")
    if not rows:
        return [f"There are no {kind}{_filters(args)}."]
    total = len(rows) if wanted else int(result.get("total_lines") or len(rows))
    out = [f"{num(total)} {kind}{_filters(args)}:"]
    for r in rows[:focus.rows]:
        promised = f"promised {day(r.get('promised_date'))}" if r.get("promised_date") else "no promise date"
        late = f", {num(r.get('days_late'))} days late" if (r.get("days_late") or 0) > 0 else ""
        price = (f", {num(r.get('unit_price'))} {r.get('currency')}/unit" if r.get("unit_price") is not None
                 else "")
        out.append(f"- {r.get('line_id')} {r.get('item_id')} from {r.get('supplier_id')}: {num(r.get('qty_open'))} "
                   f"open of {num(r.get('qty_ordered'))}, need {day(r.get('need_date'))}, {promised}, expected "
                   f"{day(r.get('expected_receipt_date'))}{late}{price} {cite(r.get('line_id'))}")
    tail = more(min(focus.rows, len(rows)), total)
    if tail:
        out.append(tail)
    if not wanted:
        out += open_values(result.get("open_value_by_currency"), result.get("open_value_withheld"))
    return out


def _triage_row(cat: str, r: Mapping[str, Any]) -> str:
    line, item = r.get("line_id"), r.get("item_id")
    if cat == "past_due":
        text = (f"{line} {item} from {r.get('supplier_id')}: {num(r.get('qty_open'))} open, expected "
                f"{day(r.get('expected_receipt_date'))} ({num(r.get('days_late'))} days late)")
    elif cat == "expedite":
        text = (f"{line} {item}: promised {day(r.get('promised_date'))}, {num(r.get('days_after_need'))} days after "
                f"the need date {day(r.get('need_date'))}; {num(r.get('qty_open'))} open")
    elif cat == "reschedule_out":
        text = (f"{line} {item}: promised {day(r.get('promised_date'))}, {num(r.get('days_before_need'))} days "
                f"before the need date {day(r.get('need_date'))}; {num(r.get('qty_open'))} open")
    elif cat == "cancel_candidate":
        text = (f"{line} {item}: {num(r.get('qty_open'))} open not needed — available {num(r.get('available_qty'))}"
                f" plus earlier supply {num(r.get('earlier_supply_qty'))} covers demand {num(r.get('demand_qty'))}"
                f" through {day(r.get('covered_through'))}")
    elif cat == "order_now":
        name = label(r.get("suggested_supplier_name")) or ""
        surplus = "; ".join(f"{s.get('site_id')} holds {num(s.get('available'))} ({num(s.get('qty_above_max'))} "
                            f"above its max)" for s in rows_of(r, "surplus_elsewhere"))
        text = (f"{item} at {r.get('site_id')}: {num(r.get('available_now'))} available, short "
                f"{num(r.get('shortage_qty'))} from {day(r.get('first_shortage_date'))} inside the "
                f"{num(r.get('lead_time_days'))}-day lead time; order {num(r.get('suggested_qty'))} from "
                f"{r.get('suggested_supplier_id')} {name}".rstrip()
                + (f"; transfer option: {surplus}" if surplus else ""))
        return f"- {text} {cite(item, r.get('suggested_supplier_id'), *list(r.get('driving_record_ids') or [])[:5])}"
    elif cat == "unconfirmed":
        text = (f"{line} {item} from {r.get('supplier_id')}: PO {r.get('po_status')} "
                f"{num(r.get('days_since_approval'))} days ago, not acknowledged")
    elif cat == "supplier_slip":
        text = (f"{line} {item}: {r.get('supplier_id')} moved the promise from "
                f"{day(r.get('original_promised_date'))} to {day(r.get('promised_date'))} "
                f"(+{num(r.get('slip_days'))} days)")
    elif cat == "price_variance":
        variance = r.get("variance_pct")
        sign = "+" if isinstance(variance, (int, float)) and variance > 0 else ""
        text = (f"{line} {item}: PO price {num(r.get('po_unit_price'))} vs list {num(r.get('list_unit_price'))} "
                f"{r.get('currency')} ({sign}{num(variance)}%)")
    elif cat == "quality_blocked":
        text = (f"{line} {item}: lot {r.get('lot_id')} ({num(r.get('lot_qty_received'))} received) is "
                f"{r.get('lot_status')}; line {'still open' if r.get('line_open') else 'received'}")
        return f"- {text} {cite(line, r.get('lot_id'))}"
    else:
        text = f"{line} {item}"
    return f"- {text} {cite(line)}"


def triage(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """The buyer exception worklist: one category in detail, or all categories with their top rows."""
    counts = mapping_of(result, "counts")
    unavailable = mapping_of(result, "unavailable")
    cats = [c for c in (focus.args.get("categories") or TRIAGE_LABELS) if c in TRIAGE_LABELS]
    where = _filters({k: focus.args.get(k) for k in ("site_id", "buyer", "supplier_id")})
    out: list[str] = []
    if len(cats) == 1:
        cat = cats[0]
        if cat in unavailable:
            return [f"I can't check {TRIAGE_LABELS[cat]} exceptions for you: {data_text(unavailable[cat])}"]
        rows = rows_of(result, cat)
        if not rows:
            return [f"No {TRIAGE_LABELS[cat]} exceptions{where}."]
        total = int(counts.get(cat, len(rows)))
        out.append(f"{num(total)} {TRIAGE_LABELS[cat]} exceptions{where}, worst first:")
        out += [_triage_row(cat, r) for r in rows[:focus.rows]]
        tail = more(min(focus.rows, len(rows)), total)
        return [*out, tail] if tail else out
    listed = [f"{TRIAGE_LABELS[c]} {num(counts[c])}" for c in cats if c in counts]
    out.append(f"Buyer exceptions{where}: " + (", ".join(listed) if listed else "none") + ".")
    for cat in cats:
        rows = rows_of(result, cat)
        if rows:
            out.append(f"{TRIAGE_LABELS[cat].capitalize()}:")
            out += [_triage_row(cat, r) for r in rows[:3]]
    for cat, reason in sorted(unavailable.items()):
        out.append(f"Not checked: {TRIAGE_LABELS.get(str(cat), cat)} — {data_text(reason)}")
    return out


def scorecard(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Supplier performance, one supplier or worst first."""
    rows = rows_of(result, "rows")
    if not rows:
        return ["No supplier has purchase orders at the sites you can see, so there is nothing to score."]
    since = day(result.get("period_start"))
    if focus.args.get("supplier_id") or len(rows) == 1:
        r = rows[0]
        on_time = (f"on-time {pct(r.get('on_time_rate'))} ({num(r.get('lots_on_time'))} of "
                   f"{num(r.get('lots_received'))} lots received since {since} on time)"
                   if r.get("lots_received") else f"no lots received since {since}")
        out = [f"{r.get('supplier_id')} {label(r.get('name')) or ''}: {on_time}; recorded on-time rate "
               f"{pct(r.get('recorded_on_time_rate'))}, quality {num(r.get('quality_ppm'))} ppm, risk "
               f"{r.get('risk_rating')}; {num(r.get('open_lines'))} open PO lines ({num(r.get('late_open_lines'))} "
               f"late); {num(r.get('quality_events'))} quality events on its lots "
               f"({num(r.get('open_quality_events'))} not closed) {cite(r.get('supplier_id'))}."]
        return out
    total = int(result.get("total_suppliers") or len(rows))
    out = [f"{num(total)} suppliers scored on receipts since {since}, worst on-time first:"]
    for r in rows[:focus.rows]:
        on_time = (f"on-time {pct(r.get('on_time_rate'))} ({num(r.get('lots_on_time'))} of "
                   f"{num(r.get('lots_received'))} lots)" if r.get("lots_received") else "no receipts")
        out.append(f"- {r.get('supplier_id')} {label(r.get('name')) or ''}: {on_time}, "
                   f"{num(r.get('late_open_lines'))} late of {num(r.get('open_lines'))} open lines, "
                   f"{num(r.get('quality_ppm'))} ppm, risk {r.get('risk_rating')} {cite(r.get('supplier_id'))}")
    return out


def alternatives(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Suppliers with a valid price for the item, best first."""
    rows = rows_of(result, "rows")
    item = result.get("item_id")
    if not rows:
        return [f"No supplier you can see has a price valid today for {item} {cite(item)}."]
    desc = label(result.get("item_description"))
    out = [f"{num(len(rows))} suppliers can supply {item}{f' ({desc})' if desc else ''}, best first "
           "(shortest lead time, then on-time rate):"]
    for r in rows[:focus.rows]:
        price = f", {num(r.get('unit_price'))} {r.get('currency')}/unit" if r.get("unit_price") is not None else ""
        lines = (f", {num(r.get('open_lines_for_item'))} open lines for this item"
                 if r.get("open_lines_for_item") else "")
        out.append(f"{num(r.get('rank'))}. {r.get('supplier_id')} {label(r.get('name')) or ''}: lead time "
                   f"{num(r.get('lead_time_days'))} days, min qty {num(r.get('min_qty'))}, on-time "
                   f"{pct(r.get('on_time_rate'))}, {num(r.get('quality_ppm'))} ppm, risk {r.get('risk_rating')}"
                   f"{price}{lines} {cite(r.get('supplier_id'))}")
    return out


WRITERS: dict[str, Writer] = {
    "inventory_lookup": inventory,
    "projected_stock": projection,
    "items_below_reorder": below_reorder,
    "open_po_lines": open_po_lines,
    "buyer_exception_triage": triage,
    "supplier_scorecard": scorecard,
    "alternative_suppliers": alternatives,
}
