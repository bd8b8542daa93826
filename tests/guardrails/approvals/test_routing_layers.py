"""Approval routing across policy layers: plant and domain layers may only tighten (named errors otherwise),
groups only one person could fill are refused, and trigger limits tighten per layer."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from guardrails.approvals.routing import ApprovalRouter
from guardrails.errors import PolicyError, PolicyLoosening
from guardrails.gate import Effect
from tests.guardrails.approvals.routing_helpers import (
    NOW,
    ROUTER,
    check_route,
    policy_with,
    route_of,
    router_from,
    write_layer,
)


def test_plant_tightening_from_files_applies_only_to_its_site(policy_dir: Path) -> None:
    write_layer(policy_dir, "plants/P200.yaml", {"reallocate_inventory": {
        "when": [{"value_usd_over": 5000, "approvers": [{"roles": ["finance"], "site": "subject"}]}],
        "expires_hours": 8}})
    router = router_from(policy_dir)
    p200 = route_of("reallocate_inventory", "paz.planner", "P200", router=router, value_usd=6000)
    assert [list(g.eligible_user_ids) for g in p200.groups] == [["sol.supervisor"], ["fay.finance"]]
    assert p200.expires_at == NOW + timedelta(hours=8)
    # paz may not see standard costs, so her route names the action's rule and P200's threshold, whatever the
    # value; bea.buyer may, and hers names the value rule that applied.
    assert p200.rule_id == "enterprise.yaml#actions.reallocate_inventory.approvers"
    assert "finance at P200 only if the value is over $5,000" in p200.reason
    buyer = route_of("reallocate_inventory", "bea.buyer", "P200", router=router, value_usd=6000)
    assert [list(g.eligible_user_ids) for g in buyer.groups] == [["sol.supervisor"], ["fay.finance"]]
    assert buyer.rule_id == "plants/P200.yaml#actions.reallocate_inventory.when[0]"
    p100 = route_of("reallocate_inventory", "pat.planner", "P100", router=router, value_usd=6000)
    assert [list(g.eligible_user_ids) for g in p100.groups] == [["sam.supervisor"]]
    assert p100.expires_at == NOW + timedelta(hours=24)


def test_domain_tightening_narrows_a_group_and_raises_risk() -> None:
    router = ApprovalRouter(policy_with({
        "domains/quality.yaml": {
            "place_quality_hold": {"approvers": [{"roles": ["quality_engineer"], "site": "subject"}]}},
        "plants/P100.yaml": {
            "switch_supplier": {"risk_class": "advisory"},
            "place_quality_hold": {"approvers": [{"roles": ["quality_engineer"], "site": "subject"},
                                                {"roles": ["production_supervisor"], "site": "subject"}],
                                   "proposers": ["quality_engineer", "production_supervisor"]}},
    }))
    hold = route_of("place_quality_hold", "paz.planner", "P200", router=router)
    assert [list(g.eligible_user_ids) for g in hold.groups] == [["qiu.quality"]]
    assert hold.groups[0].rule_id == "domains/quality.yaml#actions.place_quality_hold.approvers[0]"
    assert hold.rule_id == "domains/quality.yaml#actions.place_quality_hold.approvers"
    # P100 adds a supervisor group on top and drops planners from the proposers.
    hold100 = route_of("place_quality_hold", "quinn.quality", router=router)
    assert hold100.effect is Effect.DENY  # quinn cannot approve their own group 0; nobody else is a P100 QE
    assert hold100.rule_id == "domains/quality.yaml#actions.place_quality_hold.approvers[0]"
    planner = route_of("place_quality_hold", "pat.planner", router=router)
    assert planner.rule_id == "plants/P100.yaml#actions.place_quality_hold.proposers"
    sam = route_of("place_quality_hold", "sam.supervisor", router=router)
    assert sam.effect is Effect.DENY  # group 1 needs a supervisor other than sam
    advisory = route_of("switch_supplier", "bea.buyer", router=router)
    assert advisory.effect is Effect.DENY
    assert advisory.rule_id == "plants/P100.yaml#actions.switch_supplier.risk_class"
    assert "recommendation only" in advisory.reason
    assert route_of("switch_supplier", "bo.buyer", "P200", router=router).effect is Effect.NEEDS_APPROVAL


def test_autonomy_limits_may_be_lowered_or_removed() -> None:
    router = ApprovalRouter(policy_with({
        "domains/procurement.yaml": {"request_po_date_change": {"autonomous_when": [
            {"requester_is": "po_buyer_user_id", "requester_roles": ["buyer"],
             "fact_at_least": {"pull_in_days": 1}, "fact_at_most": {"pull_in_days": 2}}]}},
        "plants/P200.yaml": {"reserve_spare_parts": {"autonomous_when": []}},
    }))
    facts = {"po_buyer_user_id": "bea.buyer"}
    assert route_of("request_po_date_change", "bea.buyer", router=router,
                    facts={**facts, "pull_in_days": 2}).effect is Effect.ALLOW
    assert route_of("request_po_date_change", "bea.buyer", router=router,
                    facts={**facts, "pull_in_days": 3}).effect is Effect.NEEDS_APPROVAL
    # P200 removed spare autonomy; P100 keeps it.
    assert route_of("reserve_spare_parts", "max.maint", router=router,
                    facts={"asset_criticality": "A"}).effect is Effect.ALLOW
    assert router.rule("reserve_spare_parts", "P200") is not None
    assert router.rule("reserve_spare_parts", "P200").autonomous_when == ()  # type: ignore[union-attr]


LOOSENINGS = [
    ("plants/P100.yaml", {"reallocate_inventory": {"risk_class": "autonomous"}},
     "actions.reallocate_inventory.risk_class", "would lower risk_class from approval to autonomous"),
    ("plants/P100.yaml", {"switch_supplier": {"approvers": [{"roles": ["buyer"], "site": "subject"}]}},
     "actions.switch_supplier.approvers", "would remove approver group 1"),
    ("domains/quality.yaml", {"place_quality_hold": {"approvers": [
        {"roles": ["quality_engineer", "production_supervisor", "planner"], "site": "subject"}]}},
     "actions.place_quality_hold.approvers[0].roles", "would let role 'planner' approve"),
    ("plants/P200.yaml", {"place_quality_hold": {"approvers": [
        {"roles": ["quality_engineer", "production_supervisor"]}]}},
     "actions.place_quality_hold.approvers[0].site", "from 'subject' to 'any'"),
    ("plants/P200.yaml", {"reallocate_inventory": {"when": [
        {"value_usd_over": 20000, "approvers": [{"roles": ["finance"], "site": "subject"}]}]}},
     "actions.reallocate_inventory.when[0].value_usd_over", "would raise the threshold from 10000 to 20000"),
    ("plants/P200.yaml", {"reallocate_inventory": {"when": []}},
     "actions.reallocate_inventory.when", "would remove value rule 0"),
    ("plants/P200.yaml", {"reallocate_inventory": {"when": [
        {"value_usd_over": 10000, "approvers": [{"roles": ["finance", "executive"], "site": "subject"}]}]}},
     "actions.reallocate_inventory.when[0].approvers[0].roles", "would let role 'executive' approve"),
    ("domains/procurement.yaml", {"request_po_date_change": {"autonomous_when": [
        {"requester_is": "po_buyer_user_id", "requester_roles": ["buyer"],
         "fact_at_least": {"pull_in_days": 1}, "fact_at_most": {"pull_in_days": 5}}]}},
     "actions.request_po_date_change.autonomous_when[0]", "pull_in_days at most 3 to 5"),
    ("domains/procurement.yaml", {"request_po_date_change": {"autonomous_when": [
        {"requester_roles": ["buyer"], "fact_at_least": {"pull_in_days": 1},
         "fact_at_most": {"pull_in_days": 3}}]}},
     "actions.request_po_date_change.autonomous_when[0]", "drops the requirement that the requester is"),
    ("plants/P100.yaml", {"reserve_spare_parts": {"autonomous_when": [
        {"requester_roles": ["maintenance_planner"], "fact_in": {"asset_criticality": ["A", "B"]}}]}},
     "actions.reserve_spare_parts.autonomous_when[0]", "asset_criticality = 'B'"),
    ("plants/P100.yaml", {"switch_supplier": {"autonomous_when": [{"value_usd_at_most": 100}]}},
     "actions.switch_supplier.autonomous_when[0]", "would make the action autonomous"),
    ("plants/P100.yaml", {"open_supplier_review": {"proposers": ["quality_engineer", "buyer", "executive"]}},
     "actions.open_supplier_review.proposers", "would let role 'executive' propose"),
    ("plants/P100.yaml", {"place_quality_hold": {"expires_hours": 48}},
     "actions.place_quality_hold.expires_hours", "would extend expiry from 24 h to 48 h"),
    ("plants/P100.yaml", {"launch_rocket": {"risk_class": "approval"}},
     "actions.launch_rocket", "would add an action the enterprise layer does not define"),
    ("plants/P100.yaml", {"open_supplier_review": {"triggers": {"scrap_variance_limit": 0.08}}},
     "actions.open_supplier_review.triggers.scrap_variance_limit",
     "would raise the trigger limit scrap_variance_limit from 0.05 to 0.08"),
    ("domains/quality.yaml", {"open_supplier_review": {"triggers": {"scrap_variance_limit": 0.051}}},
     "actions.open_supplier_review.triggers.scrap_variance_limit", "a lower layer may only lower it"),
]


@pytest.mark.parametrize(("rel", "actions", "key", "message"), LOOSENINGS)
def test_loosening_is_rejected_naming_file_key_and_what(
        rel: str, actions: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(PolicyLoosening) as info:
        ApprovalRouter(policy_with({rel: actions}))
    assert (info.value.file, info.value.key) == (rel, key)
    assert message in info.value.message


INVALID = [
    ("domains/finance.yaml", {"place_quality_hold": {"expires_hours": 4}},
     "actions.place_quality_hold", "does not cover"),
    ("plants/P100.yaml", {"place_quality_hold": {"approvers": [
        {"roles": ["quality_engineer"], "site": "subject", "not_requester": False}]}},
     "actions.place_quality_hold.approvers[0].not_requester", "separation of duties"),
    ("plants/P100.yaml", {"place_quality_hold": {"proposers": ["quality_enginer"]}},
     "actions.place_quality_hold.proposers", "unknown role 'quality_enginer'"),
    ("plants/P100.yaml", {"place_quality_hold": {"risk_class": "yolo"}},
     "actions.place_quality_hold.risk_class", "must be one of"),
    ("plants/P100.yaml", {"place_quality_hold": {"domain": "inventory"}},
     "actions.place_quality_hold.domain", "enterprise.yaml only"),
    ("plants/P100.yaml", {"place_quality_hold": {"expires_hours": 0}},
     "actions.place_quality_hold.expires_hours", "positive"),
    ("plants/P100.yaml",
     {"place_quality_hold": {"approvers": [{"roles": ["quality_engineer"], "site": "moon"}]}},
     "actions.place_quality_hold.approvers[0].site", "must be one of"),
    ("plants/P100.yaml", {"place_quality_hold": {"autonomous_when": [{"mood": "good"}]}},
     "actions.place_quality_hold.autonomous_when[0].mood", "unknown key"),
    ("plants/P100.yaml", {"open_supplier_review": {"triggers": {"scrap_limit": 0.01}}},
     "actions.open_supplier_review.triggers.scrap_limit", "unknown key"),
    ("plants/P100.yaml", {"open_supplier_review": {"triggers": {"scrap_variance_limit": "low"}}},
     "actions.open_supplier_review.triggers.scrap_variance_limit", "must be a number"),
    ("plants/P100.yaml", {"open_supplier_review": {"triggers": [0.01]}},
     "actions.open_supplier_review.triggers", "must be a mapping"),
]


@pytest.mark.parametrize(("rel", "actions", "key", "message"), INVALID)
def test_invalid_action_rules_are_clear_errors(
        rel: str, actions: dict[str, Any], key: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        ApprovalRouter(policy_with({rel: actions}))
    assert not isinstance(info.value, PolicyLoosening)
    assert (info.value.file, info.value.key) == (rel, key)
    assert message in info.value.message


def test_groups_that_only_one_person_could_fill_are_refused() -> None:
    # Fay is the only finance user: a second finance group could never get a different approver.
    router = ApprovalRouter(policy_with({"plants/P100.yaml": {"switch_supplier": {"approvers": [
        {"roles": ["buyer"], "site": "subject"}, {"roles": ["finance"], "site": "subject"},
        {"roles": ["finance"], "site": "subject"}]}}}))
    route = route_of("switch_supplier", "bea.buyer", router=router)
    assert route.effect is Effect.DENY and "need different people" in route.reason
    assert route.rule_id == "plants/P100.yaml#actions.switch_supplier.approvers"
    # Overlapping groups that distinct people can fill: qiu takes the first, sol the second.
    router = ApprovalRouter(policy_with({"plants/P200.yaml": {"place_quality_hold": {"approvers": [
        {"roles": ["quality_engineer", "production_supervisor"], "site": "subject"},
        {"roles": ["production_supervisor"], "site": "subject"}]}}}))
    check_route(route_of("place_quality_hold", "paz.planner", "P200", router=router),
                [["qiu.quality", "sol.supervisor"], ["sol.supervisor"]])


# --------------------------------------------------------------------------------------------- triggers


def test_trigger_limits_parse_and_tighten_per_layer() -> None:
    shipped = ROUTER.triggers("open_supplier_review", ["P100", "P200"])
    assert shipped.limits == {"scrap_variance_limit": {"P100": 0.05, "P200": 0.05}}
    assert ROUTER.rule("open_supplier_review", "P100").origins[  # type: ignore[union-attr]
        "triggers.scrap_variance_limit"] == "enterprise.yaml#actions.open_supplier_review.triggers.scrap_variance_limit"
    router = ApprovalRouter(policy_with({
        "domains/quality.yaml": {"open_supplier_review": {"triggers": {"scrap_variance_limit": 0.04}}},
        "plants/P200.yaml": {"open_supplier_review": {"triggers": {"scrap_variance_limit": 0.03}}},
        # A limit the layer above does not set may be added (a new trigger only adds guidance).
        "plants/P100.yaml": {"place_quality_hold": {"triggers": {"scrap_variance_limit": 0.1}}},
    }))
    review = router.triggers("open_supplier_review", ["P100", "P200"])
    assert review.limits == {"scrap_variance_limit": {"P100": 0.04, "P200": 0.03}}
    assert review.limit("scrap_variance_limit", "P200") == 0.03 and review.limit("other", "P100") is None
    assert router.rule("open_supplier_review", "P200").origins[  # type: ignore[union-attr]
        "triggers.scrap_variance_limit"] == \
        "plants/P200.yaml#actions.open_supplier_review.triggers.scrap_variance_limit"
    assert router.triggers("place_quality_hold", ["P100", "P200"]).limits == {"scrap_variance_limit": {"P100": 0.1}}
    # Only the user's sites: a P100 user is told the P100 limit.
    assert router.triggers("open_supplier_review", ["P100"]).limits == {"scrap_variance_limit": {"P100": 0.04}}
    assert router.triggers("switch_supplier", ["P100"]).limits == {}


def test_trigger_note_round_trips() -> None:
    from guardrails.policy.triggers import read_trigger_note, trigger_note

    limits = {"scrap_variance_limit": {"P100": 0.05, "P200": 0.025}}
    note = trigger_note(limits)
    assert note.startswith("Policy trigger scrap_variance_limit: P100=0.05, P200=0.025 — propose it when")
    assert read_trigger_note(f"Open a review.\n{note}") == limits
    assert read_trigger_note("Open a review of a supplier.") == {} and trigger_note({}) == ""
