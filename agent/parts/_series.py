"""Series builders: a scrap trend with its baseline, a stock projection over the horizon, asset risk."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agent.parts._columns import percent
from agent.parts.model import Baseline, SeriesLine, SeriesPart, SeriesPoint
from tools.ops.maintenance import AssetsAtRiskResult
from tools.ops.quality import ScrapAnalysisResult
from tools.scope import DataScope
from tools.supply.inventory import ProjectedStockResult

__all__ = ["asset_risk_series", "projection_series", "scrap_series"]


def scrap_series(result: Any, scope: DataScope) -> list[SeriesPart]:
    """The daily scrap rate of the period (percent), the lines' own baseline as the reference line."""
    if not isinstance(result, ScrapAnalysisResult) or all(d.scrap_rate is None for d in result.by_day):
        return []
    where = ", ".join(result.line_ids[:4]) + (" …" if len(result.line_ids) > 4 else "")
    baseline = percent(result.baseline_scrap_rate)
    before = result.period_start - timedelta(days=1)
    return [SeriesPart(
        title=f"Scrap rate by day, {where}", tool="scrap_analysis", chart="line", x_kind="date", x_label="Day",
        y_label="Scrap rate", unit="%",
        series=(SeriesLine(name="Scrap rate",
                           points=tuple(SeriesPoint(x=d.day.isoformat(), y=percent(d.scrap_rate))
                                        for d in result.by_day)),),
        baseline=None if baseline is None else Baseline(
            label=f"Baseline {result.baseline_start.isoformat()} to {before.isoformat()}", value=baseline))]


def projection_series(result: Any, scope: DataScope) -> list[SeriesPart]:
    """Projected closing stock per site over the horizon (one chart a site), the reorder minimum as reference."""
    if not isinstance(result, ProjectedStockResult):
        return []
    parts = []
    for projection in result.projections:
        points = [SeriesPoint(x=d.date.isoformat(), y=round(d.closing_balance, 4)) for d in projection.days]
        if points and points[-1].x != projection.horizon_end.isoformat():
            points.append(SeriesPoint(x=projection.horizon_end.isoformat(), y=round(projection.end_balance, 4)))
        if not points:
            continue
        parts.append(SeriesPart(
            title=f"Projected stock of {result.item_id} at {projection.site_id}", tool="projected_stock",
            chart="line", x_kind="date", x_label="Day", y_label=f"Available ({result.uom})", unit=result.uom,
            series=(SeriesLine(name=f"{result.item_id} at {projection.site_id}", points=tuple(points)),),
            baseline=None if projection.reorder_min is None else Baseline(label="Reorder minimum",
                                                                           value=projection.reorder_min)))
    return parts


def asset_risk_series(result: Any, scope: DataScope) -> list[SeriesPart]:
    """Failure probability per asset (percent) as bars, the threshold asked about as reference."""
    if not isinstance(result, AssetsAtRiskResult) or not result.assets:
        return []
    return [SeriesPart(
        title="Failure probability by asset", tool="assets_at_risk", chart="bar", x_kind="text", x_label="Asset",
        y_label="Failure probability", unit="%",
        series=(SeriesLine(name="Failure probability",
                           points=tuple(SeriesPoint(x=a.asset_id, y=percent(a.failure_probability),
                                                    record_id=a.asset_id) for a in result.assets)),),
        baseline=Baseline(label="Threshold", value=percent(result.threshold) or 0.0))]
