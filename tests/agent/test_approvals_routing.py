"""Routing through the graph: every action × one requester per role against a hand-written table.

For each requester the scripted model proposes, in ONE message, every action the user is offered; the
graph's gate decides each, the approval step persists the approval-bound ones and the thread pauses.
Actions a user is not offered are checked at the gate directly (the model never sees them).
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent.scripted import ScriptedChatModel
from guardrails.audit.log import AuditBuffer
from guardrails.audit.trace import Trace
from guardrails.gate import Effect
from tests.agent.action_cases import ledger_rows, p100_cases, snapshot
from tests.agent.graph_helpers import build_action_copilot, calls, copy_plant, policy_grant
from tools.plant.db import make_engine

USERS = {
    "planner": "pat.planner", "buyer": "bea.buyer", "quality_engineer": "quinn.quality",
    "production_supervisor": "sam.supervisor", "maintenance_planner": "max.maint", "finance": "fay.finance",
    "executive": "eve.exec", "auditor": "ada.auditor", "admin": "ian.admin",
}
ACTIONS = ("place_quality_hold", "release_quality_hold", "reallocate_inventory", "request_po_date_change",
           "switch_supplier", "open_supplier_review", "create_maintenance_order", "reserve_spare_parts")

BASE = "hidden: gate.default_deny"          # no role of the user grants the action's domain or the action
PROPOSE = "hidden: proposers"                # granted, but the user's role may not propose it (policy actions)
# Written by hand from the policy (roles' domains, actions' proposers/approvers) and the subjects in
# tests/agent/action_cases.py (all P100; the PO line belongs to bea.buyer and is pulled in 2 days; the
# spare is for a B-critical asset; the reallocation is worth ~$106). A list = approver groups that must
# ALL approve (eligible user ids of each); "deny: <rule>" = offered but refused at the gate.
TABLE: dict[str, dict[str, Any]] = {
    # Planners are granted place_quality_hold and create_maintenance_order by name (policy roles.planner.tools).
    "pat.planner": {
        "place_quality_hold": [["quinn.quality", "sam.supervisor"]], "release_quality_hold": BASE,
        "reallocate_inventory": [["sam.supervisor"]],
        "request_po_date_change": [["bea.buyer", "ben.buyer"]],
        "switch_supplier": PROPOSE, "open_supplier_review": BASE,
        "create_maintenance_order": [["max.maint", "sam.supervisor"]], "reserve_spare_parts": BASE},
    "bea.buyer": {
        "place_quality_hold": BASE, "release_quality_hold": BASE,
        "reallocate_inventory": [["sam.supervisor"]],
        # Her own PO, 2-day pull-in: routing says autonomous, but gpt-4o-mini may not propose autonomous actions.
        "request_po_date_change": "deny: enterprise.yaml#models.approved[openai:gpt-4o-mini].risk_classes",
        "switch_supplier": [["ben.buyer"], ["fay.finance"]],
        # Granted by name: buyers own the supplier relationship.
        "open_supplier_review": [["ben.buyer", "quinn.quality"]], "create_maintenance_order": BASE,
        "reserve_spare_parts": BASE},
    "quinn.quality": {
        "place_quality_hold": [["sam.supervisor"]], "release_quality_hold": [["sam.supervisor"]],
        "reallocate_inventory": PROPOSE, "request_po_date_change": BASE, "switch_supplier": BASE,
        "open_supplier_review": [["bea.buyer", "ben.buyer"]], "create_maintenance_order": BASE,
        "reserve_spare_parts": BASE},
    "sam.supervisor": {
        "place_quality_hold": [["quinn.quality"]], "release_quality_hold": [["quinn.quality"]],
        # Only sam supervises P100: nobody else could approve, so it is refused up front.
        "reallocate_inventory": "deny: enterprise.yaml#actions.reallocate_inventory.approvers[0]",
        "request_po_date_change": BASE, "switch_supplier": BASE,
        "open_supplier_review": [["bea.buyer", "ben.buyer", "quinn.quality"]],
        "create_maintenance_order": [["max.maint"]], "reserve_spare_parts": [["max.maint"]]},
    "max.maint": {
        "place_quality_hold": BASE, "release_quality_hold": BASE, "reallocate_inventory": BASE,
        "request_po_date_change": BASE, "switch_supplier": BASE, "open_supplier_review": BASE,
        "create_maintenance_order": [["sam.supervisor"]], "reserve_spare_parts": [["sam.supervisor"]]},
    "fay.finance": {
        "place_quality_hold": BASE, "release_quality_hold": BASE, "reallocate_inventory": PROPOSE,
        "request_po_date_change": PROPOSE, "switch_supplier": PROPOSE, "open_supplier_review": BASE,
        "create_maintenance_order": BASE, "reserve_spare_parts": BASE},
    "eve.exec": dict.fromkeys(ACTIONS, PROPOSE),
    "ada.auditor": dict.fromkeys(ACTIONS, BASE),
    "ian.admin": dict.fromkeys(ACTIONS, BASE),
}


@pytest.fixture(scope="module")
def shared_plant(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One plant copy for the table (nothing executes: every request stays pending)."""
    return copy_plant(demo_home, tmp_path_factory.mktemp("routing-plant"))


@pytest.fixture(scope="module")
def cases(shared_plant: Path, demo_manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    engine = make_engine(f"sqlite:///{shared_plant}")
    try:
        return p100_cases(engine, demo_manifest["scenarios"]["scrap_spike"])
    finally:
        engine.dispose()


def test_table_covers_every_action_and_role() -> None:
    assert set(TABLE) == set(USERS.values())
    assert all(set(row) == set(ACTIONS) for row in TABLE.values())


@pytest.mark.parametrize("user_id", list(USERS.values()))
def test_routing_through_the_graph(user_id: str, shared_plant: Path, cases: dict[str, dict[str, Any]],
                                   tmp_path: Path) -> None:
    row = TABLE[user_id]
    offered = [a for a in ACTIONS if not str(row[a]).startswith("hidden")]
    proposal = calls(*((a, cases[a], f"c-{a}") for a in offered)) if offered else AIMessage(content="none")
    model = ScriptedChatModel(script=[proposal, AIMessage(content="Nothing was changed.")])
    harness = build_action_copilot(shared_plant, tmp_path, model)
    before = snapshot(harness.plant)

    result = harness.copilot.ask(user_id, "Do what the data calls for.")

    assert sorted(n for n in model.bound_tool_names if n in ACTIONS) == sorted(offered)
    decided = {c["name"]: c for c in result.tool_calls}
    waiting = {a["action"]: a["id"] for a in result.approvals}
    for action in offered:
        expected = row[action]
        if isinstance(expected, list):
            assert decided[action]["decision"] == "needs_approval", (action, decided[action])
            request = harness.store.get(waiting[action])
            assert [sorted(g.eligible_user_ids) for g in request.groups] == expected, action
            assert request.requester == user_id and request.status.value == "pending"
        else:
            assert decided[action]["decision"] == "deny", (action, decided[action])
            assert decided[action]["rule_id"] == expected.removeprefix("deny: "), action
    assert set(waiting) == {a for a in offered if isinstance(row[a], list)}
    assert result.paused == bool(waiting)
    for action in waiting:
        assert waiting[action] in result.answer  # the user is told the request id ...
        assert all(u in result.answer for g in row[action] for u in g)  # ... and who can approve it
    # Hidden actions: the gate itself refuses them (the model could not even name them).
    trace = Trace(uuid.uuid4().hex, "th-direct", user_id, "test")
    user = harness.approvals.actions.policy.user(user_id)
    for action in (a for a in ACTIONS if a not in offered):
        decision = harness.approvals.actions.decide(user, action, cases[action], model=policy_grant(), trace=trace,
                                                    audit=AuditBuffer(harness.audit))
        assert decision.effect is Effect.DENY, action
        if row[action] == BASE:
            assert decision.rule_id == "gate.default_deny", (action, decision.rule_id)
        else:
            assert decision.rule_id == f"enterprise.yaml#actions.{action}.proposers", (action, decision.rule_id)
    assert snapshot(harness.plant) == before and ledger_rows(harness.plant) == []
