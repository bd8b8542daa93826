"""Every demo user × every shipped tool against a hand-written table of what each role may call."""

from __future__ import annotations

import pytest

from guardrails.gate import Effect, Gate
from tests.policy_helpers import shipped_policy
from tools import default_catalog

INVENTORY = {"inventory_lookup", "projected_stock", "items_below_reorder", "lot_status", "transfers"}
PROCUREMENT = {"open_po_lines", "buyer_exception_triage", "supplier_scorecard", "alternative_suppliers"}
SALES = {"sales_orders", "demand_vs_orders"}
PRODUCTION = {"work_orders", "work_orders_at_risk", "line_performance", "machine_downtime", "machine_parameter_drift"}
QUALITY = {"scrap_analysis", "quality_events", "lot_genealogy"}
MAINTENANCE = {"assets_at_risk", "maintenance_orders", "spare_parts"}
EXECUTIVE = {"executive_summary"}
KNOWLEDGE = {"search_documents"}  # which documents each role then reads is the documents' own front matter

# Written from the policy's intent, not computed from it.
ALLOWED_BY_ROLE: dict[str, set[str]] = {
    "planner": INVENTORY | {"open_po_lines", "buyer_exception_triage"} | SALES | PRODUCTION
    | {"quality_events", "lot_genealogy", "assets_at_risk"} | KNOWLEDGE,
    "buyer": INVENTORY | PROCUREMENT | {"quality_events", "lot_genealogy"} | KNOWLEDGE,
    "quality_engineer": INVENTORY | {"supplier_scorecard", "alternative_suppliers"} | PRODUCTION | QUALITY
    | KNOWLEDGE,
    "production_supervisor": INVENTORY | SALES | PRODUCTION | QUALITY | MAINTENANCE | KNOWLEDGE,
    "maintenance_planner": {"inventory_lookup"} | PRODUCTION | MAINTENANCE | KNOWLEDGE,
    "finance": INVENTORY | PROCUREMENT | SALES | EXECUTIVE | KNOWLEDGE,
    "executive": INVENTORY | PROCUREMENT | SALES | PRODUCTION | QUALITY | MAINTENANCE | EXECUTIVE | KNOWLEDGE,
    "auditor": set(),
    "admin": set(),
}


def test_table_covers_the_whole_catalog() -> None:
    every = INVENTORY | PROCUREMENT | SALES | PRODUCTION | QUALITY | MAINTENANCE | EXECUTIVE | KNOWLEDGE
    assert set(default_catalog().names) == every


POLICY = shipped_policy()
CASES = [(user_id, spec.name) for user_id in sorted(POLICY.users) for spec in default_catalog()]


@pytest.mark.parametrize(("user_id", "tool"), CASES)
def test_decision_matches_table(user_id: str, tool: str) -> None:
    user = POLICY.user(user_id)
    (role,) = user.roles
    decision = Gate(POLICY, default_catalog()).decide(user, tool, {})
    expected = Effect.ALLOW if tool in ALLOWED_BY_ROLE[role] else Effect.DENY
    assert decision.effect is expected, f"{user_id} ({role}) → {tool}: {decision.rule_id} {decision.reason}"
    assert decision.rule_id
    if expected is Effect.ALLOW:
        # An all-sites user gets an unrestricted scope; everyone else exactly their own sites, never more.
        if user.sites is None:
            assert decision.scope.sites is None
        else:
            assert decision.scope.sites == user.sites
