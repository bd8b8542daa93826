"""Approval requests as one viewer may see them over the API.

The view keeps what an approver needs to decide — the exact action and
arguments, who asked, why it needs approval, who may decide and what was
decided — and what the viewer may do now (``may_decide``, ``may_undo``). The
precondition snapshot and the routing facts stay out (they may carry values
the viewer's policy masks); only the facts' one-line summary is shown. Values the
viewer's field scope hides (the US$ value at stake, changed columns such as a
price) are masked by :func:`guardrails.approvals.views.view_for` first; a requester
who may not see the value is shown the route's notice (every group the action may
need), never the groups the value added. To everyone but the requester, other
requests by the same requester for the same action and subject, made close
together, are listed (``similar_requests``) with a ``probing_note``.
"""

from __future__ import annotations

from typing import Any

from guardrails.approvals.models import ApprovalRequest, RequestStatus
from guardrails.approvals.service import ActionApprovals
from guardrails.approvals.similar import probing_note
from guardrails.approvals.views import view_for
from guardrails.identity import User

__all__ = ["approver_lines", "may_see", "request_view", "shown_approver_lines"]


def approver_lines(request: ApprovalRequest) -> list[str]:
    """One line per approver group: ``production_supervisor or quality_engineer at P100: quinn.quality``."""
    return [f"{g.describe()}: {', '.join(g.eligible_user_ids) or 'nobody eligible'}" for g in request.groups]


def shown_approver_lines(request: ApprovalRequest, viewer: User, approvals: ActionApprovals) -> list[str]:
    """:func:`approver_lines` of ``request`` as ``viewer`` may see it (the notice for a requester who may not
    see the value)."""
    actions = approvals.actions
    return approver_lines(view_for(request, viewer, actions.policy, router=actions.router).request)


def may_see(request: ApprovalRequest, viewer: User, *, auditor: bool = False) -> bool:
    """The requester, anyone eligible for a group, anyone who decided it, and auditors may see a request."""
    return (auditor or viewer.user_id == request.requester or request.decided_by(viewer.user_id)
            or any(viewer.user_id in g.eligible_user_ids for g in request.groups))


def request_view(original: ApprovalRequest, viewer: User, approvals: ActionApprovals) -> dict[str, Any]:
    """The request as ``viewer`` sees it (JSON-ready; masked by the viewer's field scope)."""
    actions = approvals.actions
    masked = view_for(original, viewer, actions.policy, router=actions.router)
    request = masked.request
    facts = request.subject.get("facts")
    summary = facts.get("summary") if isinstance(facts, dict) else None
    groups = []
    for i, group in enumerate(request.groups):
        decision = next((d for d in request.decisions if d.group_index == i), None)
        groups.append({"describe": group.describe(), "roles": list(group.roles), "site": group.site,
                       "eligible": list(group.eligible_user_ids), "condition": group.condition,
                       "decided_by": decision.approver if decision else None,
                       "decision": decision.decision.value if decision else None})
    result = request.result or {}
    involved = viewer.user_id == request.requester or any(g.admits(viewer) for g in original.groups)
    # For the approvers (and auditors): the requester knows their own requests.
    mine = viewer.user_id == original.requester
    similar = approvals.similar(original) if not (original.autonomous or mine) else ()
    return {
        "id": request.id, "action": request.action, "status": request.status.value,
        "requester": request.requester, "thread_id": request.thread_id, "trace_id": request.trace_id,
        "args": dict(request.args), "summary": summary if isinstance(summary, str) else None,
        "site": request.subject.get("site_id"), "to_site": request.subject.get("to_site"),
        "value_usd": request.subject.get("value_usd"), "masked_fields": list(masked.masked_fields),
        "risk_class": request.risk_class, "reason": request.reason, "rule_id": request.rule_id,
        "approvers": approver_lines(request), "groups": groups, "route_notice": masked.noticed,
        "decisions": [{"approver": d.approver, "decision": d.decision.value, "comment": d.comment,
                       "decided_at": d.decided_at.isoformat()} for d in request.decisions],
        "created_at": request.created_at.isoformat(), "expires_at": request.expires_at.isoformat(),
        "updated_at": request.updated_at.isoformat(), "version": request.version,
        "outcome": str(result.get("message") or result.get("reason") or "") or None,
        "may_decide": original.may_decide(viewer),
        "may_undo": involved and request.status is RequestStatus.EXECUTED,
        "similar_requests": [s.to_json_dict() for s in similar],
        "probing_note": probing_note(original, similar, approvals.similar_window(original)),
    }
