"""Purchasing actions: change a PO line's promised date, switch an open line to another supplier,
open a supplier review.

Open PO line = COMMON.md's definition (line open, PO approved/sent/acknowledged, not fully
received). Plant records are dated with the plant's ``today`` / ``as_of`` (the data's clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import Connection, select

from tools.actions._changes import json_value
from tools.actions._common import OPEN_PO_STATUSES, AnyRow, item_cost, po_line_id, po_line_row
from tools.actions.spec import ActionSpec, ActionSubject, ChangeLog, Check
from tools.errors import ArgumentError, RecordNotFound
from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext
from tools.supply.common import require_site, require_supplier

__all__ = [
    "OPEN_SUPPLIER_REVIEW",
    "REQUEST_PO_DATE_CHANGE",
    "SWITCH_SUPPLIER",
    "OpenSupplierReviewArgs",
    "PoDateChangeArgs",
    "SwitchSupplierArgs",
]


class _PoLineArgs(ToolArgs):
    po_id: str = Field(min_length=1, max_length=16, description="Purchase order id, e.g. 'PO-24017'.")
    line_no: int = Field(ge=1, le=9999, description="Line number on the PO, e.g. 2 for PO-24017/2.")
    reason: str = Field(min_length=3, max_length=500, description="Why (kept with the change).")


class PoDateChangeArgs(_PoLineArgs):
    """Which open PO line gets which new promised date."""

    new_promised_date: date = Field(description="New promised (expected receipt) date, YYYY-MM-DD, not before "
                                                "today.")


class SwitchSupplierArgs(_PoLineArgs):
    """Which open PO line moves to which alternative supplier."""

    new_supplier_id: str = Field(min_length=1, max_length=16,
                                 description="Supplier taking over the open quantity, e.g. 'S-014'; needs a "
                                             "price valid today for the item.")


def _open_qty(line: AnyRow) -> float:
    return max(float(line.qty_ordered) - float(line.qty_received), 0.0)


def _not_open(line: AnyRow) -> str | None:
    """Why the PO line is not open, or None when it is."""
    lid = po_line_id(line.po_id, line.line_no)
    if line.line_status != "open":
        return f"PO line {lid} is {line.line_status}"
    if line.po_status not in OPEN_PO_STATUSES:
        return f"PO {line.po_id} is {line.po_status}"
    if _open_qty(line) <= 0:
        return f"PO line {lid} is fully received"
    return None


def _line_snapshot(line: AnyRow) -> dict[str, Any]:
    return {"po_line_id": po_line_id(line.po_id, line.line_no), "po_status": line.po_status,
            "line_status": line.line_status, "supplier_id": line.supplier_id,
            **{c: json_value(getattr(line, c)) for c in ("item_id", "qty_ordered", "qty_received", "need_date",
                                                         "promised_date", "original_promised_date")}}


# ---------------------------------------------------------------------------- request_po_date_change


def _date_subject(conn: Connection, ctx: ToolContext, args: PoDateChangeArgs) -> ActionSubject:
    line = po_line_row(conn, ctx.scope, args.po_id, args.line_no)
    expected: date = line.promised_date or line.need_date
    pull_in = (expected - args.new_promised_date).days
    lid = po_line_id(line.po_id, line.line_no)
    qty = _open_qty(line)
    return ActionSubject(action="request_po_date_change", site_id=line.site_id, value_usd=qty * item_cost(
        conn, line.item_id), record_ids=[lid], item_id=line.item_id, qty=qty, supplier_id=line.supplier_id,
        po_buyer_user_id=line.buyer_user_id, pull_in_days=pull_in,
        summary=f"change promised date of {lid} from {expected} to {args.new_promised_date} "
                f"({'pull-in' if pull_in >= 0 else 'push-out'} {abs(pull_in)} days)")


def _date_check(conn: Connection, ctx: ToolContext, args: PoDateChangeArgs, lock: bool) -> Check:
    line = po_line_row(conn, ctx.scope, args.po_id, args.line_no, lock)
    lid = po_line_id(line.po_id, line.line_no)
    problem = _not_open(line)
    if problem is None and args.new_promised_date < ctx.today:
        problem = f"new promised date {args.new_promised_date} is before today ({ctx.today})"
    if problem is None and line.promised_date == args.new_promised_date:
        problem = f"PO line {lid} is already promised for {args.new_promised_date}"
    reason = problem or (f"PO line {lid} is open ({_open_qty(line):g} open), promised "
                         f"{line.promised_date or 'not yet'}; it becomes {args.new_promised_date}")
    return Check(line.site_id, problem is None, reason, {"po_line": _line_snapshot(line)}, line)


def _date_apply(log: ChangeLog, ctx: ToolContext, args: PoDateChangeArgs, line: AnyRow) -> str:
    lid = po_line_id(line.po_id, line.line_no)
    change_id = log.next_id("po_change_requests", "change_id", "PCR-", 6)
    log.insert("po_change_requests", {
        "change_id": change_id, "po_id": line.po_id, "line_no": line.line_no,
        "old_promised_date": line.promised_date, "new_promised_date": args.new_promised_date,
        "reason": args.reason, "status": "applied", "requested_at": ctx.as_of, "request_id": log.request_id,
    }, change_id)
    values: dict[str, Any] = {"promised_date": args.new_promised_date}
    if line.original_promised_date is None and line.promised_date is not None:
        values["original_promised_date"] = line.promised_date  # the first promise is kept once
    log.update("po_lines", {"po_id": line.po_id, "line_no": line.line_no}, values, lid)
    return f"{lid} promised date {line.promised_date or 'none'} → {args.new_promised_date} ({change_id})"


REQUEST_PO_DATE_CHANGE = ActionSpec(
    name="request_po_date_change",
    description=(
        "Change the promised date of an open PO line (pull in or push out the expected receipt), e.g. to expedite "
        "a line that arrives after the material is needed. Records a change request and updates the line's "
        "promised date, keeping the original promise. The new date cannot be before today. Small pull-ins by the "
        "PO's own buyer may run without approval."),
    domain="procurement",
    args_model=PoDateChangeArgs,
    changes=frozenset({"po_lines.promised_date", "po_lines.original_promised_date", "po_change_requests"}),
    subject_fn=_date_subject,
    check_fn=_date_check,
    apply_fn=_date_apply,
)


# ---------------------------------------------------------------------------- switch_supplier


@dataclass(frozen=True)
class _SwitchPlan:
    line: AnyRow
    price: AnyRow


def _supplier(conn: Connection, supplier_id: str) -> AnyRow:
    s = table("suppliers")
    row = conn.execute(select(s.c.supplier_id, s.c.name).where(s.c.supplier_id == supplier_id)).first()
    if row is None:
        raise RecordNotFound("supplier", [supplier_id])
    return row


def _valid_price(conn: Connection, supplier_id: str, item_id: str, on: date) -> AnyRow | None:
    """The supplier's price row for the item valid on ``on`` (latest valid_from first)."""
    sp = table("supplier_prices")
    return conn.execute(
        select(sp.c.valid_from, sp.c.valid_to, sp.c.unit_price, sp.c.currency, sp.c.lead_time_days, sp.c.min_qty)
        .where(sp.c.supplier_id == supplier_id, sp.c.item_id == item_id, sp.c.valid_from <= on,
               sp.c.valid_to >= on)
        .order_by(sp.c.valid_from.desc()).limit(1)).first()


def _switch_check(conn: Connection, ctx: ToolContext, args: SwitchSupplierArgs, lock: bool) -> Check:
    line = po_line_row(conn, ctx.scope, args.po_id, args.line_no, lock)
    _supplier(conn, args.new_supplier_id)
    lid = po_line_id(line.po_id, line.line_no)
    price = _valid_price(conn, args.new_supplier_id, line.item_id, ctx.today)
    problem = _not_open(line)
    if problem is None and line.supplier_id == args.new_supplier_id:
        problem = f"PO line {lid} is already with {args.new_supplier_id}"
    if problem is None and price is None:
        problem = f"{args.new_supplier_id} has no price for {line.item_id} valid on {ctx.today}"
    if problem is None and price is not None and _open_qty(line) < float(price.min_qty):
        problem = f"open quantity {_open_qty(line):g} is below {args.new_supplier_id}'s minimum {price.min_qty:g}"
    snapshot: dict[str, Any] = {"po_line": _line_snapshot(line), "new_price": None if price is None else {
        "supplier_id": args.new_supplier_id, "valid_from": json_value(price.valid_from),
        "valid_to": json_value(price.valid_to), "currency": price.currency, "lead_time_days": price.lead_time_days,
        "min_qty": price.min_qty}}
    reason = problem or (f"{_open_qty(line):g} open on {lid} with {line.supplier_id} move to "
                         f"{args.new_supplier_id} (price valid to {price.valid_to if price else '?'})")
    # Only a passing check is applied, and it has a price.
    plan = _SwitchPlan(line, price) if problem is None and price is not None else None
    return Check(line.site_id, problem is None, reason, snapshot, plan)


def _switch_subject(conn: Connection, ctx: ToolContext, args: SwitchSupplierArgs) -> ActionSubject:
    line = po_line_row(conn, ctx.scope, args.po_id, args.line_no)
    _supplier(conn, args.new_supplier_id)
    lid, qty = po_line_id(line.po_id, line.line_no), _open_qty(line)
    return ActionSubject(action="switch_supplier", site_id=line.site_id, value_usd=qty * item_cost(
        conn, line.item_id), record_ids=[lid, line.supplier_id, args.new_supplier_id], item_id=line.item_id,
        qty=qty, supplier_id=args.new_supplier_id, po_buyer_user_id=line.buyer_user_id,
        summary=f"move {qty:g} open on {lid} from {line.supplier_id} to {args.new_supplier_id} on a new PO")


def _switch_apply(log: ChangeLog, ctx: ToolContext, args: SwitchSupplierArgs, plan: _SwitchPlan) -> str:
    line, price = plan.line, plan.price
    lid, qty = po_line_id(line.po_id, line.line_no), _open_qty(line)
    # Nothing received: cancel the line; partly received: close it at the received quantity.
    old = ({"line_status": "cancelled"} if float(line.qty_received) <= 0
           else {"qty_ordered": float(line.qty_received), "line_status": "closed"})
    log.update("po_lines", {"po_id": line.po_id, "line_no": line.line_no}, old, lid)
    po_id = log.next_id("purchase_orders", "po_id", "PO-", 5)
    log.insert("purchase_orders", {
        "po_id": po_id, "supplier_id": args.new_supplier_id, "site_id": line.site_id,
        "buyer_user_id": line.buyer_user_id, "status": "approved", "order_date": ctx.today,
        "approved_at": ctx.as_of, "acknowledged_at": None, "currency": price.currency}, po_id)
    log.insert("po_lines", {
        "po_id": po_id, "line_no": 1, "item_id": line.item_id, "qty_ordered": qty, "qty_received": 0.0,
        "unit_price": float(price.unit_price), "need_date": line.need_date, "promised_date": None,
        "original_promised_date": None, "line_status": "open"}, po_line_id(po_id, 1))
    return (f"{lid} {old['line_status']} for its open {qty:g}; new {po_line_id(po_id, 1)} with "
            f"{args.new_supplier_id} for {qty:g} of {line.item_id}, needed {line.need_date}, lead time "
            f"{price.lead_time_days} days")


SWITCH_SUPPLIER = ActionSpec(
    name="switch_supplier",
    description=(
        "Move the open quantity of a PO line to an alternative supplier that has a price valid today for the "
        "item: the old line is cancelled (or closed at what was received) and a new approved PO with one line is "
        "created for the new supplier, same need date and buyer. Use when the current supplier cannot deliver "
        "in time or has a quality problem. Value = open qty × standard cost."),
    domain="procurement",
    args_model=SwitchSupplierArgs,
    changes=frozenset({"po_lines.line_status", "po_lines.qty_ordered", "purchase_orders", "po_lines"}),
    subject_fn=_switch_subject,
    check_fn=_switch_check,
    apply_fn=_switch_apply,
    sensitive_fields=frozenset({"items.standard_cost", "po_lines.unit_price", "supplier_prices.unit_price"}),
)


# ---------------------------------------------------------------------------- open_supplier_review


class OpenSupplierReviewArgs(ToolArgs):
    """Which supplier to review, why, and the evidence (lots, quality events) it links."""

    supplier_id: str = Field(min_length=1, max_length=16, description="Supplier to review, e.g. 'S-001'.")
    reason: str = Field(min_length=3, max_length=1000, description="What the review is about.")
    lot_ids: list[str] = Field(default_factory=list, max_length=50,
                               description="Lots of this supplier that prompted the review.")
    qe_ids: list[str] = Field(default_factory=list, max_length=50,
                              description="Quality events that prompted the review, e.g. 'QE-1042'.")
    site_id: str | None = Field(None, min_length=1, max_length=8,
                                description="Site opening the review; default: the site of the linked lots/events.")

    @field_validator("lot_ids", "qe_ids")
    @classmethod
    def _distinct_ids(cls, ids: list[str]) -> list[str]:
        cleaned = [i.strip() for i in ids]
        if any(not i for i in cleaned):
            raise ValueError("ids must not be empty")
        return list(dict.fromkeys(cleaned))


@dataclass(frozen=True)
class _ReviewPlan:
    site_id: str


def _review_site(conn: Connection, ctx: ToolContext, args: OpenSupplierReviewArgs) -> tuple[str, list[str]]:
    """(site of the review, problems with the linked records); RecordNotFound for unknown ids."""
    require_supplier(conn, ctx.scope, args.supplier_id)
    lots, qe = table("lots"), table("quality_events")
    sites: list[str] = []
    problems: list[str] = []
    for lot_id in args.lot_ids:
        lot = conn.execute(select(lots.c.site_id, lots.c.supplier_id).where(
            lots.c.lot_id == lot_id, ctx.scope.site_clause(lots.c.site_id))).first()
        if lot is None:
            raise RecordNotFound("lot", [lot_id])
        sites.append(lot.site_id)
        if lot.supplier_id != args.supplier_id:
            problems.append(f"lot {lot_id} is not from {args.supplier_id}")
    for qe_id in args.qe_ids:
        site = conn.execute(select(qe.c.site_id).where(qe.c.qe_id == qe_id, ctx.scope.site_clause(qe.c.site_id))
                            ).scalar_one_or_none()
        if site is None:
            raise RecordNotFound("quality event", [qe_id])
        sites.append(site)
    if args.site_id is not None:
        require_site(conn, ctx.scope, args.site_id)
        return args.site_id, problems
    distinct = sorted(set(sites))
    if len(distinct) == 1:
        return distinct[0], problems
    if not distinct and ctx.scope.sites is not None and len(ctx.scope.sites) == 1:
        return next(iter(ctx.scope.sites)), problems
    raise ArgumentError("open_supplier_review", "site_id",
                        "required: the linked records are at several sites" if distinct
                        else "required when no lot or quality event is linked")


def _review_subject(conn: Connection, ctx: ToolContext, args: OpenSupplierReviewArgs) -> ActionSubject:
    site, _ = _review_site(conn, ctx, args)
    return ActionSubject(action="open_supplier_review", site_id=site, value_usd=0.0,
                         record_ids=[args.supplier_id, *args.lot_ids, *args.qe_ids], supplier_id=args.supplier_id,
                         summary=f"open a review of supplier {args.supplier_id} at {site}")


def _review_check(conn: Connection, ctx: ToolContext, args: OpenSupplierReviewArgs, lock: bool) -> Check:
    site, problems = _review_site(conn, ctx, args)
    sr = table("supplier_reviews")
    open_ids = list(conn.execute(select(sr.c.review_id).where(
        sr.c.supplier_id == args.supplier_id, sr.c.site_id == site, sr.c.status == "open")).scalars())
    if open_ids:
        problems.append(f"review {', '.join(open_ids)} is already open for {args.supplier_id} at {site}")
    reason = "; ".join(problems) or f"no open review of {args.supplier_id} at {site}; a new one opens"
    return Check(site, not problems, reason, {"open_reviews": open_ids}, _ReviewPlan(site))


def _review_apply(log: ChangeLog, ctx: ToolContext, args: OpenSupplierReviewArgs, plan: _ReviewPlan) -> str:
    review_id = log.next_id("supplier_reviews", "review_id", "SR-", 6)
    log.insert("supplier_reviews", {
        "review_id": review_id, "supplier_id": args.supplier_id, "site_id": plan.site_id, "reason": args.reason,
        "lot_ids": " ".join(args.lot_ids), "qe_ids": " ".join(args.qe_ids), "status": "open",
        "opened_at": ctx.as_of, "request_id": log.request_id}, review_id)
    return f"opened supplier review {review_id} of {args.supplier_id} at {plan.site_id}"


OPEN_SUPPLIER_REVIEW = ActionSpec(
    name="open_supplier_review",
    description=(
        "Open a formal review of a supplier (quality or delivery problem), linking the lots and quality events "
        "that prompted it. Use after a supplier's material caused scrap or defects, or repeated late deliveries. "
        "Fails when a review of that supplier is already open at the site."),
    domain="quality",
    args_model=OpenSupplierReviewArgs,
    changes=frozenset({"supplier_reviews"}),
    subject_fn=_review_subject,
    check_fn=_review_check,
    apply_fn=_review_apply,
    sensitive_fields=frozenset(),
)
