"""Proposing an action for a signal: the same gate, routing and separation of duties as a chat request.

The requester is the system acting for the signal's role at its site (:func:`~guardrails.identity.system_requester`);
what the monitor may propose at all is its grant (the policy's ``monitoring.risk_classes``, like a model's). A
request needing approval lands in the approvers' inbox with the thread ``signal:<id>``; an action the policy lets
run autonomously runs at once (recorded and undoable like any autonomous action); a refusal is kept on the signal
with its rule and reason. Every decision is a ``gate_decision`` audit event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guardrails.approvals.governed_actions import ActionDecision, GovernedActions
from guardrails.approvals.routing import subject_json
from guardrails.approvals.service import ActionApprovals, Proposal, Settled
from guardrails.audit.trace import AuditSink, Trace
from guardrails.gate import Effect
from guardrails.identity import User, system_requester
from guardrails.policy.monitoring import MonitoringRules
from tools.spec import RiskClass

__all__ = ["SIGNAL_THREAD_PREFIX", "MonitorGrant", "PersonGrant", "ProposalOutcome", "is_signal_thread", "propose",
           "propose_as_person", "signal_thread"]


SIGNAL_THREAD_PREFIX = "signal:"


def signal_thread(signal_id: str) -> str:
    """The thread id of the requests made for a signal."""
    return f"{SIGNAL_THREAD_PREFIX}{signal_id}"


def is_signal_thread(thread_id: str | None) -> bool:
    """True for the thread of a signal's requests (settled by the monitor, not by resuming a chat)."""
    return bool(thread_id) and str(thread_id).startswith(SIGNAL_THREAD_PREFIX)


@dataclass(frozen=True)
class MonitorGrant:
    """What the monitor may propose at one site (the gate's model grant for the system requester)."""

    rules: MonitoringRules
    site: str

    @property
    def id(self) -> str:
        """Shown where a model id would be."""
        return "monitor"

    @property
    def approved_in(self) -> str:
        """The policy file granting it."""
        return f"{self.rules.file}#monitoring"

    @property
    def rule_id(self) -> str:
        """The rule a refusal for the risk class names."""
        return self.rules.risk_classes_rule(self.site)

    def may_propose(self, risk_class: RiskClass) -> bool:
        """True when ``monitoring.risk_classes`` (as tightened for the site) lists ``risk_class``."""
        return self.rules.may_propose(risk_class, self.site)


@dataclass(frozen=True)
class ProposalOutcome:
    """What became of one proposal."""

    action: str
    effect: str
    """``allow`` (ran autonomously), ``needs_approval`` or ``deny``."""
    rule_id: str
    reason: str
    request_id: str | None = None
    settled: Settled | None = None
    """For an autonomous run: the execution."""

    def to_json(self) -> dict[str, Any]:
        """What the signal keeps of it."""
        body: dict[str, Any] = {"action": self.action, "effect": self.effect, "rule_id": self.rule_id,
                                "reason": self.reason, "request_id": self.request_id}
        if self.settled is not None:
            body["status"] = self.settled.status
        return body


_SITE_ARGS = ("from_site_id", "to_site_id", "site_id")
"""Arguments naming a site an action touches besides the signal's (the source of a reallocation)."""


def _request_id(prefix: str, signal_id: str, action: str, attempt: int) -> str:
    digest = hashlib.sha256(f"{signal_id}|{action}|{attempt}".encode()).hexdigest()[:12].upper()
    return f"{prefix}-{digest}"


def propose(approvals: ActionApprovals, rules: MonitoringRules, *, signal_id: str, role: str, site: str, action: str,
            args: Mapping[str, Any], attempt: int, trace: Trace, audit: AuditSink) -> ProposalOutcome:
    """Decide ``action(args)`` as the monitor for ``role`` at ``site`` and act on the decision.

    ``attempt`` numbers the proposals of one signal, so a re-run of the same step (a crash between the request
    and the signal update) finds the request it made instead of making another.
    """
    actions: GovernedActions = approvals.actions
    touched = [str(args[k]) for k in _SITE_ARGS if isinstance(args.get(k), str) and args[k] in actions.policy.sites]
    requester = system_requester(role, site, *touched)
    decision = actions.decide(requester, action, args, model=MonitorGrant(rules, site), trace=trace, audit=audit)
    return _act(approvals, decision, signal_id=signal_id, requester=requester.user_id, action=action,
                attempt=attempt, trace=trace, audit=audit)


def _act(approvals: ActionApprovals, decision: ActionDecision, *, signal_id: str, requester: str, action: str,
         attempt: int, trace: Trace, audit: AuditSink) -> ProposalOutcome:
    """Act on the gate's decision: nothing (refused), a request for approvers, or an autonomous run."""
    if decision.effect is Effect.DENY:
        return ProposalOutcome(action, decision.effect.value, decision.rule_id, decision.reason)
    subject, route = decision.routed()
    autonomous = decision.effect is Effect.ALLOW
    request_id = _request_id("AUT" if autonomous else "APR", signal_id, action, attempt)
    proposal = Proposal(request_id=request_id, thread_id=signal_thread(signal_id), trace_id=trace.trace_id,
                        requester=requester, action=action, args=dict(decision.args),
                        subject=subject_json(subject), snapshot=dict(decision.snapshot), route=route)
    if autonomous:
        settled = approvals.run_autonomous(proposal, trace=trace, audit=audit)
        return ProposalOutcome(action, decision.effect.value, decision.rule_id, decision.reason, request_id, settled)
    approvals.ensure(proposal, audit=audit)
    return ProposalOutcome(action, decision.effect.value, decision.rule_id, decision.reason, request_id)


@dataclass(frozen=True)
class PersonGrant:
    """A person asking for an action directly (an override on a signal): no model proposes it, so no model grant
    narrows it; their roles, sites, the routing and separation of duties still decide."""

    @property
    def id(self) -> str:
        """Shown where a model id would be."""
        return "person"

    @property
    def approved_in(self) -> str:
        """Nothing to approve: the person acts."""
        return "roles"

    def may_propose(self, risk_class: RiskClass) -> bool:
        """Any class; the route decides whether it needs approval."""
        return True


def propose_as_person(approvals: ActionApprovals, user: User, *, signal_id: str, action: str,
                      args: Mapping[str, Any], attempt: int, trace: Trace, audit: AuditSink) -> ProposalOutcome:
    """Decide ``action(args)`` requested by ``user`` for signal ``signal_id`` (an override's alternative)."""
    decision = approvals.actions.decide(user, action, args, model=PersonGrant(), trace=trace, audit=audit)
    return _act(approvals, decision, signal_id=signal_id, requester=user.user_id, action=action, attempt=attempt,
                trace=trace, audit=audit)
