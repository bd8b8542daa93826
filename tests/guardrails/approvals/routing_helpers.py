"""Shared pieces of the routing tests: the shipped policy and router, a fixed clock, routing one subject,
checking a route against a table entry, and policy layers changed on disk or in memory."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from guardrails.approvals.routing import ApprovalRouter, Route, RoutingSubject
from guardrails.gate import Effect
from guardrails.policy.loader import Policy, load_policy
from tests.policy_helpers import shipped_policy

__all__ = ["NOW", "POLICY", "ROUTER", "A", "D", "check_route", "policy_with", "route_of", "router_from", "write_layer"]

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
POLICY = shipped_policy()
ROUTER = ApprovalRouter(POLICY)
D = "deny"
A = "allow"


def route_of(action: str, user_id: str, site: str = "P100", *, router: ApprovalRouter = ROUTER,
             **subject: Any) -> Route:
    """How ``router`` routes ``action`` proposed by ``user_id`` on a subject at ``site``, at :data:`NOW`."""
    user = router.policy.user(user_id)
    return router.route(action, user, RoutingSubject(site_id=site, **subject), now=NOW)


def check_route(route: Route, expected: Any) -> None:
    """Assert ``route`` is what a table entry says: :data:`D`, :data:`A` or the approver ids of each group."""
    if expected == D:
        assert route.effect is Effect.DENY, route
        assert route.groups == () and route.expires_at is None
    elif expected == A:
        assert route.effect is Effect.ALLOW, route
    else:
        assert route.effect is Effect.NEEDS_APPROVAL, route
        assert [list(g.eligible_user_ids) for g in route.groups] == expected
        assert route.expires_at == NOW + timedelta(hours=24)
        assert route.requester_id not in {u for g in route.groups for u in g.eligible_user_ids}
    assert route.rule_id and route.reason


def write_layer(policy_dir: Path, rel: str, actions: dict[str, Any]) -> None:
    """Replace the ``actions`` section of the layer file ``rel`` under ``policy_dir``."""
    path = policy_dir / rel
    doc = yaml.safe_load(path.read_text())
    doc["actions"] = actions
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def router_from(policy_dir: Path) -> ApprovalRouter:
    """A router on the policy loaded from ``policy_dir``."""
    return ApprovalRouter(load_policy(policy_dir))


def policy_with(layers: dict[str, dict[str, Any]]) -> Policy:
    """The shipped policy with the ``actions`` section of the named layers replaced (no file I/O, fast)."""
    known = {doc.file for doc in POLICY.layers}
    assert set(layers) <= known, set(layers) - known
    docs = [dataclasses.replace(doc, sections={**doc.sections, "actions": layers[doc.file]})
            if doc.file in layers else doc for doc in POLICY.layers]
    return dataclasses.replace(POLICY, layers=docs)
