"""Maintenance actions: create a maintenance order for an asset, reserve spare parts for an asset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import Field, model_validator
from sqlalchemy import Connection, select

from tools.actions._common import AnyRow, asset_row, available_rows, inventory_key, inventory_snapshot, item_cost
from tools.actions._cross_system import held_stock_note
from tools.actions.spec import ActionSpec, ActionSubject, ChangeLog, Check, field_error
from tools.errors import RecordNotFound
from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext

__all__ = ["CREATE_MAINTENANCE_ORDER", "RESERVE_SPARE_PARTS", "MaintenanceOrderArgs", "ReserveSparePartsArgs"]

_EPS = 1e-9
_ACTIVE_MO = ("open", "scheduled", "in_progress")


# ---------------------------------------------------------------------------- create_maintenance_order


class MaintenanceOrderArgs(ToolArgs):
    """The maintenance order to create."""

    asset_id: str = Field(min_length=1, max_length=16, description="Asset to maintain, e.g. 'AS-014'.")
    mo_type: Literal["preventive", "corrective", "predictive"] = Field(
        description="predictive = acting on a failure-risk signal; corrective = fixing a fault.")
    priority: int = Field(2, ge=1, le=4, description="1 = most urgent … 4 = least.")
    description: str = Field(min_length=5, max_length=1000, description="The work to do.")
    scheduled_start: datetime | None = Field(None, description="Planned start (plant local time); none = open.")
    scheduled_end: datetime | None = Field(None, description="Planned end; needs scheduled_start.")

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.scheduled_end is not None and self.scheduled_start is None:
            raise field_error("scheduled_end", "needs scheduled_start")
        if self.scheduled_end is not None and self.scheduled_start is not None \
                and self.scheduled_end <= self.scheduled_start:
            raise field_error("scheduled_end", "must be after scheduled_start")
        return self


def _mo_subject(conn: Connection, ctx: ToolContext, args: MaintenanceOrderArgs) -> ActionSubject:
    asset = asset_row(conn, ctx.scope, args.asset_id)
    return ActionSubject(action="create_maintenance_order", site_id=asset.site_id, value_usd=0.0,
                         record_ids=[asset.asset_id], asset_criticality=asset.criticality,
                         summary=f"create a priority {args.priority} {args.mo_type} maintenance order for "
                                 f"{asset.asset_id} ({asset.name}, criticality {asset.criticality})")


def _mo_check(conn: Connection, ctx: ToolContext, args: MaintenanceOrderArgs, lock: bool) -> Check:
    asset = asset_row(conn, ctx.scope, args.asset_id, lock)
    mo = table("maintenance_orders")
    active = conn.execute(select(mo.c.mo_id, mo.c.mo_type, mo.c.status).where(
        mo.c.asset_id == asset.asset_id, mo.c.status.in_(_ACTIVE_MO)).order_by(mo.c.mo_id)).all()
    snapshot = {"asset": {"asset_id": asset.asset_id, "criticality": asset.criticality},
                "active_orders": [{"mo_id": m.mo_id, "mo_type": m.mo_type, "status": m.status} for m in active]}
    if args.scheduled_start is not None and args.scheduled_start < ctx.as_of:
        return Check(asset.site_id, False, f"scheduled start {args.scheduled_start} is before the data's as-of "
                                           f"time {ctx.as_of}", snapshot, asset)
    same = [m.mo_id for m in active if m.mo_type == args.mo_type]
    note = f" (already active {args.mo_type} orders: {', '.join(same)})" if same else ""
    return Check(asset.site_id, True, f"asset {asset.asset_id} exists; a new order opens{note}", snapshot, asset)


def _mo_apply(log: ChangeLog, ctx: ToolContext, args: MaintenanceOrderArgs, asset: AnyRow) -> str:
    mo_id = log.next_id("maintenance_orders", "mo_id", "MO-", 4)
    status = "open" if args.scheduled_start is None else "scheduled"
    log.insert("maintenance_orders", {
        "mo_id": mo_id, "asset_id": asset.asset_id, "mo_type": args.mo_type, "status": status,
        "priority": args.priority, "scheduled_start": args.scheduled_start, "scheduled_end": args.scheduled_end,
        "description": args.description}, mo_id)
    return f"created {args.mo_type} maintenance order {mo_id} ({status}) for {asset.asset_id}"


CREATE_MAINTENANCE_ORDER = ActionSpec(
    name="create_maintenance_order",
    description=(
        "Create a maintenance order for an asset (preventive, corrective or predictive), optionally scheduled. "
        "Use when an asset shows a high failure risk or a fault and no suitable order is active; the precondition "
        "lists the asset's active orders."),
    domain="maintenance",
    args_model=MaintenanceOrderArgs,
    changes=frozenset({"maintenance_orders"}),
    subject_fn=_mo_subject,
    check_fn=_mo_check,
    apply_fn=_mo_apply,
    sensitive_fields=frozenset(),
)


# ---------------------------------------------------------------------------- reserve_spare_parts


class ReserveSparePartsArgs(ToolArgs):
    """Which spare part to reserve for which asset, and how many."""

    asset_id: str = Field(min_length=1, max_length=16, description="Asset the spare is for, e.g. 'AS-014'.")
    item_id: str = Field(min_length=1, max_length=24, description="Spare part item, e.g. 'SP-4036'.")
    qty: float | None = Field(None, gt=0, le=1e6,
                              description="Quantity to reserve; default: the asset's required quantity.")
    reason: str = Field("", max_length=500, description="Why (kept with the execution record).")


@dataclass(frozen=True)
class _Reserve:
    key: dict[str, Any]
    lot_id: str
    location: str
    qty_reserved: float
    take: float


@dataclass(frozen=True)
class _ReservePlan:
    site_id: str
    qty: float
    takes: list[_Reserve]


def _spare(conn: Connection, ctx: ToolContext, args: ReserveSparePartsArgs, lock: bool) -> tuple[AnyRow, float]:
    """(asset, quantity to reserve); RecordNotFound when the item is not a listed spare of the asset."""
    asset = asset_row(conn, ctx.scope, args.asset_id, lock)
    item_cost(conn, args.item_id)  # RecordNotFound for an unknown item
    sp = table("spare_parts")
    required = conn.execute(select(sp.c.qty_required).where(sp.c.asset_id == asset.asset_id,
                                                            sp.c.item_id == args.item_id)).scalar_one_or_none()
    if required is None:
        raise RecordNotFound(f"spare part of {asset.asset_id}", [args.item_id])
    return asset, float(args.qty if args.qty is not None else required)


def _reserve_subject(conn: Connection, ctx: ToolContext, args: ReserveSparePartsArgs) -> ActionSubject:
    asset, qty = _spare(conn, ctx, args, False)
    return ActionSubject(action="reserve_spare_parts", site_id=asset.site_id,
                         value_usd=qty * item_cost(conn, args.item_id), record_ids=[asset.asset_id, args.item_id],
                         item_id=args.item_id, qty=qty, asset_criticality=asset.criticality,
                         summary=f"reserve {qty:g} of {args.item_id} at {asset.site_id} for {asset.asset_id} "
                                 f"(criticality {asset.criticality})")


def _reserve_check(conn: Connection, ctx: ToolContext, args: ReserveSparePartsArgs, lock: bool) -> Check:
    asset, qty = _spare(conn, ctx, args, lock)
    rows = available_rows(conn, args.item_id, asset.site_id, None, lock)
    available = sum(float(r.qty_on_hand) - float(r.qty_reserved) for r in rows)
    takes: list[_Reserve] = []
    left = qty
    for r in rows:
        if left <= _EPS:
            break
        take = min(left, float(r.qty_on_hand) - float(r.qty_reserved))
        takes.append(_Reserve(inventory_key(r), r.lot_id, r.location, float(r.qty_reserved), take))
        left -= take
    snapshot = {"inventory": [inventory_snapshot(r) for r in rows], "available": available}
    ok = available + _EPS >= qty
    reason = (f"{available:g} of {args.item_id} free at {asset.site_id}; {qty:g} get reserved for {asset.asset_id}"
              if ok else f"only {available:g} of {args.item_id} free at {asset.site_id}, {qty:g} needed"
              f"{held_stock_note(conn, args.item_id, asset.site_id)}")
    return Check(asset.site_id, ok, reason, snapshot, _ReservePlan(asset.site_id, qty, takes))


def _reserve_apply(log: ChangeLog, ctx: ToolContext, args: ReserveSparePartsArgs, plan: _ReservePlan) -> str:
    ids = []
    for t in plan.takes:
        log.update("inventory", t.key, {"qty_reserved": t.qty_reserved + t.take}, t.lot_id)
        reservation_id = log.next_id("spare_reservations", "reservation_id", "SPR-", 6)
        log.insert("spare_reservations", {
            "reservation_id": reservation_id, "asset_id": args.asset_id, "item_id": args.item_id,
            "site_id": plan.site_id, "location": t.location, "lot_id": t.lot_id, "qty": t.take,
            "reserved_at": ctx.as_of, "request_id": log.request_id}, reservation_id)
        ids.append(reservation_id)
    return f"reserved {plan.qty:g} of {args.item_id} at {plan.site_id} for {args.asset_id} ({', '.join(ids)})"


RESERVE_SPARE_PARTS = ActionSpec(
    name="reserve_spare_parts",
    description=(
        "Reserve spare-part stock for an asset so it is there for the repair: free unrestricted stock of the "
        "spare at the asset's site gets reserved (oldest lots first). The item must be a listed spare of the "
        "asset; the quantity defaults to the asset's required quantity. Fails when not enough is free (stock of "
        "lots on hold in MES never counts)."),
    domain="maintenance",
    args_model=ReserveSparePartsArgs,
    changes=frozenset({"inventory.qty_reserved", "spare_reservations"}),
    subject_fn=_reserve_subject,
    check_fn=_reserve_check,
    apply_fn=_reserve_apply,
)
