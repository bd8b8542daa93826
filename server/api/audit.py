"""``GET /v1/audit`` and ``GET /v1/audit/verify``: the audit trail, for roles with the ``audit.read`` permission.

The trail is served as its reader may see it (:class:`~guardrails.audit_view.AuditReader`): a sensitive value the
reader's roles may not see — a price in an answer, the value behind an approval — is shown as ``***`` and the
record names the fields masked. The stored chain is never changed (``/v1/audit/verify`` checks it), and no
payload names a path of the server's disk (:mod:`server.redaction`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from guardrails.audit_view import MASK, AuditReader
from server.api.deps import Caller, require_permission

__all__ = ["router"]

router = APIRouter(tags=["audit"])
Auditor = Annotated[Caller, Depends(require_permission("audit.read"))]
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"description": "Not authenticated."},
                                            403: {"description": "No audit.read permission."}}


@router.get("/v1/audit", summary="Audit records of one trace (or the newest)", responses=_ERRORS)
def audit_records(who: Auditor,
                  trace_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                                                        description="One turn's trace id.")] = None,
                  limit: Annotated[int, Query(ge=1, le=500, description="Newest records when no trace_id.")] = 50,
                  ) -> dict[str, Any]:
    """A trace's events in chain order (``trace_id``), or the newest ``limit`` events, with the sensitive values
    the caller may not see masked (``masked_fields`` per record and for the whole answer)."""
    services = who.services
    audit = services.runtime.audit
    records = audit.by_trace(trace_id) if trace_id else audit.tail(limit)
    reader = AuditReader(services.runtime.policy, who.user)
    views = [reader.view(r) for r in records]
    masked = sorted({name for v in views for name in v.masked_fields})
    shown = [services.redactor.redact_json(v.to_json_dict()) for v in views]
    note = (f"sensitive values {who.user.user_id} may not see are shown as {MASK!r} (the policy's sensitive_fields "
            "and audit sections); the stored events are unchanged — /v1/audit/verify checks them") if masked else None
    return {"trace_id": trace_id, "records": shown, "count": len(records), "reader": who.user.user_id,
            "masked_fields": masked, "masking": note}


@router.get("/v1/audit/verify", summary="Verify the hash chain", responses=_ERRORS)
def audit_verify(who: Auditor) -> dict[str, Any]:
    """Re-walk the whole chain and check it against the signed checkpoints of the anchor file (``anchor``);
    ``ok`` false names the first bad seq and the kind of damage. Anchor files are named by their variable
    (``$JIDOKA_HOME/…``), never by the server's path."""
    report = who.services.runtime.audit.verify()
    body = {"ok": report.ok, "checked": report.checked, "first_bad_seq": report.first_bad_seq,
            "problem": report.problem.value if report.problem else None, "reason": report.reason,
            "head": {"seq": report.head.seq, "hash": report.head.hash} if report.head else None,
            "anchor": asdict(report.anchor) if report.anchor else None}
    redacted: dict[str, Any] = who.services.redactor.redact_json(body)  # anchor files are the server's paths
    return redacted
