"""Reallocate inventory: move free stock of an item from one site to another site or to a work order.

Stock is taken from unrestricted rows of ``available`` lots at the source site, free quantity
only (on hand − reserved), oldest lot first (or from one named lot). To a site: the lot keeps
its id and lands at the destination's usual location for the item (the source location when
the destination has none). To a work order: the quantity is issued to it (``wo_materials``).
Every moved lot portion is kept as a ``transfers`` row (``TR-000001``).

The precondition also checks what MES says (:mod:`tools.actions._cross_system`): a named lot MES
holds is refused with its status (and ERP's contradicting unrestricted stock, if any), and stock
may not leave a site when what stays would no longer cover the open work orders its lines start
within the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Self

from pydantic import Field, model_validator
from sqlalchemy import Connection, select

from tools.actions._common import (
    OPEN_WO_STATUSES,
    available_rows,
    inventory_key,
    inventory_snapshot,
    item_cost,
    locked,
    lot_row,
    require_site_exists,
    wo_row,
)
from tools.actions._cross_system import held_stock_note, line_constraint, named_lot_problem
from tools.actions.spec import ActionSpec, ActionSubject, ChangeLog, Check, field_error
from tools.errors import ArgumentError
from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext
from tools.supply.common import require_site

__all__ = ["REALLOCATE_INVENTORY", "ReallocateInventoryArgs"]

_EPS = 1e-9


class ReallocateInventoryArgs(ToolArgs):
    """Which item and how much to move, from which site (and lot), to which site or work order."""

    item_id: str = Field(min_length=1, max_length=24, description="Item to move, e.g. 'CP-2039'.")
    qty: float = Field(gt=0, le=1e9, description="Quantity to move (item unit of measure).")
    from_site_id: str = Field(min_length=1, max_length=8, description="Site giving the stock, e.g. 'P100'.")
    from_lot_id: str | None = Field(None, min_length=1, max_length=24,
                                    description="Take only from this lot; default: oldest lots first.")
    to_site_id: str | None = Field(None, min_length=1, max_length=8,
                                   description="Site receiving the stock (give this or to_wo_id).")
    to_wo_id: str | None = Field(None, min_length=1, max_length=16,
                                 description="Open work order to issue the stock to (give this or to_site_id).")
    reason: str = Field(min_length=3, max_length=500, description="Why (kept with the execution record).")

    @model_validator(mode="after")
    def _destination(self) -> Self:
        if (self.to_site_id is None) == (self.to_wo_id is None):
            raise field_error("to_site_id", "give exactly one of to_site_id or to_wo_id")
        if self.to_site_id is not None and self.to_site_id == self.from_site_id:
            raise field_error("to_site_id", "must differ from from_site_id")
        return self


@dataclass(frozen=True)
class _Take:
    key: dict[str, Any]
    lot_id: str
    location: str
    qty_on_hand: float
    take: float


@dataclass(frozen=True)
class _Plan:
    to_site_id: str
    takes: list[_Take]
    dest: dict[str, float | None]
    """Per lot: current qty at the destination row (qty_on_hand or qty_issued), None = row to insert."""
    dest_location: str | None


def _destination_rows(conn: Connection, args: ReallocateInventoryArgs, to_site: str, lot_ids: list[str],
                      lock: bool) -> tuple[str | None, dict[str, Any]]:
    """(receiving location, lot id → current destination row) for the lots that would move."""
    if args.to_wo_id is not None:
        wm = table("wo_materials")
        stmt = select(wm.c.lot_id, wm.c.qty_issued).where(wm.c.wo_id == args.to_wo_id, wm.c.lot_id.in_(lot_ids))
        return None, {r.lot_id: r for r in conn.execute(locked(stmt, lock, wm))}
    inv = table("inventory")
    usual = conn.execute(select(inv.c.location).where(inv.c.site_id == to_site, inv.c.item_id == args.item_id)
                         .order_by(inv.c.location).limit(1)).scalar_one_or_none()
    stmt = select(inv.c.lot_id, inv.c.location, inv.c.qty_on_hand, inv.c.stock_status).where(
        inv.c.site_id == to_site, inv.c.item_id == args.item_id, inv.c.lot_id.in_(lot_ids))
    rows = conn.execute(locked(stmt, lock, inv)).all()
    return usual, {r.lot_id: r for r in rows if usual is None or r.location == usual}


def _line_problem(conn: Connection, ctx: ToolContext, args: ReallocateInventoryArgs, available: float,
                  lock: bool) -> str | None:
    """Why taking ``args.qty`` away from the source site would starve its lines' open work orders (or None).

    ``available`` is the free stock counted for the move: the site's, or the named lot's only.
    """
    site_free = available if args.from_lot_id is None else sum(
        float(r.qty_on_hand) - float(r.qty_reserved)
        for r in available_rows(conn, args.item_id, args.from_site_id, None, lock))
    lines = line_constraint(conn, site_id=args.from_site_id, item_id=args.item_id, qty=args.qty,
                            free=site_free, as_of=ctx.as_of)
    return None if lines.ok else lines.reason()


def _check(conn: Connection, ctx: ToolContext, args: ReallocateInventoryArgs, lock: bool) -> Check:
    require_site(conn, ctx.scope, args.from_site_id)
    item_cost(conn, args.item_id)  # RecordNotFound for an unknown item
    problems: list[str] = []
    snapshot: dict[str, Any] = {}
    lot_problem: str | None = None
    if args.from_lot_id is not None:
        lot = lot_row(conn, ctx.scope, args.from_lot_id, lock)
        if lot.item_id != args.item_id:
            problems.append(f"lot {lot.lot_id} holds {lot.item_id}, not {args.item_id}")
        else:
            lot_problem = named_lot_problem(conn, lot, args.from_site_id)
            problems.extend([lot_problem] if lot_problem else [])
    if args.to_wo_id is not None:
        wo = wo_row(conn, ctx.scope, args.to_wo_id, lock)
        to_site = wo.site_id
        snapshot["work_order"] = {"wo_id": wo.wo_id, "status": wo.status}
        bom = table("bom_lines")
        in_bom = conn.execute(select(bom.c.qty_per).where(bom.c.parent_item_id == wo.item_id,
                                                          bom.c.component_item_id == args.item_id)).first()
        if wo.status not in OPEN_WO_STATUSES:
            problems.append(f"work order {wo.wo_id} is {wo.status}, not open")
        if in_bom is None:
            problems.append(f"{args.item_id} is not in the bill of materials of {wo.wo_id} ({wo.item_id})")
    elif args.to_site_id is not None:
        require_site_exists(conn, args.to_site_id)
        to_site = args.to_site_id
    else:  # the arguments' validator requires one destination; unvalidated arguments may lack both
        raise ArgumentError("reallocate_inventory", "to_site_id", "give exactly one of to_site_id or to_wo_id")
    rows = available_rows(conn, args.item_id, args.from_site_id, args.from_lot_id, lock)
    available = sum(float(r.qty_on_hand) - float(r.qty_reserved) for r in rows)
    snapshot["source_inventory"] = [inventory_snapshot(r) for r in rows]
    snapshot["available"] = available
    takes: list[_Take] = []
    left = args.qty
    for r in rows:
        if left <= _EPS:
            break
        take = min(left, float(r.qty_on_hand) - float(r.qty_reserved))
        takes.append(_Take(inventory_key(r), r.lot_id, r.location, float(r.qty_on_hand), take))
        left -= take
    where = f"lot {args.from_lot_id}" if args.from_lot_id else f"{args.from_site_id}"
    if available + _EPS < args.qty and lot_problem is None:
        note = held_stock_note(conn, args.item_id, args.from_site_id) if args.from_lot_id is None else ""
        problems.append(f"only {available:g} of {args.item_id} free in {where}, {args.qty:g} requested{note}")
    elif not problems and to_site != args.from_site_id:  # stock leaving the site: its lines come first
        problems.extend(p for p in [_line_problem(conn, ctx, args, available, lock)] if p)
    location, dest_rows = _destination_rows(conn, args, to_site, [t.lot_id for t in takes], lock)
    dest: dict[str, float | None] = {}
    for t in takes:
        row = dest_rows.get(t.lot_id)
        if row is not None and args.to_wo_id is None and row.stock_status != "unrestricted":
            problems.append(f"destination stock of lot {t.lot_id} at {to_site} is {row.stock_status}")
        dest[t.lot_id] = None if row is None else float(row.qty_issued if args.to_wo_id else row.qty_on_hand)
    snapshot["destination"] = {lot: qty for lot, qty in sorted(dest.items())}
    target = f"work order {args.to_wo_id}" if args.to_wo_id else f"site {to_site}"
    reason = "; ".join(problems) if problems else (
        f"{available:g} of {args.item_id} free in {where}; {args.qty:g} from lots "
        f"{', '.join(dict.fromkeys(t.lot_id for t in takes))} go to {target}")
    return Check(args.from_site_id, not problems, reason, snapshot,
                 _Plan(to_site, takes, dest, location))


def _subject(conn: Connection, ctx: ToolContext, args: ReallocateInventoryArgs) -> ActionSubject:
    check = _check(conn, ctx, args, False)
    plan: _Plan = check.plan
    target = f"work order {args.to_wo_id} at {plan.to_site_id}" if args.to_wo_id else plan.to_site_id
    ids = [*dict.fromkeys(t.lot_id for t in plan.takes), *([args.to_wo_id] if args.to_wo_id else [])]
    return ActionSubject(action="reallocate_inventory", site_id=args.from_site_id, to_site_id=plan.to_site_id,
                         value_usd=args.qty * item_cost(conn, args.item_id), record_ids=[args.item_id, *ids],
                         item_id=args.item_id, qty=args.qty,
                         summary=f"move {args.qty:g} of {args.item_id} from {args.from_site_id} to {target}")


def _apply(log: ChangeLog, ctx: ToolContext, args: ReallocateInventoryArgs, plan: _Plan) -> str:
    per_lot: dict[str, float] = {}
    first_location: dict[str, str] = {}
    for t in plan.takes:
        log.update("inventory", t.key, {"qty_on_hand": t.qty_on_hand - t.take}, t.lot_id)
        per_lot[t.lot_id] = per_lot.get(t.lot_id, 0.0) + t.take
        first_location.setdefault(t.lot_id, t.location)
    # One write per destination row, so each row has one before/after image (undo compares them).
    for lot_id, qty in per_lot.items():
        current = plan.dest[lot_id]
        if args.to_wo_id is not None:
            key = {"wo_id": args.to_wo_id, "lot_id": lot_id}
            if current is None:
                log.insert("wo_materials", {**key, "item_id": args.item_id, "qty_issued": qty}, args.to_wo_id)
            else:
                log.update("wo_materials", key, {"qty_issued": current + qty}, args.to_wo_id)
            continue
        key = {"site_id": plan.to_site_id, "location": plan.dest_location or first_location[lot_id],
               "item_id": args.item_id, "lot_id": lot_id}
        if current is None:
            log.insert("inventory", {**key, "qty_on_hand": qty, "qty_reserved": 0.0, "reserved_for": None,
                                     "stock_status": "unrestricted"}, lot_id)
        else:
            log.update("inventory", key, {"qty_on_hand": current + qty}, lot_id)
    for t in plan.takes:
        transfer_id = log.next_id("transfers", "transfer_id", "TR-", 6)
        log.insert("transfers", {
            "transfer_id": transfer_id, "item_id": args.item_id, "lot_id": t.lot_id, "qty": t.take,
            "from_site_id": args.from_site_id, "from_location": t.location, "to_site_id": plan.to_site_id,
            "to_location": None if args.to_wo_id else plan.dest_location or first_location[t.lot_id],
            "to_wo_id": args.to_wo_id, "transferred_at": ctx.as_of, "request_id": log.request_id}, transfer_id)
    target = f"work order {args.to_wo_id}" if args.to_wo_id else f"site {plan.to_site_id}"
    return (f"moved {args.qty:g} of {args.item_id} from {args.from_site_id} to {target} "
            f"({len(plan.takes)} lot portions)")


REALLOCATE_INVENTORY = ActionSpec(
    name="reallocate_inventory",
    description=(
        "Move free (unrestricted, unreserved) stock of an item from one site to another site, or issue it to an "
        "open work order that needs it, e.g. to cover a shortage at the other plant from surplus here. Takes the "
        "oldest available lots first unless a lot is named; records a transfer per lot. Refused for a lot on "
        "hold in MES, and when the stock left at the source would not cover the open work orders its lines "
        "start within 14 days. Value = qty × standard cost (large moves need more approvals). It can be undone "
        "while the moved stock is untouched."),
    domain="inventory",
    args_model=ReallocateInventoryArgs,
    changes=frozenset({"inventory.qty_on_hand", "inventory", "wo_materials", "wo_materials.qty_issued",
                       "transfers"}),
    subject_fn=_subject,
    check_fn=_check,
    apply_fn=_apply,
)
