"""Issue 16, finding 2: what a requester who may not see the value is told about routing does not depend on it.

Routing level: the rule id, reason and effect a planner gets are the same on both sides of a value threshold —
autonomy by value does not apply to them, and a group the action may need but nobody can fill refuses every
request, not only those above the threshold. View level: the requester sees every group the action may need
(those a value rule adds marked), and no decision of such a group; approvers see the real route.
"""

from __future__ import annotations

import copy
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from guardrails.approvals.models import DecisionKind
from guardrails.approvals.routing import ApprovalRouter, Route, RoutingSubject
from guardrails.approvals.store import ApprovalStore
from guardrails.approvals.views import view_for
from guardrails.gate import Effect
from tests.guardrails.approvals.routing_helpers import NOW, POLICY, ROUTER, policy_with, route_of
from tools.plant.db import make_engine

COST = Decimal("0.0238")  # CP-2020 in the report
QUANTITIES = (400_000, 420_000, 420_400, 450_000)


def _seen(route: Route) -> tuple[Any, ...]:
    """What the requester is told of a route (the groups are stored for the approvers)."""
    return route.effect, route.rule_id, route.reason, route.expires_at


def test_the_four_quantity_probe_gets_one_answer_but_finance_still_gets_the_large_ones() -> None:
    routes = [route_of("reallocate_inventory", "pat.planner", value_usd=q * COST, to_site="P200") for q in QUANTITIES]
    assert len({_seen(r) for r in routes}) == 1
    assert [any("finance" in g.roles for g in r.groups) for r in routes] == [False, False, True, True]
    # bea.buyer may see standard costs: she is told which rule applied.
    buyer = [route_of("reallocate_inventory", "bea.buyer", value_usd=q * COST, to_site="P200") for q in QUANTITIES]
    assert [r.rule_id.endswith("when[0]") for r in buyer] == [False, False, True, True]


def _with_enterprise_action(action: str, **changes: Any) -> ApprovalRouter:
    """The shipped policy with enterprise.yaml's rule for ``action`` changed."""
    enterprise = next(doc for doc in POLICY.layers if doc.file == "enterprise.yaml")
    actions = copy.deepcopy(dict(enterprise.sections["actions"]))
    actions[action] = {**actions[action], **changes}
    return ApprovalRouter(policy_with({"enterprise.yaml": actions}))


def test_autonomy_by_value_is_only_for_requesters_who_may_see_the_value() -> None:
    router = _with_enterprise_action("reallocate_inventory", autonomous_when=[{"value_usd_at_most": 1000}])
    small, large = {"value_usd": 500, "to_site": "P200"}, {"value_usd": 5000, "to_site": "P200"}
    assert route_of("reallocate_inventory", "bea.buyer", router=router, **small).effect is Effect.ALLOW
    assert route_of("reallocate_inventory", "bea.buyer", router=router, **large).effect is Effect.NEEDS_APPROVAL
    # Running at once would tell pat the value is at most $1,000: he waits for approval either way.
    pat = [route_of("reallocate_inventory", "pat.planner", router=router, **s) for s in (small, large)]
    assert [r.effect for r in pat] == [Effect.NEEDS_APPROVAL] * 2 and _seen(pat[0]) == _seen(pat[1])


def test_a_group_the_action_may_need_but_nobody_fills_refuses_every_value_for_a_requester_who_may_not_see_it() -> None:
    # P200 has no maintenance planner: a value rule needing one can never be approved there.
    router = ApprovalRouter(policy_with({"plants/P200.yaml": {"reallocate_inventory": {"when": [
        {"value_usd_over": 10000, "approvers": [{"roles": ["finance"], "site": "subject"}]},
        {"value_usd_over": 5000, "approvers": [{"roles": ["maintenance_planner"], "site": "subject"}]}]}}}))
    low, high = {"value_usd": 100, "to_site": "P100"}, {"value_usd": 20000, "to_site": "P100"}
    paz = [route_of("reallocate_inventory", "paz.planner", "P200", router=router, **s) for s in (low, high)]
    assert [r.effect for r in paz] == [Effect.DENY] * 2 and _seen(paz[0]) == _seen(paz[1])
    assert paz[0].rule_id == "plants/P200.yaml#actions.reallocate_inventory.when[1].approvers[0]"
    assert "only if the value is over $5,000" in paz[0].reason
    # bea.buyer may see the value: only the request that needs the missing group is refused.
    bea = [route_of("reallocate_inventory", "bea.buyer", "P200", router=router, **s) for s in (low, high)]
    assert [r.effect for r in bea] == [Effect.NEEDS_APPROVAL, Effect.DENY]


def test_an_invalid_value_is_refused_without_showing_it() -> None:
    route = route_of("reallocate_inventory", "pat.planner", value_usd=-123.45)
    assert route.rule_id == "approvals.invalid_subject" and "123" not in route.reason


def test_actions_without_value_rules_are_told_as_before() -> None:
    hold = route_of("place_quality_hold", "pat.planner")
    assert hold.reason == "place_quality_hold needs approval from production_supervisor or quality_engineer at P100."
    assert hold.rule_id == "enterprise.yaml#actions.place_quality_hold.approvers"


@pytest.fixture
def store(tmp_path: Any) -> ApprovalStore:
    created = ApprovalStore(make_engine(f"sqlite:///{tmp_path / 'state.db'}"), clock=lambda: NOW)
    created.create_schema()
    return created


def _request(store: ApprovalStore, requester: str, value: float, *, item: str = "CP-2020",
             now: datetime = NOW) -> Any:
    subject = RoutingSubject("P100", value_usd=value, to_site="P200", facts={"item_id": item, "qty": value})
    route = ROUTER.route("reallocate_inventory", POLICY.user(requester), subject, now=now)
    return store.create(thread_id="th", trace_id=f"tr-{value}", requester=requester, action="reallocate_inventory",
                        args={"item_id": item, "qty": value}, subject=subject, route=route, now=now)


def test_the_requester_sees_every_group_the_action_may_need_and_only_their_decisions(store: ApprovalStore) -> None:
    small, large = _request(store, "pat.planner", 9_996), _request(store, "pat.planner", 10_005.52)
    shown = [view_for(r, POLICY.user("pat.planner"), POLICY).request for r in (small, large)]
    route = [(s.groups, s.rule_id, s.reason, s.status, s.expires_at, s.decisions, s.subject["value_usd"])
             for s in shown]
    assert route[0] == route[1]
    assert [g.describe() for g in shown[1].groups] == [
        "production_supervisor at P100", "finance at P100 only if the value is over $10,000"]
    # Approvers get the real route, with why finance is in it.
    sam = view_for(large, POLICY.user("sam.supervisor"), POLICY).request
    assert [g.describe() for g in sam.groups] == ["production_supervisor at P100",
                                                  "finance at P100 as the value is over $10,000"]
    # sam approves, fay rejects: pat sees sam's decision, not that finance decided.
    store.decide(large.id, POLICY.user("sam.supervisor"), DecisionKind.APPROVE, now=NOW)
    decided = store.decide(large.id, POLICY.user("fay.finance"), DecisionKind.REJECT, "too much", now=NOW)
    pat = view_for(decided, POLICY.user("pat.planner"), POLICY).request
    assert [(d.approver, d.group_index) for d in pat.decisions] == [("sam.supervisor", 0)]
    assert [d.approver for d in view_for(decided, POLICY.user("sam.supervisor"), POLICY).request.decisions] == [
        "sam.supervisor", "fay.finance"]


def test_an_executed_autonomous_record_is_shown_as_it_is(store: ApprovalStore) -> None:
    route = Route(Effect.ALLOW, "enterprise.yaml#actions.reserve_spare_parts.autonomous_when[0]", "runs at once",
                  "reserve_spare_parts", "max.maint")
    record = store.create_autonomous(thread_id="th", trace_id="tr", requester="max.maint",
                                     action="reserve_spare_parts", args={"asset_id": "A-1"},
                                     subject=RoutingSubject("P100", value_usd=50), route=route, now=NOW)
    view = view_for(record, POLICY.user("max.maint"), POLICY)
    assert not view.noticed and view.request.groups == () and view.request.rule_id == route.rule_id


def test_a_route_under_a_policy_without_the_action_shows_no_groups(store: ApprovalStore) -> None:
    large = _request(store, "pat.planner", 20_000)
    enterprise = next(doc for doc in POLICY.layers if doc.file == "enterprise.yaml")
    actions = {k: v for k, v in dict(enterprise.sections["actions"]).items() if k != "reallocate_inventory"}
    narrowed = policy_with({"enterprise.yaml": actions})
    view = view_for(large, POLICY.user("pat.planner"), narrowed, router=ApprovalRouter(narrowed))
    assert view.noticed and view.request.groups == () and "finance" not in view.request.reason
