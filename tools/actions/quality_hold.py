"""Quality holds: put a lot or a work order on hold, and release it.

A lot hold sets ``lots.status`` to ``quality_hold`` and moves every unrestricted inventory
row of the lot (at any site: the hold is on the lot) to ``quality_inspection``, so ERP cannot
ship or allocate what MES holds; optionally it also holds the open work orders (in scope) that
were issued material from the lot. A lot MES already holds while ERP still shows some of its
stock unrestricted (the two systems contradicting each other) can be held again: only ERP's
stock status changes then. Release
reverses that for lots and work orders currently on hold; a released work order goes back to
``released`` (undoing a hold instead restores exactly the status it had).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from pydantic import Field, model_validator
from sqlalchemy import Connection, select

from tools.actions._common import (
    OPEN_WO_STATUSES,
    AnyRow,
    inventory_key,
    inventory_snapshot,
    item_cost,
    locked,
    lot_inventory,
    lot_row,
    wo_row,
)
from tools.actions.spec import ActionSpec, ActionSubject, ChangeLog, Check, field_error
from tools.errors import ArgumentError
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import ToolArgs, ToolContext

__all__ = ["PLACE_QUALITY_HOLD", "RELEASE_QUALITY_HOLD", "PlaceQualityHoldArgs", "ReleaseQualityHoldArgs"]

_CHANGES = frozenset({"lots.status", "inventory.stock_status", "work_orders.status"})


class _HoldTarget(ToolArgs):
    lot_id: str | None = Field(None, min_length=1, max_length=24, description="Lot id, e.g. 'LOT-P100-0423'.")
    wo_id: str | None = Field(None, min_length=1, max_length=16, description="Work order id, e.g. 'WO-5123'.")
    reason: str = Field(min_length=3, max_length=500, description="Why (kept with the execution record).")

    def _one_target(self) -> None:
        if (self.lot_id is None) == (self.wo_id is None):
            raise field_error("lot_id", "give exactly one of lot_id or wo_id")


class PlaceQualityHoldArgs(_HoldTarget):
    """What to put on quality hold: one lot (optionally with its open work orders) or one work order."""

    include_open_work_orders: bool = Field(
        False, description="Lot holds only: also hold the open (planned/released/running) work orders that "
                           "were issued material from the lot.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._one_target()
        if self.include_open_work_orders and self.wo_id is not None:
            raise field_error("include_open_work_orders", "applies to a lot hold only")
        return self


class ReleaseQualityHoldArgs(_HoldTarget):
    """What to release from quality hold: one lot (optionally with its held work orders) or one work order."""

    include_held_work_orders: bool = Field(
        False, description="Lot releases only: also release the held work orders that were issued material "
                           "from the lot.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        self._one_target()
        if self.include_held_work_orders and self.wo_id is not None:
            raise field_error("include_held_work_orders", "applies to a lot release only")
        return self


@dataclass(frozen=True)
class _Plan:
    lot_id: str | None
    inventory: list[dict[str, Any]]
    """Keys of the inventory rows whose stock status changes."""
    work_orders: list[str]
    lot_status_changes: bool = True
    """False when MES already holds the lot and only ERP's stock status catches up."""


def _consumers(conn: Connection, scope: DataScope, lot_id: str, statuses: Sequence[str],
               lock: bool) -> Sequence[AnyRow]:
    """Work orders in scope with ``statuses`` that were issued material from the lot."""
    wo, wm = table("work_orders"), table("wo_materials")
    stmt = (select(wo.c.wo_id, wo.c.status)
            .where(wo.c.wo_id.in_(select(wm.c.wo_id).where(wm.c.lot_id == lot_id)),
                   wo.c.status.in_(list(statuses)), scope.site_clause(wo.c.site_id))
            .order_by(wo.c.wo_id))
    return conn.execute(locked(stmt, lock, wo)).all()


def _wo_value(conn: Connection, wo: AnyRow) -> tuple[float, float]:
    qty = max(float(wo.qty_planned) - float(wo.qty_completed), 0.0)
    return qty, qty * item_cost(conn, wo.item_id)


def _lot_id(action: str, args: _HoldTarget) -> str:
    """The lot of a hold that names no work order: the validator requires exactly one of them, unvalidated
    arguments may name neither."""
    if args.lot_id is None:
        raise ArgumentError(action, "lot_id", "give exactly one of lot_id or wo_id")
    return args.lot_id


def _subject(action: str, conn: Connection, ctx: ToolContext, args: _HoldTarget, with_wos: bool,
             wo_statuses: Sequence[str]) -> ActionSubject:
    verb = "hold" if action == "place_quality_hold" else "release"
    if args.wo_id is not None:
        wo = wo_row(conn, ctx.scope, args.wo_id)
        qty, value = _wo_value(conn, wo)
        return ActionSubject(action=action, site_id=wo.site_id, value_usd=value, record_ids=[wo.wo_id],
                             item_id=wo.item_id, qty=qty, summary=f"{verb} work order {wo.wo_id} ({wo.status})")
    lot = lot_row(conn, ctx.scope, _lot_id(action, args))
    on_hand = sum(float(r.qty_on_hand) for r in lot_inventory(conn, lot.lot_id))
    wos = [w.wo_id for w in _consumers(conn, ctx.scope, lot.lot_id, wo_statuses, False)] if with_wos else []
    also = f" and work orders {', '.join(wos)}" if wos else ""
    return ActionSubject(action=action, site_id=lot.site_id, value_usd=on_hand * item_cost(conn, lot.item_id),
                         record_ids=[lot.lot_id, *wos], item_id=lot.item_id, qty=on_hand,
                         supplier_id=lot.supplier_id,
                         summary=f"{verb} lot {lot.lot_id} ({on_hand:g} of {lot.item_id} on hand){also}")


def _check(conn: Connection, ctx: ToolContext, args: _HoldTarget, lock: bool, *, placing: bool,
           with_wos: bool) -> Check:
    from_wo, to_wo = (OPEN_WO_STATUSES, "held") if placing else (("held",), "released")
    if args.wo_id is not None:
        wo = wo_row(conn, ctx.scope, args.wo_id, lock)
        snapshot: dict[str, Any] = {"work_orders": [{"wo_id": wo.wo_id, "status": wo.status}]}
        ok = wo.status in from_wo
        reason = (f"work order {wo.wo_id} is {wo.status}; it becomes {to_wo}" if ok else
                  f"work order {wo.wo_id} is {wo.status}, not {' / '.join(from_wo)}")
        return Check(wo.site_id, ok, reason, snapshot, _Plan(None, [], [wo.wo_id]))
    lot = lot_row(conn, ctx.scope, _lot_id("place_quality_hold" if placing else "release_quality_hold", args), lock)
    rows = lot_inventory(conn, lot.lot_id, lock)
    wos = _consumers(conn, ctx.scope, lot.lot_id, from_wo, lock) if with_wos else []
    snapshot = {"lot": {"lot_id": lot.lot_id, "status": lot.status},
                "inventory": [inventory_snapshot(r) for r in rows],
                "work_orders": [{"wo_id": w.wo_id, "status": w.status} for w in wos]}
    from_stock, to_stock = ("unrestricted", "quality_inspection") if placing else ("quality_inspection",
                                                                                  "unrestricted")
    moving = [inventory_key(r) for r in rows if r.stock_status == from_stock]
    on_hand = sum(float(r.qty_on_hand) for r in rows)
    want = "available" if placing else "quality_hold"
    # MES already holds the lot but ERP still shows stock usable: the hold brings ERP in line.
    unrestricted = sum(float(r.qty_on_hand) for r in rows if r.stock_status == "unrestricted")
    catch_up = placing and lot.status == "quality_hold" and unrestricted > 0
    also = f"; work orders {', '.join(w.wo_id for w in wos)} become {to_wo}" if wos else ""
    if catch_up:
        ok = True
        reason = (f"lot {lot.lot_id} is already quality_hold in MES although ERP shows {unrestricted:g} "
                  f"unrestricted; {len(moving)} inventory rows move from {from_stock} to {to_stock}{also}")
    elif lot.status != want:
        reason, ok = f"lot {lot.lot_id} is {lot.status}, not {want}", False
    elif placing and on_hand <= 0:
        reason, ok = f"lot {lot.lot_id} has no stock on hand", False
    else:
        ok = True
        reason = (f"lot {lot.lot_id} is {lot.status} with {on_hand:g} on hand; {len(moving)} inventory rows "
                  f"move from {from_stock} to {to_stock}{also}")
    return Check(lot.site_id, ok, reason, snapshot,
                 _Plan(lot.lot_id, moving, [w.wo_id for w in wos], lot_status_changes=not catch_up))


def _apply(log: ChangeLog, plan: _Plan, *, placing: bool) -> str:
    lot_status, stock, wo_status = (("quality_hold", "quality_inspection", "held") if placing
                                    else ("available", "unrestricted", "released"))
    if plan.lot_id is not None:
        if plan.lot_status_changes:
            log.update("lots", {"lot_id": plan.lot_id}, {"status": lot_status}, plan.lot_id)
        for key in plan.inventory:
            log.update("inventory", key, {"stock_status": stock}, plan.lot_id)
    for wo_id in plan.work_orders:
        log.update("work_orders", {"wo_id": wo_id}, {"status": wo_status}, wo_id)
    what = [f"lot {plan.lot_id} → {lot_status} ({len(plan.inventory)} inventory rows → {stock})"
            if plan.lot_id is not None else "", *(f"{w} → {wo_status}" for w in plan.work_orders)]
    return "; ".join(w for w in what if w)


def _place_subject(conn: Connection, ctx: ToolContext, args: PlaceQualityHoldArgs) -> ActionSubject:
    return _subject("place_quality_hold", conn, ctx, args, args.include_open_work_orders, OPEN_WO_STATUSES)


def _place_check(conn: Connection, ctx: ToolContext, args: PlaceQualityHoldArgs, lock: bool) -> Check:
    return _check(conn, ctx, args, lock, placing=True, with_wos=args.include_open_work_orders)


def _place_apply(log: ChangeLog, ctx: ToolContext, args: PlaceQualityHoldArgs, plan: _Plan) -> str:
    return "placed on quality hold: " + _apply(log, plan, placing=True)


def _release_subject(conn: Connection, ctx: ToolContext, args: ReleaseQualityHoldArgs) -> ActionSubject:
    return _subject("release_quality_hold", conn, ctx, args, args.include_held_work_orders, ("held",))


def _release_check(conn: Connection, ctx: ToolContext, args: ReleaseQualityHoldArgs, lock: bool) -> Check:
    return _check(conn, ctx, args, lock, placing=False, with_wos=args.include_held_work_orders)


def _release_apply(log: ChangeLog, ctx: ToolContext, args: ReleaseQualityHoldArgs, plan: _Plan) -> str:
    return "released from quality hold: " + _apply(log, plan, placing=False)


PLACE_QUALITY_HOLD = ActionSpec(
    name="place_quality_hold",
    description=(
        "Put a suspect lot or a work order on quality hold. For a lot: the lot's status becomes quality_hold and "
        "its unrestricted stock moves to quality_inspection so nobody can use or ship it (also for a lot "
        "already on quality_hold whose ERP stock is still unrestricted); with include_open_work_orders the open "
        "work orders already issued material from that lot are held too. For a work order: its status "
        "becomes held. Use when a quality problem (scrap spike, defect, supplier issue) points at the lot or "
        "order. Needs a reason; it can be undone."),
    domain="quality",
    args_model=PlaceQualityHoldArgs,
    changes=_CHANGES,
    subject_fn=_place_subject,
    check_fn=_place_check,
    apply_fn=_place_apply,
)

RELEASE_QUALITY_HOLD = ActionSpec(
    name="release_quality_hold",
    description=(
        "Release a lot or a work order that is currently on quality hold. For a lot: status back to available "
        "and its quality_inspection stock back to unrestricted; with include_held_work_orders the held work "
        "orders issued material from the lot go back to released. For a work order: held → released. Use "
        "after the quality investigation cleared the material."),
    domain="quality",
    args_model=ReleaseQualityHoldArgs,
    changes=_CHANGES,
    subject_fn=_release_subject,
    check_fn=_release_check,
    apply_fn=_release_apply,
)
