"""Answer writers for the maintenance tools: maintenance orders and spare-part cover.

Figures exactly as returned, record ids cited, long lists led by the tool's summary (counts by status, short
parts first) and followed by how many are not listed. A standard cost the role may not see comes back null
and is not mentioned; the free-text description of an order is quoted only as a short label.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.rules.format import cite, label, mapping_of, more, num, pct, rows_of, when

if TYPE_CHECKING:
    from agent.rules.focus import Focus, Writer

__all__ = ["WRITERS"]


_MO_STATUS = {"in_progress": "in progress"}


def _scope(args: Mapping[str, Any]) -> str:
    for key, word in (("asset_id", "for"), ("line_id", "on"), ("site_id", "at"), ("item_id", "needing")):
        if args.get(key):
            return f" {word} {args[key]}"
    return ""


def _mo_kind(args: Mapping[str, Any]) -> str:
    words = [str(args["mo_type"]) if args.get("mo_type") else "",
             _MO_STATUS.get(str(args.get("status")), str(args.get("status") or "")),
             "open" if args.get("open_only") and not args.get("status") else "", "maintenance orders"]
    return " ".join(w for w in words if w)


def maintenance_orders(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """Maintenance orders led by their count per status, soonest scheduled first."""
    rows = rows_of(result, "rows")
    args = focus.args
    summary = mapping_of(result, "summary")
    window = args.get("scheduled_within_days")
    when_text = "" if window is None else (" scheduled to start today" if int(window) == 0
                                           else f" scheduled to start in the next {num(window)} days")
    kind = _mo_kind(args)
    if not rows:
        return [f"No {kind}{_scope(args)}{when_text}."]
    count = int(summary.get("count") or len(rows))
    statuses = ", ".join(f"{_MO_STATUS.get(str(k), k)} {num(v)}" for k, v in mapping_of(summary, "by_status").items())
    out = [f"{num(count)} {kind}{_scope(args)}{when_text} ({statuses}), by scheduled start (unscheduled last):"]
    for r in rows[:focus.rows]:
        start = (f"from {when(r.get('scheduled_start'))}" + (f" to {when(r.get('scheduled_end'))}"
                                                            if r.get("scheduled_end") else "")
                 if r.get("scheduled_start") else "not scheduled yet")
        note = label(r.get("description"))
        where = r.get("line_id") or r.get("site_id")
        out.append(f"- {r.get('mo_id')} {r.get('mo_type')}, {_MO_STATUS.get(str(r.get('status')), r.get('status'))}, "
                   f"priority {num(r.get('priority'))}: {r.get('asset_id')} {label(r.get('asset_name'))} ({where}), "
                   f"{start}{': ' + note if note else ''} {cite(r.get('mo_id'), r.get('asset_id'))}")
    tail = more(min(focus.rows, len(rows)), count)
    return [*out, tail] if tail else out


def _part(r: Mapping[str, Any], *, with_asset: bool) -> str:
    reserved = (f", {num(r.get('reserved_for_asset'))} already reserved for it" if r.get("reserved_for_asset")
                else "")
    cost = f", standard cost {num(r.get('standard_cost'))}" if r.get("standard_cost") is not None else ""
    asset = f"{r.get('asset_id')} {label(r.get('asset_name'))} needs " if with_asset else "needs "
    state = "SHORT" if r.get("short") else "covered"
    return (f"- {r.get('item_id')} {label(r.get('description'))}: {asset}{num(r.get('qty_required'))}, "
            f"{num(r.get('available'))} available at {r.get('site_id')}{reserved}{cost} — {state} "
            f"{cite(r.get('item_id'), r.get('asset_id') if with_asset else None)}")


def spare_parts(result: Mapping[str, Any], focus: Focus) -> list[str]:
    """The spare parts assets need against the stock at their site: one asset in full, or short parts first."""
    rows = rows_of(result, "rows")
    args = focus.args
    summary = mapping_of(result, "summary")
    short_only = bool(args.get("short_only"))
    if not rows:
        what = "short spare parts" if short_only else "spare parts listed"
        return [f"No {what}{_scope(args)} in the assets you can see."]
    assets = list(dict.fromkeys(str(r.get("asset_id")) for r in rows))
    short = int(summary.get("short") or 0)
    parts = int(summary.get("parts") or len(rows))
    if len(assets) == 1 and not result.get("more"):
        r0 = rows[0]
        risk = (f", latest failure probability {pct(r0.get('failure_probability'))}"
                if r0.get("failure_probability") is not None else "")
        if short_only:
            verdict = f"short on {num(parts)} of its spare parts"
        elif short:
            verdict = f"{num(short)} of its {num(parts)} spare parts short"
        else:
            verdict = f"all {num(parts)} of its spare parts covered by stock"
        out = [f"{r0.get('asset_id')} {label(r0.get('asset_name'))} ({r0.get('site_id')}){risk}: {verdict} "
               f"{cite(r0.get('asset_id'))}."]
        out += [_part(r, with_asset=False) for r in sorted(rows, key=lambda r: not r.get("short"))]
        return out
    total_assets = int(summary.get("assets") or len(assets))
    lead = (f"{num(short)} of {num(parts)} spare-part needs over {num(total_assets)} assets{_scope(args)} are short"
            if not short_only else f"{num(parts)} short spare-part needs over {num(total_assets)} assets{_scope(args)}")
    out = [lead + (", short ones first (riskiest assets first):" if short else "; every one is covered by stock:")]
    ordered = sorted(rows, key=lambda r: not r.get("short"))  # stable: the tool's riskiest-first order within
    out += [_part(r, with_asset=True) for r in ordered[:focus.rows]]
    tail = more(min(focus.rows, len(rows)), parts)
    if tail:
        out.append(tail)
    risky = [r for r in rows if r.get("failure_probability") is not None][:1]
    if risky:
        r = risky[0]
        out.append(f"Riskiest asset: {r.get('asset_id')} at {pct(r.get('failure_probability'))} failure probability "
                   f"{cite(r.get('asset_id'))}.")
    return out


WRITERS: dict[str, Writer] = {
    "maintenance_orders": maintenance_orders,
    "spare_parts": spare_parts,
}
