"""Approval routing: every action × requester role against a hand-written table, P200 routes, value and
autonomy edges, refused inputs, and subjects given as flat action subjects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel

from guardrails.approvals.routing import RoutingSubject, subject_json
from guardrails.gate import Effect
from tests.guardrails.approvals.routing_helpers import NOW, POLICY, ROUTER, A, D, check_route, route_of

# One requester per role. The P100 subject is at their site unless noted (auditor/admin have no site).
BY_ROLE = {
    "planner": "pat.planner", "buyer": "bea.buyer", "quality_engineer": "quinn.quality",
    "production_supervisor": "sam.supervisor", "maintenance_planner": "max.maint", "finance": "fay.finance",
    "executive": "eve.exec", "auditor": "ada.auditor", "admin": "ian.admin",
}


# Written from the routing rules, not computed from the code: for each action and requester role,
# "deny", "allow" or the eligible approver ids of each group that must ALL approve (subject at P100).
TABLE: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "place_quality_hold": ({}, {
        "planner": [["quinn.quality", "sam.supervisor"]], "buyer": D,
        "quality_engineer": [["sam.supervisor"]], "production_supervisor": [["quinn.quality"]],
        "maintenance_planner": D, "finance": D, "executive": D, "auditor": D, "admin": D}),
    "release_quality_hold": ({}, {
        "planner": D, "buyer": D, "quality_engineer": [["sam.supervisor"]],
        "production_supervisor": [["quinn.quality"]], "maintenance_planner": D, "finance": D, "executive": D,
        "auditor": D, "admin": D}),
    "reallocate_inventory": ({"value_usd": 5000}, {
        "planner": [["sam.supervisor"]], "buyer": [["sam.supervisor"]],
        # Nobody but the requester supervises P100: the request could never be approved, so it is refused.
        "production_supervisor": D, "quality_engineer": D, "maintenance_planner": D, "finance": D,
        "executive": D, "auditor": D, "admin": D}),
    "request_po_date_change": ({"facts": {"po_buyer_user_id": "ben.buyer", "pull_in_days": 2}}, {
        "planner": [["bea.buyer", "ben.buyer"]], "buyer": [["ben.buyer"]], "quality_engineer": D,
        "production_supervisor": D, "maintenance_planner": D, "finance": D, "executive": D, "auditor": D,
        "admin": D}),
    # Buyers only: a quality engineer cannot see the prices a switch changes.
    "switch_supplier": ({"value_usd": 800}, {
        "buyer": [["ben.buyer"], ["fay.finance"]], "quality_engineer": D,
        "planner": D, "production_supervisor": D, "maintenance_planner": D, "finance": D, "executive": D,
        "auditor": D, "admin": D}),
    "open_supplier_review": ({}, {
        "quality_engineer": [["bea.buyer", "ben.buyer"]], "buyer": [["ben.buyer", "quinn.quality"]],
        "production_supervisor": [["bea.buyer", "ben.buyer", "quinn.quality"]], "planner": D,
        "maintenance_planner": D, "finance": D, "executive": D, "auditor": D, "admin": D}),
    "create_maintenance_order": ({}, {
        "maintenance_planner": [["sam.supervisor"]], "production_supervisor": [["max.maint"]],
        "planner": [["max.maint", "sam.supervisor"]], "buyer": D, "quality_engineer": D, "finance": D,
        "executive": D, "auditor": D, "admin": D}),
    # Maintenance only: a planner requests a maintenance order instead.
    "reserve_spare_parts": ({"facts": {"asset_criticality": "B"}}, {
        "maintenance_planner": [["sam.supervisor"]], "production_supervisor": [["max.maint"]],
        "planner": D, "buyer": D, "quality_engineer": D, "finance": D,
        "executive": D, "auditor": D, "admin": D}),
}


CASES = [(action, role) for action, (_, by_role) in TABLE.items() for role in BY_ROLE]


def test_table_covers_every_action_and_role() -> None:
    assert set(TABLE) == set(ROUTER.rules.base)
    assert all(set(by_role) == set(BY_ROLE) for _, by_role in TABLE.values())
    assert set(BY_ROLE) == set(POLICY.roles)


@pytest.mark.parametrize(("action", "role"), CASES)
def test_route_matches_table(action: str, role: str) -> None:
    subject, by_role = TABLE[action]
    check_route(route_of(action, BY_ROLE[role], **subject), by_role[role])


def test_deny_rule_ids_name_the_rule() -> None:
    assert route_of("release_quality_hold", "pat.planner").rule_id == \
        "enterprise.yaml#actions.release_quality_hold.proposers"
    lonely = route_of("reallocate_inventory", "sam.supervisor", value_usd=5000)
    assert lonely.rule_id == "enterprise.yaml#actions.reallocate_inventory.approvers[0]"
    assert "nobody other than the requester" in lonely.reason
    assert route_of("place_quality_hold", "ada.auditor").rule_id == \
        "enterprise.yaml#actions.place_quality_hold.proposers"
    unknown = route_of("launch_rocket", "pat.planner")
    assert (unknown.effect, unknown.rule_id) == (Effect.DENY, "approvals.unknown_action")


def test_requester_must_hold_the_subject_site() -> None:
    route = route_of("place_quality_hold", "pat.planner", "P200")
    assert (route.effect, route.rule_id) == (Effect.DENY, "approvals.requester_site")
    assert "P200" in route.reason
    assert route_of("switch_supplier", "ben.buyer", "P200").rule_id == "approvals.requester_site"


# P200 rows, hand-written: (action, requester, subject kwargs, expected).
P200_CASES = [
    ("place_quality_hold", "paz.planner", {}, [["qiu.quality", "sol.supervisor"]]),
    ("reallocate_inventory", "paz.planner", {"value_usd": 12000, "to_site": "P100"},
     [["sol.supervisor"], ["fay.finance"]]),
    ("reallocate_inventory", "bo.buyer", {"value_usd": 9000, "to_site": "P100"}, [["sol.supervisor"]]),
    ("switch_supplier", "bo.buyer", {}, [["bea.buyer"], ["fay.finance"]]),
    ("switch_supplier", "bea.buyer", {}, [["bo.buyer"], ["fay.finance"]]),
    # No maintenance planner at P200: the site's supervisor covers maintenance approvals ...
    ("create_maintenance_order", "paz.planner", {}, [["sol.supervisor"]]),
    # ... so the supervisor's own maintenance order or spare reservation has nobody to approve it,
    ("create_maintenance_order", "sol.supervisor", {}, D),
    ("reserve_spare_parts", "sol.supervisor", {"facts": {"asset_criticality": "A"}}, D),
    # ... and planners do not reserve spares (they request a maintenance order).
    ("reserve_spare_parts", "paz.planner", {"facts": {"asset_criticality": "A"}}, D),
    ("request_po_date_change", "bo.buyer", {"facts": {"po_buyer_user_id": "bo.buyer", "pull_in_days": 1}}, A),
    ("request_po_date_change", "bo.buyer", {"facts": {"po_buyer_user_id": "bo.buyer", "pull_in_days": -3}},
     [["bea.buyer"]]),
    # A planner named as the PO's buyer (bad master data) still needs a buyer's approval.
    ("request_po_date_change", "paz.planner",
     {"facts": {"po_buyer_user_id": "paz.planner", "pull_in_days": 1}}, [["bea.buyer", "bo.buyer"]]),
]


@pytest.mark.parametrize(("action", "user_id", "subject", "expected"), P200_CASES)
def test_p200_routes(action: str, user_id: str, subject: dict[str, Any], expected: Any) -> None:
    check_route(route_of(action, user_id, "P200", **subject), expected)


@pytest.mark.parametrize(("days", "buyer", "expected"), [
    (1, "bea.buyer", A), (3, "bea.buyer", A), (4, "bea.buyer", [["ben.buyer"]]),
    (0, "bea.buyer", [["ben.buyer"]]), (-2, "bea.buyer", [["ben.buyer"]]),
    (2, "ben.buyer", [["ben.buyer"]]),   # bea pulls in ben's PO: ben (its buyer) must approve
    (None, "bea.buyer", [["ben.buyer"]]),  # no pull-in fact: never autonomous
])
def test_po_pull_in_autonomy_edges(days: int | None, buyer: str, expected: Any) -> None:
    facts: dict[str, object] = {"po_buyer_user_id": buyer}
    if days is not None:
        facts["pull_in_days"] = days
    route = route_of("request_po_date_change", "bea.buyer", facts=facts)
    check_route(route, expected)
    if expected == A:
        assert route.rule_id == "enterprise.yaml#actions.request_po_date_change.autonomous_when[0]"


def test_spare_reservation_autonomy_needs_planner_and_a_critical_asset() -> None:
    route = route_of("reserve_spare_parts", "max.maint", facts={"asset_criticality": "A"})
    assert route.effect is Effect.ALLOW
    assert route.rule_id == "enterprise.yaml#actions.reserve_spare_parts.autonomous_when[0]"
    check_route(route_of("reserve_spare_parts", "sam.supervisor", facts={"asset_criticality": "A"}), [["max.maint"]])
    check_route(route_of("reserve_spare_parts", "max.maint", facts={}), [["sam.supervisor"]])


@pytest.mark.parametrize(("value", "groups"), [
    (0, [["sam.supervisor"]]),
    (10000, [["sam.supervisor"]]),
    ("10000.00", [["sam.supervisor"]]),
    (10000.01, [["sam.supervisor"], ["fay.finance"]]),
    (250000, [["sam.supervisor"], ["fay.finance"]]),
])
def test_reallocation_value_threshold_edges(value: Any, groups: list[list[str]]) -> None:
    from decimal import Decimal

    amount = Decimal(value) if isinstance(value, str) else value
    # bea.buyer may see standard costs: her route names the value rule that added finance.
    route = route_of("reallocate_inventory", "bea.buyer", value_usd=amount, to_site="P200")
    check_route(route, [[u for u in g if u != "bea.buyer"] for g in groups])
    if len(groups) == 2:
        assert route.rule_id == "enterprise.yaml#actions.reallocate_inventory.when[0]"
        assert route.groups[1].site == "P100"  # finance for the SOURCE site
        assert route.groups[1].condition == "as the value is over $10,000"
    else:
        assert route.rule_id == "enterprise.yaml#actions.reallocate_inventory.approvers"
    # pat.planner may not: the same groups are stored for the approvers, but the rule id and reason he is
    # given are the same whatever the value (issue 16: they used to say which side of $10,000 it was on).
    blind = route_of("reallocate_inventory", "pat.planner", value_usd=amount, to_site="P200")
    check_route(blind, groups)
    assert blind.rule_id == "enterprise.yaml#actions.reallocate_inventory.approvers"
    assert blind.reason == route_of("reallocate_inventory", "pat.planner", value_usd=0, to_site="P200").reason
    assert "finance at P100 only if the value is over $10,000" in blind.reason


def test_invalid_value_is_refused() -> None:
    for bad in (-1, float("nan")):
        route = route_of("reallocate_inventory", "pat.planner", value_usd=bad)
        assert (route.effect, route.rule_id) == (Effect.DENY, "approvals.invalid_subject")


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ROUTER.route("place_quality_hold", POLICY.user("pat.planner"), RoutingSubject("P100"),
                     now=datetime(2026, 3, 2, 6, 0))


class FlatSubject(BaseModel):
    """The shape of ``tools.actions`` ``ActionSubject``: flat facts and ``to_site_id``."""

    action: str
    site_id: str
    to_site_id: str | None = None
    value_usd: float
    record_ids: list[str]
    po_buyer_user_id: str | None = None
    pull_in_days: int | None = None
    asset_criticality: str | None = None


def test_flat_action_subjects_route_like_routing_subjects() -> None:
    pull_in = FlatSubject(action="request_po_date_change", site_id="P100", value_usd=0,
                          record_ids=["PO-24017/2"], po_buyer_user_id="bea.buyer", pull_in_days=2)
    route = ROUTER.route("request_po_date_change", POLICY.user("bea.buyer"), pull_in, now=NOW)
    assert route.effect is Effect.ALLOW
    move = FlatSubject(action="reallocate_inventory", site_id="P200", to_site_id="P100", value_usd=10000.01,
                       record_ids=["LOT-P200-0001"])
    route = ROUTER.route("reallocate_inventory", POLICY.user("paz.planner"), move, now=NOW)
    check_route(route, [["sol.supervisor"], ["fay.finance"]])
    assert subject_json(move) == {"site_id": "P200", "to_site": "P100", "value_usd": 10000.01, "facts": {
        "action": "reallocate_inventory", "record_ids": ["LOT-P200-0001"], "po_buyer_user_id": None,
        "pull_in_days": None, "asset_criticality": None}}
    # A subject computed for another action is never routed as this one.
    wrong = ROUTER.route("place_quality_hold", POLICY.user("paz.planner"), move, now=NOW)
    assert (wrong.effect, wrong.rule_id) == (Effect.DENY, "approvals.subject_mismatch")
