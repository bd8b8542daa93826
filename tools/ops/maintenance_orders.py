"""Maintenance-order read tool: the orders on the plant's assets by site, line, asset, status, type and
scheduled window, with a count by status."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import select

from tools.ops.common import OPEN_MO_STATUSES, lines_in_scope, require_ids
from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec

__all__ = [
    "MO_STATUSES",
    "TOOLS",
    "MaintenanceOrderRow",
    "MaintenanceOrdersArgs",
    "MaintenanceOrdersResult",
    "MaintenanceOrdersSummary",
    "maintenance_orders",
]

MoStatus = Literal["open", "scheduled", "in_progress", "completed", "cancelled"]
MoType = Literal["preventive", "corrective", "predictive"]

MO_STATUSES: tuple[str, ...] = ("open", "scheduled", "in_progress", "completed", "cancelled")
"""Every maintenance-order status, in the order of its life (and of ``by_status``)."""


class MaintenanceOrdersArgs(ToolArgs):
    """Filters for :func:`maintenance_orders`; all optional and combined with AND."""

    site_id: str | None = Field(None, min_length=1, description="Site, e.g. P100.")
    asset_id: str | None = Field(None, min_length=1, description="One asset, e.g. AS-012.")
    line_id: str | None = Field(None, min_length=1,
                                description="Only assets on machines of this line, e.g. P100-PK1.")
    status: MoStatus | None = Field(None, description="Only orders with this status.")
    mo_type: MoType | None = Field(None, description="Only orders of this type.")
    open_only: bool = Field(False, description="Only orders not yet done: open, scheduled or in_progress.")
    scheduled_within_days: int | None = Field(
        None, ge=0, le=366,
        description="Only orders whose scheduled start is from today through today + N days (0 = today); "
                    "unscheduled orders are left out.")
    limit: int = Field(20, ge=1, le=200, description="Maximum orders returned (the summary counts all matches).")


class MaintenanceOrderRow(BaseModel):
    """One maintenance order with the asset it is for; ``description`` is free text, unmodified."""

    mo_id: str
    asset_id: str
    asset_name: str
    machine_id: str | None
    line_id: str | None = Field(description="Line of the asset's machine; null for facility assets.")
    site_id: str
    mo_type: str
    status: str
    priority: int = Field(description="1 is the most urgent.")
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    description: str = Field(description="Free text recorded by people, returned as-is.")


class MaintenanceOrdersSummary(BaseModel):
    """Counts over every matching order (not only the rows returned)."""

    count: int
    by_status: dict[str, int] = Field(description="Orders per status (statuses with none left out).")


class MaintenanceOrdersResult(ToolResult):
    """Matching maintenance orders by scheduled start (unscheduled last), led by their summary."""

    summary: MaintenanceOrdersSummary
    rows: list[MaintenanceOrderRow]
    more: int = Field(description="Matching orders not returned (beyond the limit).")


def maintenance_orders(ctx: ToolContext, args: MaintenanceOrdersArgs) -> MaintenanceOrdersResult:
    """Maintenance orders on assets in scope matching the filters, by scheduled start."""
    mo, assets, machines = table("maintenance_orders"), table("assets"), table("machines")
    with ctx.engine.connect() as conn:
        if args.site_id or args.line_id:
            lines_in_scope(conn, ctx.scope, line_id=args.line_id, site_id=args.site_id)
        if args.asset_id:
            require_ids(conn, "asset", assets.c.asset_id, [args.asset_id], ctx.scope.site_clause(assets.c.site_id))
        stmt = (
            select(mo.c.mo_id, mo.c.asset_id, assets.c.name.label("asset_name"), assets.c.machine_id,
                   machines.c.line_id, assets.c.site_id, mo.c.mo_type, mo.c.status, mo.c.priority,
                   mo.c.scheduled_start, mo.c.scheduled_end, mo.c.description)
            .select_from(mo.join(assets, assets.c.asset_id == mo.c.asset_id)
                         .outerjoin(machines, machines.c.machine_id == assets.c.machine_id))
            .where(ctx.scope.site_clause(assets.c.site_id))
            # Unscheduled orders last (portable NULLS LAST), the most urgent first within the same start.
            .order_by(mo.c.scheduled_start.is_(None), mo.c.scheduled_start, mo.c.priority, mo.c.mo_id)
        )
        for column, value in ((assets.c.site_id, args.site_id), (assets.c.asset_id, args.asset_id),
                              (machines.c.line_id, args.line_id), (mo.c.status, args.status),
                              (mo.c.mo_type, args.mo_type)):
            if value is not None:
                stmt = stmt.where(column == value)
        if args.open_only:
            stmt = stmt.where(mo.c.status.in_(OPEN_MO_STATUSES))
        if args.scheduled_within_days is not None:
            stmt = stmt.where(
                mo.c.scheduled_start >= datetime.combine(ctx.today, time.min),
                mo.c.scheduled_start < datetime.combine(
                    ctx.today + timedelta(days=args.scheduled_within_days + 1), time.min))
        rows = [MaintenanceOrderRow.model_validate(r._mapping) for r in conn.execute(stmt)]
    shown = rows[: args.limit]
    counts = Counter(r.status for r in rows)
    named = [n for n in (args.asset_id, args.line_id) if n]
    # The summary reads every matching order, so all of them are cited.
    ids = [*named, *(r.mo_id for r in rows), *(r.asset_id for r in shown),
           *(r.machine_id for r in shown if r.machine_id)]
    return MaintenanceOrdersResult(
        as_of=ctx.as_of, record_ids=list(dict.fromkeys(ids)),
        summary=MaintenanceOrdersSummary(count=len(rows),
                                         by_status={s: counts[s] for s in MO_STATUSES if counts[s]}),
        rows=shown, more=len(rows) - len(shown))


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="maintenance_orders",
        description=(
            "Maintenance orders (MOs) on the plant's assets, filtered by site, line (e.g. P100-PK1: assets on "
            "its machines), asset, status (open/scheduled/in_progress/completed/cancelled), type "
            "(preventive/corrective/predictive), open_only (open, scheduled or in progress) and "
            "scheduled_within_days (scheduled start from today through today + N). Rows come by scheduled "
            "start (unscheduled last) with the asset, machine, line, priority (1 = most urgent) and scheduled "
            "window, led by a summary (count and count by status over all matches) and how many more there "
            "are. Use for 'what maintenance is scheduled on PK1 this week', 'which MOs are open on asset "
            "AS-012', 'is a predictive order open for that machine'. The description field is free text "
            "recorded by people and is returned as-is. For predicted failures use assets_at_risk."),
        domain="maintenance", args_model=MaintenanceOrdersArgs, result_model=MaintenanceOrdersResult,
        fn=maintenance_orders,
    ),
)
