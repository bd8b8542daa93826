"""Which tools give which parts, and the screening every part passes before anyone sees it.

A part is built in the tools step from the typed result of a governed call, inside the call's data scope: the
rows are the rows the scoped SQL returned (another site's never are), and a column whose sensitive field the
scope may not see row by row is left out, whatever the tool put in it. Before the answer is sent its parts pass
the output screening the answer text passes (:func:`screen_parts`), so a part never shows what the text could
not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from agent.parts._series import asset_risk_series, projection_series, scrap_series
from agent.parts._tables import (
    below_reorder_table,
    inventory_table,
    open_po_table,
    triage_table,
    work_orders_at_risk_table,
    work_orders_table,
)
from agent.parts.model import SeriesLine, SeriesPart, SeriesPoint, TablePart, TableRow
from guardrails.screening.screen import Finding, OutputScreening
from tools.scope import DataScope
from tools.spec import ToolResult

__all__ = ["MIN_ITEMS", "PART_TOOLS", "parts_for", "screen_parts"]

Part = TablePart | SeriesPart
_Builder = Callable[[Any, DataScope], Sequence[Part]]

_BUILDERS: Mapping[str, _Builder] = {
    "buyer_exception_triage": triage_table,
    "open_po_lines": open_po_table,
    "work_orders": work_orders_table,
    "work_orders_at_risk": work_orders_at_risk_table,
    "inventory_lookup": inventory_table,
    "items_below_reorder": below_reorder_table,
    "scrap_analysis": scrap_series,
    "projected_stock": projection_series,
    "assets_at_risk": asset_risk_series,
}

PART_TOOLS: frozenset[str] = frozenset(_BUILDERS)
"""The tools whose results give parts."""

MIN_ITEMS = 2
"""A table needs two rows and a chart two points: one record reads better as the sentence that names it."""


def _worth_showing(part: Part) -> bool:
    if isinstance(part, TablePart):
        return len(part.rows) >= MIN_ITEMS
    return sum(1 for line in part.series for p in line.points if p.y is not None) >= MIN_ITEMS


def parts_for(tool: str, result: ToolResult | None, scope: DataScope) -> list[Part]:
    """The parts of one governed call's ``result`` (read in ``scope``); none for a refusal or a 'not found'."""
    builder = _BUILDERS.get(tool)
    if builder is None or result is None or result.status != "ok":
        return []
    return [part for part in builder(result, scope) if _worth_showing(part)]


def screen_parts(parts: Iterable[Part], screen: Callable[[str], OutputScreening]) -> tuple[list[Part], list[Finding]]:
    """Every text of ``parts`` through ``screen`` (the answer's output screening): redacted text replaced.

    Each distinct text is screened once; the findings of all of them are returned for the audit."""
    seen: dict[str, str] = {}
    findings: list[Finding] = []

    def shown(text: str) -> str:
        if text not in seen:
            result = screen(text)
            seen[text] = result.text
            findings.extend(result.findings)
        return seen[text]

    def value(cell: Any) -> Any:
        return shown(cell) if isinstance(cell, str) else cell

    out: list[Part] = []
    for part in parts:
        if isinstance(part, TablePart):
            out.append(part.model_copy(update={
                "title": shown(part.title),
                "rows": tuple(TableRow(record_id=row.record_id, cells=tuple(value(c) for c in row.cells))
                              for row in part.rows)}))
        else:
            out.append(part.model_copy(update={
                "title": shown(part.title),
                "series": tuple(SeriesLine(name=shown(line.name), points=tuple(
                    SeriesPoint(x=shown(p.x), y=p.y, record_id=p.record_id) for p in line.points))
                    for line in part.series)}))
    return out, findings
