"""The rules model proposes governed actions from plain-language requests and answers from what comes back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from agent.prompts import system_prompt
from agent.rules import PlantLexicon, RulesChatModel
from guardrails.policy.loader import Policy, load_policy
from tests.agent.action_cases import rows
from tests.agent.graph_helpers import build_action_copilot, copy_plant
from tests.factories import AS_OF, TODAY
from tools.actions.catalog import action_catalog

USER = "sam.supervisor"


def _schemas(names: set[str] | None = None) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": s.name, "description": s.description,
                                              "parameters": s.json_schema()}}
            for s in action_catalog() if names is None or s.name in names]


def _messages(policy: Policy, question: str, tools: list[str], user: str = USER) -> list[BaseMessage]:
    prompt = system_prompt(policy.user(user), today=TODAY, as_of=AS_OF, tools=tools)
    return [SystemMessage(prompt), HumanMessage(question)]


def _ask(model: RulesChatModel, policy: Policy, question: str, offered: set[str] | None = None) -> AIMessage:
    schemas = _schemas(offered)
    reply = model.bind_tools(schemas).invoke(_messages(policy, question, [s["function"]["name"] for s in schemas]))
    assert isinstance(reply, AIMessage)
    return reply


def _call(model: RulesChatModel, policy: Policy, question: str) -> tuple[str, dict[str, Any]]:
    reply = _ask(model, policy, question)
    assert len(reply.tool_calls) == 1, (question, reply.content)
    [call] = reply.tool_calls
    spec = action_catalog().get(call["name"])
    spec.parse_args(call["args"])  # the arguments fit the schema
    return call["name"], call["args"]


# ------------------------------------------------------------------------------------------ proposing
@pytest.mark.parametrize(("question", "expected"), [
    ("put lot LOT-P100-0404 on quality hold, seal failures",
     {"lot_id": "LOT-P100-0404", "include_open_work_orders": False, "reason": "seal failures"}),
    ("hold LOT-P100-0404 and its open work orders",
     {"lot_id": "LOT-P100-0404", "include_open_work_orders": True}),
    ("Please place LOT-P100-0404 on hold because of seal leaks, including the WOs",
     {"lot_id": "LOT-P100-0404", "include_open_work_orders": True}),
    ("can you quarantine lot 0404", {"lot_id": "LOT-P100-0404"}),
    ("put WO-5310 on hold", {"wo_id": "WO-5310"}),
])
def test_place_quality_hold(model: RulesChatModel, policy: Policy, question: str, expected: dict[str, Any]) -> None:
    name, args = _call(model, policy, question)
    assert name == "place_quality_hold" and expected.items() <= args.items()
    assert len(args["reason"]) >= 3


@pytest.mark.parametrize("question", [
    "release the hold on LOT-P100-0404",
    "please lift the quality hold on LOT-P100-0404, retest passed",
    "take LOT-P100-0404 off hold",
    "unblock lot LOT-P100-0404",
])
def test_release_quality_hold(model: RulesChatModel, policy: Policy, question: str) -> None:
    name, args = _call(model, policy, question)
    assert name == "release_quality_hold" and args["lot_id"] == "LOT-P100-0404"


@pytest.mark.parametrize(("question", "lots"), [
    ("open a supplier review for Flexopack (S-001) about lot LOT-P100-0432", ["LOT-P100-0432"]),
    ("start a supplier review of S-001 because of repeated seal failures", []),
    ("could you raise a review for supplier Flexopack, lots LOT-P100-0432 and LOT-P100-0404",
     ["LOT-P100-0432", "LOT-P100-0404"]),
])
def test_open_supplier_review(model: RulesChatModel, policy: Policy, question: str, lots: list[str]) -> None:
    name, args = _call(model, policy, question)
    assert name == "open_supplier_review" and args["supplier_id"] == "S-001" and args["lot_ids"] == lots


@pytest.mark.parametrize(("question", "expected"), [
    ("create a corrective maintenance order for AS-014 priority 1: bearing noise",
     {"asset_id": "AS-014", "mo_type": "corrective", "priority": 1, "description": "bearing noise"}),
    ("raise a preventive maintenance order for asset 14", {"asset_id": "AS-014", "mo_type": "preventive",
                                                           "priority": 2}),
    ("please book an urgent repair for AS-014 - spindle vibration",
     {"asset_id": "AS-014", "mo_type": "corrective", "priority": 1, "description": "spindle vibration"}),
])
def test_create_maintenance_order(model: RulesChatModel, policy: Policy, question: str,
                                  expected: dict[str, Any]) -> None:
    name, args = _call(model, policy, question)
    assert name == "create_maintenance_order" and expected.items() <= args.items()


@pytest.mark.parametrize(("question", "expected"), [
    ("pull in PO-24003 line 2 to 2026-03-05", {"po_id": "PO-24003", "line_no": 2,
                                              "new_promised_date": "2026-03-05"}),
    ("expedite PO-24003/2 to 2026-03-04, line down risk", {"po_id": "PO-24003", "line_no": 2,
                                                          "new_promised_date": "2026-03-04",
                                                          "reason": "line down risk"}),
    ("please push out line 1 of PO-24010 to 2026-04-15", {"po_id": "PO-24010", "line_no": 1,
                                                         "new_promised_date": "2026-04-15"}),
])
def test_request_po_date_change(model: RulesChatModel, policy: Policy, question: str,
                                expected: dict[str, Any]) -> None:
    name, args = _call(model, policy, question)
    assert name == "request_po_date_change" and expected.items() <= args.items()


@pytest.mark.parametrize(("question", "expected"), [
    ("move 500 of CP-2039 from P100 to P200", {"item_id": "CP-2039", "qty": 500, "from_site_id": "P100",
                                              "to_site_id": "P200"}),
    ("transfer 1,200 CP-2039 from site P100 to P200 for the rush order",
     {"item_id": "CP-2039", "qty": 1200, "from_site_id": "P100", "to_site_id": "P200"}),
    ("reallocate 40 of CP-2039 from P100 to WO-5310", {"item_id": "CP-2039", "qty": 40, "from_site_id": "P100",
                                                      "to_wo_id": "WO-5310"}),
])
def test_reallocate_inventory(model: RulesChatModel, policy: Policy, question: str, expected: dict[str, Any]) -> None:
    name, args = _call(model, policy, question)
    assert name == "reallocate_inventory" and expected.items() <= args.items()


@pytest.mark.parametrize("question", [
    "switch PO-24003 line 2 to supplier S-010",
    "move PO-24003/2 to S-010, S-001 is late",
    "please change the supplier of PO-24003 line 2 to S-010",
])
def test_switch_supplier(model: RulesChatModel, policy: Policy, question: str) -> None:
    name, args = _call(model, policy, question)
    assert name == "switch_supplier"
    assert (args["po_id"], args["line_no"], args["new_supplier_id"]) == ("PO-24003", 2, "S-010")


def test_reserve_spare_parts(model: RulesChatModel, policy: Policy) -> None:
    name, args = _call(model, policy, "reserve 2 SP-4043 for AS-014")
    assert name == "reserve_spare_parts" and (args["asset_id"], args["item_id"], args["qty"]) == (
        "AS-014", "SP-4043", 2)


# ------------------------------------------------------------------------------------------ clarify / decline
@pytest.mark.parametrize(("question", "says"), [
    ("put it on quality hold", "Which lot or work order"),
    ("expedite PO-24003 to 2026-03-05", "Which line of PO-24003"),
    ("pull in PO-24003 line 2", "To which date"),
    ("move CP-2039 from P100 to P200", "the quantity"),
    ("reserve the spare parts for AS-014", "Which spare part"),
    ("create a maintenance order", "Which asset"),
    ("open a supplier review about bad film", "Which supplier"),
    ("hold LOT-P100-0404 and LOT-P100-0432", "Which lot"),
    ("switch PO-24003 line 2 to another supplier", "Which supplier"),
])
def test_missing_or_ambiguous_ids_ask_instead_of_guessing(model: RulesChatModel, policy: Policy, question: str,
                                                          says: str) -> None:
    reply = _ask(model, policy, question)
    assert not reply.tool_calls and says in str(reply.content), reply.content


def test_unknown_ids_are_not_found(model: RulesChatModel, policy: Policy) -> None:
    reply = _ask(model, policy, "put LOT-P100-9999 on hold")
    assert not reply.tool_calls and "can't find" in str(reply.content)


@pytest.mark.parametrize("question", [
    "put lot LOT-P100-0404 on quality hold, seal failures",
    "release the hold on LOT-P100-0404",
    "create a corrective maintenance order for AS-014 priority 1: bearing noise",
])
def test_without_the_action_tool_the_request_is_declined(model: RulesChatModel, policy: Policy,
                                                         question: str) -> None:
    reply = _ask(model, policy, question, offered={"open_supplier_review"})
    assert not reply.tool_calls and "can't" in str(reply.content) and "only read" in str(reply.content)
    none = _ask(model, policy, question, offered=set())
    assert not none.tool_calls and "only read" in str(none.content)


@pytest.mark.parametrize("question", [
    "which lots are on quality hold?", "open purchase orders for RM-3001", "open work orders on P200-AS1",
    "spare parts for AS-014", "expedite candidates from Great Lakes Corrugated"])
def test_read_questions_are_not_actions(model: RulesChatModel, policy: Policy, question: str) -> None:
    reply = _ask(model, policy, question)
    assert not any(c["name"] in {s.name for s in action_catalog()} for c in reply.tool_calls)


# ------------------------------------------------------------------------------------------ answers
def _answer(model: RulesChatModel, policy: Policy, question: str, result: dict[str, Any]) -> str:
    schemas = _schemas()
    messages = _messages(policy, question, [s["function"]["name"] for s in schemas])
    first = model.bind_tools(schemas).invoke(messages)
    assert isinstance(first, AIMessage) and first.tool_calls
    call = first.tool_calls[0]
    messages += [first, ToolMessage(content=json.dumps(result), tool_call_id=call["id"] or "", name=call["name"])]
    reply = model.bind_tools(schemas).invoke(messages)
    assert isinstance(reply, AIMessage) and not reply.tool_calls
    return str(reply.content)


HOLD = "hold LOT-P100-0404 and its open work orders, seal failures"


def test_answer_executed_hold(model: RulesChatModel, policy: Policy) -> None:
    text = _answer(model, policy, HOLD, {
        "status": "executed", "action": "place_quality_hold", "request_id": "APR-1", "as_of": AS_OF.isoformat(),
        "message": "ok", "record_ids": ["LOT-P100-0404", "WO-5310", "WO-5317"], "changed": []})
    assert text.startswith("Done: LOT-P100-0404 is on quality hold")
    assert "WO-5310, WO-5317" in text and "[LOT-P100-0404]" in text


def test_answer_precondition_failed_rejected_and_refused(model: RulesChatModel, policy: Policy) -> None:
    failed = _answer(model, policy, HOLD, {"status": "precondition_failed", "action": "place_quality_hold",
                                           "request_id": "APR-1", "reason": "lot LOT-P100-0404 is consumed",
                                           "record_ids": [], "changed": []})
    assert failed.startswith("Not executed") and "lot LOT-P100-0404 is consumed" in failed
    rejected = _answer(model, policy, HOLD, {"status": "rejected", "action": "place_quality_hold",
                                             "request_id": "APR-1",
                                             "reason": "quinn.quality rejected APR-1; nothing was executed",
                                             "comment": "<<<DATA\nretest first\nDATA>>>"})
    assert "rejected" in rejected and "quinn.quality" in rejected and "retest first" in rejected
    denied = _answer(model, policy, HOLD, {"status": "denied", "tool": "place_quality_hold", "rule_id": "r1",
                                           "reason": "role planner may not place holds"})
    assert "refused" in denied and "role planner may not place holds" in denied
    waiting = _answer(model, policy, HOLD, {"status": "pending", "action": "place_quality_hold",
                                            "request_id": "APR-9"})
    assert "waiting for approval" in waiting and "APR-9" in waiting


def test_answers_are_deterministic(model: RulesChatModel, policy: Policy) -> None:
    one, two = _ask(model, policy, HOLD), _ask(model, policy, HOLD)
    assert (one.content, one.tool_calls) == (two.content, two.tool_calls)


# ------------------------------------------------------------------------------------------ end to end
def test_hold_request_end_to_end_through_the_graph(demo_home: Path, demo_manifest: dict[str, Any],
                                                   tmp_path: Path) -> None:
    lot = demo_manifest["scenarios"]["scrap_spike"]["lot_id"]
    plant_file = copy_plant(demo_home, tmp_path)
    from tools import make_engine
    engine = make_engine(f"sqlite:///{plant_file}")
    rules = RulesChatModel(lexicon=PlantLexicon.from_engine(engine))
    engine.dispose()
    h = build_action_copilot(plant_file, tmp_path, rules)
    held_before = {r["wo_id"] for r in rows(h.plant, "SELECT wo_id FROM work_orders WHERE status = 'held'")}

    first = h.copilot.ask("sam.supervisor", f"put lot {lot} and its open work orders on quality hold, "
                                            "seal failures on PK1")
    assert first.paused and [a["action"] for a in first.approvals] == ["place_quality_hold"], first.answer
    assert rows(h.plant, "SELECT status FROM lots WHERE lot_id = :l", l=lot) != [{"status": "quality_hold"}]
    request_id = first.approvals[0]["id"]

    h.decide(request_id, "quinn.quality", "approve", "confirmed")
    final = h.copilot.resume(request_id)
    assert not final.paused
    assert rows(h.plant, "SELECT status FROM lots WHERE lot_id = :l", l=lot) == [{"status": "quality_hold"}]
    assert final.answer.startswith(f"Done: {lot} is on quality hold"), final.answer
    assert lot in final.citations and final.unverified == []
    held = {r["wo_id"] for r in rows(h.plant, "SELECT wo_id FROM work_orders WHERE status = 'held'")} - held_before
    assert held and all(w in final.answer for w in held)


# ------------------------------------------------------------------------------------------ policy triggers
def _rules_copilot(demo_home: Path, tmp_path: Path, policy_dir: Path | None = None) -> Any:
    plant_file = copy_plant(demo_home, tmp_path)
    from tools import make_engine
    engine = make_engine(f"sqlite:///{plant_file}")
    rules = RulesChatModel(lexicon=PlantLexicon.from_engine(engine))
    engine.dispose()
    return build_action_copilot(plant_file, tmp_path, rules,
                                policy=load_policy(policy_dir) if policy_dir is not None else None)


def _limit_policy(tmp_path: Path, limit: float) -> Path:
    import shutil

    from guardrails.policy.loader import default_policy_dir

    folder = tmp_path / "policy"
    shutil.copytree(default_policy_dir(), folder)
    path = folder / "enterprise.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count("scrap_variance_limit: 0.05") == 1
    path.write_text(text.replace("scrap_variance_limit: 0.05", f"scrap_variance_limit: {limit}"), encoding="utf-8")
    return folder


def test_scrap_answer_suggests_a_supplier_review_by_the_policy_limit(demo_home: Path, demo_manifest: dict[str, Any],
                                                                     tmp_path: Path) -> None:
    spike = demo_manifest["scenarios"]["scrap_spike"]
    question = f"Why is scrap up on {spike['line_id']}?"
    h = _rules_copilot(demo_home, tmp_path / "shipped")
    answer = h.copilot.ask("sam.supervisor", question)
    assert not answer.paused and h.store.list_all() == []  # a suggestion only: nothing proposed
    assert "supplier-review limit the policy sets for P100" in answer.answer, answer.answer
    assert f"open a supplier review of {spike['supplier_id']} about scrap on {spike['lot_id']}" in answer.answer
    assert answer.unverified == []
    # Asking as suggested proposes the review for that supplier and lot.
    follow = h.copilot.ask("sam.supervisor", f"open a supplier review of {spike['supplier_id']} about scrap on "
                                             f"{spike['lot_id']}")
    assert follow.paused and [a["action"] for a in follow.approvals] == ["open_supplier_review"]
    request = h.store.get(follow.approvals[0]["id"])
    assert request.args["supplier_id"] == spike["supplier_id"] and request.args["lot_ids"] == [spike["lot_id"]]

    # The same question under a policy whose limit is above this spike's excess: no suggestion.
    high = _rules_copilot(demo_home, tmp_path / "high", _limit_policy(tmp_path, 0.5))
    quiet = high.copilot.ask("sam.supervisor", question)
    assert "supplier-review limit" not in quiet.answer and spike["lot_id"] in quiet.answer


def test_no_review_suggestion_without_the_action(demo_home: Path, demo_manifest: dict[str, Any],
                                                 tmp_path: Path) -> None:
    # eve.exec reads scrap but may not propose open_supplier_review, so no trigger reaches the model.
    spike = demo_manifest["scenarios"]["scrap_spike"]
    h = _rules_copilot(demo_home, tmp_path)
    answer = h.copilot.ask("eve.exec", f"Why is scrap up on {spike['line_id']}?")
    assert spike["lot_id"] in answer.answer and "supplier-review limit" not in answer.answer
