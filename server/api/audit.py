"""``GET /v1/audit`` and ``GET /v1/audit/verify``: the audit trail, for roles with the ``audit.read`` permission.

Every read is itself audited: an ``audit_read`` event (who, which read, what it returned) appended after the read
in a trace of its own, which the ``X-Jidoka-Trace`` header names. The read is answered only once its event is
written, so no read through the API leaves no trace. A read never returns its own event and never changes the
trace it reads; ``include_reads=false`` leaves earlier reads out of the newest records (a viewer's list of recent
turns). A verify that finds the chain broken is not appended to it (that would build on a damaged or forged head);
it is logged instead.

The trail is served as its reader may see it (:class:`~guardrails.audit_view.AuditReader`): a sensitive value the
reader's roles may not see — a price in an answer, the value behind an approval — is shown as ``***`` and the
record names the fields masked. The stored chain is never changed (``/v1/audit/verify`` checks it), and no
payload names a path of the server's disk (:mod:`server.redaction`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from guardrails.audit.keys import AuditKeys
from guardrails.audit.log import AuditKind, AuditRecord
from guardrails.audit.trace import audit_read_event
from guardrails.audit_view import MASK, AuditReader
from server.api.deps import Caller
from server.api.errors import TRACE_HEADER
from server.api.refusals import require_permission

__all__ = ["router"]

log = logging.getLogger("jidoka.api")
router = APIRouter(tags=["audit"])
Auditor = Annotated[Caller, Depends(require_permission("audit.read"))]
_ERRORS: dict[int | str, dict[str, Any]] = {401: {"description": "Not authenticated."},
                                            403: {"description": "No audit.read permission (audited)."}}


def _seqs(records: Sequence[AuditRecord]) -> dict[str, int | None]:
    return {"count": len(records), "first_seq": records[0].seq if records else None,
            "last_seq": records[-1].seq if records else None}


def _record_read(who: Caller, response: Response, read: str, details: Mapping[str, Any]) -> None:
    """Append the ``audit_read`` event of a read that just happened and name its trace in the response."""
    runtime = who.services.runtime
    event = audit_read_event(who.user.user_id, read, details, via="api", policy_hash=runtime.policy.hash)
    runtime.audit.append(event)
    response.headers[TRACE_HEADER] = event.trace_id


@router.get("/v1/audit", summary="Audit records of one trace (or the newest)", responses=_ERRORS)
def audit_records(who: Auditor, response: Response,
                  trace_id: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9._:-]+$",
                                                        description="One turn's trace id.")] = None,
                  limit: Annotated[int, Query(ge=1, le=500, description="Newest records when no trace_id.")] = 50,
                  include_reads: Annotated[bool, Query(description="With no trace_id: false leaves the audit_read "
                                                                   "events of earlier reads out.")] = True,
                  ) -> dict[str, Any]:
    """A trace's events in chain order (``trace_id``), or the newest ``limit`` events, with the sensitive values
    the caller may not see masked (``masked_fields`` per record and for the whole answer); the read is audited."""
    services = who.services
    audit = services.runtime.audit
    if trace_id:
        records = audit.by_trace(trace_id)
        _record_read(who, response, "trace", {"trace_id": trace_id, **_seqs(records)})
    else:
        records = audit.tail(limit, without=() if include_reads else (AuditKind.AUDIT_READ,))
        _record_read(who, response, "tail", {"limit": limit, "include_reads": include_reads, **_seqs(records)})
    reader = AuditReader(services.runtime.policy, who.user)
    views = [reader.view(r) for r in records]
    masked = sorted({name for v in views for name in v.masked_fields})
    shown = [services.redactor.redact_json(v.to_json_dict()) for v in views]
    note = (f"sensitive values {who.user.user_id} may not see are shown as {MASK!r} (the policy's sensitive_fields "
            "and audit sections); the stored events are unchanged — /v1/audit/verify checks them") if masked else None
    return {"trace_id": trace_id, "records": shown, "count": len(records), "reader": who.user.user_id,
            "masked_fields": masked, "masking": note}


@router.get("/v1/audit/verify", summary="Verify the hash chain", responses=_ERRORS)
def audit_verify(who: Auditor, response: Response) -> dict[str, Any]:
    """Re-walk the whole chain and check it against the signed checkpoints of the anchor file (``anchor``);
    ``ok`` false names the first bad seq and the kind of damage; ``redacted`` lists the data keys retention destroyed
    and the seq ranges sealed under them. An intact chain records the run (``audit_read``).
    Anchor files are named by their variable (``$JIDOKA_HOME/…``), never by the server's path."""
    report = who.services.runtime.audit.verify()
    head = {"seq": report.head.seq, "hash": report.head.hash} if report.head else None
    if report.ok:
        _record_read(who, response, "verify", {"ok": True, "checked": report.checked,
                                               "head_seq": head["seq"] if head else None})
    else:
        log.warning("audit verify by %s found the chain broken at seq %s: %s (not recorded in the chain)",
                    who.user.user_id, report.first_bad_seq, report.reason)
    body = {"ok": report.ok, "checked": report.checked, "first_bad_seq": report.first_bad_seq,
            "problem": report.problem.value if report.problem else None, "reason": report.reason,
            "head": head, "anchor": asdict(report.anchor) if report.anchor else None,
            # Seq ranges whose sealed fields retention destroyed (the chain covers their envelopes: it still verifies).
            "redacted": [asdict(k) for k in AuditKeys(who.services.runtime.audit.engine, None).destroyed()]}
    redacted: dict[str, Any] = who.services.redactor.redact_json(body)  # anchor files are the server's paths
    return redacted
