"""The shipped policy and its users, loaded once per test process (tests that test loading call ``load_policy``)."""

from __future__ import annotations

import functools

from guardrails.identity import User
from guardrails.policy.loader import Policy, load_policy

__all__ = ["policy_user", "shipped_policy"]


@functools.cache
def shipped_policy() -> Policy:
    """The policy shipped with jidoka (immutable, so one instance serves every test; loading takes most of a
    second)."""
    return load_policy()


def policy_user(user_id: str) -> User:
    """A user of the shipped policy by id (``pat.planner``, ``quinn.quality``, …)."""
    return shipped_policy().user(user_id)
