"""The gate on a small catalog of its own: default deny, grants with rule ids, scopes, foreign ids."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from guardrails.gate import Effect, Gate
from guardrails.policy.loader import Policy, default_policy_dir, load_policy
from tests.policy_helpers import shipped_policy
from tools.catalog import Catalog
from tools.spec import ToolArgs, ToolContext, ToolResult, ToolSpec


def _noop(ctx: ToolContext, args: ToolArgs) -> ToolResult:
    return ToolResult(as_of=ctx.as_of)


def _spec(name: str, domain: str) -> ToolSpec:
    return ToolSpec(name=name, description=name, domain=domain, args_model=ToolArgs,  # type: ignore[arg-type]
                    result_model=ToolResult, fn=_noop)  # type: ignore[arg-type]


CATALOG = Catalog([
    _spec("inventory_lookup", "inventory"),
    _spec("open_po_lines", "procurement"),
    _spec("supplier_scorecard", "procurement"),
    _spec("alternative_suppliers", "procurement"),
    _spec("quality_events", "quality"),
    _spec("lot_genealogy", "quality"),
    _spec("assets_at_risk", "maintenance"),
    _spec("executive_summary", "executive"),
    _spec("cost_rollup", "finance"),
])


class DictResolver:
    """A resolver over a fixed map, counting look-ups."""

    def __init__(self, sites: dict[tuple[str, str], str]) -> None:
        self.sites = sites
        self.calls = 0

    def site_of(self, kind: str, record_id: str) -> str | None:
        self.calls += 1
        return self.sites.get((kind, record_id))


@pytest.fixture(scope="module")
def policy() -> Policy:
    return shipped_policy()


@pytest.fixture
def gate(policy: Policy) -> Gate:
    resolver = DictResolver({("po", "PO-24017"): "P200", ("po", "PO-24001"): "P100",
                             ("lot", "LOT-P200-0007"): "P200"})
    return Gate(policy, CATALOG, resolver)


def test_unknown_tool_is_denied_by_default(gate: Gate, policy: Policy) -> None:
    decision = gate.decide(policy.user("eve.exec"), "drop_tables", {})
    assert decision.effect is Effect.DENY
    assert decision.rule_id == "gate.unknown_tool"
    assert decision.scope.sites == frozenset()


def test_ungranted_domain_is_denied_with_default_rule(gate: Gate, policy: Policy) -> None:
    decision = gate.decide(policy.user("pat.planner"), "cost_rollup", {})
    assert decision.effect is Effect.DENY
    assert decision.rule_id == "gate.default_deny"
    assert "planner" in decision.reason


def test_explicit_deny_names_the_layer_that_denied(gate: Gate, policy: Policy) -> None:
    enterprise = gate.decide(policy.user("pat.planner"), "supplier_scorecard", {})
    assert (enterprise.effect, enterprise.rule_id) == (Effect.DENY, "enterprise.yaml#roles.planner.deny_tools")
    domain = gate.decide(policy.user("pat.planner"), "alternative_suppliers", {})
    assert (domain.effect, domain.rule_id) == (Effect.DENY, "domains/procurement.yaml#roles.planner.deny_tools")


def test_allowed_call_carries_grant_rule_and_scope(gate: Gate, policy: Policy) -> None:
    decision = gate.decide(policy.user("pat.planner"), "inventory_lookup", {})
    assert decision.effect is Effect.ALLOW
    assert decision.rule_id == "enterprise.yaml#roles.planner.domains"
    assert decision.scope.sites == frozenset({"P100"})
    assert {"po_lines.unit_price", "supplier_prices.unit_price", "items.standard_cost",
            "suppliers.bank_account", "sales_orders.unit_price"} <= decision.scope.masked_fields
    tool_grant = gate.decide(policy.user("pat.planner"), "quality_events", {})
    assert tool_grant.rule_id == "enterprise.yaml#roles.planner.tools"


@pytest.mark.parametrize(("user", "visible", "aggregate_only", "masked"), [
    ("bea.buyer", {"po_lines.unit_price", "supplier_prices.unit_price", "items.standard_cost"}, set(),
     {"suppliers.bank_account", "sales_orders.unit_price"}),
    ("fay.finance", {"po_lines.unit_price", "suppliers.bank_account", "sales_orders.unit_price"}, set(), set()),
    ("eve.exec", {"items.standard_cost", "sales_orders.unit_price"},
     {"po_lines.unit_price", "supplier_prices.unit_price"}, {"suppliers.bank_account"}),
])
def test_sensitive_fields_follow_roles(gate: Gate, policy: Policy, user: str, visible: set[str],
                                       aggregate_only: set[str], masked: set[str]) -> None:
    scope = gate.decide(policy.user(user), "open_po_lines", {}).scope
    assert all(scope.can_see(f) for f in visible)
    assert aggregate_only <= scope.aggregate_only_fields
    assert all(scope.can_aggregate(f) and not scope.can_see(f) for f in aggregate_only)
    assert masked <= scope.masked_fields


def test_all_site_users_get_an_unrestricted_site_scope(gate: Gate, policy: Policy) -> None:
    assert gate.decide(policy.user("eve.exec"), "executive_summary", {}).scope.sites is None


def test_auditor_and_admin_see_no_plant_data(gate: Gate, policy: Policy) -> None:
    for user in ("ada.auditor", "ian.admin"):
        for spec in CATALOG:
            assert gate.decide(policy.user(user), spec.name, {}).effect is Effect.DENY


def test_a_foreign_record_is_left_to_the_scoped_query_and_a_foreign_site_is_refused(gate: Gate,
                                                                                    policy: Policy) -> None:
    planner = policy.user("pat.planner")
    # A record at P200 is not refused by its site (that would tell where it is): the call is allowed with the
    # planner's P100 scope, under which the tool cannot see it — it reads as not found, like an unknown id.
    foreign = gate.decide(planner, "open_po_lines", {"po_id": "PO-24017"})
    assert foreign.effect is Effect.ALLOW and foreign.scope.sites == frozenset({"P100"})
    assert "P200" not in foreign.reason
    lots = gate.decide(planner, "lot_genealogy", {"lot_ids": ["LOT-P100-0001", "LOT-P200-0007"]})
    assert lots.effect is Effect.ALLOW and lots.scope.sites == frozenset({"P100"})
    site = gate.decide(planner, "inventory_lookup", {"site_id": "P200"})  # sites are no secret: refused
    assert (site.effect, site.rule_id) == (Effect.DENY, "gate.scope.site")
    assert gate.decide(planner, "transfers", {"to_site": "P200"}).effect is Effect.DENY


def test_multi_site_user_may_name_either_site(gate: Gate, policy: Policy) -> None:
    buyer = policy.user("bea.buyer")
    assert gate.decide(buyer, "open_po_lines", {"po_id": "PO-24017"}).effect is Effect.ALLOW
    assert gate.decide(buyer, "open_po_lines", {"site_id": "P100"}).effect is Effect.ALLOW


def test_plant_layer_revocation_narrows_the_scope(tmp_path: Path) -> None:
    target = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), target)
    (target / "plants" / "P200.yaml").write_text(yaml.safe_dump(
        {"layer": "plant", "site": "P200", "roles": {"buyer": {"deny_tools": ["open_po_lines"]}}}))
    policy = load_policy(target)
    gate = Gate(policy, CATALOG, DictResolver({("po", "PO-24017"): "P200"}))
    bea = gate.decide(policy.user("bea.buyer"), "open_po_lines", {})
    assert bea.effect is Effect.ALLOW and bea.scope.sites == frozenset({"P100"})
    foreign = gate.decide(policy.user("bea.buyer"), "open_po_lines", {"po_id": "PO-24017"})
    assert foreign.effect is Effect.ALLOW and foreign.scope.sites == frozenset({"P100"})  # P200 stays unseen
    bo = gate.decide(policy.user("bo.buyer"), "open_po_lines", {})
    assert (bo.effect, bo.rule_id) == (Effect.DENY, "plants/P200.yaml#roles.buyer.deny_tools")


def test_decisions_are_cached_per_user_and_tool_and_sites_checked_every_call(policy: Policy) -> None:
    resolver = DictResolver({("po", "PO-24017"): "P200"})
    gate = Gate(policy, CATALOG, resolver)
    planner = policy.user("pat.planner")
    first = gate.decide(planner, "inventory_lookup", {})
    assert gate.decide(planner, "inventory_lookup", {}) is first
    assert gate.decide(planner, "inventory_lookup", {"site_id": "P200"}).effect is Effect.DENY
    gate.decide(planner, "open_po_lines", {"po_id": "PO-24017"})
    assert resolver.calls == 0  # record ids are the scoped query's business, never looked up here
