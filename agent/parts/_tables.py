"""Table builders: list answers (exception triage, PO lines, work orders, stock positions) as table parts."""

from __future__ import annotations

from typing import Any

from agent.parts._columns import Col, table
from agent.parts.model import TablePart
from tools.ops.production import WorkOrdersAtRiskResult, WorkOrdersResult
from tools.scope import DataScope
from tools.supply.inventory import BelowReorderResult, InventoryLookupResult
from tools.supply.procurement import OpenPoLinesResult
from tools.supply.triage import ALL_CATEGORIES, TriageResult

__all__ = ["below_reorder_table", "inventory_table", "open_po_table", "triage_table", "work_orders_at_risk_table",
           "work_orders_table"]

_PO_PRICE = "po_lines.unit_price"

_TRIAGE = (
    Col("category", "Category", "text", lambda r: r[0].replace("_", " ")),
    Col("record", "Record", "text", lambda r: r[2]),
    Col("site_id", "Site", "text", lambda r: r[1].site_id),
    Col("supplier", "Supplier", "text",
        lambda r: getattr(r[1], "supplier_id", None) or getattr(r[1], "suggested_supplier_id", None)),
    Col("item_id", "Item", "text", lambda r: r[1].item_id),
    Col("qty", "Qty", "number", lambda r: getattr(r[1], "qty_open", None) if r[0] != "order_now"
        else r[1].shortage_qty),
    Col("date", "Date", "date", lambda r: getattr(r[1], "expected_receipt_date", None)
        or getattr(r[1], "first_shortage_date", None)),
    Col("reason", "Reason", "text", lambda r: r[1].reason),
)


def triage_table(result: Any, scope: DataScope) -> list[TablePart]:
    """The buyer's exceptions, category by category (a PO line's id, or the item of an ``order_now`` row)."""
    if not isinstance(result, TriageResult):
        return []
    rows = []
    for category in ALL_CATEGORIES:
        for row in getattr(result, category):
            record = row.item_id if category == "order_now" else row.line_id
            rows.append((record, (category, row, record)))
    if not rows:
        return []
    return [table("Exceptions by category", "buyer_exception_triage", _TRIAGE, rows, scope=scope,
                  total=sum(result.counts.values()), record_column="record")]


_OPEN_PO = (
    Col("line_id", "PO line", "text", lambda r: r.line_id),
    Col("supplier_id", "Supplier", "text", lambda r: r.supplier_id),
    Col("item_id", "Item", "text", lambda r: r.item_id),
    Col("site_id", "Site", "text", lambda r: r.site_id),
    Col("qty_open", "Open qty", "number", lambda r: r.qty_open),
    Col("uom", "UoM", "text", lambda r: r.uom),
    Col("need_date", "Need date", "date", lambda r: r.need_date),
    Col("expected_receipt_date", "Expected", "date", lambda r: r.expected_receipt_date),
    Col("days_late", "Days late", "number", lambda r: r.days_late),
    Col("unit_price", "Unit price", "number", lambda r: r.unit_price, field=_PO_PRICE),
    Col("open_value", "Open value", "number", lambda r: r.open_value, field=_PO_PRICE),
    Col("currency", "Currency", "text", lambda r: r.currency, field=_PO_PRICE),
)


def open_po_table(result: Any, scope: DataScope) -> list[TablePart]:
    """Open PO lines; prices only for a scope that sees PO prices row by row."""
    if not isinstance(result, OpenPoLinesResult) or not result.rows:
        return []
    return [table("Open PO lines", "open_po_lines", _OPEN_PO, [(r.line_id, r) for r in result.rows], scope=scope,
                  total=result.total_lines, record_column="line_id")]


_WORK_ORDERS = (
    Col("wo_id", "Work order", "text", lambda r: r.wo_id),
    Col("line_id", "Line", "text", lambda r: r.line_id),
    Col("item_id", "Item", "text", lambda r: r.item_id),
    Col("status", "Status", "text", lambda r: r.status),
    Col("qty_planned", "Planned", "number", lambda r: r.qty_planned),
    Col("qty_completed", "Completed", "number", lambda r: r.qty_completed),
    Col("progress_pct", "Progress", "number", lambda r: r.progress_pct, unit="%"),
    Col("planned_start", "Start", "date", lambda r: r.planned_start.date()),
    Col("due_date", "Due", "date", lambda r: r.due_date),
    Col("days_late", "Days late", "number", lambda r: r.days_late),
)


def work_orders_table(result: Any, scope: DataScope) -> list[TablePart]:
    """Work orders with their progress."""
    if not isinstance(result, WorkOrdersResult) or not result.work_orders:
        return []
    return [table("Work orders", "work_orders", _WORK_ORDERS, [(r.wo_id, r) for r in result.work_orders],
                  scope=scope, total=result.total_matching, record_column="wo_id")]


_AT_RISK = (
    Col("wo_id", "Work order", "text", lambda r: r.wo_id),
    Col("line_id", "Line", "text", lambda r: r.line_id),
    Col("item_id", "Item", "text", lambda r: r.item_id),
    Col("planned_start", "Start", "date", lambda r: r.planned_start.date()),
    Col("due_date", "Due", "date", lambda r: r.due_date),
    Col("qty_remaining", "Qty remaining", "number", lambda r: r.qty_remaining),
    Col("reasons", "Why at risk", "text", lambda r: ", ".join(r.reasons)),
    Col("short", "Short components", "text",
        lambda r: ", ".join(f"{m.item_id} {m.shortfall_qty:g}" for m in r.missing_components) or None),
    Col("assets", "Assets at risk", "text", lambda r: ", ".join(a.asset_id for a in r.risky_assets) or None),
)


def work_orders_at_risk_table(result: Any, scope: DataScope) -> list[TablePart]:
    """Upcoming work orders at risk, and why."""
    if not isinstance(result, WorkOrdersAtRiskResult) or not result.at_risk:
        return []
    return [table("Work orders at risk", "work_orders_at_risk", _AT_RISK, [(r.wo_id, r) for r in result.at_risk],
                  scope=scope, total=len(result.at_risk), record_column="wo_id")]


_INVENTORY = (
    Col("lot_id", "Lot", "text", lambda r: r.lot_id),
    Col("item_id", "Item", "text", lambda r: r.item_id),
    Col("site_id", "Site", "text", lambda r: r.site_id),
    Col("location", "Location", "text", lambda r: r.location),
    Col("stock_status", "Stock status", "text", lambda r: r.stock_status),
    Col("qty_on_hand", "On hand", "number", lambda r: r.qty_on_hand),
    Col("qty_reserved", "Reserved", "number", lambda r: r.qty_reserved),
    Col("qty_available", "Available", "number", lambda r: r.qty_available),
    Col("uom", "UoM", "text", lambda r: r.uom),
)


def inventory_table(result: Any, scope: DataScope) -> list[TablePart]:
    """Stock positions lot by lot."""
    if not isinstance(result, InventoryLookupResult) or not result.rows:
        return []
    return [table("Stock by lot", "inventory_lookup", _INVENTORY, [(r.lot_id, r) for r in result.rows],
                  scope=scope, total=result.total_rows, record_column="lot_id")]


_BELOW = (
    Col("item_id", "Item", "text", lambda r: r.item_id),
    Col("item_description", "Description", "text", lambda r: r.item_description),
    Col("site_id", "Site", "text", lambda r: r.site_id),
    Col("available", "Available", "number", lambda r: r.available),
    Col("reorder_min", "Reorder min", "number", lambda r: r.reorder_min),
    Col("shortfall_to_min", "Short of min", "number", lambda r: r.shortfall_to_min),
    Col("open_po_qty", "On order", "number", lambda r: r.open_po_qty),
    Col("next_receipt_date", "Next receipt", "date", lambda r: r.next_receipt_date),
    Col("uom", "UoM", "text", lambda r: r.uom),
)


def below_reorder_table(result: Any, scope: DataScope) -> list[TablePart]:
    """Items below their reorder minimum, most severe first."""
    if not isinstance(result, BelowReorderResult) or not result.rows:
        return []
    return [table("Items below reorder minimum", "items_below_reorder", _BELOW, [(r.item_id, r) for r in result.rows],
                  scope=scope, total=result.total_below, record_column="item_id")]
