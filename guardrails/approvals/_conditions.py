"""Pure helpers of approval routing: numbers, autonomy conditions, and whether groups can get distinct people."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from guardrails.approvals.models import ApproverGroup
from guardrails.identity import User
from guardrails.policy._actions_parse import AutonomyCondition

__all__ = ["describe_condition", "distinct_approvers", "holds", "number"]


def number(value: object) -> Decimal | None:
    """``value`` as a finite Decimal, or ``None`` when it is not a number (booleans are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    try:
        parsed = Decimal(str(value))
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None


def holds(cond: AutonomyCondition, requester: User, facts: Mapping[str, object], value: Decimal) -> bool:
    """True when every constraint of ``cond`` holds for ``requester``, the subject's ``facts`` and ``value``."""
    if cond.requester_is is not None and facts.get(cond.requester_is) != requester.user_id:
        return False
    if cond.requester_roles is not None and not requester.roles & cond.requester_roles:
        return False
    for fact, limit in cond.fact_at_most.items():
        found = number(facts.get(fact))
        if found is None or found > limit:
            return False
    for fact, limit in cond.fact_at_least.items():
        found = number(facts.get(fact))
        if found is None or found < limit:
            return False
    for fact, allowed in cond.fact_in.items():
        raw = facts.get(fact)
        if raw is None or str(raw) not in allowed:
            return False
    return cond.value_usd_at_most is None or value <= cond.value_usd_at_most


def describe_condition(cond: AutonomyCondition) -> str:
    """The constraints of ``cond`` in words (for the reason of an autonomous route)."""
    parts = []
    if cond.requester_is:
        parts.append(f"the requester is {cond.requester_is}")
    if cond.requester_roles:
        parts.append(f"the requester is a {' or '.join(sorted(cond.requester_roles))}")
    parts += [f"{f} ≥ {v}" for f, v in sorted(cond.fact_at_least.items())]
    parts += [f"{f} ≤ {v}" for f, v in sorted(cond.fact_at_most.items())]
    parts += [f"{f} in {sorted(v)}" for f, v in sorted(cond.fact_in.items())]
    if cond.value_usd_at_most is not None:
        parts.append(f"value ≤ ${cond.value_usd_at_most:,}")
    return ", ".join(parts)


def distinct_approvers(groups: Sequence[ApproverGroup]) -> bool:
    """True when each group can get a different person (one person approves at most one group)."""
    owner: dict[str, int] = {}

    def place(i: int, seen: set[str]) -> bool:  # augmenting path (Kuhn's bipartite matching)
        for user_id in groups[i].eligible_user_ids:
            if user_id in seen:
                continue
            seen.add(user_id)
            if user_id not in owner or place(owner[user_id], seen):
                owner[user_id] = i
                return True
        return False

    return all(place(i, set()) for i in range(len(groups)))
