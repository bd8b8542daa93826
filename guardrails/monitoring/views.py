"""Who sees a signal, who may respond to it, and what they see of it.

A signal concerns its site and its detector's roles: the owner, the roles it has been escalated to so far, and the
detector's ``watchers`` (who see but do not respond). A user sees it when they hold its site and one of those
roles, or may decide one of its requests; a reader of the audit (``audit.read``) sees every signal. Anybody else
gets the same answer as for a signal that does not exist. Figures carrying a sensitive field the viewer may not
see at the signal's site are shown masked (detectors avoid them; this is the backstop).
"""

from __future__ import annotations

from typing import Any

from guardrails.approvals.models import ApprovalRequest
from guardrails.audit_view import MASK
from guardrails.gate import field_scope
from guardrails.identity import User
from guardrails.monitoring.models import Signal
from guardrails.policy.loader import Policy
from guardrails.policy.monitoring import MonitoringRules

__all__ = ["may_respond", "may_see", "signal_view"]


def _roles_so_far(signal: Signal, rules: MonitoringRules) -> frozenset[str]:
    rule = rules.rule(signal.detector, signal.site_id)
    if rule is None:
        return frozenset({signal.role})
    return frozenset(rule.roles()[: signal.level + 1]) | {signal.role}


def may_respond(signal: Signal, user: User, policy: Policy, rules: MonitoringRules) -> tuple[bool, str, str]:
    """(allowed, rule id, reason) for ``user`` acknowledging, dismissing or overriding ``signal``."""
    if signal.site_id not in policy.user_sites(user):
        return False, "signals.site", f"{user.user_id} does not hold site {signal.site_id}"
    roles = _roles_so_far(signal, rules)
    if not user.roles & roles:
        return False, "signals.role", (f"{signal.signal_id} is with {', '.join(sorted(roles))}; "
                                       f"{user.user_id} holds none of those roles")
    return True, signal.rule_id, "the signal's role at its site"


def may_see(signal: Signal, user: User, policy: Policy, rules: MonitoringRules,
            requests: tuple[ApprovalRequest, ...] = ()) -> bool:
    """True when ``user`` may see ``signal`` (``requests``: its approval requests, for their approvers)."""
    if policy.has_permission(user, "audit.read"):
        return True
    if signal.site_id not in policy.user_sites(user):
        return False
    rule = rules.rule(signal.detector, signal.site_id)
    watchers = rule.watchers if rule is not None else frozenset()
    if user.roles & (_roles_so_far(signal, rules) | watchers):
        return True
    return any(group.admits(user) for request in requests for group in request.groups)


def signal_view(signal: Signal, viewer: User | None, policy: Policy, rules: MonitoringRules | None = None,
                ) -> dict[str, Any]:
    """``signal`` as JSON for ``viewer``: figures of fields hidden from them at the signal's site masked; with
    ``rules``, ``may_respond`` says whether the viewer may acknowledge, dismiss or override it."""
    body = signal.to_json()
    if viewer is None:
        return body
    if rules is not None:
        body["may_respond"] = signal.active and may_respond(signal, viewer, policy, rules)[0]
    masked, aggregate_only = field_scope(policy, viewer, frozenset({signal.site_id}))
    hidden = (masked | aggregate_only)
    keys = {key for name in hidden for key in policy.audit.keys_of(name)} | {name.split(".")[-1] for name in hidden}
    found = sorted(k for k in body["figures"] if k in keys)
    if found:
        body["figures"] = {k: (MASK if k in keys else v) for k, v in body["figures"].items()}
        body["masked_figures"] = found
    return body
