"""What a governed action is: metadata, typed arguments, and subject / precondition / execute / compensate.

An :class:`ActionSpec` is the write-side sibling of :class:`tools.spec.ToolSpec`. Like a read
tool it never checks permissions but applies ``ctx.scope`` in its SQL: a record outside the
scope is :class:`~tools.errors.RecordNotFound`. ``execute`` changes the plant exactly once per
idempotency key (see :mod:`tools.actions._ledger`) and ``compensate`` undoes it from the stored
before-images.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from tools.actions import _runner
from tools.actions._changes import ChangeLog
from tools.actions._types import (
    ActionResult,
    ActionStatus,
    ActionSubject,
    ChangedRecord,
    Check,
    JsonScalar,
    Precondition,
    field_error,
)
from tools.errors import ArgumentError
from tools.spec import Domain, RiskClass, ToolArgs, ToolContext, parse_tool_args

__all__ = [
    "ActionResult",
    "ActionSpec",
    "ActionStatus",
    "ActionSubject",
    "ApplyFn",
    "ChangeLog",
    "ChangedRecord",
    "Check",
    "CheckFn",
    "JsonScalar",
    "Precondition",
    "SubjectFn",
    "field_error",
]

SubjectFn = Callable[[Connection, ToolContext, Any], ActionSubject]
"""``(conn, ctx, args) -> ActionSubject``: pure read, scoped."""
CheckFn = Callable[[Connection, ToolContext, Any, bool], Check]
"""``(conn, ctx, args, lock) -> Check``: pure read, scoped; ``lock`` = inside the execution (lock rows)."""
ApplyFn = Callable[[ChangeLog, ToolContext, Any, Any], str]
"""``(log, ctx, args, plan) -> message``: the writes, all through ``log``."""


@dataclass(frozen=True)
class ActionSpec:
    """A governed action: the metadata the gate and the model use, and the functions that run it."""

    name: str
    description: str
    """Written for an LLM choosing an action: what it changes, when to propose it."""
    domain: Domain
    args_model: type[ToolArgs]
    changes: frozenset[str]
    """``table.column`` (or ``table`` for inserted rows) the action writes."""
    subject_fn: SubjectFn
    check_fn: CheckFn
    apply_fn: ApplyFn
    risk_class: RiskClass = RiskClass.APPROVAL
    sensitive_fields: frozenset[str] = field(default_factory=lambda: frozenset({"items.standard_cost"}))
    """Sensitive fields behind the subject (value_usd) or in changed records (masked per scope)."""

    def parse_args(self, raw: Mapping[str, Any] | ToolArgs) -> ToolArgs:
        """Validate ``raw`` into the argument model; :class:`ArgumentError` names the bad field."""
        return parse_tool_args(self.name, self.args_model, raw)

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments (for the model and ``jidoka tools``)."""
        return self.args_model.model_json_schema()

    def idempotency_key(self, request_id: str) -> str:
        """The key that makes one request execute once: ``"<action>:<request_id>"``."""
        if not request_id or not request_id.strip():
            raise ArgumentError(self.name, "request_id", "must not be empty")
        return f"{self.name}:{request_id}"

    def subject(self, ctx: ToolContext, args: Mapping[str, Any] | ToolArgs) -> ActionSubject:
        """What the action would change (site, value, records, routing facts); pure read, scoped."""
        parsed = self.parse_args(args)
        with ctx.engine.connect() as conn:
            return self.subject_fn(conn, ctx, parsed)

    def precondition(self, ctx: ToolContext, args: Mapping[str, Any] | ToolArgs) -> Precondition:
        """Whether it can run now, with a snapshot of the records it would change; pure read, scoped."""
        parsed = self.parse_args(args)
        with ctx.engine.connect() as conn:
            check = self.check_fn(conn, ctx, parsed, False)
        return Precondition(action=self.name, ok=check.ok, reason=check.reason, snapshot=check.snapshot)

    def execute(self, ctx: ToolContext, args: Mapping[str, Any] | ToolArgs, *, idempotency_key: str,
                request_id: str, expected_snapshot: Mapping[str, Any] | None = None) -> ActionResult:
        """Apply the action in one transaction, exactly once per ``idempotency_key``.

        The precondition is re-checked inside the transaction (and, when ``expected_snapshot`` is
        given, the snapshot must still equal it); if it fails nothing changes and the status is
        ``precondition_failed``. A key already recorded returns the stored result with
        ``replayed=True`` (:class:`~tools.errors.IdempotencyConflict` if it recorded other arguments).
        """
        parsed = self.parse_args(args)
        if not idempotency_key or len(idempotency_key) > 160:
            raise ArgumentError(self.name, "idempotency_key", "must be 1-160 characters")
        if not request_id or not request_id.strip() or len(request_id) > 80:
            raise ArgumentError(self.name, "request_id", "must be 1-80 characters")
        return _runner.execute(self, ctx, parsed, idempotency_key=idempotency_key, request_id=request_id,
                               expected_snapshot=expected_snapshot)

    def compensate(self, ctx: ToolContext, idempotency_key: str) -> ActionResult:
        """Undo the execution of ``idempotency_key`` from its before-images, once.

        Status ``compensated`` (a second call returns it again with ``replayed=True``), or
        ``compensation_conflict`` when a changed record no longer holds the executed values
        (nothing is changed then). :class:`~tools.errors.NothingToCompensate` when the execution
        changed nothing; :class:`~tools.errors.RecordNotFound` for an unknown or out-of-scope key.
        """
        return _runner.compensate(self, ctx, idempotency_key)
