"""Action calls in the graph: what is offered, the gate, autonomous execution and the approval step.

An autonomous (allowed) call runs in the tools step and is recorded like an approved request (risk
class ``autonomous``, under a deterministic ``AUT-`` id), so it can be listed, shown and undone.

The approval step persists the turn's approval requests (create-if-absent under deterministic ids, so
re-running it from its first line — which LangGraph does when it resumes an interrupted node — has no
new effects), then pauses the thread with ``interrupt()``. When the run resumes (``Command(resume=...)``,
possibly in another process), the step reads every request again from the store and settles it:
approved → executed exactly once; rejected / expired → nothing runs and the model is told why. While any
request of the model message is still pending, the step loops back and pauses again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from langchain_core.messages import ToolCall, ToolMessage
from langgraph.types import interrupt

from agent.state import ActionPlan, ToolCallRecord, TurnState
from guardrails.approvals.governed_actions import ModelGrant, autonomous_request_id
from guardrails.approvals.models import ApprovalRequest, ApproverGroup, RequestStatus
from guardrails.approvals.routing import Route, subject_json
from guardrails.approvals.service import ActionApprovals, Proposal, approval_request_id
from guardrails.approvals.views import view_for
from guardrails.audit.trace import AuditSink, Trace
from guardrails.gate import Effect
from guardrails.identity import User
from guardrails.tracing import TurnTracing

__all__ = ["INTERRUPT_KIND", "ActionSteps", "pause_answer", "pause_requests"]

INTERRUPT_KIND = "approval"
"""``kind`` of the value the approval step interrupts with."""


def _content(value: Mapping[str, Any]) -> str:
    return json.dumps(value, default=str)


@dataclass
class ActionSteps:
    """Everything the graph does with action calls, around one :class:`ActionApprovals`."""

    approvals: ActionApprovals
    model_grant: ModelGrant | None
    """What the configured model may propose (``None``: no actions at all)."""
    fallback_grant: ModelGrant | None
    """What the fallback (rules) model may propose when the turn is degraded."""
    tracing: TurnTracing = field(default_factory=TurnTracing.off)
    """Spans of action gate decisions, autonomous runs and approval pauses and resumes (none by default)."""

    def grant(self, degraded: bool) -> ModelGrant | None:
        """The grant of the model answering the turn."""
        return self.fallback_grant if degraded else self.model_grant

    def schemas(self, user: User, degraded: bool) -> list[dict[str, Any]]:
        """OpenAI-format schemas of the actions ``user`` may propose through the current model (descriptions
        carry the policy's trigger limits, e.g. when to open a supplier review)."""
        actions = self.approvals.actions
        return [{"type": "function", "function": {"name": s.name, "description": actions.description(user, s),
                                                  "parameters": s.json_schema()}}
                for s in actions.offered(user, self.grant(degraded))]

    def is_action(self, name: str) -> bool:
        """True when ``name`` is an action (not a read tool)."""
        return name in self.approvals.actions.catalog

    def check_args(self, name: str, args: Mapping[str, Any]) -> None:
        """Raise :class:`~tools.errors.ArgumentError` when ``args`` do not fit the action's schema."""
        self.approvals.actions.catalog.get(name).parse_args(args)

    # -- gate and tools steps ----------------------------------------------------------------------

    def gate(self, user: User, call: ToolCall, *, degraded: bool, thread_id: str, trace: Trace,
             audit: AuditSink) -> tuple[ToolCallRecord, ActionPlan | None]:
        """Decide one action call; an allowed or approval-bound call gets a plan for the later step."""
        call_id = call["id"] or ""
        with self.tracing.step("jidoka.gate", {"jidoka.tool": call["name"], "jidoka.action": True}) as span:
            decision = self.approvals.actions.decide(user, call["name"], call["args"], model=self.grant(degraded),
                                                     trace=trace, audit=audit)
            span.set_many({"jidoka.effect": decision.effect.value, "jidoka.rule_id": decision.rule_id})
        record = ToolCallRecord(id=call_id, name=call["name"], args=dict(call["args"]),
                                decision=decision.effect.value, rule_id=decision.rule_id, reason=decision.reason)
        if decision.status is not None:
            record["status"] = decision.status
        if decision.effect is Effect.DENY:
            return record, None
        subject, route = decision.routed()
        waits = decision.effect is Effect.NEEDS_APPROVAL
        request_id = (approval_request_id(thread_id, trace.trace_id, call_id) if waits
                      else autonomous_request_id(trace.trace_id, call_id))
        plan = ActionPlan(
            tool_call_id=call_id, action=call["name"], args=dict(decision.args), effect=decision.effect.value,
            request_id=request_id, rule_id=decision.rule_id, reason=decision.reason,
            subject=subject_json(subject), snapshot=dict(decision.snapshot),
            groups=[g.to_json_dict() for g in route.groups],
            expires_at=route.expires_at.isoformat() if route.expires_at else None)
        return record, plan

    def run(self, user: User, call: ToolCall, record: ToolCallRecord | None, plan: ActionPlan | None, *,
            trace: Trace, audit: AuditSink) -> ToolMessage | None:
        """The tools step for one action call: refuse, execute an allowed one, or leave it to the approval step."""
        call_id = call["id"] or ""
        if plan is None:
            refusal = ({"status": record.get("status", "denied"), "tool": call["name"], "rule_id": record["rule_id"],
                        "reason": record["reason"]} if record is not None else
                       {"status": "denied", "tool": call["name"], "rule_id": "gate.default_deny",
                        "reason": "The call was not decided."})
            return ToolMessage(content=_content(refusal), tool_call_id=call_id, name=call["name"])
        if plan["effect"] != Effect.ALLOW.value:
            return None
        # Recorded like an approved request (risk class autonomous), so the user can list, show and undo it.
        route = Route(Effect.ALLOW, plan["rule_id"], plan["reason"], plan["action"], user.user_id)
        proposal = Proposal(request_id=plan["request_id"], thread_id=trace.thread_id or "", trace_id=trace.trace_id,
                            requester=user.user_id, action=plan["action"], args=plan["args"], subject=plan["subject"],
                            snapshot=plan["snapshot"], route=route)
        with self.tracing.step("jidoka.tool", {"jidoka.tool": plan["action"], "jidoka.action": True}) as span:
            settled = self.approvals.run_autonomous(proposal, trace=trace, audit=audit)
            span.set_many({"jidoka.status": settled.status, "jidoka.request_id": settled.request_id})
        body = settled.for_model(self.approvals.actions.policy.screening)
        if settled.status == "executed":
            body["risk_class"] = "autonomous"
            body["undo"] = f"jidoka approvals undo {settled.request_id} --as {user.user_id}"
        return ToolMessage(content=_content(body), tool_call_id=call_id, name=call["name"])

    # -- approval step -------------------------------------------------------------------------------

    def approval(self, state: TurnState, *, thread_id: str, trace: Trace, audit: AuditSink) -> dict[str, Any]:
        """Persist, pause, and on resume settle every approval-bound call of the latest model message."""
        plans = waiting_plans(state)
        requests = [self.approvals.ensure(self._proposal(p, state, thread_id), audit=audit)[0] for p in plans]
        if any(r.status is RequestStatus.PENDING for r in requests):
            # Nothing above has an effect a re-run would repeat: requests are created only when absent.
            shown = [self._as_requester_sees(r) for r in requests]
            with self.tracing.step("jidoka.approval.pause", {
                    "jidoka.approval.requests": len(requests), "jidoka.approval.request_ids": [r.id for r in requests],
                    "jidoka.approval.pending": sum(r.status is RequestStatus.PENDING for r in requests)}):
                pass  # an instant: the pause lasts until a resume, which is a turn span of its own
            interrupt({"kind": INTERRUPT_KIND, "thread_id": thread_id, "requests": [_describe(r) for r in shown]})
        with self.tracing.step("jidoka.approval.resume", {
                "jidoka.approval.requests": len(plans),
                "jidoka.approval.request_ids": [p["request_id"] for p in plans]}) as span:
            settled = [self.approvals.settle(p["request_id"], action=p["action"], args=p["args"],
                                             requester=state["user_id"], thread_id=thread_id, trace=trace,
                                             audit=audit)
                       for p in plans]
            span.set_many({"jidoka.approval.statuses": [s.status for s in settled],
                           "jidoka.approval.waiting": sum(bool(s.waiting) for s in settled)})
        known = {a["id"]: a for a in state.get("approvals", [])}
        known.update({s.request_id: s.summary() for s in settled})
        update: dict[str, Any] = {"approvals": list(known.values())}
        if any(s.waiting for s in settled):
            return {**update, "approval_rounds": state.get("approval_rounds", 0) + 1}
        rules = self.approvals.actions.policy.screening
        messages = [ToolMessage(content=_content(s.for_model(rules)), tool_call_id=p["tool_call_id"],
                                name=p["action"]) for p, s in zip(plans, settled, strict=True)]
        return {**update, "messages": messages, "action_plans": []}

    def _as_requester_sees(self, request: ApprovalRequest) -> ApprovalRequest:
        """``request`` as its requester may see it: a requester who may not see the value behind it is told
        every group the action may need, not which ones the value added (``guardrails.approvals.disclosure``)."""
        actions = self.approvals.actions
        requester = actions.policy.user(request.requester)
        return view_for(request, requester, actions.policy, router=actions.router).request

    def _proposal(self, plan: ActionPlan, state: TurnState, thread_id: str) -> Proposal:
        groups = tuple(ApproverGroup.from_json_dict(g) for g in plan["groups"])
        expires = plan["expires_at"]
        route = Route(Effect.NEEDS_APPROVAL, plan["rule_id"], plan["reason"], plan["action"], state["user_id"],
                      groups, datetime.fromisoformat(expires) if expires else None)
        return Proposal(request_id=plan["request_id"], thread_id=thread_id, trace_id=state["trace_id"],
                        requester=state["user_id"], action=plan["action"], args=plan["args"],
                        subject=plan["subject"], snapshot=plan["snapshot"], route=route)


def waiting_plans(state: TurnState) -> list[ActionPlan]:
    """Plans of the latest model message that need an approval decision."""
    return [p for p in state.get("action_plans", []) if p["effect"] == Effect.NEEDS_APPROVAL.value]


def _describe(request: ApprovalRequest) -> dict[str, Any]:
    facts = request.subject.get("facts")
    summary = facts.get("summary") if isinstance(facts, Mapping) else None
    return {"id": request.id, "action": request.action, "status": request.status.value,
            "summary": summary or request.action, "reason": request.reason, "rule_id": request.rule_id,
            "approvers": [{"group": g.label, "eligible": list(g.eligible_user_ids), "condition": g.condition}
                          for g in request.groups],
            "expires_at": request.expires_at.isoformat()}


def pause_requests(interrupts: Sequence[Any]) -> list[dict[str, Any]]:
    """The requests a paused run waits for, from the graph's ``__interrupt__`` values."""
    found: list[dict[str, Any]] = []
    for item in interrupts:
        value = getattr(item, "value", item)
        if isinstance(value, Mapping) and value.get("kind") == INTERRUPT_KIND:
            found.extend(value.get("requests", []))
    return found


def pause_answer(requests: Sequence[Mapping[str, Any]]) -> str:
    """What the requester is told while the thread waits: request ids, what they do, who can approve (a group
    only some requests of the action need says when: ``only if the value is over $10,000``)."""
    lines = ["This needs approval before I can go on; nothing has been changed yet."]
    for r in requests:
        who = " AND ".join(f"{a['group']} ({', '.join(a['eligible'])})"
                           + (f" {a['condition']}" if a.get("condition") else "") for a in r["approvers"])
        state = "" if r["status"] == "pending" else f" [{r['status']}]"
        lines.append(f"- {r['id']}{state}: {r['summary']}. Approver: {who}. Expires {r['expires_at'][:16]} UTC.")
    ids = " / ".join(r["id"] for r in requests)
    lines.append(f"The request is bound to exactly these arguments. This thread continues once {ids} is decided "
                 "(`jidoka approvals approve|reject ID --as USER`).")
    return "\n".join(lines)
