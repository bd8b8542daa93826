"""An approval request as one viewer may see it: sensitive values masked by the viewer's field scope.

A request stores what routing and execution saw, unmasked: the US$ value at stake (quantity ×
``items.standard_cost``, whatever the requester may see, because routing must not depend on it) and the
records an execution changed (e.g. a new PO line's ``unit_price``). Anyone listing or showing a request
— the CLI today, the HTTP API later — gets it through :func:`view_for`, which hides every value the
viewer's roles may not see at the request's sites (the policy's ``sensitive_fields``; aggregate-only
counts as hidden: a request is one row, not an aggregate). No viewer (an operator listing everything)
sees no sensitive value at all.

A requester who may not see the value is shown the route's notice instead of its groups (every group the
action may need, those a value rule adds marked as such; see :mod:`guardrails.approvals.disclosure`), so
what they see of the route is the same on both sides of a value threshold. Approvers see the real groups.

Approvers' comments are free text: a value stated in one (``value $12,345 is over budget``) is masked for a viewer
who may not see the field its author could, the way the audit trail masks free text
(:func:`guardrails.audit_view.mask_free_text`; best effort — prose can state a value in words no pattern knows).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from guardrails.approvals.disclosure import VALUE_FIELD, RouteNotice, as_noticed
from guardrails.approvals.models import ApprovalDecision, ApprovalRequest
from guardrails.approvals.routing import ApprovalRouter
from guardrails.audit_view import mask_free_text
from guardrails.gate import field_scope
from guardrails.identity import User
from guardrails.policy.loader import Policy

__all__ = ["VALUE_FIELD", "RequestView", "view_for"]

# Routing reasons before the value was left out of them: "(value $12,000.00 is over $10,000)".
_VALUE_IN_REASON = re.compile(r"\(value \$[\d,]+(?:\.\d+)? is over (\$[\d,]+(?:\.\d+)?)\)")


@dataclass(frozen=True)
class RequestView:
    """A request with what the viewer may not see removed, and which fields were removed."""

    request: ApprovalRequest
    """A copy of the request: masked values are ``None`` (``value_usd``) or left out (changed columns)."""
    viewer: str | None
    """The viewing user's id (``None``: no particular user, nothing sensitive shown)."""
    masked_fields: tuple[str, ...]
    """Sensitive ``table.column`` fields hidden from this view (sorted)."""
    noticed: bool = False
    """True when the groups shown are the route's notice (every group the action may need), not the route."""

    def to_json_dict(self) -> dict[str, Any]:
        """The request as JSON (``ApprovalRequest.to_json_dict``) plus ``viewer``, ``masked_fields`` and
        ``route_notice``."""
        return {**self.request.to_json_dict(), "viewer": self.viewer, "masked_fields": list(self.masked_fields),
                "route_notice": self.noticed}


def _hidden(request: ApprovalRequest, viewer: User | None, policy: Policy) -> frozenset[str]:
    sites = frozenset(s for s in (request.subject.get("site_id"), request.subject.get("to_site"))
                      if isinstance(s, str) and s)
    if viewer is None:
        names = set(policy.fields)
        for site in sites:
            names |= set(policy.fields_at(site))
        return frozenset(names)
    masked, aggregate_only = field_scope(policy, viewer, sites)
    return masked | aggregate_only


def _mask_changes(result: Mapping[str, Any], hidden: frozenset[str], found: set[str]) -> dict[str, Any]:
    out = dict(result)
    changed = result.get("changed")
    if not isinstance(changed, list):
        return out
    masked_changes = []
    for change in changed:
        if not isinstance(change, Mapping):
            masked_changes.append(change)
            continue
        entry = dict(change)
        table = str(change.get("table") or "")
        gone: set[str] = set()
        for image in ("before", "after"):
            values = change.get(image)
            if isinstance(values, Mapping):
                gone |= {c for c in values if f"{table}.{c}" in hidden}
                entry[image] = {c: v for c, v in values.items() if f"{table}.{c}" not in hidden}
        if gone:
            entry["masked_fields"] = sorted(gone | set(change.get("masked_fields") or []))
            found |= {f"{table}.{c}" for c in gone}
        masked_changes.append(entry)
    out["changed"] = masked_changes
    return out


def _mask_comment(decision: ApprovalDecision, policy: Policy, hidden: frozenset[str],
                  found: set[str]) -> ApprovalDecision:
    """An approver's comment as the viewer may see it: a value its author could see and the viewer may not (an
    amount beside a price word, an account number) is masked, as in the audit trail's free text."""
    shown, masked = mask_free_text(policy, decision.comment, hidden, decision.approver)
    if not masked:
        return decision
    found |= masked
    return dataclasses.replace(decision, comment=shown)


def view_for(request: ApprovalRequest, viewer: User | None, policy: Policy, *,
             router: ApprovalRouter | None = None) -> RequestView:
    """``request`` as ``viewer`` may see it (re-read ``viewer`` from ``policy`` when it may be stale); ``router``
    (on ``policy``) gives the route's notice for a requester who may not see the value (built when omitted)."""
    hidden = _hidden(request, viewer, policy)
    found: set[str] = set()
    subject, reason = dict(request.subject), request.reason
    if VALUE_FIELD in hidden:
        if "value_usd" in subject:
            subject["value_usd"], found = None, found | {VALUE_FIELD}
        if _VALUE_IN_REASON.search(reason):
            reason, found = _VALUE_IN_REASON.sub(r"(value over \1)", reason), found | {VALUE_FIELD}
    result = None if request.result is None else _mask_changes(request.result, hidden, found)
    decisions = tuple(_mask_comment(d, policy, hidden, found) for d in request.decisions)
    masked = dataclasses.replace(request, subject=subject, reason=reason, result=result, decisions=decisions)
    noticed = False
    if (viewer is not None and viewer.user_id == request.requester and VALUE_FIELD in hidden
            and not request.autonomous and "value_usd" in request.subject):  # a publication carries no value
        site, to_site = request.subject.get("site_id"), request.subject.get("to_site")
        notice = (router or ApprovalRouter(policy)).notice(
            request.action, viewer, str(site or ""), to_site if isinstance(to_site, str) else None)
        # No rule covers the action any more: show no groups rather than the real, value-dependent ones.
        masked = as_noticed(masked, notice or RouteNotice(request.action, "approvals.unknown_action", ()))
        noticed = True
    return RequestView(masked, viewer.user_id if viewer is not None else None, tuple(sorted(found)), noticed)
