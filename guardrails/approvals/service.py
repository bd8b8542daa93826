"""Approved actions: persist the request, execute exactly once what was approved, and undo it (governed).

- :meth:`ActionApprovals.ensure` persists a request under a deterministic id, creating it only when absent,
  so a re-run of the step that proposes it (LangGraph re-runs an interrupted node from its first line)
  neither duplicates the request nor its ``approval_requested`` audit event.
- :meth:`ActionApprovals.settle` reads the request again and acts on its status: approved → bound to the
  same action, arguments, requester and thread (:meth:`ApprovalStore.executable`) → executed once under
  ``spec.idempotency_key(request_id)`` against the approved precondition snapshot; rejected / expired /
  failed → nothing runs and the outcome says why.
- :meth:`ActionApprovals.undo` runs the compensation for the requester or an eligible approver only.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from guardrails.approvals.events import decided_event, refused_decision_event, requested_event
from guardrails.approvals.governed_actions import GovernedActions, action_view, durable, executed_payload
from guardrails.approvals.models import ApprovalRequest, DecisionKind, RequestStatus
from guardrails.approvals.routing import Route
from guardrails.approvals.similar import SimilarRequest, similar_requests, similar_window
from guardrails.approvals.store import ApprovalStore
from guardrails.approvals.views import view_for
from guardrails.audit.log import AuditKind
from guardrails.audit.trace import AuditSink, Trace
from guardrails.errors import ApprovalError, BindingMismatch, InvalidTransition, RequestNotFound, UnknownUser
from guardrails.gate import Effect
from guardrails.identity import User, parse_system_requester
from guardrails.screening.screen import ScreeningRules
from guardrails.screening.spotlight import screen_and_spotlight
from tools.errors import NothingToCompensate, ToolError

__all__ = ["ActionApprovals", "Proposal", "Settled", "SettledStatus", "UndoOutcome", "UndoStatus",
           "approval_request_id"]

SettledStatus = Literal["pending", "executed", "precondition_failed", "rejected", "expired", "not_executed",
                        "compensated"]
"""What became of a request: still waiting, ran, refused to run on changed data, decided against, timed
out, not run for another reason (binding, permissions), or ran and was undone."""
UndoStatus = Literal["compensated", "conflict", "denied", "not_undoable"]


def approval_request_id(thread_id: str, trace_id: str, tool_call_id: str) -> str:
    """The request id of a proposed action: the same (thread, turn, tool call) always gives the same id."""
    digest = hashlib.sha256(f"{thread_id}|{trace_id}|{tool_call_id}".encode()).hexdigest()[:12].upper()
    return f"APR-{digest}"


@dataclass(frozen=True)
class Proposal:
    """An action the gate routed to approvers, as the approval step persists it."""

    request_id: str
    thread_id: str
    trace_id: str
    requester: str
    action: str
    args: Mapping[str, Any]
    subject: Mapping[str, Any]
    """The subject as routing saw it (``routing.subject_json``)."""
    snapshot: Mapping[str, Any]
    route: Route


@dataclass(frozen=True)
class Settled:
    """What became of an approval request when the paused run looked at it again."""

    request_id: str
    action: str
    status: SettledStatus
    reason: str
    view: Mapping[str, Any] = field(default_factory=dict)
    """The execution as the model sees it (executed / precondition_failed)."""
    comment: str = ""
    """The deciding approver's comment (untrusted free text: spotlighted for the model)."""

    @property
    def waiting(self) -> bool:
        """True while the request is still pending."""
        return self.status == "pending"

    def for_model(self, rules: ScreeningRules) -> dict[str, Any]:
        """The tool result the model sees for the proposed call (the approver's comment spotlighted)."""
        if self.view:
            body = dict(self.view)
        else:
            body = {"status": self.status, "action": self.action, "request_id": self.request_id,
                    "reason": self.reason}
            if self.comment:
                body["comment"] = self.comment
        body["status"] = self.status
        return screen_and_spotlight(self.action, body, rules, text_fields={"comment"}).as_object()

    def summary(self) -> dict[str, str]:
        """``{"id", "action", "status"}`` for ``TurnResult.approvals``."""
        return {"id": self.request_id, "action": self.action, "status": self.status}


@dataclass(frozen=True)
class UndoOutcome:
    """The result of an undo (compensation) request."""

    request_id: str
    action: str
    status: UndoStatus
    rule_id: str
    reason: str
    view: Mapping[str, Any] = field(default_factory=dict)
    """The compensation as executed: the records restored."""

    @property
    def ok(self) -> bool:
        """True when the previous state is restored (now or by an earlier undo)."""
        return self.status == "compensated"


def _rejection(request: ApprovalRequest, shown: ApprovalRequest) -> tuple[str, str]:
    """Why nothing ran, naming the approver only when ``shown`` (the requester's view) has the decision."""
    decision = next((d for d in reversed(request.decisions) if d.decision is DecisionKind.REJECT), None)
    if decision is None:
        return f"{request.id} was rejected; nothing was executed", ""
    if not any(d.approver == decision.approver for d in shown.decisions):  # a group the requester is not told of
        return f"an approver rejected {request.id}; nothing was executed", decision.comment
    return f"{decision.approver} rejected {request.id}; nothing was executed", decision.comment


class ActionApprovals:
    """The approval half of governed actions: requests in the state database, executions in the plant."""

    def __init__(self, actions: GovernedActions, store: ApprovalStore) -> None:
        self.actions = actions
        self.store = store

    @property
    def policy_hash(self) -> str:
        """Hash of the policy the requests are routed under."""
        return self.actions.policy.hash

    def requester(self, user_id: str) -> User:
        """The requester ``user_id`` names: a policy user, or the monitor acting for a role
        (:func:`~guardrails.identity.system_requester`); :class:`UnknownUser` otherwise."""
        system = parse_system_requester(user_id, set(self.actions.policy.roles))
        return system if system is not None else self.actions.policy.user(user_id)

    def get(self, request_id: str) -> ApprovalRequest:
        """The request as stored now (a pending one past its expiry turns expired)."""
        return self.store.get(request_id, now=self.actions.clock())

    def similar_window(self, request: ApprovalRequest) -> timedelta:
        """How close together requests like ``request`` count as similar (the action's ``similar_within_hours``)."""
        return similar_window(self.actions.router, request)

    def similar(self, request: ApprovalRequest) -> tuple[SimilarRequest, ...]:
        """Other requests by ``request``'s requester for its action on the same subject, made close to it."""
        return similar_requests(self.store, request, within=self.similar_window(request))

    # -- requesting --------------------------------------------------------------------------------

    def ensure(self, proposal: Proposal, *, audit: AuditSink) -> tuple[ApprovalRequest, bool]:
        """The request for ``proposal``, created (and audited) only if it does not exist yet."""
        request, created = self._create_once(proposal, autonomous=False)
        if created:
            audit.add(requested_event(request, self.policy_hash, [s.id for s in self.similar(request)]))
            durable(audit)
        return request, created

    def _create_once(self, proposal: Proposal, *, autonomous: bool) -> tuple[ApprovalRequest, bool]:
        try:
            return self.store.get(proposal.request_id, now=self.actions.clock()), False
        except RequestNotFound:
            pass
        creator = ApprovalStore(self.store.engine, id_factory=lambda: proposal.request_id)
        create = creator.create_autonomous if autonomous else creator.create
        try:
            request = create(
                thread_id=proposal.thread_id, trace_id=proposal.trace_id, requester=proposal.requester,
                action=proposal.action, args=dict(proposal.args), subject=dict(proposal.subject),
                route=proposal.route, precondition_snapshot=dict(proposal.snapshot), now=self.actions.clock())
        except IntegrityError:  # created by a concurrent run of the same step in the meantime
            return self.store.get(proposal.request_id, now=self.actions.clock()), False
        return request, True

    def run_autonomous(self, proposal: Proposal, *, trace: Trace, audit: AuditSink) -> Settled:
        """Record and run an action the gate allowed without approval, exactly once.

        The record (risk class ``autonomous``, status approved → executed / failed, no approver groups)
        is created only when absent, under the proposal's deterministic id, so a re-run replays the
        ledger instead of executing twice; once recorded it is listed, shown and undone like an approved
        request (undo by its requester, itself governed).
        """
        request, _ = self._create_once(proposal, autonomous=True)
        if request.status is RequestStatus.APPROVED:
            return self._execute(request, trace, audit)
        return self._recorded(request)

    def decide(self, request_id: str, approver_id: str, decision: DecisionKind | str, comment: str = "", *,
               audit: AuditSink) -> ApprovalRequest:
        """Record one approver's decision and its ``approval_decided`` event (the CLI's path, for the API).

        A refusal (unknown approver, own request, not eligible, already decided, expired, a concurrent decision)
        is audited too, as an ``error`` event in a trace of its own, and re-raised with that trace's id on the
        error (``exc.trace_id``) for the caller to name.
        """
        try:
            approver = self.actions.policy.user(approver_id)
            request = self.store.decide(request_id, approver, decision, comment, now=self.actions.clock())
        except (ApprovalError, UnknownUser) as exc:
            exc.trace_id = uuid.uuid4().hex
            audit.add(refused_decision_event(
                exc, request_id=request_id, user_id=approver_id, decision=str(decision), trace_id=exc.trace_id,
                thread_id=self._thread_of(request_id), policy_hash=self.policy_hash))
            raise
        audit.add(decided_event(request, self.policy_hash))
        return request

    def _thread_of(self, request_id: str) -> str | None:
        """The thread of request ``request_id`` (``None`` when there is no such request), for a refusal's event."""
        try:
            return self.store.get(request_id, now=self.actions.clock()).thread_id
        except ApprovalError:
            return None

    # -- settling ----------------------------------------------------------------------------------

    def settle(self, request_id: str, *, action: str, args: Mapping[str, Any], requester: str, thread_id: str,
               trace: Trace, audit: AuditSink) -> Settled:
        """Act on the request's current status; an approved request executes exactly once."""
        request = self.store.get(request_id, now=self.actions.clock())
        status = request.status
        if status is RequestStatus.PENDING:
            return Settled(request.id, request.action, "pending", f"{request.id} is waiting for approval")
        if status is RequestStatus.REJECTED:
            policy, user = self.actions.policy, self.actions.policy.users.get(requester)
            shown = request if user is None else view_for(request, user, policy, router=self.actions.router).request
            reason, comment = _rejection(request, shown)
            return Settled(request.id, request.action, "rejected", reason, comment=comment)
        if status is RequestStatus.EXPIRED:
            return Settled(request.id, request.action, "expired",
                           f"{request.id} expired at {request.expires_at.isoformat()} before it was approved; "
                           "nothing was executed")
        if status in (RequestStatus.EXECUTED, RequestStatus.FAILED, RequestStatus.COMPENSATED):
            return self._recorded(request)
        try:
            self.store.verify_binding(request, action, dict(args), requester, thread_id)
        except BindingMismatch as exc:
            return self._fail(request, "not_executed", f"not executed: {exc}", trace, audit)
        return self._execute(request, trace, audit)

    def _recorded(self, request: ApprovalRequest) -> Settled:
        result = dict(request.result or {})
        status = request.status
        if status is RequestStatus.EXECUTED:
            return Settled(request.id, request.action, "executed", str(result.get("message", "")), view=result)
        if status is RequestStatus.COMPENSATED:
            return Settled(request.id, request.action, "compensated",
                           f"{request.id} was executed and then undone: {result.get('message', '')}")
        settled: SettledStatus = "precondition_failed" if result.get("status") == "precondition_failed" \
            else "not_executed"
        return Settled(request.id, request.action, settled, str(result.get("reason") or result.get("message", "")),
                       view=result if settled == "precondition_failed" else {})

    def _fail(self, request: ApprovalRequest, status: SettledStatus, reason: str, trace: Trace,
              audit: AuditSink) -> Settled:
        body = {"status": status, "action": request.action, "request_id": request.id, "reason": reason}
        try:
            self.store.mark_failed(request.id, body, now=self.actions.clock())
        except InvalidTransition:
            return self._recorded(self.store.get(request.id, now=self.actions.clock()))
        error = "autonomous_action_not_executed" if request.autonomous else "approved_action_not_executed"
        audit.add(trace.event(AuditKind.ERROR, {"error": error, **body}))
        return Settled(request.id, request.action, status, reason)

    def _execute(self, request: ApprovalRequest, trace: Trace, audit: AuditSink) -> Settled:
        spec = self.actions.catalog.get(request.action)
        requester = self.requester(request.requester)
        scope, _, why = self.actions.base_grant(requester, spec)
        if scope is None:
            return self._fail(request, "not_executed", f"not executed: the requester may no longer run it ({why})",
                              trace, audit)
        try:
            result = spec.execute(self.actions.context(scope), dict(request.args),
                                  idempotency_key=spec.idempotency_key(request.id), request_id=request.id,
                                  expected_snapshot=dict(request.precondition_snapshot))
        except ToolError as exc:
            return self._fail(request, "not_executed", f"not executed: {exc}", trace, audit)
        view = action_view(result, as_of=self.actions.as_of(), request_id=request.id)
        # Audit durably before marking: a crash in between re-runs this with a replayed result, so the log
        # may get the event twice (the second says replayed) but never misses it.
        audit.add(trace.event(AuditKind.ACTION_EXECUTED, executed_payload(result, request.rule_id)))
        durable(audit)
        mark = self.store.mark_executed if result.status == "executed" else self.store.mark_failed
        try:
            mark(request.id, view, now=self.actions.clock())
        except InvalidTransition:  # another run marked it first (it executed once: the ledger replayed)
            return self._recorded(self.store.get(request.id, now=self.actions.clock()))
        if result.status == "executed":
            return Settled(request.id, request.action, "executed", result.message, view=view)
        return Settled(request.id, request.action, "precondition_failed", result.reason or result.message, view=view)

    # -- undoing -----------------------------------------------------------------------------------

    def undo(self, request_id: str, user: User, *, trace: Trace, audit: AuditSink) -> UndoOutcome:
        """Compensate an executed request; only its requester or one of its eligible approvers may."""
        request = self.store.get(request_id, now=self.actions.clock())
        if request.action not in self.actions.catalog:  # a publication: the earlier revision is published again
            return UndoOutcome(request.id, request.action, "not_undoable", "approvals.undo_not_an_action",
                               f"{request.id} ({request.action}) is no plant action; to go back, publish the earlier "
                               "revision (a replacement, approved by the document's owners)")
        spec = self.actions.catalog.get(request.action)
        scope, rule_id, why = self.actions.base_grant(user, spec)
        involved = user.user_id == request.requester or any(g.admits(user) for g in request.groups)
        if not involved:
            who = ("its requester, as it ran without approval" if request.autonomous
                   else "its requester or one of its eligible approvers")
            rule_id, why = "approvals.undo_not_permitted", (
                f"{user.user_id} may not undo {request.id}: only {who} may ({request.requester} requested it)")
        allowed = involved and scope is not None
        audit.add(trace.event(AuditKind.GATE_DECISION, {
            "tool": request.action, "kind": "undo", "request_id": request.id,
            "effect": (Effect.ALLOW if allowed else Effect.DENY).value, "rule_id": rule_id, "reason": why}))
        if not allowed or scope is None:
            return UndoOutcome(request.id, request.action, "denied", rule_id, why)
        if request.status not in (RequestStatus.EXECUTED, RequestStatus.COMPENSATED):
            return _not_undoable(request, f"{request.id} is {request.status.value}; only an executed action can be "
                                          "undone", trace, audit)
        try:
            result = spec.compensate(self.actions.context(scope), spec.idempotency_key(request.id))
        except NothingToCompensate as exc:
            return _not_undoable(request, str(exc), trace, audit)
        view = action_view(result, as_of=self.actions.as_of(), request_id=request.id)
        if result.status != "compensated":
            audit.add(trace.event(AuditKind.ERROR, {"error": "compensation_conflict", "request_id": request.id,
                                                    "action": request.action, "reason": result.reason}))
            return UndoOutcome(request.id, request.action, "conflict", "actions.compensation_conflict",
                               result.reason or result.message, view)
        if not result.replayed or request.status is RequestStatus.EXECUTED:  # ours to record (also after a crash)
            audit.add(trace.event(AuditKind.ACTION_COMPENSATED, executed_payload(result, rule_id)))
            durable(audit)
        try:
            self.store.mark_compensated(request.id, view, now=self.actions.clock())
        except InvalidTransition:  # already compensated (an earlier undo): nothing new to record
            return UndoOutcome(request.id, request.action, "compensated", rule_id, "already undone", view)
        return UndoOutcome(request.id, request.action, "compensated", rule_id, result.message, view)


def _not_undoable(request: ApprovalRequest, reason: str, trace: Trace, audit: AuditSink) -> UndoOutcome:
    """The refused undo of a request that did not (or no longer) execute, audited as an ``error`` event."""
    rule_id = "approvals.undo_not_executed"
    audit.add(trace.event(AuditKind.ERROR, {"error": "not_undoable", "request_id": request.id,
                                            "action": request.action, "rule_id": rule_id, "reason": reason}))
    return UndoOutcome(request.id, request.action, "not_undoable", rule_id, reason)
