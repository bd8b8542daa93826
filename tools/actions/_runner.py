"""Exactly-once execution and compensation of an action against the idempotency ledger."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from tools.actions import _ledger as ledger
from tools.actions._changes import ChangeLog, find_conflict, restore
from tools.actions._types import ActionResult, Check
from tools.errors import IdempotencyConflict, NothingToCompensate, RecordNotFound
from tools.spec import ToolArgs, ToolContext

__all__ = ["Runnable", "canonical_args", "compensate", "execute", "first_difference"]


class Runnable(Protocol):
    """The parts of an :class:`~tools.actions.spec.ActionSpec` the runner uses."""

    @property
    def name(self) -> str: ...

    @property
    def check_fn(self) -> Callable[[Any, ToolContext, Any, bool], Check]: ...

    @property
    def apply_fn(self) -> Callable[[ChangeLog, ToolContext, Any, Any], str]: ...


def canonical_args(args: ToolArgs) -> str:
    """The arguments as canonical JSON (what the ledger compares on a replay)."""
    return json.dumps(args.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def first_difference(expected: Any, actual: Any, path: str = "snapshot") -> str | None:
    """Where two JSON values first differ (``path: was X, now Y``), or None when equal."""
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        for key in sorted(set(expected) | set(actual), key=str):
            diff = first_difference(expected.get(key), actual.get(key), f"{path}.{key}")
            if diff is not None:
                return diff
        return None
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return f"{path}: had {len(expected)} entries, now {len(actual)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            diff = first_difference(e, a, f"{path}[{i}]")
            if diff is not None:
                return diff
        return None
    return None if expected == actual else f"{path}: was {expected!r}, now {actual!r}"


def _replay(spec: Runnable, ctx: ToolContext, stored: ledger.StoredExecution, args_json: str | None,
            *, compensation: bool) -> ActionResult:
    if not ctx.scope.allows_site(stored.site_id):
        raise RecordNotFound("action execution", [stored.idempotency_key])
    if stored.action != spec.name:
        raise IdempotencyConflict(stored.idempotency_key, f"it recorded action {stored.action!r}, not {spec.name!r}")
    if args_json is not None and stored.args_json != args_json:
        raise IdempotencyConflict(stored.idempotency_key, "it recorded other arguments")
    stored_result = stored.compensation() if compensation else stored.result()
    if stored_result is None:  # pragma: no cover - a compensated row always has its result
        raise RuntimeError(f"ledger row {stored.idempotency_key} lacks its compensation result")
    return stored_result.model_copy(update={"replayed": True, "compensated_at": stored.compensated_at}
                                    ).masked(ctx.scope)


def execute(spec: Runnable, ctx: ToolContext, args: ToolArgs, *, idempotency_key: str, request_id: str,
            expected_snapshot: Mapping[str, Any] | None = None) -> ActionResult:
    """Run the action once for ``idempotency_key``; a key already recorded returns its stored result."""
    ledger.require_action_tables(ctx.engine)
    args_json = canonical_args(args)
    try:
        with ledger.write_transaction(ctx.engine) as conn:
            stored = ledger.load(conn, idempotency_key, lock=True)
            if stored is not None:
                return _replay(spec, ctx, stored, args_json, compensation=False)
            check = spec.check_fn(conn, ctx, args, True)
            now = ledger.utcnow()
            ledger.claim(conn, key=idempotency_key, request_id=request_id, action=spec.name, args_json=args_json,
                         site_id=check.site_id, executed_at=now)
            reason = None if check.ok else check.reason
            if reason is None and expected_snapshot is not None:
                diff = first_difference(dict(expected_snapshot), check.snapshot)
                if diff is not None:
                    reason = f"the records changed since the request was approved: {diff}"
            base = {"action": spec.name, "idempotency_key": idempotency_key, "request_id": request_id,
                    "snapshot": check.snapshot, "executed_at": now}
            if reason is not None:
                result = ActionResult(status="precondition_failed", reason=reason,
                                      message=f"{spec.name} did not run: {reason}", **base)
            else:
                log = ChangeLog(conn, request_id)
                message = spec.apply_fn(log, ctx, args, check.plan)
                result = ActionResult(status="executed", message=message, changed=log.records,
                                      record_ids=list(dict.fromkeys(r.record_id for r in log.records)), **base)
            ledger.record_outcome(conn, idempotency_key, result)
    except IntegrityError:
        # Another transaction committed this key between our read and our insert (no global write lock).
        with ctx.engine.connect() as conn:
            stored = ledger.load(conn, idempotency_key)
        if stored is None:
            raise
        return _replay(spec, ctx, stored, args_json, compensation=False)
    return result.masked(ctx.scope)


def compensate(spec: Runnable, ctx: ToolContext, idempotency_key: str) -> ActionResult:
    """Undo the execution of ``idempotency_key`` once, if its records still hold what it wrote."""
    ledger.require_action_tables(ctx.engine)
    with ledger.write_transaction(ctx.engine) as conn:
        stored = ledger.load(conn, idempotency_key, lock=True)
        if stored is None or not ctx.scope.allows_site(stored.site_id):
            raise RecordNotFound("action execution", [idempotency_key])
        if stored.status == "compensated":
            return _replay(spec, ctx, stored, None, compensation=True)
        _replay(spec, ctx, stored, None, compensation=False)  # same action, in scope
        if stored.status != "executed":
            raise NothingToCompensate(idempotency_key, stored.status)
        changed = stored.changed()
        base = {"action": spec.name, "idempotency_key": idempotency_key, "request_id": stored.request_id,
                "executed_at": stored.executed_at}
        conflict = find_conflict(conn, changed)
        if conflict is not None:
            return ActionResult(status="compensation_conflict", reason=conflict,
                                message=f"undo of {spec.name} not applied: {conflict}", **base)
        undone = restore(conn, changed)
        result = ActionResult(
            status="compensated", message=f"undid {spec.name}: restored {len(undone)} records", changed=undone,
            record_ids=list(dict.fromkeys(r.record_id for r in undone)), compensated_at=ledger.utcnow(), **base)
        ledger.record_compensation(conn, idempotency_key, result)
    return result.masked(ctx.scope)
