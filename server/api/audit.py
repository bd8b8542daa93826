"""``GET /v1/audit`` and ``GET /v1/audit/verify``: the audit trail, for roles with the ``audit.read`` permission."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from guardrails.audit.log import AuditRecord
from server.api.deps import Caller, require_permission

__all__ = ["record_json", "router"]

router = APIRouter(tags=["audit"])
Auditor = Annotated[Caller, Depends(require_permission("audit.read"))]
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"description": "Not authenticated."},
                                            403: {"description": "No audit.read permission."}}


def record_json(record: AuditRecord) -> dict[str, Any]:
    """One audit record as JSON (payload as stored)."""
    data = asdict(record)
    data["payload"] = dict(record.payload)
    return data


@router.get("/v1/audit", summary="Audit records of one trace (or the newest)", responses=_ERRORS)
def audit_records(who: Auditor,
                  trace_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                                                        description="One turn's trace id.")] = None,
                  limit: Annotated[int, Query(ge=1, le=500, description="Newest records when no trace_id.")] = 50,
                  ) -> dict[str, Any]:
    """A trace's events in chain order (``trace_id``), or the newest ``limit`` events."""
    audit = who.services.runtime.audit
    records = audit.by_trace(trace_id) if trace_id else audit.tail(limit)
    return {"trace_id": trace_id, "records": [record_json(r) for r in records], "count": len(records)}


@router.get("/v1/audit/verify", summary="Verify the hash chain", responses=_ERRORS)
def audit_verify(who: Auditor) -> dict[str, Any]:
    """Re-walk the whole chain and check it against the signed checkpoints of the anchor file (``anchor``);
    ``ok`` false names the first bad seq and the kind of damage."""
    report = who.services.runtime.audit.verify()
    return {"ok": report.ok, "checked": report.checked, "first_bad_seq": report.first_bad_seq,
            "problem": report.problem.value if report.problem else None, "reason": report.reason,
            "head": {"seq": report.head.seq, "hash": report.head.hash} if report.head else None,
            "anchor": asdict(report.anchor) if report.anchor else None}
