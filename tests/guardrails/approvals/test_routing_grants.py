"""Proposers versus role grants: every shipped proposer holds its action's grant, and a layer that takes the
grant away must drop the proposer too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from guardrails.approvals.routing import ApprovalRouter
from guardrails.errors import PolicyError
from guardrails.gate import Effect
from tests.guardrails.approvals.routing_helpers import POLICY, ROUTER, policy_with, route_of, router_from


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
        ApprovalRouter(policy_with({"enterprise.yaml": actions}))
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
        router_from(policy_dir)
    assert (info.value.file, info.value.key) == ("plants/P100.yaml", "actions.place_quality_hold.proposers")
    assert "not granted it at P100" in info.value.message
    # Dropping planners from the P100 proposers too makes the layer consistent again.
    doc["actions"] = {"place_quality_hold": {"proposers": ["quality_engineer", "production_supervisor"]}}
    plant.write_text(yaml.safe_dump(doc, sort_keys=False))
    router = router_from(policy_dir)
    assert route_of("place_quality_hold", "pat.planner", router=router).effect is Effect.DENY
    assert route_of("place_quality_hold", "paz.planner", "P200", router=router).effect is Effect.NEEDS_APPROVAL
