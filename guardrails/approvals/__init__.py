"""Approvals: route proposed actions by policy, persist requests, and enforce who may decide them.

- :mod:`guardrails.approvals.routing` — ``(action, requester, subject) → Route`` from the policy's ``actions:``
  section (parsed in :mod:`guardrails.policy`);
- :mod:`guardrails.approvals.governed_actions` — the action gate and execution (risk class, autonomy, routing);
- :mod:`guardrails.approvals.service` — proposals, decisions, execution exactly once and undo, audited;
- :mod:`guardrails.approvals.store` — requests and decisions in the state database;
- :mod:`guardrails.approvals.decided` — decided requests one viewer may see, a page at a time;
- :mod:`guardrails.approvals.models` — the typed records both use;
- :mod:`guardrails.approvals.views` — a request as one viewer may see it (sensitive values masked, approvers'
  comments too);
- :mod:`guardrails.policy.triggers` — policy limits telling the copilot when to propose an action.
"""

from guardrails.approvals.models import (
    ApprovalDecision,
    ApprovalRequest,
    ApproverGroup,
    DecisionKind,
    RequestStatus,
)
from guardrails.approvals.routing import ApprovalRouter, Route, RoutingSubject, SubjectLike, route
from guardrails.approvals.store import ApprovalStore
from guardrails.approvals.views import RequestView, view_for
from guardrails.policy.triggers import ActionTriggers

__all__ = [
    "ActionTriggers",
    "ApprovalDecision",
    "ApprovalRequest",
    "ApprovalRouter",
    "ApprovalStore",
    "ApproverGroup",
    "DecisionKind",
    "RequestStatus",
    "RequestView",
    "Route",
    "RoutingSubject",
    "SubjectLike",
    "route",
    "view_for",
]
