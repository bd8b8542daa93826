"""Maintenance read tools: assets at risk of failure, with their maintenance orders, the production
scheduled on them and the spare parts to fix them."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import select

from tools.ops.common import OPEN_MO_STATUSES, available_stock, latest_asset_health, lines_in_scope, require_ids
from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec

__all__ = [
    "TOOLS",
    "AssetAtRisk",
    "AssetsAtRiskArgs",
    "AssetsAtRiskResult",
    "OpenMaintenanceOrder",
    "ScheduledWorkOrder",
    "SparePartNeed",
    "assets_at_risk",
]

_SCHEDULED_WO = ("planned", "released", "running")


class AssetsAtRiskArgs(ToolArgs):
    """Which assets to check."""

    threshold: float = Field(0.5, ge=0.0, le=1.0, description="Minimum latest failure probability (0-1).")
    site_id: str | None = Field(None, description="Site, e.g. P100.")
    line_id: str | None = Field(None, description="Only assets on machines of this line, e.g. P100-PK1.")
    asset_id: str | None = Field(None, description="One asset, e.g. AS-P100-007 (still subject to threshold).")
    limit: int = Field(20, ge=1, le=200, description="Maximum number of assets returned.")


class OpenMaintenanceOrder(BaseModel):
    """A maintenance order not yet completed or cancelled."""

    mo_id: str
    mo_type: str
    status: str
    priority: int
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    description: str = Field(description="Free text recorded by people, returned as-is.")


class ScheduledWorkOrder(BaseModel):
    """Production planned on the asset's line within the risk horizon."""

    wo_id: str
    item_id: str
    status: str
    planned_start: datetime
    planned_end: datetime
    due_date: date
    qty_remaining: float


class SparePartNeed(BaseModel):
    """A spare part the asset needs, against available stock at the asset's site."""

    item_id: str
    description: str
    qty_required: float
    qty_available: float = Field(description="Unrestricted on hand − reserved at the asset's site.")
    short: bool
    shortfall_qty: float


class AssetAtRisk(BaseModel):
    """An asset whose latest failure probability is at or above the threshold."""

    asset_id: str
    name: str
    site_id: str
    machine_id: str | None
    line_id: str | None
    criticality: str = Field(description="A (critical) to C.")
    failure_probability: float
    horizon_days: int = Field(description="Days the failure probability refers to.")
    scored_at: datetime
    model_version: str
    top_signal: str = Field(description="The strongest signal behind the score.")
    open_maintenance_orders: list[OpenMaintenanceOrder]
    scheduled_work_orders: list[ScheduledWorkOrder] = Field(
        description="WOs on the asset's line planned between today and today + horizon.")
    spare_parts: list[SparePartNeed]
    spares_short: bool = Field(description="True when any required spare part is short.")


class AssetsAtRiskResult(ToolResult):
    """Assets at risk, riskiest first."""

    threshold: float
    total_matching: int
    truncated: bool
    assets: list[AssetAtRisk]


def assets_at_risk(ctx: ToolContext, args: AssetsAtRiskArgs) -> AssetsAtRiskResult:
    """Assets at or above the failure-probability threshold with MOs, scheduled WOs and spare availability."""
    assets, mo, wo = table("assets"), table("maintenance_orders"), table("work_orders")
    sp, items = table("spare_parts"), table("items")
    with ctx.engine.connect() as conn:
        if args.site_id or args.line_id:
            lines_in_scope(conn, ctx.scope, line_id=args.line_id, site_id=args.site_id)
        if args.asset_id:
            require_ids(conn, "asset", assets.c.asset_id, [args.asset_id],
                        ctx.scope.site_clause(assets.c.site_id))
        health = latest_asset_health(
            conn, ctx.scope, min_probability=args.threshold,
            site_ids=[args.site_id] if args.site_id else None, line_ids=[args.line_id] if args.line_id else None,
            asset_ids=[args.asset_id] if args.asset_id else None)
        shown = health[: args.limit]
        ids = [a.asset_id for a in shown]
        mos: dict[str, list[OpenMaintenanceOrder]] = defaultdict(list)
        for r in conn.execute(
                select(mo).join(assets, assets.c.asset_id == mo.c.asset_id)
                .where(ctx.scope.site_clause(assets.c.site_id), mo.c.asset_id.in_(ids),
                       mo.c.status.in_(OPEN_MO_STATUSES))
                .order_by(mo.c.priority, mo.c.scheduled_start, mo.c.mo_id)):
            mos[r.asset_id].append(OpenMaintenanceOrder.model_validate(r._mapping))
        horizon_end = max((a.horizon_days for a in shown), default=0)
        line_ids = sorted({a.line_id for a in shown if a.line_id})
        wo_rows = list(conn.execute(
            select(wo).where(ctx.scope.site_clause(wo.c.site_id), wo.c.line_id.in_(line_ids),
                             wo.c.status.in_(_SCHEDULED_WO),
                             wo.c.planned_end >= datetime.combine(ctx.today, time.min),
                             wo.c.planned_start < datetime.combine(
                                 ctx.today + timedelta(days=horizon_end + 1), time.min))
            .order_by(wo.c.planned_start, wo.c.wo_id)))
        spares: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
        for r in conn.execute(
                select(sp.c.asset_id, sp.c.item_id, items.c.description, sp.c.qty_required)
                .join(assets, assets.c.asset_id == sp.c.asset_id).join(items, items.c.item_id == sp.c.item_id)
                .where(ctx.scope.site_clause(assets.c.site_id), sp.c.asset_id.in_(ids))
                .order_by(sp.c.asset_id, sp.c.item_id)):
            spares[r.asset_id].append((r.item_id, r.description, float(r.qty_required)))
        stock = available_stock(conn, ctx.scope,
                                {(a.site_id, item) for a in shown for item, _, _ in spares[a.asset_id]})
    out = []
    for a in shown:
        horizon = datetime.combine(ctx.today + timedelta(days=a.horizon_days + 1), time.min)
        scheduled = [ScheduledWorkOrder(wo_id=w.wo_id, item_id=w.item_id, status=w.status,
                                        planned_start=w.planned_start, planned_end=w.planned_end,
                                        due_date=w.due_date,
                                        qty_remaining=max(w.qty_planned - w.qty_completed, 0.0))
                     for w in wo_rows if w.line_id == a.line_id and w.planned_start < horizon]
        needs = []
        for item_id, description, required in spares[a.asset_id]:
            available = stock[(a.site_id, item_id)]
            needs.append(SparePartNeed(item_id=item_id, description=description, qty_required=required,
                                       qty_available=round(available, 3), short=available < required,
                                       shortfall_qty=round(max(required - available, 0.0), 3)))
        out.append(AssetAtRisk(
            asset_id=a.asset_id, name=a.name, site_id=a.site_id, machine_id=a.machine_id, line_id=a.line_id,
            criticality=a.criticality, failure_probability=a.failure_probability, horizon_days=a.horizon_days,
            scored_at=a.scored_at, model_version=a.model_version, top_signal=a.top_signal,
            open_maintenance_orders=mos[a.asset_id], scheduled_work_orders=scheduled, spare_parts=needs,
            spares_short=any(n.short for n in needs)))
    record_ids: list[str] = []
    for x in out:
        record_ids += [x.asset_id, *([x.machine_id] if x.machine_id else []),
                       *(m.mo_id for m in x.open_maintenance_orders), *(w.wo_id for w in x.scheduled_work_orders),
                       *(n.item_id for n in x.spare_parts)]
    return AssetsAtRiskResult(as_of=ctx.as_of, record_ids=list(dict.fromkeys(record_ids)),
                              threshold=args.threshold, total_matching=len(health),
                              truncated=len(health) > len(shown), assets=out)


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="assets_at_risk",
        description=(
            "Assets (machines' equipment) whose latest predicted failure probability is at or above a "
            "threshold (default 0.5), riskiest first, each with its horizon, top signal and criticality, the "
            "open maintenance orders (open/scheduled/in progress), the work orders planned on its line "
            "within the horizon, and its spare parts: required vs available unrestricted stock at the "
            "asset's site with a short flag. Use it for predictive-maintenance and 'can we fix it before it "
            "breaks' questions."),
        domain="maintenance", args_model=AssetsAtRiskArgs, result_model=AssetsAtRiskResult, fn=assets_at_risk,
    ),
)
