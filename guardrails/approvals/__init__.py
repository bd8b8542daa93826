"""Approvals: route proposed actions by policy, persist requests, and enforce who may decide them.

- :mod:`guardrails.approvals.routing` — the ``actions:`` policy section and
  ``(action, requester, subject) → Route``;
- :mod:`guardrails.approvals.store` — requests and decisions in the state database;
- :mod:`guardrails.approvals.models` — the typed records both use.
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

__all__ = [
    "ApprovalDecision",
    "ApprovalRequest",
    "ApprovalRouter",
    "ApprovalStore",
    "ApproverGroup",
    "DecisionKind",
    "RequestStatus",
    "Route",
    "RoutingSubject",
    "SubjectLike",
    "route",
]
