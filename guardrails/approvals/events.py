"""Audit events of the approval workflow, built from stored requests so every writer records one shape."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from guardrails.approvals.models import ApprovalRequest
from guardrails.audit.log import AuditEvent, AuditKind
from guardrails.errors import (
    AlreadyDecided,
    ApprovalError,
    BindingMismatch,
    ConcurrentDecision,
    InvalidTransition,
    NotEligible,
    RequestExpired,
    RequestNotFound,
    SeparationOfDuties,
    UnknownUser,
)

__all__ = ["REFUSAL_CODES", "decided_event", "refusal_code", "refused_decision_event", "requested_event"]

REFUSAL_CODES: Mapping[type[Exception], str] = {
    RequestNotFound: "request_not_found",
    NotEligible: "not_eligible",
    SeparationOfDuties: "separation_of_duties",
    AlreadyDecided: "already_decided",
    RequestExpired: "request_expired",
    ConcurrentDecision: "concurrent_decision",
    InvalidTransition: "invalid_transition",
    BindingMismatch: "binding_mismatch",
    UnknownUser: "unknown_user",
}
"""The ``error`` code an audited refusal records for each error (a stable vocabulary, not the class names)."""


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


def refusal_code(exc: Exception) -> str:
    """The audited code of a refused approval call: :data:`REFUSAL_CODES`, else ``approval_refused``."""
    return next((code for kind, code in REFUSAL_CODES.items() if isinstance(exc, kind)), "approval_refused")


def refused_decision_event(exc: ApprovalError | UnknownUser, *, request_id: str, user_id: str, decision: str,
                           trace_id: str, thread_id: str | None, policy_hash: str) -> AuditEvent:
    """An ``error`` event recording a refused decision (own request, not eligible, already decided, expired, an
    unknown approver ...): who tried (``user_id``), which request, which decision, and why."""
    payload: dict[str, object] = {"error": refusal_code(exc), "request_id": request_id, "decision": decision,
                                  "reason": exc.message if isinstance(exc, ApprovalError) else str(exc)}
    if isinstance(exc, AlreadyDecided):
        payload["request_status"] = exc.status
    return AuditEvent(trace_id=trace_id, thread_id=thread_id, user_id=user_id, kind=AuditKind.ERROR,
                      payload=payload, policy_hash=policy_hash)
