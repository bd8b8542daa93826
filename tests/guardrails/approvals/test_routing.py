"""Approval routing: every action × requester role against a hand-written table, value edges, layering."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from guardrails.approvals.routing import ApprovalRouter, Route, RoutingSubject, subject_json
from guardrails.errors import PolicyError, PolicyLoosening
from guardrails.gate import Effect
from guardrails.policy.loader import Policy, default_policy_dir, load_policy

NOW = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
POLICY = load_policy()
ROUTER = ApprovalRouter(POLICY)

# One requester per role. The P100 subject is at their site unless noted (auditor/admin have no site).
BY_ROLE = {
    "planner": "pat.planner", "buyer": "bea.buyer", "quality_engineer": "quinn.quality",
    "production_supervisor": "sam.supervisor", "maintenance_planner": "max.maint", "finance": "fay.finance",
    "executive": "eve.exec", "auditor": "ada.auditor", "admin": "ian.admin",
}
D = "deny"
A = "allow"

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


def _route(action: str, user_id: str, site: str = "P100", *, router: ApprovalRouter = ROUTER,
           **subject: Any) -> Route:
    user = router.policy.user(user_id)
    return router.route(action, user, RoutingSubject(site_id=site, **subject), now=NOW)


def _check(route: Route, expected: Any) -> None:
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


def test_table_covers_every_action_and_role() -> None:
    assert set(TABLE) == set(ROUTER.rules.base)
    assert all(set(by_role) == set(BY_ROLE) for _, by_role in TABLE.values())
    assert set(BY_ROLE) == set(POLICY.roles)


@pytest.mark.parametrize(("action", "role"), CASES)
def test_route_matches_table(action: str, role: str) -> None:
    subject, by_role = TABLE[action]
    _check(_route(action, BY_ROLE[role], **subject), by_role[role])


def test_deny_rule_ids_name_the_rule() -> None:
    assert _route("release_quality_hold", "pat.planner").rule_id == \
        "enterprise.yaml#actions.release_quality_hold.proposers"
    lonely = _route("reallocate_inventory", "sam.supervisor", value_usd=5000)
    assert lonely.rule_id == "enterprise.yaml#actions.reallocate_inventory.approvers[0]"
    assert "nobody other than the requester" in lonely.reason
    assert _route("place_quality_hold", "ada.auditor").rule_id == \
        "enterprise.yaml#actions.place_quality_hold.proposers"
    unknown = _route("launch_rocket", "pat.planner")
    assert (unknown.effect, unknown.rule_id) == (Effect.DENY, "approvals.unknown_action")


def test_requester_must_hold_the_subject_site() -> None:
    route = _route("place_quality_hold", "pat.planner", "P200")
    assert (route.effect, route.rule_id) == (Effect.DENY, "approvals.requester_site")
    assert "P200" in route.reason
    assert _route("switch_supplier", "ben.buyer", "P200").rule_id == "approvals.requester_site"


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
    _check(_route(action, user_id, "P200", **subject), expected)


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
    route = _route("request_po_date_change", "bea.buyer", facts=facts)
    _check(route, expected)
    if expected == A:
        assert route.rule_id == "enterprise.yaml#actions.request_po_date_change.autonomous_when[0]"


def test_spare_reservation_autonomy_needs_planner_and_a_critical_asset() -> None:
    route = _route("reserve_spare_parts", "max.maint", facts={"asset_criticality": "A"})
    assert route.effect is Effect.ALLOW
    assert route.rule_id == "enterprise.yaml#actions.reserve_spare_parts.autonomous_when[0]"
    _check(_route("reserve_spare_parts", "sam.supervisor", facts={"asset_criticality": "A"}), [["max.maint"]])
    _check(_route("reserve_spare_parts", "max.maint", facts={}), [["sam.supervisor"]])


@pytest.mark.parametrize(("value", "groups"), [
    (0, [["sam.supervisor"]]),
    (10000, [["sam.supervisor"]]),
    ("10000.00", [["sam.supervisor"]]),
    (10000.01, [["sam.supervisor"], ["fay.finance"]]),
    (250000, [["sam.supervisor"], ["fay.finance"]]),
])
def test_reallocation_value_threshold_edges(value: Any, groups: list[list[str]]) -> None:
    from decimal import Decimal

    route = _route("reallocate_inventory", "pat.planner", value_usd=Decimal(value) if isinstance(value, str)
                   else value, to_site="P200")
    _check(route, groups)
    if len(groups) == 2:
        assert route.rule_id == "enterprise.yaml#actions.reallocate_inventory.when[0]"
        assert route.groups[1].site == "P100"  # finance for the SOURCE site
    else:
        assert route.rule_id == "enterprise.yaml#actions.reallocate_inventory.approvers"


def test_invalid_value_is_refused() -> None:
    for bad in (-1, float("nan")):
        route = _route("reallocate_inventory", "pat.planner", value_usd=bad)
        assert (route.effect, route.rule_id) == (Effect.DENY, "approvals.invalid_subject")


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ROUTER.route("place_quality_hold", POLICY.user("pat.planner"), RoutingSubject("P100"),
                     now=datetime(2026, 3, 2, 6, 0))


# --------------------------------------------------------------------------------------------- layering


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), target)
    return target


def _layer(policy_dir: Path, rel: str, actions: dict[str, Any]) -> None:
    path = policy_dir / rel
    doc = yaml.safe_load(path.read_text())
    doc["actions"] = actions
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _router(policy_dir: Path) -> ApprovalRouter:
    return ApprovalRouter(load_policy(policy_dir))


def _policy_with(layers: dict[str, dict[str, Any]]) -> Policy:
    """The shipped policy with the ``actions`` section of the named layers replaced (no file I/O, fast)."""
    known = {doc.file for doc in POLICY.layers}
    assert set(layers) <= known, set(layers) - known
    docs = [dataclasses.replace(doc, sections={**doc.sections, "actions": layers[doc.file]})
            if doc.file in layers else doc for doc in POLICY.layers]
    return dataclasses.replace(POLICY, layers=docs)


def test_plant_tightening_from_files_applies_only_to_its_site(policy_dir: Path) -> None:
    _layer(policy_dir, "plants/P200.yaml", {"reallocate_inventory": {
        "when": [{"value_usd_over": 5000, "approvers": [{"roles": ["finance"], "site": "subject"}]}],
        "expires_hours": 8}})
    router = _router(policy_dir)
    p200 = _route("reallocate_inventory", "paz.planner", "P200", router=router, value_usd=6000)
    assert [list(g.eligible_user_ids) for g in p200.groups] == [["sol.supervisor"], ["fay.finance"]]
    assert p200.rule_id == "plants/P200.yaml#actions.reallocate_inventory.when[0]"
    assert p200.expires_at == NOW + timedelta(hours=8)
    p100 = _route("reallocate_inventory", "pat.planner", "P100", router=router, value_usd=6000)
    assert [list(g.eligible_user_ids) for g in p100.groups] == [["sam.supervisor"]]
    assert p100.expires_at == NOW + timedelta(hours=24)


def test_domain_tightening_narrows_a_group_and_raises_risk() -> None:
    router = ApprovalRouter(_policy_with({
        "domains/quality.yaml": {
            "place_quality_hold": {"approvers": [{"roles": ["quality_engineer"], "site": "subject"}]}},
        "plants/P100.yaml": {
            "switch_supplier": {"risk_class": "advisory"},
            "place_quality_hold": {"approvers": [{"roles": ["quality_engineer"], "site": "subject"},
                                                 {"roles": ["production_supervisor"], "site": "subject"}],
                                   "proposers": ["quality_engineer", "production_supervisor"]}},
    }))
    hold = _route("place_quality_hold", "paz.planner", "P200", router=router)
    assert [list(g.eligible_user_ids) for g in hold.groups] == [["qiu.quality"]]
    assert hold.groups[0].rule_id == "domains/quality.yaml#actions.place_quality_hold.approvers[0]"
    assert hold.rule_id == "domains/quality.yaml#actions.place_quality_hold.approvers"
    # P100 adds a supervisor group on top and drops planners from the proposers.
    hold100 = _route("place_quality_hold", "quinn.quality", router=router)
    assert hold100.effect is Effect.DENY  # quinn cannot approve their own group 0; nobody else is a P100 QE
    assert hold100.rule_id == "domains/quality.yaml#actions.place_quality_hold.approvers[0]"
    planner = _route("place_quality_hold", "pat.planner", router=router)
    assert planner.rule_id == "plants/P100.yaml#actions.place_quality_hold.proposers"
    sam = _route("place_quality_hold", "sam.supervisor", router=router)
    assert sam.effect is Effect.DENY  # group 1 needs a supervisor other than sam
    advisory = _route("switch_supplier", "bea.buyer", router=router)
    assert advisory.effect is Effect.DENY
    assert advisory.rule_id == "plants/P100.yaml#actions.switch_supplier.risk_class"
    assert "recommendation only" in advisory.reason
    assert _route("switch_supplier", "bo.buyer", "P200", router=router).effect is Effect.NEEDS_APPROVAL


def test_autonomy_limits_may_be_lowered_or_removed() -> None:
    router = ApprovalRouter(_policy_with({
        "domains/procurement.yaml": {"request_po_date_change": {"autonomous_when": [
            {"requester_is": "po_buyer_user_id", "requester_roles": ["buyer"],
             "fact_at_least": {"pull_in_days": 1}, "fact_at_most": {"pull_in_days": 2}}]}},
        "plants/P200.yaml": {"reserve_spare_parts": {"autonomous_when": []}},
    }))
    facts = {"po_buyer_user_id": "bea.buyer"}
    assert _route("request_po_date_change", "bea.buyer", router=router,
                  facts={**facts, "pull_in_days": 2}).effect is Effect.ALLOW
    assert _route("request_po_date_change", "bea.buyer", router=router,
                  facts={**facts, "pull_in_days": 3}).effect is Effect.NEEDS_APPROVAL
    # P200 removed spare autonomy; P100 keeps it.
    assert _route("reserve_spare_parts", "max.maint", router=router,
                  facts={"asset_criticality": "A"}).effect is Effect.ALLOW
    assert router.rule("reserve_spare_parts", "P200") is not None
    assert router.rule("reserve_spare_parts", "P200").autonomous_when == ()  # type: ignore[union-attr]


SUPERVISOR_GROUP = {"roles": ["production_supervisor"], "site": "subject"}
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
        ApprovalRouter(_policy_with({rel: actions}))
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
        ApprovalRouter(_policy_with({rel: actions}))
    assert not isinstance(info.value, PolicyLoosening)
    assert (info.value.file, info.value.key) == (rel, key)
    assert message in info.value.message


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
    _check(route, [["sol.supervisor"], ["fay.finance"]])
    assert subject_json(move) == {"site_id": "P200", "to_site": "P100", "value_usd": 10000.01, "facts": {
        "action": "reallocate_inventory", "record_ids": ["LOT-P200-0001"], "po_buyer_user_id": None,
        "pull_in_days": None, "asset_criticality": None}}
    # A subject computed for another action is never routed as this one.
    wrong = ROUTER.route("place_quality_hold", POLICY.user("paz.planner"), move, now=NOW)
    assert (wrong.effect, wrong.rule_id) == (Effect.DENY, "approvals.subject_mismatch")


def test_groups_that_only_one_person_could_fill_are_refused() -> None:
    # Fay is the only finance user: a second finance group could never get a different approver.
    router = ApprovalRouter(_policy_with({"plants/P100.yaml": {"switch_supplier": {"approvers": [
        {"roles": ["buyer"], "site": "subject"}, {"roles": ["finance"], "site": "subject"},
        {"roles": ["finance"], "site": "subject"}]}}}))
    route = _route("switch_supplier", "bea.buyer", router=router)
    assert route.effect is Effect.DENY and "need different people" in route.reason
    assert route.rule_id == "plants/P100.yaml#actions.switch_supplier.approvers"
    # Overlapping groups that distinct people can fill: qiu takes the first, sol the second.
    router = ApprovalRouter(_policy_with({"plants/P200.yaml": {"place_quality_hold": {"approvers": [
        {"roles": ["quality_engineer", "production_supervisor"], "site": "subject"},
        {"roles": ["production_supervisor"], "site": "subject"}]}}}))
    _check(_route("place_quality_hold", "paz.planner", "P200", router=router),
           [["qiu.quality", "sol.supervisor"], ["sol.supervisor"]])


# --------------------------------------------------------------------------------------------- triggers


def test_trigger_limits_parse_and_tighten_per_layer() -> None:
    shipped = ROUTER.triggers("open_supplier_review", ["P100", "P200"])
    assert shipped.limits == {"scrap_variance_limit": {"P100": 0.05, "P200": 0.05}}
    assert ROUTER.rule("open_supplier_review", "P100").origins[  # type: ignore[union-attr]
        "triggers.scrap_variance_limit"] == "enterprise.yaml#actions.open_supplier_review.triggers.scrap_variance_limit"
    router = ApprovalRouter(_policy_with({
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


# ------------------------------------------------------------------------------ proposers vs role grants


def test_every_shipped_proposer_is_granted_its_action() -> None:
    for site in (None, "P100", "P200"):
        rules = ROUTER.rules.base if site is None else ROUTER.rules.for_site(site)
        roles = POLICY.roles if site is None else POLICY.roles_at(site)
        for rule in rules.values():
            assert all(roles[r].grants(rule.action, rule.domain) for r in rule.proposers), (site, rule.action)


def _enterprise_actions(**changes: dict[str, Any]) -> dict[str, Any]:
    enterprise = next(doc for doc in POLICY.layers if doc.file == "enterprise.yaml")
    actions = {name: dict(body) for name, body in enterprise.sections["actions"].items()}
    for name, change in changes.items():
        actions[name].update(change)
    return actions


def test_a_proposer_without_the_grant_fails_to_load() -> None:
    # finance is granted neither the quality domain nor place_quality_hold by name.
    actions = _enterprise_actions(place_quality_hold={"proposers": ["quality_engineer", "finance"]})
    with pytest.raises(PolicyError) as info:
        ApprovalRouter(_policy_with({"enterprise.yaml": actions}))
    assert (info.value.file, info.value.key) == ("enterprise.yaml", "actions.place_quality_hold.proposers")
    assert "role 'finance' is a proposer of place_quality_hold but is not granted it" in info.value.message
    assert "grant the role the action or remove it from the proposers" in info.value.message


def test_a_plant_taking_the_grant_away_must_drop_the_proposer(policy_dir: Path) -> None:
    plant = policy_dir / "plants" / "P100.yaml"
    doc = yaml.safe_load(plant.read_text())
    doc["roles"] = {"planner": {"tools": ["quality_events", "lot_genealogy", "assets_at_risk",
                                          "create_maintenance_order"]}}
    plant.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(PolicyError) as info:
        _router(policy_dir)
    assert (info.value.file, info.value.key) == ("plants/P100.yaml", "actions.place_quality_hold.proposers")
    assert "not granted it at P100" in info.value.message
    # Dropping planners from the P100 proposers too makes the layer consistent again.
    doc["actions"] = {"place_quality_hold": {"proposers": ["quality_engineer", "production_supervisor"]}}
    plant.write_text(yaml.safe_dump(doc, sort_keys=False))
    router = _router(policy_dir)
    assert _route("place_quality_hold", "pat.planner", router=router).effect is Effect.DENY
    assert _route("place_quality_hold", "paz.planner", "P200", router=router).effect is Effect.NEEDS_APPROVAL
