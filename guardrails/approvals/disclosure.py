"""What a requester is told about a route when routing reads a value they may not see.

Routing reads the US$ value at stake (quantity × ``items.standard_cost``) whatever the requester may see, and a
value rule (``when: value_usd_over``) adds approver groups above a threshold. Shown as it is, a route — its
groups, rule id and reason, whether it runs at once or is refused — tells a requester who may not see the value
which side of the threshold it is on, and a few requests with different quantities pin a standard cost down
(issue 16). So, for a requester whose field scope hides :data:`VALUE_FIELD` at the request's sites, nothing
they are shown about routing depends on the value:

- routing (:meth:`guardrails.approvals.routing.ApprovalRouter.route`) ignores autonomy conditions on the
  value, refuses when any group the action *may* need cannot be formed, and gives the route the rule id and
  reason of the action's :class:`RouteNotice` — the same for every value. The stored groups stay the real ones,
  and approvers see them;
- views of the request (:func:`guardrails.approvals.views.view_for`) show that requester the notice: every group
  the action may need, those a value rule adds marked ``only if the value is over $N``, and no decision of such
  a group (:func:`as_noticed`).

What no view can hide is how the request progresses once approvers act (approved by the supervisor alone it
runs; needing finance too it waits). Repeated requests that could probe that are shown to the approvers
(:mod:`guardrails.approvals.similar`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from guardrails.approvals.models import ApprovalRequest, ApproverGroup
from guardrails.gate import field_scope
from guardrails.identity import User
from guardrails.policy.loader import Policy

__all__ = ["VALUE_FIELD", "RouteNotice", "applies_if", "applies_since", "as_noticed", "value_hidden"]

VALUE_FIELD = "items.standard_cost"
"""The sensitive field behind a request's ``value_usd`` (``tools.actions`` ``ActionSubject.value_usd``)."""


def value_hidden(policy: Policy, user: User, sites: Iterable[str | None]) -> bool:
    """True when ``user`` may not see :data:`VALUE_FIELD` row by row at ``sites`` (masked or aggregate-only)."""
    concrete = frozenset(s for s in sites if isinstance(s, str) and s)
    masked, aggregate_only = field_scope(policy, user, concrete)
    return VALUE_FIELD in masked | aggregate_only


def applies_since(threshold: Decimal) -> str:
    """The condition of a group a value rule added to a route: ``as the value is over $10,000``."""
    return f"as the value is over ${threshold:,}"


def applies_if(threshold: Decimal) -> str:
    """The condition of a group a value rule may add, as a requester who may not see the value is told it."""
    return f"only if the value is over ${threshold:,}"


@dataclass(frozen=True)
class RouteNotice:
    """The route as a requester who may not see the value is told it: the same whatever the value."""

    action: str
    rule_id: str
    """The action's ``approvers`` rule (never the value rule that applied)."""
    groups: tuple[ApproverGroup, ...]
    """Every group the action may need: the ``approvers`` groups, then each value rule's (with its condition)."""

    @property
    def reason(self) -> str:
        """``reallocate_inventory needs approval from production_supervisor at P100, and also from finance at
        P100 only if the value is over $10,000 (which applies depends on a value the requester may not see).``

        Stored as the request's reason, so its approvers read it too."""
        if not self.groups:
            return f"{self.action} needs approval; no policy rule covers it now, so its approvers are not shown."
        always = " AND ".join(g.label for g in self.groups if not g.condition)
        maybe = [g.describe() for g in self.groups if g.condition]
        if not maybe:
            return f"{self.action} needs approval from {always}."
        return (f"{self.action} needs approval from {always}, and also from {' and '.join(maybe)} (which applies "
                "depends on a value the requester may not see).")


def as_noticed(request: ApprovalRequest, notice: RouteNotice) -> ApprovalRequest:
    """``request`` as its requester may see it: the notice's groups, rule id and reason, and only the decisions
    of groups every request of the action needs (renumbered to the notice's groups)."""
    index = {g.rule_id: j for j, g in enumerate(notice.groups)}
    decisions = []
    for decision in request.decisions:
        real = request.groups[decision.group_index] if decision.group_index < len(request.groups) else None
        j = index.get(real.rule_id) if real is not None else None
        if j is None or notice.groups[j].condition:
            continue
        decisions.append(dataclasses.replace(decision, group_index=j))
    return dataclasses.replace(request, groups=notice.groups, decisions=tuple(decisions), reason=notice.reason,
                               rule_id=notice.rule_id)
