"""The approval tables in the state database (own ``MetaData``; portable SQLAlchemy Core).

Times are stored as UTC; :class:`UtcDateTime` refuses naive values on the way in
and hands back timezone-aware values on the way out (SQLite keeps no zone).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from guardrails.approvals.models import (
    ApprovalDecision,
    ApprovalRequest,
    ApproverGroup,
    DecisionKind,
    RequestStatus,
    utc,
)
from tools.plant.db import write_transaction
from tools.spec import RiskClass

__all__ = [
    "UtcDateTime",
    "approval_decisions",
    "approval_metadata",
    "approval_requests",
    "row_dict",
    "to_request",
    "upgrade_schema",
    "write_transaction",
]


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store UTC; SQLite gets the naive UTC wall time (it has no zone type)."""
        if value is None:
            return None
        moment = utc(value)
        return moment.replace(tzinfo=None) if dialect.name == "sqlite" else moment

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Hand back an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_ID = 255
_statuses = ", ".join(f"'{s.value}'" for s in RequestStatus)
_decisions = ", ".join(f"'{d.value}'" for d in DecisionKind)

approval_metadata = MetaData()
"""The approval tables' own metadata (state database, beside the audit log)."""

approval_requests = Table(
    "approval_requests",
    approval_metadata,
    Column("id", String(32), primary_key=True),
    Column("thread_id", String(_ID), nullable=False),
    Column("trace_id", String(_ID), nullable=False),
    Column("requester", String(_ID), nullable=False),
    Column("action", String(_ID), nullable=False),
    Column("args_json", Text, nullable=False, comment="canonical JSON of the approved arguments"),
    Column("args_hash", String(64), nullable=False, comment="SHA-256 of args_json"),
    Column("subject_json", Text, nullable=False),
    Column("precondition_snapshot_json", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("rule_id", String(1000), nullable=False),
    Column("groups_json", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("result_json", Text, nullable=True, comment="what execution / compensation recorded"),
    Column("version", Integer, nullable=False, comment="bumped on every change; optimistic concurrency"),
    Column("risk_class", String(16), nullable=False, server_default="approval",
           comment="approval, or autonomous: ran at once under a policy rule (no approver groups)"),
    CheckConstraint(f"status IN ({_statuses})", name="ck_approval_requests_status"),
    Index("ix_approval_requests_status_expires", "status", "expires_at"),
    Index("ix_approval_requests_requester", "requester"),
    Index("ix_approval_requests_thread", "thread_id"),
)

approval_decisions = Table(
    "approval_decisions",
    approval_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(32), ForeignKey("approval_requests.id"), nullable=False),
    Column("group_index", Integer, nullable=False),
    Column("approver", String(_ID), nullable=False),
    Column("decision", String(8), nullable=False),
    Column("comment", Text, nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
    CheckConstraint(f"decision IN ({_decisions})", name="ck_approval_decisions_decision"),
    # Backstops for separation of duties and concurrency: one decision per person and per group.
    UniqueConstraint("request_id", "approver", name="uq_approval_decisions_approver"),
    UniqueConstraint("request_id", "group_index", name="uq_approval_decisions_group"),
)


def upgrade_schema(engine: Engine) -> None:
    """Add columns newer than an existing state database (idempotent; never creates the tables)."""
    columns = {c["name"] for c in inspect(engine).get_columns("approval_requests")}
    if "risk_class" not in columns:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE approval_requests ADD COLUMN risk_class VARCHAR(16) NOT NULL "
                              "DEFAULT 'approval'"))


def row_dict(row: Any) -> dict[str, Any]:
    """A result row as a plain dict keyed by column name."""
    return dict(row._mapping)


def to_request(row: Mapping[str, Any], decisions: Sequence[Mapping[str, Any]]) -> ApprovalRequest:
    """A stored request row and its decision rows as an :class:`ApprovalRequest`."""
    return ApprovalRequest(
        id=row["id"], thread_id=row["thread_id"], trace_id=row["trace_id"], requester=row["requester"],
        action=row["action"], args=json.loads(row["args_json"]), args_json=row["args_json"],
        args_hash=row["args_hash"], subject=json.loads(row["subject_json"]),
        precondition_snapshot=json.loads(row["precondition_snapshot_json"]), reason=row["reason"],
        rule_id=row["rule_id"],
        groups=tuple(ApproverGroup.from_json_dict(g) for g in json.loads(row["groups_json"])),
        status=RequestStatus(row["status"]), created_at=row["created_at"], expires_at=row["expires_at"],
        updated_at=row["updated_at"], version=int(row["version"]),
        result=None if row["result_json"] is None else json.loads(row["result_json"]),
        risk_class=RiskClass(row.get("risk_class") or RiskClass.APPROVAL),
        decisions=tuple(
            ApprovalDecision(request_id=d["request_id"], group_index=int(d["group_index"]),
                             approver=d["approver"], decision=DecisionKind(d["decision"]),
                             comment=d["comment"], decided_at=d["decided_at"])
            for d in decisions),
    )

