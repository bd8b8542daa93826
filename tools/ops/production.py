"""Production read tools: work orders, work orders at risk, and (from ``_production_lines``) line and
machine performance."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy import func, select

from tools.ops._production_lines import LINE_TOOLS
from tools.ops.common import (
    UNFINISHED_WO_STATUSES,
    available_stock,
    incoming_po_supply,
    latest_asset_health,
    lines_in_scope,
    not_before,
    require_ids,
)
from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec
from tools.supply.projection import open_component_need

__all__ = [
    "TOOLS",
    "AtRiskAsset",
    "MissingComponent",
    "WorkOrderAtRisk",
    "WorkOrderRow",
    "WorkOrdersArgs",
    "WorkOrdersAtRiskArgs",
    "WorkOrdersAtRiskResult",
    "WorkOrdersResult",
    "work_orders",
    "work_orders_at_risk",
]

_DONE = ("completed", "cancelled")
_WoStatus = Literal["open", "planned", "released", "running", "held", "completed", "cancelled"]
_EPS = 1e-9


class WorkOrdersArgs(ToolArgs):
    """Filters for listing work orders."""

    line_id: str | None = Field(None, description="Production line, e.g. P100-PK1.")
    site_id: str | None = Field(None, description="Site, e.g. P100.")
    item_id: str | None = Field(None, description="Item produced, e.g. FG-1001.")
    status: _WoStatus | None = Field(
        None, description="Work-order status; 'open' means planned, released, running or held.")
    planned_from: date | None = Field(
        None, description="Only WOs whose planned window ends on or after this day.")
    planned_to: date | None = Field(
        None, description="Only WOs whose planned window starts on or before this day.")
    due_from: date | None = Field(None, description="Only WOs due on or after this day.")
    due_to: date | None = Field(None, description="Only WOs due on or before this day.")
    late_only: bool = Field(
        False, description="Only late WOs: due before today and not completed or cancelled.")
    limit: int = Field(50, ge=1, le=500, description="Maximum number of work orders returned.")

    @field_validator("planned_to")
    @classmethod
    def _planned_order(cls, value: date | None, info: ValidationInfo) -> date | None:
        return not_before(value, info, "planned_from")

    @field_validator("due_to")
    @classmethod
    def _due_order(cls, value: date | None, info: ValidationInfo) -> date | None:
        return not_before(value, info, "due_from")


class WorkOrderRow(BaseModel):
    """One work order with its progress."""

    wo_id: str
    site_id: str
    line_id: str
    item_id: str
    so_id: str | None = Field(description="Sales order the WO is made for, if any.")
    status: str
    qty_planned: float
    qty_completed: float
    qty_scrapped: float
    progress_pct: float = Field(description="qty_completed ÷ qty_planned × 100.")
    planned_start: datetime
    planned_end: datetime
    due_date: date
    late: bool = Field(description="Due before today and not completed or cancelled.")
    days_late: int = Field(description="Days past due (0 when not late).")


class WorkOrdersResult(ToolResult):
    """Work orders matching the filters, in planned-start order."""

    total_matching: int = Field(description="Work orders matching the filters (before the limit).")
    late_count: int = Field(description="Late work orders among all that match.")
    truncated: bool = Field(description="True when more work orders matched than were returned.")
    work_orders: list[WorkOrderRow]


def work_orders(ctx: ToolContext, args: WorkOrdersArgs) -> WorkOrdersResult:
    """List work orders by line, site, status, item, planned window or due date."""
    wo, items = table("work_orders"), table("items")
    with ctx.engine.connect() as conn:
        if args.line_id or args.site_id:
            lines_in_scope(conn, ctx.scope, line_id=args.line_id, site_id=args.site_id)
        if args.item_id:
            require_ids(conn, "item", items.c.item_id, [args.item_id])
        stmt = select(wo).where(ctx.scope.site_clause(wo.c.site_id)).order_by(wo.c.planned_start, wo.c.wo_id)
        if args.line_id:
            stmt = stmt.where(wo.c.line_id == args.line_id)
        if args.site_id:
            stmt = stmt.where(wo.c.site_id == args.site_id)
        if args.item_id:
            stmt = stmt.where(wo.c.item_id == args.item_id)
        if args.status == "open":
            stmt = stmt.where(wo.c.status.in_(UNFINISHED_WO_STATUSES))
        elif args.status:
            stmt = stmt.where(wo.c.status == args.status)
        if args.planned_from:
            stmt = stmt.where(wo.c.planned_end >= datetime.combine(args.planned_from, datetime.min.time()))
        if args.planned_to:
            stmt = stmt.where(wo.c.planned_start < datetime.combine(args.planned_to + timedelta(days=1),
                                                                     datetime.min.time()))
        if args.due_from:
            stmt = stmt.where(wo.c.due_date >= args.due_from)
        if args.due_to:
            stmt = stmt.where(wo.c.due_date <= args.due_to)
        if args.late_only:
            stmt = stmt.where(wo.c.due_date < ctx.today, wo.c.status.not_in(_DONE))
        rows = list(conn.execute(stmt))
    out = []
    for r in rows:
        late = r.due_date < ctx.today and r.status not in _DONE
        out.append(WorkOrderRow(
            wo_id=r.wo_id, site_id=r.site_id, line_id=r.line_id, item_id=r.item_id, so_id=r.so_id,
            status=r.status, qty_planned=r.qty_planned, qty_completed=r.qty_completed,
            qty_scrapped=r.qty_scrapped,
            progress_pct=round(100.0 * r.qty_completed / r.qty_planned, 1) if r.qty_planned else 0.0,
            planned_start=r.planned_start, planned_end=r.planned_end, due_date=r.due_date, late=late,
            days_late=(ctx.today - r.due_date).days if late else 0))
    shown = out[: args.limit]
    named = [n for n in (args.line_id, args.item_id) if n]
    return WorkOrdersResult(
        as_of=ctx.as_of, record_ids=named + [w.wo_id for w in shown], total_matching=len(out),
        late_count=sum(w.late for w in out), truncated=len(out) > len(shown), work_orders=shown)


class WorkOrdersAtRiskArgs(ToolArgs):
    """Which upcoming work orders to check."""

    days: int = Field(7, ge=1, le=90, description="Look-ahead in days: planned/released WOs planned to start "
                                                  "before the end of this window (including overdue starts).")
    site_id: str | None = Field(None, description="Site, e.g. P100.")
    line_id: str | None = Field(None, description="Production line, e.g. P100-AS1.")
    asset_risk_threshold: float = Field(0.8, ge=0.0, le=1.0, description="Failure probability at or above "
                                        "which an asset on the WO's line puts the WO at risk.")
    count_incoming_po: bool = Field(True, description="Count open PO quantity expected on or before a WO's "
                                    "planned start day as available to it; false checks stock on hand only.")
    limit: int = Field(50, ge=1, le=500, description="Maximum number of at-risk work orders returned.")


class MissingComponent(BaseModel):
    """A component the WO needs that the supply left after earlier WOs cannot cover."""

    item_id: str
    required_qty: float = Field(description="qty_per × WO qty − qty already issued to the WO.")
    available_qty: float = Field(description="Available stock plus open PO qty due by the WO's planned start, "
                                             "minus what earlier-starting WOs take.")
    incoming_qty: float = Field(description="Open PO qty due by the planned start (part of available_qty).")
    shortfall_qty: float


class AtRiskAsset(BaseModel):
    """An asset on the WO's line with a high failure probability."""

    asset_id: str
    machine_id: str | None
    failure_probability: float
    horizon_days: int
    top_signal: str


class WorkOrderAtRisk(BaseModel):
    """An upcoming work order that may not run as planned, and why."""

    wo_id: str
    site_id: str
    line_id: str
    item_id: str
    status: str
    planned_start: datetime
    due_date: date
    qty_remaining: float
    reasons: list[Literal["component shortage", "asset risk"]]
    missing_components: list[MissingComponent]
    risky_assets: list[AtRiskAsset]


class WorkOrdersAtRiskResult(ToolResult):
    """Upcoming work orders short of components or on a line with an at-risk asset."""

    window_end: date = Field(description="Last day of the look-ahead window.")
    checked_count: int = Field(description="Planned/released WOs starting in the window that were checked.")
    truncated: bool
    at_risk: list[WorkOrderAtRisk]


def work_orders_at_risk(ctx: ToolContext, args: WorkOrdersAtRiskArgs) -> WorkOrdersAtRiskResult:
    """Check upcoming WOs against available stock (allocated in planned-start order) and asset risk."""
    wo, bom, wm = table("work_orders"), table("bom_lines"), table("wo_materials")
    window_end = ctx.today + timedelta(days=args.days)
    end_dt = datetime.combine(window_end + timedelta(days=1), datetime.min.time())
    with ctx.engine.connect() as conn:
        lines = lines_in_scope(conn, ctx.scope, line_id=args.line_id, site_id=args.site_id)
        sites = sorted(set(lines.values()))
        # Every open WO at these sites competes for the same site stock, so allocation covers all lines;
        # running WOs started earlier and draw first.
        wos = list(conn.execute(
            select(wo).where(ctx.scope.site_clause(wo.c.site_id), wo.c.site_id.in_(sites),
                             wo.c.status.in_(("planned", "released", "running")), wo.c.planned_start < end_dt)
            .order_by(wo.c.planned_start, wo.c.wo_id)))
        parents = sorted({w.item_id for w in wos})
        bom_rows = list(conn.execute(select(bom).where(bom.c.parent_item_id.in_(parents))
                                     .order_by(bom.c.parent_item_id, bom.c.component_item_id)))
        issued: dict[tuple[str, str], float] = {
            (r.wo_id, r.item_id): float(r.qty) for r in conn.execute(
                select(wm.c.wo_id, wm.c.item_id, func.sum(wm.c.qty_issued).label("qty"))
                .join(wo, wo.c.wo_id == wm.c.wo_id)
                .where(ctx.scope.site_clause(wo.c.site_id), wm.c.wo_id.in_([w.wo_id for w in wos]))
                .group_by(wm.c.wo_id, wm.c.item_id))}
        components: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for b in bom_rows:
            components[b.parent_item_id].append((b.component_item_id, float(b.qty_per)))
        needed = {(w.site_id, c) for w in wos for c, _ in components[w.item_id]}
        stock = available_stock(conn, ctx.scope, needed)
        incoming = incoming_po_supply(conn, ctx.scope, needed) if args.count_incoming_po else {}
        risky = latest_asset_health(conn, ctx.scope, min_probability=args.asset_risk_threshold,
                                    line_ids=sorted(lines))
    assets_by_line: dict[str, list[AtRiskAsset]] = defaultdict(list)
    for a in risky:
        if a.line_id:
            assets_by_line[a.line_id].append(AtRiskAsset(
                asset_id=a.asset_id, machine_id=a.machine_id, failure_probability=a.failure_probability,
                horizon_days=a.horizon_days, top_signal=a.top_signal))
    at_risk: list[WorkOrderAtRisk] = []
    checked = 0
    taken: dict[tuple[str, str], float] = defaultdict(float)
    for w in wos:
        remaining = max(float(w.qty_planned - w.qty_completed), 0.0)
        start_day = max(w.planned_start.date(), ctx.today)
        missing = []
        for comp, qty_per in components[w.item_id]:
            key = (w.site_id, comp)
            need = open_component_need(qty_per, float(w.qty_planned), issued.get((w.wo_id, comp), 0.0))
            arriving = sum(q for day, q in incoming.get(key, ()) if day <= start_day)
            left = max(stock[key] + arriving - taken[key], 0.0)
            if need > left + _EPS:
                missing.append(MissingComponent(item_id=comp, required_qty=round(need, 3),
                                                available_qty=round(left, 3), incoming_qty=round(arriving, 3),
                                                shortfall_qty=round(need - left, 3)))
            taken[key] += min(need, left)
        if w.status not in ("planned", "released") or w.line_id not in lines:
            continue
        checked += 1
        reasons: list[Literal["component shortage", "asset risk"]] = []
        if missing:
            reasons.append("component shortage")
        if assets_by_line[w.line_id]:
            reasons.append("asset risk")
        if reasons:
            at_risk.append(WorkOrderAtRisk(
                wo_id=w.wo_id, site_id=w.site_id, line_id=w.line_id, item_id=w.item_id, status=w.status,
                planned_start=w.planned_start, due_date=w.due_date, qty_remaining=remaining, reasons=reasons,
                missing_components=missing, risky_assets=assets_by_line[w.line_id]))
    shown = at_risk[: args.limit]
    ids: list[str] = []
    for r in shown:
        ids += [r.wo_id, *(m.item_id for m in r.missing_components), *(a.asset_id for a in r.risky_assets)]
    return WorkOrdersAtRiskResult(
        as_of=ctx.as_of, record_ids=list(dict.fromkeys(ids)), window_end=window_end, checked_count=checked,
        truncated=len(at_risk) > len(shown), at_risk=shown)


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="work_orders",
        description=(
            "List production work orders filtered by line, site, status ('open' = not finished), item, "
            "planned window or due date, with planned/completed/scrapped quantities, % progress and a late "
            "flag (due before today and not completed). Use it to answer 'what is running/planned on line "
            "X', 'which WOs are late', or to look up one item's WOs."),
        domain="production", args_model=WorkOrdersArgs, result_model=WorkOrdersResult, fn=work_orders,
    ),
    ToolSpec(
        name="work_orders_at_risk",
        description=(
            "Find planned/released work orders starting within the next N days (default 7) that are at "
            "risk: components short (BOM requirement minus qty already issued exceeds available "
            "unrestricted stock plus open PO qty due by the WO's start, allocated to WOs in planned-start "
            "order) — listing each missing component and shortfall — or scheduled on a line whose asset "
            "has a failure probability ≥ 0.8 ('asset risk'). Use it for 'which upcoming orders can't run / "
            "are at risk and why'."),
        domain="production", args_model=WorkOrdersAtRiskArgs, result_model=WorkOrdersAtRiskResult,
        fn=work_orders_at_risk,
    ),
    *LINE_TOOLS,
)
