"""The canonical ERP/MES schema of the demo plant.

Table and column names are fixed: tools, evals and checks rely on them. Extra
columns and tables may be added, never renamed. SQLAlchemy Core keeps the schema
portable between embedded SQLite and a server database such as Postgres.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["ACTION_EXECUTION_STATUSES", "ACTION_TABLES", "ITEM_TYPES", "SENSITIVE_COLUMNS", "metadata", "table"]

metadata = MetaData()

ITEM_TYPES = ("finished", "component", "raw", "spare")

SENSITIVE_COLUMNS = frozenset({
    "supplier_prices.unit_price",
    "po_lines.unit_price",
    "items.standard_cost",
    "suppliers.bank_account",
    "suppliers.notes",
    "sales_orders.unit_price",
})
"""Columns a policy may hide. A tool selects one only if it declares it in ``sensitive_fields`` and
checks the scope first; otherwise it never selects it (tests check both)."""


def _enum(column: str, values: tuple[str, ...]) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})")


Table(
    "plant_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    comment="Generator facts: seed, plant 'today', as-of time of the data.",
)

Table(
    "sites",
    metadata,
    Column("site_id", String(8), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("country", String(2), nullable=False),
    Column("timezone", String(64), nullable=False),
)

Table(
    "items",
    metadata,
    Column("item_id", String(24), primary_key=True),
    Column("description", Text, nullable=False),
    Column("item_type", String(16), nullable=False),
    Column("uom", String(8), nullable=False),
    Column("standard_cost", Float, nullable=False),
    Column("abc_class", String(1), nullable=False),
    _enum("item_type", ITEM_TYPES),
    _enum("abc_class", ("A", "B", "C")),
)

Table(
    "bom_lines",
    metadata,
    Column("parent_item_id", String(24), ForeignKey("items.item_id"), primary_key=True),
    Column("component_item_id", String(24), ForeignKey("items.item_id"), primary_key=True),
    Column("qty_per", Float, nullable=False),
)

Table(
    "suppliers",
    metadata,
    Column("supplier_id", String(16), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("country", String(2), nullable=False),
    Column("on_time_rate", Float, nullable=False),
    Column("quality_ppm", Integer, nullable=False),
    Column("risk_rating", String(8), nullable=False),
    Column("bank_account", String(40), nullable=False),
    Column("buyer_user_id", String(40), nullable=False),
    Column("notes", Text, nullable=False, default=""),
    _enum("risk_rating", ("low", "medium", "high")),
)

Table(
    "supplier_prices",
    metadata,
    Column("supplier_id", String(16), ForeignKey("suppliers.supplier_id"), primary_key=True),
    Column("item_id", String(24), ForeignKey("items.item_id"), primary_key=True),
    Column("valid_from", Date, primary_key=True),
    Column("valid_to", Date, nullable=False),
    Column("unit_price", Float, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("lead_time_days", Integer, nullable=False),
    Column("min_qty", Float, nullable=False),
)

Table(
    "purchase_orders",
    metadata,
    Column("po_id", String(16), primary_key=True),
    Column("supplier_id", String(16), ForeignKey("suppliers.supplier_id"), nullable=False),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("buyer_user_id", String(40), nullable=False),
    Column("status", String(16), nullable=False),
    Column("order_date", Date, nullable=False),
    Column("approved_at", DateTime, nullable=True),
    Column("acknowledged_at", DateTime, nullable=True),
    Column("currency", String(3), nullable=False, default="USD", server_default="USD",
           comment="Currency of the order's line prices (USD or MXN)."),
    _enum("status", ("draft", "approved", "sent", "acknowledged", "closed", "cancelled")),
)

Table(
    "po_lines",
    metadata,
    Column("po_id", String(16), ForeignKey("purchase_orders.po_id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("item_id", String(24), ForeignKey("items.item_id"), nullable=False),
    Column("qty_ordered", Float, nullable=False),
    Column("qty_received", Float, nullable=False, default=0.0),
    Column("unit_price", Float, nullable=False),
    Column("need_date", Date, nullable=False),
    Column("promised_date", Date, nullable=True),
    Column("original_promised_date", Date, nullable=True),
    Column("line_status", String(16), nullable=False, default="open"),
    _enum("line_status", ("open", "closed", "cancelled")),
)

Table(
    "sales_orders",
    metadata,
    Column("so_id", String(16), primary_key=True),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("customer", String(120), nullable=False),
    Column("item_id", String(24), ForeignKey("items.item_id"), nullable=False),
    Column("qty", Float, nullable=False),
    Column("unit_price", Float, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("status", String(16), nullable=False),
    _enum("status", ("open", "allocated", "shipped", "closed", "cancelled")),
)

Table(
    "demand_forecast",
    metadata,
    Column("site_id", String(8), ForeignKey("sites.site_id"), primary_key=True),
    Column("item_id", String(24), ForeignKey("items.item_id"), primary_key=True),
    Column("week_start", Date, primary_key=True),
    Column("qty", Float, nullable=False),
)

Table(
    "lots",
    metadata,
    Column("lot_id", String(24), primary_key=True),
    Column("item_id", String(24), ForeignKey("items.item_id"), nullable=False),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("supplier_id", String(16), ForeignKey("suppliers.supplier_id"), nullable=True),
    Column("po_id", String(16), ForeignKey("purchase_orders.po_id"), nullable=True),
    Column("po_line_no", Integer, nullable=True, comment="PO line the lot was received against."),
    Column("wo_id", String(16), ForeignKey("work_orders.wo_id"), nullable=True,
           comment="Producing work order for manufactured lots."),
    Column("received_at", DateTime, nullable=True),
    Column("qty_received", Float, nullable=False, default=0.0,
           comment="Quantity received (purchased) or produced (manufactured) into the lot."),
    Column("status", String(16), nullable=False),
    _enum("status", ("available", "quality_hold", "blocked", "consumed")),
)

Table(
    "inventory",
    metadata,
    Column("site_id", String(8), ForeignKey("sites.site_id"), primary_key=True),
    Column("location", String(24), primary_key=True),
    Column("item_id", String(24), ForeignKey("items.item_id"), primary_key=True),
    Column("lot_id", String(24), ForeignKey("lots.lot_id"), primary_key=True),
    Column("qty_on_hand", Float, nullable=False),
    Column("qty_reserved", Float, nullable=False, default=0.0),
    Column("reserved_for", String(16), ForeignKey("sales_orders.so_id"), nullable=True,
           comment="Sales order the reserved quantity is pegged to, if any."),
    Column("stock_status", String(24), nullable=False),
    _enum("stock_status", ("unrestricted", "quality_inspection", "blocked")),
)

Table(
    "reorder_points",
    metadata,
    Column("site_id", String(8), ForeignKey("sites.site_id"), primary_key=True),
    Column("item_id", String(24), ForeignKey("items.item_id"), primary_key=True),
    Column("min_qty", Float, nullable=False),
    Column("max_qty", Float, nullable=False),
)

Table(
    "production_lines",
    metadata,
    Column("line_id", String(16), primary_key=True),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("name", String(120), nullable=False),
    Column("line_type", String(16), nullable=False),
    Column("rate_per_hour", Float, nullable=False),
    _enum("line_type", ("packaging", "assembly", "machining")),
)

Table(
    "machines",
    metadata,
    Column("machine_id", String(16), primary_key=True),
    Column("line_id", String(16), ForeignKey("production_lines.line_id"), nullable=False),
    Column("name", String(120), nullable=False),
)

Table(
    "machine_events",
    metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("machine_id", String(16), ForeignKey("machines.machine_id"), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("ended_at", DateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason_code", String(24), nullable=True),
    _enum("state", ("running", "idle", "setup", "down")),
)

Table(
    "machine_settings",
    metadata,
    Column("machine_id", String(16), ForeignKey("machines.machine_id"), primary_key=True),
    Column("parameter", String(48), primary_key=True),
    Column("recorded_at", DateTime, primary_key=True),
    Column("value", Float, nullable=False),
    Column("target", Float, nullable=False),
    Column("tolerance", Float, nullable=False),
)

Table(
    "work_orders",
    metadata,
    Column("wo_id", String(16), primary_key=True),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("line_id", String(16), ForeignKey("production_lines.line_id"), nullable=False),
    Column("item_id", String(24), ForeignKey("items.item_id"), nullable=False),
    Column("so_id", String(16), ForeignKey("sales_orders.so_id"), nullable=True),
    Column("qty_planned", Float, nullable=False),
    Column("qty_completed", Float, nullable=False, default=0.0),
    Column("qty_scrapped", Float, nullable=False, default=0.0),
    Column("status", String(16), nullable=False),
    Column("planned_start", DateTime, nullable=False),
    Column("planned_end", DateTime, nullable=False),
    Column("due_date", Date, nullable=False),
    _enum("status", ("planned", "released", "running", "held", "completed", "cancelled")),
)

Table(
    "production_confirmations",
    metadata,
    Column("confirmation_id", String(16), primary_key=True),
    Column("wo_id", String(16), ForeignKey("work_orders.wo_id"), nullable=False),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("line_id", String(16), ForeignKey("production_lines.line_id"), nullable=False),
    Column("confirmed_at", DateTime, nullable=False),
    Column("qty_good", Float, nullable=False),
    comment="MES good-output confirmations; scrap is recorded in scrap_records only.",
)

Table(
    "wo_materials",
    metadata,
    Column("wo_id", String(16), ForeignKey("work_orders.wo_id"), primary_key=True),
    Column("lot_id", String(24), ForeignKey("lots.lot_id"), primary_key=True),
    Column("item_id", String(24), ForeignKey("items.item_id"), nullable=False),
    Column("qty_issued", Float, nullable=False),
)

Table(
    "quality_events",
    metadata,
    Column("qe_id", String(16), primary_key=True),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("line_id", String(16), ForeignKey("production_lines.line_id"), nullable=True),
    Column("wo_id", String(16), ForeignKey("work_orders.wo_id"), nullable=True),
    Column("lot_id", String(24), ForeignKey("lots.lot_id"), nullable=True),
    Column("item_id", String(24), ForeignKey("items.item_id"), nullable=False),
    Column("defect_code", String(24), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("qty_affected", Float, nullable=False),
    Column("detected_at", DateTime, nullable=False),
    Column("status", String(16), nullable=False),
    Column("description", Text, nullable=False),
    _enum("severity", ("minor", "major", "critical")),
    _enum("status", ("open", "contained", "closed")),
)

Table(
    "scrap_records",
    metadata,
    Column("scrap_id", String(16), primary_key=True),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("line_id", String(16), ForeignKey("production_lines.line_id"), nullable=False),
    Column("wo_id", String(16), ForeignKey("work_orders.wo_id"), nullable=True),
    Column("lot_id", String(24), ForeignKey("lots.lot_id"), nullable=True),
    Column("item_id", String(24), ForeignKey("items.item_id"), nullable=False),
    Column("qty", Float, nullable=False),
    Column("reason_code", String(24), nullable=False),
    Column("recorded_at", DateTime, nullable=False),
)

Table(
    "assets",
    metadata,
    Column("asset_id", String(16), primary_key=True),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("machine_id", String(16), ForeignKey("machines.machine_id"), nullable=True),
    Column("name", String(120), nullable=False),
    Column("criticality", String(1), nullable=False),
    Column("mtbf_hours", Float, nullable=False),
    _enum("criticality", ("A", "B", "C")),
)

Table(
    "asset_health",
    metadata,
    Column("asset_id", String(16), ForeignKey("assets.asset_id"), primary_key=True),
    Column("scored_at", DateTime, primary_key=True),
    Column("failure_probability", Float, nullable=False),
    Column("horizon_days", Integer, nullable=False),
    Column("model_version", String(24), nullable=False),
    Column("top_signal", String(120), nullable=False),
)

Table(
    "maintenance_orders",
    metadata,
    Column("mo_id", String(16), primary_key=True),
    Column("asset_id", String(16), ForeignKey("assets.asset_id"), nullable=False),
    Column("mo_type", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("scheduled_start", DateTime, nullable=True),
    Column("scheduled_end", DateTime, nullable=True),
    Column("description", Text, nullable=False, default=""),
    _enum("mo_type", ("preventive", "corrective", "predictive")),
    _enum("status", ("open", "scheduled", "in_progress", "completed", "cancelled")),
)

Table(
    "spare_parts",
    metadata,
    Column("asset_id", String(16), ForeignKey("assets.asset_id"), primary_key=True),
    Column("item_id", String(24), ForeignKey("items.item_id"), primary_key=True),
    Column("qty_required", Float, nullable=False),
)

# ---------------------------------------------------------------------------- governed actions
# Written only by the action tools (tools/actions); the generator leaves them empty.

ACTION_EXECUTION_STATUSES = ("executed", "precondition_failed", "compensated")

Table(
    "action_executions",
    metadata,
    Column("idempotency_key", String(160), primary_key=True, comment="'<action>:<request id>'; PK = exactly once."),
    Column("request_id", String(80), nullable=False, comment="The approval request (or call) that ran it."),
    Column("action", String(48), nullable=False),
    Column("args_json", Text, nullable=False, comment="Canonical JSON of the validated arguments."),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False,
           comment="The subject's site: replay and undo need it in the caller's scope."),
    Column("status", String(24), nullable=False),
    Column("result_json", Text, nullable=False, comment="The execution result, returned again on replay."),
    Column("changed_json", Text, nullable=False, comment="[{table, key, record_id, before, after}] as applied."),
    Column("executed_at", DateTime, nullable=False, comment="UTC wall-clock time of the execution."),
    Column("compensated_at", DateTime, nullable=True),
    Column("compensation_json", Text, nullable=True, comment="The compensation result, returned again on replay."),
    _enum("status", ACTION_EXECUTION_STATUSES),
    comment="Idempotency ledger of governed actions: one row per executed approval.",
)

Table(
    "supplier_reviews",
    metadata,
    Column("review_id", String(16), primary_key=True),
    Column("supplier_id", String(16), ForeignKey("suppliers.supplier_id"), nullable=False),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("lot_ids", Text, nullable=False, default="", comment="Linked lot ids, space separated."),
    Column("qe_ids", Text, nullable=False, default="", comment="Linked quality event ids, space separated."),
    Column("status", String(16), nullable=False),
    Column("opened_at", DateTime, nullable=False),
    Column("request_id", String(80), nullable=False),
    _enum("status", ("open", "closed")),
)

Table(
    "po_change_requests",
    metadata,
    Column("change_id", String(16), primary_key=True),
    Column("po_id", String(16), ForeignKey("purchase_orders.po_id"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("old_promised_date", Date, nullable=True),
    Column("new_promised_date", Date, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_at", DateTime, nullable=False),
    Column("request_id", String(80), nullable=False),
    _enum("status", ("applied", "rejected")),
)

Table(
    "transfers",
    metadata,
    Column("transfer_id", String(16), primary_key=True),
    Column("item_id", String(24), ForeignKey("items.item_id"), nullable=False),
    Column("lot_id", String(24), ForeignKey("lots.lot_id"), nullable=False),
    Column("qty", Float, nullable=False),
    Column("from_site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("from_location", String(24), nullable=False),
    Column("to_site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("to_location", String(24), nullable=True, comment="Receiving location; NULL when issued to a WO."),
    Column("to_wo_id", String(16), ForeignKey("work_orders.wo_id"), nullable=True),
    Column("transferred_at", DateTime, nullable=False),
    Column("request_id", String(80), nullable=False),
    comment="Stock moved between sites or issued to a work order by a reallocation.",
)

Table(
    "spare_reservations",
    metadata,
    Column("reservation_id", String(16), primary_key=True),
    Column("asset_id", String(16), ForeignKey("assets.asset_id"), nullable=False),
    Column("item_id", String(24), ForeignKey("items.item_id"), nullable=False),
    Column("site_id", String(8), ForeignKey("sites.site_id"), nullable=False),
    Column("location", String(24), nullable=False),
    Column("lot_id", String(24), ForeignKey("lots.lot_id"), nullable=False),
    Column("qty", Float, nullable=False),
    Column("reserved_at", DateTime, nullable=False),
    Column("request_id", String(80), nullable=False),
    comment="Spare stock reserved for an asset (inventory.qty_reserved carries the quantity).",
)

ACTION_TABLES = ("action_executions", "supplier_reviews", "po_change_requests", "transfers", "spare_reservations")
"""Tables written by the governed actions (plants built before they existed lack them)."""


def table(name: str) -> Table:
    """Return the canonical table called ``name`` (KeyError if unknown)."""
    return metadata.tables[name]
