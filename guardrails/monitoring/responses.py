"""People respond to signals: acknowledge, dismiss, or override the recommendation — each with a reason, audited.

Who may respond: a user holding the signal's site and one of the detector's roles up to the signal's level (the
owner, and the roles it was escalated to). An override declines the monitor's pending recommendation (rejecting
it where the person may decide it, so nothing of it executes) and may ask for another action instead — "hold a
different lot" — which the gate decides as the person's own request (their roles, their sites, the same routing
and separation of duties), linked to the signal. Every response, and every refusal of one, is a
``signal_response`` audit event naming the signal and the recommendation requests concerned.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from guardrails.approvals.models import DecisionKind, RequestStatus
from guardrails.audit.log import AuditKind
from guardrails.audit.trace import AuditSink, Trace
from guardrails.errors import ApprovalError, SignalResponseRefused
from guardrails.identity import User
from guardrails.monitoring.models import Response, ResponseKind, Signal, SignalStatus
from guardrails.monitoring.proposals import ProposalOutcome, propose_as_person
from guardrails.monitoring.service import Monitor
from guardrails.monitoring.views import may_respond

__all__ = ["MAX_REASON", "MIN_REASON", "respond"]

MIN_REASON = 3
MAX_REASON = 1000


def _refuse(signal_id: str, reason: str, rule_id: str, trace: Trace, audit: AuditSink, user: User,
            kind: ResponseKind) -> SignalResponseRefused:
    audit.add(trace.event(AuditKind.SIGNAL_RESPONSE, {
        "signal_id": signal_id, "response": kind.value, "effect": "deny", "rule_id": rule_id, "reason": reason,
        "user_id": user.user_id}))
    return SignalResponseRefused(signal_id, reason, rule_id)


def respond(monitor: Monitor, signal_id: str, user: User, kind: ResponseKind, reason: str, *,
            action: str | None = None, args: Mapping[str, Any] | None = None, audit: AuditSink,
            trace: Trace | None = None) -> Signal:
    """Record ``user``'s response to signal ``signal_id``; :class:`SignalResponseRefused` (audited) when not allowed.

    :class:`~guardrails.errors.SignalNotFound` for no signal and for one the user may not see (the same answer).
    """
    trace = trace or Trace(trace_id=uuid.uuid4().hex, thread_id=f"signal:{signal_id}", user_id=user.user_id,
                           policy_hash=monitor.policy.hash)
    signal = monitor.store.get(signal_id)
    allowed, rule_id, why = may_respond(signal, user, monitor.policy, monitor.rules)
    if not allowed:
        raise _refuse(signal_id, why, rule_id, trace, audit, user, kind)
    text = " ".join((reason or "").split())
    if not MIN_REASON <= len(text) <= MAX_REASON:
        raise _refuse(signal_id, f"a reason of {MIN_REASON}–{MAX_REASON} characters is required", "signals.reason",
                      trace, audit, user, kind)
    if not signal.active:
        raise _refuse(signal_id, f"{signal_id} is {signal.status.value}; there is nothing to respond to",
                      "signals.closed", trace, audit, user, kind)
    if action is not None and kind is not ResponseKind.OVERRIDE:
        raise _refuse(signal_id, "only an override may ask for another action", "signals.action_needs_override",
                      trace, audit, user, kind)
    declined: list[str] = []
    chosen: ProposalOutcome | None = None
    if kind is ResponseKind.OVERRIDE:
        declined = _decline(monitor, signal, user, text, audit)
        if action is not None:
            chosen = propose_as_person(monitor.approvals, user, signal_id=signal.signal_id, action=action,
                                       args=dict(args or {}), attempt=len(signal.proposals), trace=trace, audit=audit)
    now = monitor.clock()
    response = Response(kind=kind, user_id=user.user_id, reason=text, at=now,
                        request_id=chosen.request_id if chosen is not None else None, declined=tuple(declined))
    status = {ResponseKind.ACKNOWLEDGE: signal.status if signal.status is not SignalStatus.OPEN
              else SignalStatus.ACKNOWLEDGED,
              ResponseKind.DISMISS: SignalStatus.DISMISSED, ResponseKind.OVERRIDE: SignalStatus.OVERRIDDEN}[kind]
    proposals = signal.proposals
    requests = signal.requests
    if chosen is not None:
        proposals = (*proposals, {**chosen.to_json(), "by": user.user_id})
        if chosen.request_id:
            requests = (*requests, chosen.request_id)
    updated = monitor.store.update(replace(signal, status=status, responses=(*signal.responses, response),
                                           proposals=proposals, requests=requests, updated_at=now), expected=signal)
    payload: dict[str, Any] = {"signal_id": signal_id, "response": kind.value, "effect": "allow",
                               "user_id": user.user_id, "reason": text, "status": updated.status.value,
                               "recommendations": [p.get("request_id") for p in signal.proposals
                                                   if p.get("request_id")],
                               "declined": declined}
    if kind is ResponseKind.OVERRIDE:
        payload["override"] = True
    if chosen is not None:
        payload["alternative"] = chosen.to_json()
    audit.add(trace.event(AuditKind.SIGNAL_RESPONSE, payload))
    return updated


def _decline(monitor: Monitor, signal: Signal, user: User, reason: str, audit: AuditSink) -> list[str]:
    """Reject the signal's pending monitor recommendations the user may decide; the ids declined."""
    declined = []
    for request_id in signal.requests:
        try:
            request = monitor.approvals.get(request_id)
        except ApprovalError:
            continue
        if request.status is not RequestStatus.PENDING or request.requester == user.user_id:
            continue
        try:
            monitor.approvals.decide(request_id, user.user_id, DecisionKind.REJECT, f"override: {reason}"[:2000],
                                     audit=audit)
        except ApprovalError:  # not eligible: the request stays with its approvers; the override is on record
            continue
        declined.append(request_id)
    return declined
