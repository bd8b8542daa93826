"""Audit events of the approval workflow, built from stored requests so every writer records one shape."""

from __future__ import annotations

from collections.abc import Sequence

from guardrails.approvals.models import ApprovalRequest
from guardrails.audit.log import AuditEvent, AuditKind

__all__ = ["decided_event", "requested_event"]


def requested_event(request: ApprovalRequest, policy_hash: str, similar: Sequence[str] = ()) -> AuditEvent:
    """``approval_requested``: what was asked, bound to which arguments, routed by which rule to whom, and the
    ``similar_requests`` (ids) the same requester made before it for the same action and subject."""
    return AuditEvent(
        trace_id=request.trace_id, thread_id=request.thread_id, user_id=request.requester,
        kind=AuditKind.APPROVAL_REQUESTED,
        payload={"request_id": request.id, "action": request.action, "args_hash": request.args_hash,
                 "rule_id": request.rule_id, "reason": request.reason,
                 "groups": [g.to_json_dict() for g in request.groups],
                 "subject": dict(request.subject), "expires_at": request.expires_at.isoformat(),
                 "similar_requests": list(similar)},
        policy_hash=policy_hash,
    )


def decided_event(request: ApprovalRequest, policy_hash: str) -> AuditEvent:
    """``approval_decided`` for the request's newest decision (call right after ``ApprovalStore.decide``)."""
    decision = request.last_decision
    if decision is None:
        raise ValueError(f"{request.id} has no decision to audit")
    return AuditEvent(
        trace_id=request.trace_id, thread_id=request.thread_id, user_id=decision.approver,
        kind=AuditKind.APPROVAL_DECIDED,
        payload={"request_id": request.id, "action": request.action, "decision": decision.decision.value,
                 "group_index": decision.group_index, "comment": decision.comment,
                 "status": request.status.value, "version": request.version, "args_hash": request.args_hash,
                 "rule_id": request.rule_id},
        policy_hash=policy_hash,
    )
