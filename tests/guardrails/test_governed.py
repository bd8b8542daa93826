"""The governed call path on the demo plant: gate → scoped tool → audit, and the boundaries it keeps."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from guardrails.audit.log import AuditKind, AuditLog
from guardrails.audit.trace import Trace
from guardrails.errors import ToolOutcomeEmpty, UnknownUser
from guardrails.gate import Effect, Gate
from guardrails.governed import GovernedTools, Refusal, ToolOutcome
from guardrails.locator import SqlSiteResolver
from guardrails.policy.loader import Policy
from tests.factories import TODAY
from tests.policy_helpers import shipped_policy
from tools import default_catalog, make_engine
from tools.plant.schema import table

ID_TOKEN = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+")
# Keys under which a price, cost or money value would appear; any numeric value there is a leak
# (money totals are dicts by currency: {"USD": 123.0}).
PRICE_KEYS = re.compile(r'"(\w*unit_price|standard_cost|bank_account|\w*_cost|open_value|price_variance|'
                        r'open_value_by_currency|open_po_value_by_currency)"\s*:\s*(\{[^}]*\d[^}]*\}|"?-?\d[\d.eE+-]*)')


@pytest.fixture(scope="module")
def policy() -> Policy:
    return shipped_policy()


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    log = AuditLog(engine)
    log.create_schema()
    yield log
    engine.dispose()


@pytest.fixture
def governed(demo_plant: Engine, policy: Policy) -> GovernedTools:
    catalog = default_catalog()
    return GovernedTools(gate=Gate(policy, catalog, SqlSiteResolver(demo_plant)), catalog=catalog,
                         engine=demo_plant, today=TODAY)


@pytest.fixture(scope="module")
def p200_ids(demo_plant: Engine) -> dict[str, list[str]]:
    """Every site-bound record id of P200, by kind."""
    specs = {
        "po": ("purchase_orders", "po_id"), "lot": ("lots", "lot_id"), "wo": ("work_orders", "wo_id"),
        "line": ("production_lines", "line_id"), "asset": ("assets", "asset_id"), "so": ("sales_orders", "so_id"),
        "qe": ("quality_events", "qe_id"), "scrap": ("scrap_records", "scrap_id"),
    }
    out: dict[str, list[str]] = {}
    with demo_plant.connect() as conn:
        for kind, (name, column) in specs.items():
            t = table(name)
            out[kind] = sorted(conn.execute(select(t.c[column]).where(t.c.site_id == "P200")).scalars())
        lines, machines = table("production_lines"), table("machines")
        out["machine"] = sorted(conn.execute(
            select(machines.c.machine_id).join(lines, machines.c.line_id == lines.c.line_id)
            .where(lines.c.site_id == "P200")).scalars())
    return out


def _trace(user: str) -> Trace:
    return Trace(trace_id=f"t-{user}-{uuid.uuid4().hex}", thread_id=None, user_id=user, policy_hash="test")


def _call(governed: GovernedTools, audit: AuditLog, user_id: str, tool: str,
          args: dict[str, Any]) -> tuple[Any, list[Any]]:
    trace = _trace(user_id)
    with audit.buffer() as buffer:
        user = governed.identify(user_id, trace, buffer)
        outcome = governed.call(user, tool, args, trace=trace, audit=buffer)
    return outcome, audit.by_trace(trace.trace_id)


def test_allowed_call_is_scoped_and_audited(governed: GovernedTools, audit: AuditLog,
                                            p200_ids: dict[str, list[str]]) -> None:
    outcome, events = _call(governed, audit, "pat.planner", "inventory_lookup", {})
    assert outcome.ok and outcome.result is not None
    dumped = outcome.result.model_dump_json()
    assert "P100" in dumped and "P200" not in dumped
    assert [e.kind for e in events] == [AuditKind.GATE_DECISION, AuditKind.TOOL_RESULT]
    decision = events[0].payload
    assert decision["effect"] == "allow" and decision["rule_id"].startswith("enterprise.yaml#")
    assert decision["scope"]["sites"] == ["P100"]
    assert events[1].payload["record_count"] == len(outcome.result.record_ids) > 0


def test_denied_call_returns_a_refusal_and_no_data(governed: GovernedTools, audit: AuditLog) -> None:
    outcome, events = _call(governed, audit, "pat.planner", "inventory_lookup", {"site_id": "P200"})
    assert not outcome.ok and outcome.refusal is not None
    assert outcome.refusal.status == "denied" and "P200" in outcome.refusal.reason
    assert outcome.for_model()["rule_id"] == "gate.scope.site"
    assert [e.kind for e in events] == [AuditKind.GATE_DECISION]


def test_an_outcome_is_its_result_or_its_refusal(governed: GovernedTools, audit: AuditLog) -> None:
    allowed, _ = _call(governed, audit, "pat.planner", "inventory_lookup", {})
    denied, _ = _call(governed, audit, "pat.planner", "inventory_lookup", {"site_id": "P200"})
    assert allowed.result_or_refusal() is allowed.result
    assert isinstance(denied.result_or_refusal(), Refusal) and denied.result_or_refusal() is denied.refusal


def test_an_outcome_holding_neither_result_nor_refusal_is_a_typed_error(governed: GovernedTools) -> None:
    decision = governed.gate.decide(governed.gate.policy.user("pat.planner"), "inventory_lookup", {})
    empty = ToolOutcome(decision, None, None)
    with pytest.raises(ToolOutcomeEmpty, match="inventory_lookup call holds neither a result nor a refusal"):
        empty.for_model()


def test_unknown_user_is_refused_and_only_the_refusal_is_logged(governed: GovernedTools, audit: AuditLog) -> None:
    trace = _trace("mallory")
    with pytest.raises(UnknownUser), audit.buffer() as buffer:
        governed.identify("mallory", trace, buffer)
    events = audit.by_trace(trace.trace_id)
    assert [(e.kind, e.payload["error"]) for e in events] == [(AuditKind.ERROR, "unknown_user")]


def test_malformed_arguments_name_the_field(governed: GovernedTools, audit: AuditLog) -> None:
    outcome, events = _call(governed, audit, "pat.planner", "inventory_lookup", {"limit": "many"})
    assert outcome.refusal is not None and outcome.refusal.status == "invalid_arguments"
    assert "limit" in outcome.refusal.reason
    assert events[-1].kind == AuditKind.ERROR and events[-1].payload["field"] == "limit"


def _planner_tools(policy: Policy) -> list[str]:
    catalog = default_catalog()
    gate = Gate(policy, catalog)
    return [s.name for s in catalog if gate.decide(policy.user("pat.planner"), s.name).allowed]


def _variants(tool: str, item_id: str) -> list[dict[str, Any]]:
    """Argument variants that exercise filters, top-N and sorting without naming foreign records."""
    schema = default_catalog().get(tool).json_schema()
    props = schema.get("properties", {})
    base: dict[str, Any] = {"item_id": item_id} if "item_id" in schema.get("required", []) else {}
    variants = [dict(base)]
    if "limit" in props:
        variants += [{**base, "limit": 1}, {**base, "limit": 500}]
    if "top" in props:
        variants.append({**base, "top": 1})
    if "site_id" in props:
        variants.append({**base, "site_id": "P100"})
    if "days" in props:
        variants.append({**base, "days": 60})
    return variants


def test_p100_planner_never_receives_p200_records_or_prices(
    governed: GovernedTools, audit: AuditLog, policy: Policy, p200_ids: dict[str, list[str]],
    demo_plant: Engine,
) -> None:
    foreign = {i for ids in p200_ids.values() for i in ids}
    with demo_plant.connect() as conn:  # an item stocked at both sites: the filter must still cut P200 rows
        item_id = conn.execute(select(table("inventory").c.item_id).where(
            table("inventory").c.site_id == "P200")).scalars().first()
    tools = _planner_tools(policy)
    assert {"inventory_lookup", "open_po_lines", "work_orders", "buyer_exception_triage"} <= set(tools)
    checked = 0
    for tool in tools:
        for args in _variants(tool, item_id):
            outcome, _ = _call(governed, audit, "pat.planner", tool, args)
            body = json.dumps(outcome.for_model())
            leaked = sorted(set(ID_TOKEN.findall(body)) & foreign)
            assert not leaked, f"{tool} {args} leaked P200 records {leaked[:5]}"
            prices = PRICE_KEYS.findall(body)
            assert not prices, f"{tool} {args} returned price fields {prices[:3]}"
            checked += 1
    assert checked >= 2 * len(tools)


@pytest.mark.parametrize("kind", ["po", "lot", "wo", "line", "machine", "asset", "so"])
def test_naming_a_p200_record_finds_nothing(governed: GovernedTools, audit: AuditLog,
                                            p200_ids: dict[str, list[str]], kind: str) -> None:
    """A P200 record named by a P100 planner is searched in P100 only: not found, audited, nothing of it served
    (the gate does not refuse it by its site, which would say where it is)."""
    arg = {"po": "po_id", "lot": "lot_id", "wo": "wo_id", "line": "line_id", "machine": "machine_id",
           "asset": "asset_id", "so": "so_id"}[kind]
    catalog = default_catalog()
    tools = [s.name for s in catalog if arg in s.json_schema().get("properties", {})]
    assert tools, f"no tool takes {arg}"
    record = p200_ids[kind][0]
    checked = 0
    for tool in tools:
        outcome, events = _call(governed, audit, "pat.planner", tool, {arg: record})
        if outcome.decision.effect is Effect.DENY:  # the planner's role lacks the tool: nothing about the record
            assert not outcome.decision.rule_id.startswith("gate.scope") and "P200" not in outcome.decision.reason
            continue
        checked += 1
        assert outcome.decision.scope.sites == frozenset({"P100"})
        body = outcome.for_model()
        assert body["status"] == "not_found", f"{tool} answered {record}"
        assert "P200" not in json.dumps(body).replace(record, ""), f"{tool} named the record's site"
        assert [e.kind for e in events] == [AuditKind.GATE_DECISION, AuditKind.TOOL_RESULT]
        assert events[1].payload["status"] == "not_found"
    assert checked, f"the planner may use no tool taking {arg}"


@pytest.mark.parametrize(("user_id", "sees_prices"), [("pat.planner", False), ("sam.supervisor", False),
                                                      ("fay.finance", True), ("eve.exec", True)])
def test_sales_prices_follow_the_policy(governed: GovernedTools, audit: AuditLog, user_id: str,
                                        sees_prices: bool) -> None:
    outcome, _ = _call(governed, audit, user_id, "sales_orders", {"site_id": "P100", "open_only": True})
    assert outcome.ok and outcome.result is not None
    rows = outcome.for_model()["rows"]
    assert rows and all(r["site_id"] == "P100" for r in rows)
    if sees_prices:
        assert all(r["unit_price"] > 0 and r["value"] == round(r["qty"] * r["unit_price"], 2) for r in rows)
    else:
        assert all(r["unit_price"] is None and r["value"] is None for r in rows)


def test_planted_instructions_in_plant_text_are_neutralized_spotlighted_and_audited(
    governed: GovernedTools, audit: AuditLog, demo_plant: Engine, demo_manifest: dict[str, Any]
) -> None:
    planted = [i for i in demo_manifest["injections"] if i["table"] == "quality_events"]
    assert planted
    qe = table("quality_events")
    for injection in planted:
        with demo_plant.connect() as conn:
            row = conn.execute(select(qe.c.site_id, qe.c.lot_id, qe.c.line_id, qe.c.defect_code)
                               .where(qe.c.qe_id == injection["key"]["qe_id"])).one()
        user = "quinn.quality" if row.site_id == "P100" else "qiu.quality"
        args: dict[str, Any] = {"defect_code": row.defect_code, "days": 365, "limit": 500}
        if row.line_id:
            args["line_id"] = row.line_id
        outcome, events = _call(governed, audit, user, "quality_events", args)
        raw = outcome.result.model_dump_json()
        assert injection["key"]["qe_id"] in raw and injection["text"][:40] in raw  # the tool returns it as-is
        view = json.dumps(outcome.for_model())
        assert injection["text"][:40] not in view, "instruction reached the model unneutralized"
        assert "<<<DATA" in view and injection["key"]["qe_id"] in view  # spotlighted; ids stay plain
        screening = [e for e in events if e.kind == AuditKind.SCREENING]
        assert screening and screening[0].payload["stage"] == "data"
        assert any(".description" in f["path"] for f in screening[0].payload["findings"])


def test_planted_instructions_in_maintenance_orders_are_neutralized_spotlighted_and_audited(
    governed: GovernedTools, audit: AuditLog, demo_plant: Engine, demo_manifest: dict[str, Any]
) -> None:
    planted = [i for i in demo_manifest["injections"] if i["table"] == "maintenance_orders"]
    assert {i["site_id"] for i in planted} == {"P100", "P200"}
    mo = table("maintenance_orders")
    for injection in planted:
        mo_id = injection["key"]["mo_id"]
        with demo_plant.connect() as conn:
            asset_id = conn.execute(select(mo.c.asset_id).where(mo.c.mo_id == mo_id)).scalar_one()
        user = "max.maint" if injection["site_id"] == "P100" else "sol.supervisor"
        outcome, events = _call(governed, audit, user, "maintenance_orders", {"asset_id": asset_id})
        raw = outcome.result.model_dump_json()
        # An encoded payload is the blob after its harmless prefix; the others are plain text.
        hostile = injection["text"].split()[-1] if "decoded" in injection else injection["text"][:40]
        assert mo_id in raw and hostile in raw  # the tool returns the description as-is
        view = json.dumps(outcome.for_model())
        assert hostile not in view, f"instruction in {mo_id} reached the model unneutralized"
        assert "<<<DATA" in view and mo_id in view and asset_id in view  # spotlighted; ids stay plain
        screening = [e for e in events if e.kind == AuditKind.SCREENING]
        assert screening and screening[0].payload["stage"] == "data"
        assert any(f["path"].endswith(".description") for f in screening[0].payload["findings"])


def test_maintenance_planner_sees_the_at_risk_assets_spares_short_with_cost_masked(
    governed: GovernedTools, audit: AuditLog, demo_manifest: dict[str, Any], p200_ids: dict[str, list[str]]
) -> None:
    risk = demo_manifest["scenarios"]["asset_risk"]
    outcome, _ = _call(governed, audit, "max.maint", "spare_parts", {"asset_id": risk["asset_id"]})
    assert outcome.ok and outcome.decision.scope.sites == {"P100"}
    assert "items.standard_cost" in outcome.decision.scope.masked_fields
    spare = {r.item_id: r for r in outcome.result.rows}[risk["spare_item_id"]]
    assert spare.short and spare.available < spare.qty_required and spare.standard_cost is None
    body = json.dumps(outcome.for_model())
    assert not PRICE_KEYS.findall(body)
    orders, _ = _call(governed, audit, "max.maint", "maintenance_orders",
                      {"asset_id": risk["asset_id"], "open_only": True})
    assert orders.ok and any(r.mo_type == "predictive" for r in orders.result.rows)
    everything = json.dumps([outcome.for_model(), orders.for_model(),
                             _call(governed, audit, "max.maint", "spare_parts", {"limit": 200})[0].for_model(),
                             _call(governed, audit, "max.maint", "maintenance_orders", {"limit": 200})[0].for_model()])
    foreign = {i for ids in p200_ids.values() for i in ids}
    assert not set(ID_TOKEN.findall(everything)) & foreign and "P200" not in everything
