"""Answer writers for customer-side and cross-system tools: sales orders, forecast against orders, inter-site
transfers and one lot across MES and ERP.

Like the other writers: figures exactly as the tool returned them, record ids cited in brackets, long lists led
by the tool's own summary and followed by how many are not listed. Masked fields (a sales price the role may
not see comes back null) are simply not mentioned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.rules.format import cite, day, join, label, mapping_of, more, num, rows_of, signed, when

if TYPE_CHECKING:
    from agent.rules.focus import Focus, Writer

__all__ = ["WRITERS"]

MAX_ROWS = 10

_MES_WORDS = {"quality_hold": "on quality hold", "blocked": "blocked", "available": "available",
              "consumed": "consumed"}
_STOCK_WORDS = {"unrestricted": "unrestricted", "quality_inspection": "in quality inspection", "blocked": "blocked"}


def _sales_filters(args: Mapping[str, Any], customer: str) -> str:
    parts = []
    if args.get("due_within_days") is not None:
        days = int(args["due_within_days"])
        parts.append("due today" if days == 0 else f"due in the next {num(days)} days")
    for key, word in (("item_id", "for"), ("site_id", "at")):
        if args.get(key):
            parts.append(f"{word} {args[key]}")
    if customer:
        parts.append(f"for {customer}")
    return (" " + " ".join(parts)) if parts else ""


def _sales_kind(args: Mapping[str, Any]) -> str:
    if args.get("late_only"):
        return "late sales orders"
    if args.get("status"):
        return f"{args['status']} sales orders"
    return "open sales orders" if args.get("open_only") else "sales orders"


def _order_text(r: Mapping[str, Any]) -> str:
    late = f", {num(r.get('days_late'))} days late" if (r.get("days_late") or 0) > 0 else ""
    allocated = (f", {num(r.get('allocated_qty'))} allocated from stock" if r.get("allocated_qty")
                 else ", nothing allocated")
    value = (f", value {num(r.get('value'))} ({num(r.get('unit_price'))} per unit)"
             if r.get("value") is not None and r.get("unit_price") is not None else "")
    return (f"{r.get('so_id')} for {label(r.get('customer')) or 'a customer'}: {num(r.get('qty'))} {r.get('item_id')} "
            f"due {day(r.get('due_date'))}, {r.get('status')}{late}{allocated}{value}")


def sales_orders(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Customer orders: one order in full, or the matching orders led by their counts, late ones first."""
    rows = rows_of(result, "rows")
    args = focus.args
    summary = mapping_of(result, "summary")
    customer = label(rows[0].get("customer")) if rows and args.get("customer") else str(args.get("customer") or "")
    wanted = [str(args["so_id"])] if args.get("so_id") else list(focus.entities.ids.get("so", ()))
    if wanted:
        picked = [r for r in rows if r.get("so_id") in wanted]
        if picked:
            return [f"{_order_text(r)} {cite(r.get('so_id'), r.get('item_id'))}." for r in picked]
    kind, where = _sales_kind(args), _sales_filters(args, customer)
    if not rows:
        return [f"No {kind}{where} in the orders you can see."]
    count = int(summary.get("count") or len(rows))
    by_status = mapping_of(summary, "by_status")
    statuses = ", ".join(f"{k} {num(v)}" for k, v in by_status.items())
    late = int(summary.get("late") or 0)
    lateness = (f"{num(late)} of them late" if late else "none late") if not args.get("late_only") else ""
    head = f"{num(count)} {kind}{where} ({join([statuses, lateness], '; ')})"
    if summary.get("qty_total") is not None:
        head += f", {num(summary.get('qty_total'))} units in all"
    out = [head + (", late ones first:" if late else ", by due date:")]
    for r in rows[:focus.rows]:
        out.append(f"- {_order_text(r)} {cite(r.get('so_id'))}")
    tail = more(min(focus.rows, len(rows)), count)
    return [*out, tail] if tail else out


def demand_vs_orders(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """An item's forecast against the orders booked, in total and week by week."""
    item = result.get("item_id")
    rows = rows_of(result, "rows")
    totals = mapping_of(result, "totals")
    if not rows:
        return [f"{item} has no forecast and no sales orders in the sites you can see {cite(item)}."]
    sites = list(dict.fromkeys(str(r.get("site_id")) for r in rows))
    first = day(rows[0].get("week_start"))
    consumed = totals.get("consumed_pct")
    share = (f", {num(consumed)}% of the forecast consumed" if consumed is not None else ", no forecast to consume")
    gap = totals.get("difference")
    if isinstance(gap, (int, float)) and gap < 0:
        verdict = "orders are below the forecast"
    elif isinstance(gap, (int, float)) and gap > 0:
        verdict = "orders are above the forecast"
    else:
        verdict = "orders match the forecast"
    out = [f"{item} at {', '.join(sites)}, weeks from {first}: {num(totals.get('ordered_qty'))} ordered against "
           f"{num(totals.get('forecast_qty'))} forecast (difference {signed(gap)}{share}) — {verdict} {cite(item)}."]
    for r in rows[:12 * max(1, len(sites))]:
        pct_text = f", {num(r.get('consumed_pct'))}% consumed" if r.get("consumed_pct") is not None else ""
        site = f"{r.get('site_id')} " if len(sites) > 1 else ""
        out.append(f"- {site}week of {day(r.get('week_start'))}: forecast {num(r.get('forecast_qty'))}, ordered "
                   f"{num(r.get('ordered_qty'))} ({signed(r.get('difference'))}{pct_text})")
    return out


def transfers(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Inter-site transfers, newest first, led by their count and quantity."""
    rows = rows_of(result, "rows")
    args = focus.args
    summary = mapping_of(result, "summary")
    # The look-back as asked (the default is the tool's month, not a figure of this turn to print).
    since = f"in the last {num(args['days'])} days" if args.get("days") else "in the last month"
    direction = {"in": "into", "out": "out of"}.get(str(args.get("direction")), "to or from")
    where = join([f"{direction} {args['site_id']}" if args.get("site_id") else "",
                  f"of {args['item_id']}" if args.get("item_id") else "",
                  f"of lot {args['lot_id']}" if args.get("lot_id") else ""], " ")
    where = f" {where}" if where else ""
    if not rows:
        return [f"No inter-site transfers{where} {since} in the sites you can see."]
    count = int(summary.get("count") or len(rows))
    out = [f"{num(count)} inter-site transfers{where} {since}, {num(summary.get('qty_total'))} units moved in all, "
           "newest first:"]
    for r in rows[:focus.rows]:
        source = join([str(r.get("from_site_id") or ""), str(r.get("from_location") or "")], " ")
        target = (f"work order {r.get('to_wo_id')} at {r.get('to_site_id')}" if r.get("to_wo_id")
                  else join([str(r.get("to_site_id") or ""), str(r.get("to_location") or "")], " "))
        out.append(f"- {r.get('transfer_id')} on {when(r.get('transferred_at'))}: {num(r.get('qty'))} "
                   f"{r.get('item_id')} (lot {r.get('lot_id')}) from {source} to {target} "
                   f"{cite(r.get('transfer_id'), r.get('lot_id'))}")
    tail = more(min(focus.rows, len(rows)), count)
    return [*out, tail] if tail else out


def _disagreement(kind: str, lot: Mapping[str, Any], stock: list[Mapping[str, Any]],
                  shipments: list[Mapping[str, Any]]) -> str:
    """One ERP/MES disagreement in plain words, from the structured fields (never the tool's own sentence)."""
    mes = _MES_WORDS.get(str(lot.get("mes_status")), str(lot.get("mes_status")))
    if kind == "mes_hold_erp_unrestricted":
        free = [r for r in stock if r.get("stock_status") == "unrestricted"]
        shows = ", ".join(f"{num(r.get('qty_on_hand'))} unrestricted at {r.get('location')}" for r in free)
        pegged = ", ".join(f"{num(r.get('qty_reserved'))} reserved for {r.get('reserved_for')}" for r in free
                           if r.get("reserved_for") and r.get("qty_reserved"))
        return f"{mes} in MES while ERP still shows {join([shows, pegged], ', ')}"
    if kind == "held_lot_allocated":
        orders = ", ".join(f"{num(s.get('qty_reserved'))} for {s.get('so_id')} ({label(s.get('customer'))}, due "
                           f"{day(s.get('due_date'))})" for s in shipments if s.get("qty_reserved"))
        return f"{mes} in MES but still reserved for open sales orders: {orders}"
    if kind == "erp_blocked_mes_available":
        held = ", ".join(f"{num(r.get('qty_on_hand'))} {_STOCK_WORDS.get(str(r.get('stock_status')), '')} at "
                         f"{r.get('location')}" for r in stock if r.get("stock_status") != "unrestricted")
        return f"available in MES while ERP holds {held}"
    return kind.replace("_", " ")


def _stock_row(r: Mapping[str, Any]) -> str:
    status = _STOCK_WORDS.get(str(r.get("stock_status")), str(r.get("stock_status")))
    reserved = (f", {num(r.get('qty_reserved'))} reserved for {r.get('reserved_for') or 'a non-order need'}"
                if r.get("qty_reserved") else "")
    return f"{num(r.get('qty_on_hand'))} on hand at {r.get('location')} ({status}){reserved}"


def lot_status(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """A lot across MES and ERP: status, stock, reservations, disagreements in plain words and the verdict."""
    lot = mapping_of(result, "lot")
    lot_id = lot.get("lot_id")
    stock, shipments = rows_of(result, "erp_stock"), rows_of(result, "open_shipments")
    events, disagreements = rows_of(result, "open_quality_events"), rows_of(result, "disagreements")
    mes = _MES_WORDS.get(str(lot.get("mes_status")), str(lot.get("mes_status")))
    origin = join([f"from {lot.get('supplier_id')} on {lot.get('po_id')}" if lot.get("supplier_id") else "",
                   f"made by {lot.get('wo_id')}" if lot.get("wo_id") else ""], ", ")
    out = [f"{lot_id} ({lot.get('item_id')} at {lot.get('site_id')}{', ' + origin if origin else ''}) is {mes} in "
           f"MES {cite(lot_id)}."]
    if stock:
        shown = stock[:MAX_ROWS]
        out.append("ERP stock: " + "; ".join(_stock_row(r) for r in shown)
                   + f" {cite(*(r.get('reserved_for') for r in shown))}".rstrip() + ".")
    else:
        out.append("ERP shows no stock of it on hand.")
    if disagreements:
        out.append("MES and ERP disagree: " + "; ".join(
            _disagreement(str(d.get("kind")), lot, stock, shipments) for d in disagreements)
            + f" {cite(*(i for d in disagreements for i in d.get('record_ids') or []))}.")
    elif shipments:
        out.append("Reserved for open orders: " + ", ".join(
            f"{num(s.get('qty_reserved'))} for {s.get('so_id')} ({label(s.get('customer'))}, due "
            f"{day(s.get('due_date'))})" for s in shipments) + f" {cite(*(s.get('so_id') for s in shipments))}.")
    if events:
        out.append("Open quality events: " + ", ".join(
            f"{e.get('qe_id')} ({e.get('defect_code')}, {e.get('severity')}, {e.get('status')})" for e in events)
            + f" {cite(*(e.get('qe_id') for e in events))}.")
    out.append(_verdict(result, lot, disagreements, events))
    return out


def _verdict(result: Mapping[str, Any], lot: Mapping[str, Any], disagreements: list[Mapping[str, Any]],
             events: list[Mapping[str, Any]]) -> str:
    if result.get("can_ship"):
        return (f"Can it ship? Yes: available in MES, {num(result.get('free_qty'))} unrestricted and unreserved, no "
                "disagreement and no open quality event.")
    reasons = []
    if lot.get("mes_status") != "available":
        reasons.append(f"it is {_MES_WORDS.get(str(lot.get('mes_status')), lot.get('mes_status'))} in MES")
    if not result.get("free_qty"):
        reasons.append("no unrestricted stock is free of reservations")
    if disagreements:
        reasons.append("MES and ERP disagree about it")
    if events:
        reasons.append("quality events are still open")
    return f"Can it ship? No: {join(reasons, '; ') or 'the checks do not pass'}."


WRITERS: dict[str, Writer] = {
    "sales_orders": sales_orders,
    "demand_vs_orders": demand_vs_orders,
    "transfers": transfers,
    "lot_status": lot_status,
}
