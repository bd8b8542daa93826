"""Answer writers of the issue-14 tools (agent/rules/answers_sales.py, answers_maint.py) on real tool results.

Each result comes from the seed-7 demo plant through the governed path (gate → scoped tool → spotlighting), as the
rules model sees it; the answer must state the tool's own figures and ids, lead long lists with the summary, say
how many are not listed, leave masked prices and costs unmentioned, and pass the grounding check untouched.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from agent.grounding import check_grounding, collect_evidence
from agent.rules.answers import compose_answer
from agent.rules.entities import Entities
from agent.rules.focus import Focus, ToolOutput
from guardrails.audit.log import AuditLog
from guardrails.audit.trace import Trace
from guardrails.gate import Gate
from guardrails.governed import GovernedTools
from guardrails.locator import SqlSiteResolver
from guardrails.policy.loader import Policy
from tests.factories import TODAY
from tools import default_catalog


@pytest.fixture(scope="module")
def governed(demo_plant: Engine, policy: Policy) -> GovernedTools:
    catalog = default_catalog()
    return GovernedTools(gate=Gate(policy, catalog, SqlSiteResolver(demo_plant)), catalog=catalog,
                         engine=demo_plant, today=TODAY)


def _result(governed: GovernedTools, audit: AuditLog, policy: Policy, user_id: str, tool: str,
            args: dict[str, Any]) -> dict[str, Any]:
    """The tool's result as the model receives it (spotlighted), run as ``user_id``."""
    with audit.buffer() as buffer:
        outcome = governed.call(policy.user(user_id), tool, args, audit=buffer,
                                trace=Trace(f"t-{tool}-{user_id}", None, user_id, policy.hash))
    result = outcome.for_model()
    assert result.get("status") == "ok", result
    return result


def _answer(result: dict[str, Any], tool: str, args: dict[str, Any], intent: str = "",
            entities: Entities | None = None) -> str:
    """The composed answer, checked: grounded in the result (and the arguments asked, as the graph counts them)
    with nothing unsupported."""
    text = compose_answer([ToolOutput(tool, args, json.dumps(result))], Focus(intent, entities or Entities()))
    report = check_grounding(text, collect_evidence([json.dumps(result)], extra_text=[json.dumps(args)]))
    assert report.unverified == (), (report.unverified, text)
    return text


# ------------------------------------------------------------------------------------------ sales orders
def test_sales_orders_lead_with_counts_and_say_how_many_are_not_listed(
        governed: GovernedTools, audit: AuditLog, policy: Policy) -> None:
    args = {"due_within_days": 7, "open_only": True}
    result = _result(governed, audit, policy, "pat.planner", "sales_orders", args)
    summary, rows = result["summary"], result["rows"]
    text = _answer(result, "sales_orders", args, "sales_orders")
    first = text.splitlines()[0]
    assert first.startswith(f"{summary['count']} open sales orders due in the next 7 days")
    assert all(f"{status} {n}" in first for status, n in summary["by_status"].items())
    assert f"{rows[0]['so_id']} for " in text and f"[{rows[0]['so_id']}]" in text
    assert summary["count"] > 10 and f"of the {summary['count']} are listed" in text
    # A planner may not see sales prices: they come back null and are not mentioned.
    assert all(r["unit_price"] is None for r in rows) and "per unit" not in text and "value" not in text


def test_one_sales_order_in_full_with_its_value_for_a_role_that_sees_prices(
        governed: GovernedTools, audit: AuditLog, policy: Policy) -> None:
    args = {"so_id": "SO-30166"}
    result = _result(governed, audit, policy, "eve.exec", "sales_orders", args)
    row = result["rows"][0]
    text = _answer(result, "sales_orders", args, "sales_orders")
    assert "SO-30166 for Northern Fluid Power" in text
    assert f"{row['qty']:g} FG-1025 due {row['due_date']}" in text
    assert f"{row['allocated_qty']:g} allocated from stock" in text
    assert f"value {row['value']:,}" in text


def test_late_sales_orders_give_days_late(governed: GovernedTools, audit: AuditLog, policy: Policy) -> None:
    args = {"late_only": True}
    result = _result(governed, audit, policy, "sol.supervisor", "sales_orders", args)
    late = result["rows"][0]
    text = _answer(result, "sales_orders", args, "sales_orders")
    assert late["days_late"] > 0 and f"{late['so_id']}" in text and f"{late['days_late']} days late" in text
    empty = _result(governed, audit, policy, "pat.planner", "sales_orders", args)
    assert _answer(empty, "sales_orders", args, "sales_orders").startswith("No late sales orders")


# ------------------------------------------------------------------------------------------ one lot
def test_a_held_lot_names_each_disagreement_in_plain_words_and_cannot_ship(
        governed: GovernedTools, audit: AuditLog, policy: Policy) -> None:
    args = {"lot_id": "LOT-P100-0529"}
    result = _result(governed, audit, policy, "pat.planner", "lot_status", args)
    assert {d["kind"] for d in result["disagreements"]} == {"mes_hold_erp_unrestricted", "held_lot_allocated"}
    text = _answer(result, "lot_status", args, "lot_status")
    assert "LOT-P100-0529 (FG-1025 at P100" in text and "is on quality hold in MES" in text
    assert "on quality hold in MES while ERP still shows 233 unrestricted at WH-02, 75 reserved for SO-30166" in text
    assert "75 for SO-30166 (Northern Fluid Power, due 2026-03-19)" in text
    assert all(e["qe_id"] in text for e in result["open_quality_events"])
    assert "Can it ship? No" in text and "mes_hold_erp_unrestricted" not in text


def test_an_available_lot_with_free_stock_can_ship(governed: GovernedTools, audit: AuditLog, policy: Policy) -> None:
    args = {"lot_id": "LOT-P100-0265"}
    result = _result(governed, audit, policy, "eve.exec", "lot_status", args)
    assert result["can_ship"] is True
    text = _answer(result, "lot_status", args, "lot_status")
    assert "is available in MES" in text and "reserved for SO-30197" in text
    assert f"Can it ship? Yes: available in MES, {result['free_qty']:g} unrestricted and unreserved" in text


# ------------------------------------------------------------------------------------------ demand, transfers
def test_forecast_against_orders_gives_the_totals_and_each_week(
        governed: GovernedTools, audit: AuditLog, policy: Policy) -> None:
    args = {"item_id": "FG-1025"}
    result = _result(governed, audit, policy, "pat.planner", "demand_vs_orders", args)
    totals = result["totals"]
    text = _answer(result, "demand_vs_orders", args, "demand_vs_orders")
    assert f"{totals['ordered_qty']:g} ordered against {totals['forecast_qty']:g} forecast" in text
    assert "orders are below the forecast" in text
    assert all(f"week of {r['week_start']}: forecast {r['forecast_qty']:g}" in text for r in result["rows"])


def test_transfers_none_in_the_demo_plant_and_a_listing_when_there_are_some(
        governed: GovernedTools, audit: AuditLog, policy: Policy) -> None:
    result = _result(governed, audit, policy, "pat.planner", "transfers", {"days": 30})
    assert _answer(result, "transfers", {"days": 30}, "transfers").startswith("No inter-site transfers in the last 30")
    assert _answer(result, "transfers", {}, "transfers").startswith("No inter-site transfers in the last month")
    row = {"transfer_id": "TR-0001", "item_id": "CP-2039", "lot_id": "LOT-P100-0423", "qty": 50.0,
           "from_site_id": "P100", "from_location": "WH-01", "to_site_id": "P200", "to_location": "WH-03",
           "to_wo_id": None, "transferred_at": "2026-02-27T10:00:00"}
    crafted = {**result, "summary": {"count": 1, "qty_total": 50.0}, "rows": [row], "record_ids": ["TR-0001"]}
    text = _answer(crafted, "transfers", {"site_id": "P100", "direction": "out"}, "transfers")
    assert text.startswith("1 inter-site transfers out of P100 in the last month, 50 units moved")
    assert "TR-0001 on 2026-02-27 10:00: 50 CP-2039 (lot LOT-P100-0423) from P100 WH-01 to P200 WH-03" in text


# ------------------------------------------------------------------------------------------ maintenance
def test_maintenance_orders_lead_with_counts_by_status(governed: GovernedTools, audit: AuditLog,
                                                      policy: Policy) -> None:
    args = {"asset_id": "AS-012", "open_only": True}
    result = _result(governed, audit, policy, "max.maint", "maintenance_orders", args)
    text = _answer(result, "maintenance_orders", args, "maintenance_orders")
    count, by_status = result["summary"]["count"], result["summary"]["by_status"]
    assert text.startswith(f"{count} open maintenance orders for AS-012 (")
    assert all(f"{status} {n}" in text.splitlines()[0] for status, n in by_status.items())
    assert all(f"[{r['mo_id']}, AS-012]" in text for r in result["rows"])
    assert "not scheduled yet" in text  # the open predictive order has no slot yet


def test_spare_parts_of_one_asset_short_first_without_costs_the_role_may_not_see(
        governed: GovernedTools, audit: AuditLog, policy: Policy) -> None:
    args = {"asset_id": "AS-012"}
    result = _result(governed, audit, policy, "max.maint", "spare_parts", args)
    text = _answer(result, "spare_parts", args, "spare_parts")
    assert "failure probability 83.0%: 1 of its 2 spare parts short" in text
    lines = text.splitlines()
    assert lines[1].startswith("- SP-4036") and "needs 2, 1 available at P100 — SHORT" in lines[1]
    assert "SP-4037" in lines[2] and "covered" in lines[2]
    assert "standard cost" not in text
    costed = _result(governed, audit, policy, "eve.exec", "spare_parts", args)
    assert "standard cost" in _answer(costed, "spare_parts", args, "spare_parts")


def test_short_spares_across_assets_lead_with_the_count(governed: GovernedTools, audit: AuditLog,
                                                       policy: Policy) -> None:
    args = {"short_only": True}
    result = _result(governed, audit, policy, "eve.exec", "spare_parts", args)
    text = _answer(result, "spare_parts", args, "spare_parts")
    summary = result["summary"]
    if summary["assets"] > 1:
        assert text.startswith(f"{summary['parts']} short spare-part needs over {summary['assets']} assets")
    assert all(r["item_id"] in text and r["asset_id"] in text for r in result["rows"][:10])
