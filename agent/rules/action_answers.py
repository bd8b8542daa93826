"""Answering from what a governed action call returned: executed, refused, rejected, expired or waiting."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.rules.format import cite, data_text, num

__all__ = ["ACTION_LABELS", "action_answer", "is_action_tool"]

ACTION_LABELS: dict[str, str] = {
    "place_quality_hold": "place a quality hold",
    "release_quality_hold": "release a quality hold",
    "reallocate_inventory": "move stock",
    "request_po_date_change": "change a PO promised date",
    "switch_supplier": "switch a PO line's supplier",
    "open_supplier_review": "open a supplier review",
    "create_maintenance_order": "create a maintenance order",
    "reserve_spare_parts": "reserve spare parts",
}
"""The governed actions the rules model can propose, with what each does (for replies)."""


def is_action_tool(name: str) -> bool:
    """True for the governed actions this module knows."""
    return name in ACTION_LABELS


def _ids(result: Mapping[str, Any]) -> list[str]:
    return [str(i) for i in result.get("record_ids") or []]


def _done(action: str, args: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    ids = _ids(result)
    request = result.get("request_id")
    via = f" (request {request})" if request else ""
    if action in ("place_quality_hold", "release_quality_hold"):
        state = "is on quality hold" if action == "place_quality_hold" else "is released from quality hold"
        verb = "held" if action == "place_quality_hold" else "released"
        lot = args.get("lot_id") or next((i for i in ids if i.startswith("LOT-")), None)
        wos = [i for i in ids if i.startswith("WO-")]
        if lot:
            text = f"Done: {lot} {state}{via} {cite(lot)}."
            if wos:
                text += f" Work orders {verb} with it: {', '.join(wos)} {cite(*wos)}."
            elif args.get("include_open_work_orders") or args.get("include_held_work_orders"):
                text += f" No work orders were {verb} with it."
            return text
        wo = args.get("wo_id") or (wos[0] if wos else "the work order")
        return f"Done: work order {wo} {state}{via} {cite(wo)}."
    if action == "reallocate_inventory":
        to = args.get("to_wo_id") or args.get("to_site_id")
        return (f"Done: moved {num(args.get('qty'))} of {args.get('item_id')} from {args.get('from_site_id')} to "
                f"{to}{via} {cite(args.get('item_id'), *ids)}.")
    if action == "request_po_date_change":
        return (f"Done: {args.get('po_id')} line {args.get('line_no')} now has promised date "
                f"{args.get('new_promised_date')}{via} {cite(*ids) or cite(args.get('po_id'))}.")
    if action == "switch_supplier":
        return (f"Done: the open quantity of {args.get('po_id')} line {args.get('line_no')} moves to supplier "
                f"{args.get('new_supplier_id')}{via} {cite(*ids, args.get('new_supplier_id'))}.")
    if action == "open_supplier_review":
        review = next((i for i in ids if i.startswith("SR-")), None)
        what = f"supplier review {review}" if review else "a supplier review"
        return f"Done: {what} is open for {args.get('supplier_id')}{via} {cite(review, args.get('supplier_id'))}."
    if action == "create_maintenance_order":
        order = next((i for i in ids if i != args.get("asset_id")), None)
        what = f"maintenance order {order}" if order else "the maintenance order"
        return (f"Done: {what} ({args.get('mo_type')}, priority {args.get('priority', 2)}) is created for "
                f"{args.get('asset_id')}{via} {cite(order, args.get('asset_id'))}.")
    if action == "reserve_spare_parts":
        return (f"Done: {args.get('item_id')} is reserved for {args.get('asset_id')}{via} "
                f"{cite(args.get('item_id'), args.get('asset_id'), *ids)}.")
    return f"Done: {ACTION_LABELS.get(action, action)}{via} {cite(*ids)}."


def action_answer(action: str, args: Mapping[str, Any], result: Mapping[str, Any]) -> list[str]:
    """What to tell the user about one action call's result (executed, refused, rejected ...)."""
    status = str(result.get("status") or "")
    label = ACTION_LABELS.get(action, action)
    request = result.get("request_id")
    reason = data_text(result.get("reason")) or data_text(result.get("message")) or "no reason given"
    if status == "executed":
        done = _done(action, args, result)
        if result.get("risk_class") == "autonomous" and isinstance(result.get("undo"), str):
            done += f" It ran without approval, as the policy allows; to undo it: `{result['undo']}`."
        return [done]
    if status == "precondition_failed":
        return [f"Not executed: the request to {label} did not run because the data changed since it was "
                f"proposed: {reason}. Nothing was changed{f' {cite(request)}' if request else ''}."]
    if status == "rejected":
        comment = data_text(result.get("comment"))
        said = f" Their comment: \"{comment}\"." if comment else ""
        return [f"Not executed: the request to {label} was rejected: {reason}.{said}"]
    if status == "expired":
        return [f"Not executed: the request to {label} expired before it was approved: {reason}. Nothing was "
                "changed."]
    if status == "pending":
        return [f"The request to {label} is waiting for approval{f' ({request})' if request else ''}; nothing has "
                "been changed yet."]
    if status == "needs_approval":
        return [f"The request to {label} needs approval first: {reason}. Nothing has been changed yet."]
    if status == "denied":
        return [f"I can't {label} for you: the request was refused: {reason}. Nothing was changed."]
    if status == "invalid_arguments":
        return [f"I could not propose that: the request to {label} had invalid arguments: {reason}."]
    if status == "compensated":
        return [f"The request to {label} was undone: {reason} {cite(*_ids(result))}."]
    return [f"Not executed: the request to {label} did not run: {reason}. Nothing was changed."]
