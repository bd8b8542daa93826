"""Quality read tools: scrap analysis (with input-lot genealogy), quality events and lot genealogy."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy import select

from tools.ops._line_metrics import DayOutput, OutputRecord, daily_output, output_records, scrap_rate, scrap_trend
from tools.ops._lot_genealogy import GENEALOGY_TOOLS
from tools.ops.common import Period, PeriodArgs, Trend, lines_in_scope, not_before, require_ids
from tools.plant.schema import table
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec

__all__ = [
    "TOOLS",
    "LotScrap",
    "QualityEventRow",
    "QualityEventsArgs",
    "QualityEventsResult",
    "ReasonScrap",
    "ScrapAnalysisArgs",
    "ScrapAnalysisResult",
    "WorkOrderScrap",
    "quality_events",
    "scrap_analysis",
]


class ScrapAnalysisArgs(PeriodArgs):
    """Where and over which period to analyse scrap."""

    days: int = Field(10, ge=1, le=366, description="Length of the period in days, ending today (inclusive). "
                                                    "Ignored when start is given.")
    line_id: str | None = Field(None, description="Production line, e.g. P100-PK1.")
    site_id: str | None = Field(None, description="Site, e.g. P100 (all its lines).")
    top: int = Field(10, ge=1, le=100, description="Rows kept in each breakdown (work orders, input lots).")
    baseline_days: int = Field(28, ge=0, le=180, description="Days before the period whose work orders join the "
                               "comparison baseline for input lots (a lot every WO of the period consumed can "
                               "only be judged against earlier WOs).")


class ReasonScrap(BaseModel):
    """Scrap of one reason code."""

    reason_code: str
    qty: float
    share: float = Field(description="Share of all scrap in the period.")


class WorkOrderScrap(BaseModel):
    """Scrap and good output of one work order in the period."""

    wo_id: str
    item_id: str | None
    line_id: str
    good_qty: float
    scrap_qty: float
    scrap_rate: float | None


class LotScrap(BaseModel):
    """Scrap on the work orders that consumed one input lot (via wo_materials)."""

    lot_id: str
    item_id: str
    supplier_id: str | None = Field(description="Supplier of a purchased lot.")
    supplier_name: str | None
    work_orders: int = Field(description="Work orders with output in the period that consumed this lot.")
    scrap_qty: float = Field(description="Scrap recorded in the period on those work orders.")
    share: float = Field(description="That scrap as a share of the scrap on all work orders in the period.")
    scrap_rate: float | None = Field(description="Scrap rate in the period on the work orders that consumed "
                                                 "the lot.")
    baseline_scrap_rate: float | None = Field(
        description="Scrap rate of the other work orders (that did not consume the lot) over the comparison "
                    "window: the period plus baseline_days before it.")
    excess_share: float = Field(
        description="Over the comparison window, the consuming WOs' share of scrap minus their share of output "
                    "(good + scrap): where scrap concentrates beyond the volume run (ranking key).")


class ScrapAnalysisResult(ToolResult):
    """Scrap over the period broken down by day, reason, work order and consumed input lot."""

    period_start: date
    period_end: date
    baseline_start: date = Field(description="First day of the comparison window used for input lots.")
    line_ids: list[str] = Field(description="Lines analysed.")
    good_qty: float
    scrap_qty: float
    scrap_rate: float | None
    baseline_scrap_rate: float | None = Field(
        None, description="Scrap rate of the same lines over the baseline_days before the period (their own "
                          "history, the reference the period is judged against); null without output then.")
    trend: Trend = Field(description="Daily scrap-rate trend with a plain-language direction.")
    by_day: list[DayOutput]
    by_reason: list[ReasonScrap]
    by_work_order: list[WorkOrderScrap] = Field(description="Work orders with the most scrap first.")
    by_input_lot: list[LotScrap] = Field(
        description="Input lots consumed by the period's WOs, by excess share: the lot whose WOs made far "
                    "more of the scrap than of the output comes first.")


_Consumption = tuple[str, str, str, str | None, str | None]
"""(wo_id, lot_id, lot item, lot supplier id, supplier name) of one wo_materials row."""


def _per_wo(records: list[OutputRecord]) -> tuple[dict[str, float], dict[str, float]]:
    good: dict[str, float] = defaultdict(float)
    scrap: dict[str, float] = defaultdict(float)
    for r in records:
        if r.wo_id:
            (good if r.kind == "good" else scrap)[r.wo_id] += r.qty
    return good, scrap


def _lot_breakdown(consumed: list[_Consumption], period_records: list[OutputRecord],
                   window_records: list[OutputRecord]) -> list[LotScrap]:
    """Scrap per input lot consumed by a WO of the period, ranked by excess share over the comparison window."""
    p_good, p_scrap = _per_wo(period_records)
    w_good, w_scrap = _per_wo(window_records)
    users: dict[str, set[str]] = defaultdict(set)
    info: dict[str, tuple[str, str | None, str | None]] = {}
    for wo_id, lot_id, item_id, supplier_id, supplier_name in consumed:
        users[lot_id].add(wo_id)
        info[lot_id] = (item_id, supplier_id, supplier_name)
    p_total_scrap = sum(p_scrap.values())
    w_total_good, w_total_scrap = sum(w_good.values()), sum(w_scrap.values())
    out = []
    for lot_id, wos in users.items():
        now = wos & (p_good.keys() | p_scrap.keys())
        if not now:
            continue
        good, scrap = sum(p_good[w] for w in now), sum(p_scrap[w] for w in now)
        # A lot consumed by every WO explains nothing, and one consumed alongside the culprit lot inherits
        # its scrap: scrap share beyond output share, against WOs that did not use the lot, separates them.
        wg, ws = sum(w_good[w] for w in wos), sum(w_scrap[w] for w in wos)
        scrap_part = ws / w_total_scrap if w_total_scrap > 0 else 0.0
        output_part = (wg + ws) / (w_total_good + w_total_scrap) if w_total_good + w_total_scrap > 0 else 0.0
        item_id, supplier_id, supplier_name = info[lot_id]
        out.append(LotScrap(
            lot_id=lot_id, item_id=item_id, supplier_id=supplier_id, supplier_name=supplier_name,
            work_orders=len(now), scrap_qty=round(scrap, 3),
            share=round(scrap / p_total_scrap, 4) if p_total_scrap > 0 else 0.0, scrap_rate=scrap_rate(good, scrap),
            baseline_scrap_rate=scrap_rate(w_total_good - wg, w_total_scrap - ws),
            excess_share=round(scrap_part - output_part, 4)))
    return sorted(out, key=lambda x: (-x.excess_share, -x.share, x.lot_id))


def scrap_analysis(ctx: ToolContext, args: ScrapAnalysisArgs) -> ScrapAnalysisResult:
    """Scrap by day, reason, work order and consumed input lot (with the lot's supplier)."""
    period = args.period("scrap_analysis", ctx.today)
    window = Period(start=period.start - timedelta(days=args.baseline_days), end=period.end)
    wm, lots, sup, wo = table("wo_materials"), table("lots"), table("suppliers"), table("work_orders")
    with ctx.engine.connect() as conn:
        lines = lines_in_scope(conn, ctx.scope, line_id=args.line_id, site_id=args.site_id)
        window_records = output_records(conn, ctx.scope, window, line_ids=lines)
        window_wos = sorted({r.wo_id for r in window_records if r.wo_id})
        wo_items = {r.wo_id: r.item_id for r in conn.execute(
            select(wo.c.wo_id, wo.c.item_id).where(ctx.scope.site_clause(wo.c.site_id),
                                                   wo.c.wo_id.in_(window_wos)))}
        consumed = [(r.wo_id, r.lot_id, r.item_id, r.supplier_id, r.name) for r in conn.execute(
            select(wm.c.wo_id, lots.c.lot_id, lots.c.item_id, lots.c.supplier_id, sup.c.name)
            .join(lots, lots.c.lot_id == wm.c.lot_id).join(wo, wo.c.wo_id == wm.c.wo_id)
            .outerjoin(sup, sup.c.supplier_id == lots.c.supplier_id)
            .where(ctx.scope.site_clause(wo.c.site_id), ctx.scope.site_clause(lots.c.site_id),
                   wm.c.wo_id.in_(window_wos))
            .order_by(lots.c.lot_id, wm.c.wo_id))]
    records = [r for r in window_records if r.at >= period.start_dt]
    before = [r for r in window_records if r.at < period.start_dt]
    baseline_rate = scrap_rate(sum(r.qty for r in before if r.kind == "good"),
                               sum(r.qty for r in before if r.kind == "scrap"))
    days = daily_output(records, period)
    good_total = sum(d.good_qty for d in days)
    scrap_total = sum(d.scrap_qty for d in days)
    reasons: dict[str, float] = defaultdict(float)
    for r in records:
        if r.kind == "scrap":
            reasons[r.reason_code or "unspecified"] += r.qty
    wo_good, wo_scrap = _per_wo(records)
    wo_line = {r.wo_id: r.line_id for r in records if r.wo_id}
    by_wo = sorted((WorkOrderScrap(wo_id=w, item_id=wo_items.get(w), line_id=wo_line[w],
                                   good_qty=round(wo_good[w], 3), scrap_qty=round(wo_scrap[w], 3),
                                   scrap_rate=scrap_rate(wo_good[w], wo_scrap[w])) for w in wo_line),
                   key=lambda x: (-x.scrap_qty, x.wo_id))[: args.top]
    by_lot = _lot_breakdown(consumed, records, window_records)[: args.top]
    ids = [*lines, *(w.wo_id for w in by_wo), *(x.lot_id for x in by_lot),
           *(x.supplier_id for x in by_lot if x.supplier_id)]
    return ScrapAnalysisResult(
        as_of=ctx.as_of, record_ids=list(dict.fromkeys(ids)), period_start=period.start, period_end=period.end,
        baseline_start=window.start, line_ids=list(lines), good_qty=round(good_total, 3),
        scrap_qty=round(scrap_total, 3), scrap_rate=scrap_rate(good_total, scrap_total),
        baseline_scrap_rate=baseline_rate, trend=scrap_trend(days),
        by_day=days,
        by_reason=[ReasonScrap(reason_code=k, qty=round(v, 3),
                               share=round(v / scrap_total, 4) if scrap_total > 0 else 0.0)
                   for k, v in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))],
        by_work_order=by_wo, by_input_lot=by_lot)


class QualityEventsArgs(ToolArgs):
    """Filters for quality events (all optional; combine freely)."""

    site_id: str | None = Field(None, description="Site, e.g. P100.")
    line_id: str | None = Field(None, description="Production line, e.g. P100-PK1.")
    lot_id: str | None = Field(None, description="Lot, e.g. LOT-P100-0423.")
    item_id: str | None = Field(None, description="Item, e.g. FG-1001.")
    wo_id: str | None = Field(None, description="Work order, e.g. WO-5123.")
    defect_code: str | None = Field(None, description="Defect code, e.g. SEAL_LEAK.")
    severity: Literal["minor", "major", "critical"] | None = None
    status: Literal["open", "contained", "closed", "unresolved"] | None = Field(
        None, description="Event status; 'unresolved' means open or contained.")
    days: int | None = Field(None, ge=1, le=3650, description="Only events detected in the last N days "
                                                              "(ending today); default no time limit.")
    start: date | None = Field(None, description="Only events detected on or after this day.")
    end: date | None = Field(None, description="Only events detected on or before this day.")
    limit: int = Field(50, ge=1, le=500, description="Maximum number of events returned.")

    @field_validator("end")
    @classmethod
    def _end_not_before_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        return not_before(value, info, "start")


class QualityEventRow(BaseModel):
    """One quality event; ``description`` is the recorded free text, unmodified."""

    qe_id: str
    site_id: str
    line_id: str | None
    wo_id: str | None
    lot_id: str | None
    item_id: str
    defect_code: str
    severity: str
    qty_affected: float
    detected_at: datetime
    status: str
    description: str


class QualityEventsResult(ToolResult):
    """Matching quality events (newest first) and counts over all matches."""

    total_matching: int
    by_defect: dict[str, int] = Field(description="Events per defect code over all matches.")
    by_severity: dict[str, int]
    by_status: dict[str, int]
    truncated: bool
    events: list[QualityEventRow]


def quality_events(ctx: ToolContext, args: QualityEventsArgs) -> QualityEventsResult:
    """Quality events by site, line, lot, item, WO, defect, severity, status and period."""
    qe, lots, wo, items = table("quality_events"), table("lots"), table("work_orders"), table("items")
    with ctx.engine.connect() as conn:
        if args.site_id or args.line_id:
            lines_in_scope(conn, ctx.scope, line_id=args.line_id, site_id=args.site_id)
        if args.lot_id:
            require_ids(conn, "lot", lots.c.lot_id, [args.lot_id], ctx.scope.site_clause(lots.c.site_id))
        if args.wo_id:
            require_ids(conn, "work order", wo.c.wo_id, [args.wo_id], ctx.scope.site_clause(wo.c.site_id))
        if args.item_id:
            require_ids(conn, "item", items.c.item_id, [args.item_id])
        stmt = select(qe).where(ctx.scope.site_clause(qe.c.site_id)).order_by(qe.c.detected_at.desc(),
                                                                             qe.c.qe_id)
        for column, value in (("site_id", args.site_id), ("line_id", args.line_id), ("lot_id", args.lot_id),
                              ("item_id", args.item_id), ("wo_id", args.wo_id),
                              ("defect_code", args.defect_code), ("severity", args.severity)):
            if value is not None:
                stmt = stmt.where(qe.c[column] == value)
        if args.status == "unresolved":
            stmt = stmt.where(qe.c.status.in_(("open", "contained")))
        elif args.status:
            stmt = stmt.where(qe.c.status == args.status)
        start = args.start or (ctx.today - timedelta(days=args.days - 1) if args.days else None)
        if start:
            stmt = stmt.where(qe.c.detected_at >= datetime.combine(start, time.min))
        if args.end:
            stmt = stmt.where(qe.c.detected_at < datetime.combine(args.end + timedelta(days=1), time.min))
        rows = [QualityEventRow.model_validate(r._mapping) for r in conn.execute(stmt)]
    shown = rows[: args.limit]
    named = [n for n in (args.line_id, args.lot_id, args.item_id, args.wo_id) if n]
    return QualityEventsResult(
        as_of=ctx.as_of, record_ids=list(dict.fromkeys(named + [r.qe_id for r in rows])),
        total_matching=len(rows), by_defect=dict(Counter(r.defect_code for r in rows).most_common()),
        by_severity=dict(Counter(r.severity for r in rows)), by_status=dict(Counter(r.status for r in rows)),
        truncated=len(rows) > len(shown), events=shown)


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="scrap_analysis",
        description=(
            "Analyse scrap on a line (or a site, or every line in scope) over a period (default last 10 "
            "days): scrap rate overall and per day with its trend ('rising'/'stable'/'falling'), scrap by "
            "reason, by work order, and by consumed input lot (genealogy) — for each lot the WOs that consumed "
            "it, their share of the scrap vs their share of output, their scrap rate vs the other WOs, and "
            "the lot's supplier; the lot where scrap concentrates comes first. Use it to find why scrap is "
            "up and whether one supplier lot is behind it."),
        domain="quality", args_model=ScrapAnalysisArgs, result_model=ScrapAnalysisResult, fn=scrap_analysis,
    ),
    ToolSpec(
        name="quality_events",
        description=(
            "List quality events (non-conformances) filtered by site, line, lot, item, work order, defect "
            "code, severity, status ('unresolved' = open or contained) and detection period, newest first, "
            "with counts by defect, severity and status. The description field is free text recorded by "
            "people and is returned as-is."),
        domain="quality", args_model=QualityEventsArgs, result_model=QualityEventsResult, fn=quality_events,
    ),
    *GENEALOGY_TOOLS,
)
