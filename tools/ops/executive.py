"""Executive read tools: a one-call summary of each site and the ERP/MES records that disagree."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import Connection, case, func, select

from tools.aggregates import WithheldFigure
from tools.ops._line_metrics import output_records, scrap_rate, state_hours, state_slices
from tools.ops._reconciliation import Disagreement, find_disagreements
from tools.ops.common import UNFINISHED_WO_STATUSES, Period, latest_asset_health, require_ids
from tools.plant.schema import table
from tools.scope import DataScope
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec
from tools.supply.common import open_line_clause, open_lines_select
from tools.supply.open_value import OpenValue, open_value_by_site_and_currency

__all__ = [
    "TOOLS",
    "ExecutiveSummaryArgs",
    "ExecutiveSummaryResult",
    "SiteSummary",
    "executive_summary",
]

_PRICE = "po_lines.unit_price"


class ExecutiveSummaryArgs(ToolArgs):
    """Which sites and window to summarise."""

    site_id: str | None = Field(None, description="One site, e.g. P100; default every site in scope.")
    days: int = Field(7, ge=1, le=90, description="Window in days (ending today) for availability and scrap.")
    risk_threshold: float = Field(0.5, ge=0.0, le=1.0,
                                  description="Failure probability from which an asset counts as at risk.")


class SiteSummary(BaseModel):
    """The headline numbers of one site."""

    site_id: str
    site_name: str
    open_work_orders: int = Field(description="Planned, released, running or held work orders.")
    late_work_orders: int = Field(description="Due before today and not completed or cancelled.")
    availability: float | None = Field(description="Machine availability over the window: running ÷ "
                                                   "(running + setup + down).")
    good_qty: float = Field(description="Good output over the window.")
    scrap_qty: float = Field(description="Scrap over the window.")
    scrap_rate: float | None = Field(description="scrap ÷ (good + scrap) over the window.")
    open_quality_events: dict[str, int] = Field(description="Open or contained quality events by severity.")
    open_po_lines: int
    past_due_po_lines: int = Field(description="Open PO lines whose promised (else need) date is before today.")
    open_po_value_by_currency: dict[str, float | None] | None = Field(
        description="PO currency (e.g. USD, MXN) → Σ open qty × unit price of the site's open PO lines in that "
                    "currency. One total per currency: never converted (no FX rates exist) and never summed "
                    "across currencies or sites. {} when the site has no open PO line; null when the caller may "
                    "not aggregate PO prices; a currency's total is null when it is withheld (see "
                    "open_po_value_withheld).")
    open_po_value_withheld: dict[str, WithheldFigure] = Field(
        default_factory=dict,
        description="PO currency → why the site's open PO value in it is withheld: the caller sees PO prices only "
                    "in aggregate and that total would reveal a line's price (too few lines, or all at one price).")
    assets_at_risk: list[str] = Field(description="Assets whose latest failure probability ≥ the threshold.")
    reconciliation_issues: int = Field(description="ERP/MES disagreements found at the site.")


class ExecutiveSummaryResult(ToolResult):
    """Per-site summary plus the ERP/MES disagreements detected."""

    period_start: date
    period_end: date
    sites: list[SiteSummary]
    reconciliation: list[Disagreement] = Field(
        description="Records where ERP and MES disagree, detected by the hold_vs_stock_status, "
                    "wo_completion_vs_receipt and po_receipt_vs_lot rules.")


def _wo_counts(conn: Connection, scope: DataScope, sites: list[str], today: date) -> dict[str, tuple[int, int]]:
    wo = table("work_orders")
    late = (wo.c.due_date < today) & wo.c.status.not_in(("completed", "cancelled"))
    stmt = (select(wo.c.site_id, func.sum(case((wo.c.status.in_(UNFINISHED_WO_STATUSES), 1), else_=0)),
                   func.sum(case((late, 1), else_=0)))
            .where(scope.site_clause(wo.c.site_id), wo.c.site_id.in_(sites)).group_by(wo.c.site_id))
    return {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in conn.execute(stmt)}


def _po_counts(conn: Connection, scope: DataScope, sites: list[str], today: date) -> dict[str, tuple[int, int]]:
    po, pl = table("purchase_orders"), table("po_lines")
    past_due = func.coalesce(pl.c.promised_date, pl.c.need_date) < today
    stmt = (select(po.c.site_id, func.count(), func.sum(case((past_due, 1), else_=0)))
            .join(po, po.c.po_id == pl.c.po_id)
            .where(scope.site_clause(po.c.site_id), po.c.site_id.in_(sites), open_line_clause(po, pl))
            .group_by(po.c.site_id))
    return {r[0]: (int(r[1]), int(r[2] or 0)) for r in conn.execute(stmt)}


def _po_values(conn: Connection, scope: DataScope, sites: list[str]) -> dict[str, OpenValue] | None:
    """Site → PO currency → open PO value, summed in SQL; None when the scope may not aggregate PO prices
    (the price column is only ever selected, inside a SUM, when it may)."""
    po = table("purchase_orders")
    return open_value_by_site_and_currency(conn, scope, open_lines_select(scope).where(po.c.site_id.in_(sites)))


def _qe_counts(conn: Connection, scope: DataScope, sites: list[str]) -> dict[str, dict[str, int]]:
    qe = table("quality_events")
    stmt = (select(qe.c.site_id, qe.c.severity, func.count())
            .where(scope.site_clause(qe.c.site_id), qe.c.site_id.in_(sites),
                   qe.c.status.in_(("open", "contained")))
            .group_by(qe.c.site_id, qe.c.severity).order_by(qe.c.site_id, qe.c.severity))
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for site, severity, count in conn.execute(stmt):
        out[site][severity] = int(count)
    return out


def executive_summary(ctx: ToolContext, args: ExecutiveSummaryArgs) -> ExecutiveSummaryResult:
    """Headline numbers per site in scope and the ERP/MES disagreements the reconciliation rules find."""
    s = table("sites")
    period = Period(start=ctx.today - timedelta(days=args.days - 1), end=ctx.today)
    with ctx.engine.connect() as conn:
        if args.site_id:
            require_ids(conn, "site", s.c.site_id, [args.site_id], ctx.scope.site_clause(s.c.site_id))
        stmt = select(s.c.site_id, s.c.name).where(ctx.scope.site_clause(s.c.site_id)).order_by(s.c.site_id)
        if args.site_id:
            stmt = stmt.where(s.c.site_id == args.site_id)
        names = {r.site_id: r.name for r in conn.execute(stmt)}
        sites = list(names)
        wos = _wo_counts(conn, ctx.scope, sites, ctx.today)
        pos = _po_counts(conn, ctx.scope, sites, ctx.today)
        values = _po_values(conn, ctx.scope, sites)
        qes = _qe_counts(conn, ctx.scope, sites)
        slices = state_slices(conn, ctx.scope, period, site_ids=sites)
        records = output_records(conn, ctx.scope, period, site_ids=sites)
        risky = latest_asset_health(conn, ctx.scope, min_probability=args.risk_threshold, site_ids=sites)
        disagreements = find_disagreements(conn, ctx.scope, sites)
    issues = Counter(d.site_id for d in disagreements)
    summaries = []
    for site in sites:
        good = sum(r.qty for r in records if r.site_id == site and r.kind == "good")
        scrap = sum(r.qty for r in records if r.site_id == site and r.kind == "scrap")
        open_wo, late_wo = wos.get(site, (0, 0))
        open_po, due_po = pos.get(site, (0, 0))
        summaries.append(SiteSummary(
            site_id=site, site_name=names[site], open_work_orders=open_wo, late_work_orders=late_wo,
            availability=state_hours(x for x in slices if x.site_id == site).availability,
            good_qty=round(good, 3), scrap_qty=round(scrap, 3), scrap_rate=scrap_rate(good, scrap),
            open_quality_events=qes.get(site, {}), open_po_lines=open_po, past_due_po_lines=due_po,
            open_po_value_by_currency=None if values is None else values.get(site, OpenValue()).totals,
            open_po_value_withheld={} if values is None else values.get(site, OpenValue()).withheld,
            assets_at_risk=[a.asset_id for a in risky if a.site_id == site],
            reconciliation_issues=issues[site]))
    ids = [*sites, *(a.asset_id for a in risky), *(i for d in disagreements for i in d.record_ids)]
    return ExecutiveSummaryResult(as_of=ctx.as_of, record_ids=list(dict.fromkeys(ids)), period_start=period.start,
                                  period_end=period.end, sites=summaries, reconciliation=disagreements)


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="executive_summary",
        description=(
            "One-call plant overview per site in scope: open and late work orders, machine availability and "
            "scrap rate over the last N days (default 7), open quality events by severity, open and past-due "
            "PO lines (and open PO value per PO currency, never converted or summed across currencies, when the "
            "caller may aggregate PO prices and the total cannot reveal a line's price), assets at risk of failure, "
            "and a reconciliation section listing records where ERP and MES disagree (lot on hold but stock "
            "unrestricted; WO completed qty ≠ qty received into its lots; PO line received qty ≠ lots "
            "received). Use it for 'how are the plants doing', morning reports and data-integrity checks."),
        domain="executive", args_model=ExecutiveSummaryArgs, result_model=ExecutiveSummaryResult,
        fn=executive_summary, sensitive_fields=frozenset({_PRICE}),
    ),
)
