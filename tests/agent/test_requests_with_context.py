"""Requests with context (issue 14 item 3): the imperative request of a message is its intent, the sentences around
it its reason; a question beside it is answered (or reported as refused) without ever stopping it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage

from agent.prompts import system_prompt
from agent.rules import PlantLexicon, RulesChatModel
from agent.rules.requests import split_clauses
from guardrails.gate import Effect, Gate
from guardrails.policy.loader import Policy
from tests.agent.graph_helpers import build_action_copilot, copy_plant
from tests.factories import AS_OF, TODAY
from tools import default_catalog
from tools.actions.catalog import action_catalog

ACTIONS = frozenset(s.name for s in action_catalog())


def _schemas(policy: Policy, user_id: str, actions: set[str] | frozenset[str] = ACTIONS) -> list[dict[str, Any]]:
    """The reads ``user_id`` may call and the ``actions`` offered (the graph offers those the policy grants)."""
    catalog, user = default_catalog(), policy.user(user_id)
    gate = Gate(policy, catalog)
    reads = [s for s in catalog if gate.decide(user, s.name).effect is not Effect.DENY]
    return [{"type": "function", "function": {"name": s.name, "description": s.description,
                                              "parameters": s.json_schema()}}
            for s in (*reads, *(a for a in action_catalog() if a.name in actions))]


def _start(policy: Policy, user_id: str, question: str, schemas: list[dict[str, Any]]) -> list[BaseMessage]:
    names = [s["function"]["name"] for s in schemas]
    return [SystemMessage(system_prompt(policy.user(user_id), today=TODAY, as_of=AS_OF, tools=names)),
            HumanMessage(question)]


def _ask(model: RulesChatModel, policy: Policy, user_id: str, question: str,
         actions: set[str] | frozenset[str] = ACTIONS) -> AIMessage:
    schemas = _schemas(policy, user_id, actions)
    reply = model.bind_tools(schemas).invoke(_start(policy, user_id, question, schemas))
    assert isinstance(reply, AIMessage)
    return reply


def _action(reply: AIMessage) -> tuple[str, dict[str, Any]]:
    found = [c for c in reply.tool_calls if c["name"] in ACTIONS]
    assert len(found) == 1, (reply.content, reply.tool_calls)
    action_catalog().get(found[0]["name"]).parse_args(found[0]["args"])  # the arguments fit the schema
    return found[0]["name"], found[0]["args"]


# ------------------------------------------------------------------------------------------ clauses
@pytest.mark.parametrize(("text", "clauses"), [
    ("The seal jaws on PK1 keep failing. Please hold LOT-P100-0411 while quality investigates.",
     ["The seal jaws on PK1 keep failing.", "Please hold LOT-P100-0411 while quality investigates."]),
    ("what do they cost and please reserve SP-4036 for AS-012",
     ["what do they cost", "please reserve SP-4036 for AS-012"]),
    ("hold LOT-P100-0404 and its open work orders", ["hold LOT-P100-0404 and its open work orders"]),
    ("Could you please put that lot on hold for me?", ["Could you please put that lot on hold for me?"]),
    ("e.g. lot 404 leaks. Hold it.", ["e.g. lot 404 leaks.", "Hold it."]),
    ("Hold LOT-P100-0513 and tell me which work orders used it.",
     ["Hold LOT-P100-0513", "tell me which work orders used it."]),
])
def test_messages_are_cut_into_clauses(text: str, clauses: list[str]) -> None:
    assert split_clauses(text) == clauses


# ------------------------------------------------------------------------------------------ the request wins
@pytest.mark.parametrize(("user", "question", "action", "args", "reason"), [
    ("sam.supervisor", "The seal jaws on PK1 keep failing. Please hold LOT-P100-0411 while quality investigates.",
     "place_quality_hold", {"lot_id": "LOT-P100-0411"}, "seal jaws on PK1 keep failing"),
    ("sam.supervisor", "Put LOT-P100-0535 on hold. Incoming inspection found the wrong thickness. Thanks!",
     "place_quality_hold", {"lot_id": "LOT-P100-0535"}, "wrong thickness"),
    ("sam.supervisor", "Quality just called: lot 0411 has seal leaks. Put it on hold.",
     "place_quality_hold", {"lot_id": "LOT-P100-0411"}, "seal leaks"),
    ("quinn.quality", "Retest on LOT-P100-0524 came back clean. Please release the hold on it.",
     "release_quality_hold", {"lot_id": "LOT-P100-0524"}, "came back clean"),
    ("pat.planner", "CP-2039 is short on the assembly line at P200. Can you move 300 to P200?",
     "reallocate_inventory", {"item_id": "CP-2039", "qty": 300, "from_site_id": "P100", "to_site_id": "P200"},
     "short on the assembly line"),
    ("bea.buyer", "Great Lakes keeps slipping. Switch PO-24303 line 1 to S-006.",
     "switch_supplier", {"po_id": "PO-24303", "line_no": 1, "new_supplier_id": "S-006"}, "keeps slipping"),
    ("quinn.quality", "Scrap on PK1 jumped after we started LOT-P100-0432. Open a supplier review for S-001.",
     "open_supplier_review", {"supplier_id": "S-001", "lot_ids": ["LOT-P100-0432"]}, "Scrap on PK1 jumped"),
    ("max.maint", "The spindle on AS-012 is running hot. It's urgent. Please create a maintenance order for it.",
     "create_maintenance_order", {"asset_id": "AS-012", "priority": 1, "mo_type": "corrective"}, "running hot"),
    ("sam.supervisor", "AS-014 is due for its brush change on Friday. Please set aside two SP-4043 for it.",
     "reserve_spare_parts", {"asset_id": "AS-014", "item_id": "SP-4043", "qty": 2}, "brush change"),
    ("pat.planner", "We're short on RM-3030. Can you pull in PO-24286 line 1 to 2026-03-06?",
     "request_po_date_change", {"po_id": "PO-24286", "line_no": 1, "new_promised_date": "2026-03-06"},
     "short on RM-3030"),
    ("qiu.quality", "plese quarentine LOT-P200-0307 - moisture found in the cartons",
     "place_quality_hold", {"lot_id": "LOT-P200-0307"}, "moisture found in the cartons"),
])
def test_the_request_is_the_intent_and_the_context_its_reason(model: RulesChatModel, policy: Policy, user: str,
                                                              question: str, action: str, args: dict[str, Any],
                                                              reason: str) -> None:
    name, called = _action(_ask(model, policy, user, question))
    assert name == action and args.items() <= called.items()
    assert reason in called.get("reason", called.get("description", ""))


@pytest.mark.parametrize(("user", "question", "action", "args"), [
    ("sam.supervisor", "Reserve SP-4043 x2 for AS-014 please", "reserve_spare_parts",
     {"asset_id": "AS-014", "item_id": "SP-4043", "qty": 2}),
    ("bea.buyer", "move 500 units of CP-2045 over to Monterrey, they have a rush order", "reallocate_inventory",
     {"item_id": "CP-2045", "qty": 500, "from_site_id": "P100", "to_site_id": "P200"}),
    ("max.maint", "Need a corrective MO on AS-014 asap, the brushes are gone", "create_maintenance_order",
     {"asset_id": "AS-014", "priority": 1, "description": "the brushes are gone"}),
    ("bo.buyer", "Rodamientos is on credit hold. Please move PO-24297 line 1 to SealTech Elastomers.",
     "switch_supplier", {"po_id": "PO-24297", "line_no": 1, "new_supplier_id": "S-022"}),
    ("bo.buyer", "move PO-24297 line 1 to 2026-03-20, SealTech says so", "request_po_date_change",
     {"po_id": "PO-24297", "new_promised_date": "2026-03-20"}),
    ("pat.planner", "Transfer from P100 took 3 days last time. Please move 200 of CP-2039 to P200.",
     "reallocate_inventory", {"qty": 200, "reason": "Transfer from P100 took 3 days last time"}),
    ("bea.buyer", "Thanks for the list. Now pull PO-24316 line 1 in to 2026-03-05 please.", "request_po_date_change",
     {"reason": "Expedite requested by bea.buyer via copilot"}),
    ("max.maint", "AS-020 keeps drifting. Raise a work request.", "create_maintenance_order",
     {"asset_id": "AS-020", "description": "AS-020 keeps drifting"}),
])
def test_request_wording(model: RulesChatModel, policy: Policy, user: str, question: str, action: str,
                         args: dict[str, Any]) -> None:
    name, called = _action(_ask(model, policy, user, question))
    assert name == action and args.items() <= called.items(), called


def test_the_reason_is_trimmed_and_capped(model: RulesChatModel, policy: Policy) -> None:
    long = " ".join(["The film from this lot wrinkles on the sealer and the operators keep stopping PK1."] * 12)
    _, args = _action(_ask(model, policy, "sam.supervisor", f"Hi team, {long} Please hold LOT-P100-0411. Thanks!"))
    assert len(args["reason"]) <= 400 and args["reason"].startswith("The film") and "Thanks" not in args["reason"]


def test_without_context_the_reason_is_the_users_tail_or_a_default(model: RulesChatModel, policy: Policy) -> None:
    _, args = _action(_ask(model, policy, "sam.supervisor", "hold LOT-P100-0411"))
    assert args["reason"] == "Quality hold requested by sam.supervisor via copilot"


@pytest.mark.parametrize("question", [
    "is LOT-P100-0524 on hold?", "Could you tell me whether LOT-P100-0411 is blocked?",
    "did anyone open a supplier review for S-001 yet?", "Should we hold LOT-P100-0432 given the scrap spike?",
    "can PO-24303 line 1 be pulled in?", "Do we have spare parts reserved for AS-012?",
    "Release of LOT-P100-0411 was delayed last week, why?", "Hold on, what's the stock of CP-2039 at P100?",
    "how do I expedite a PO line?", "which POs should I expedite?",
])
def test_look_alike_questions_stay_informational(model: RulesChatModel, policy: Policy, question: str) -> None:
    reply = _ask(model, policy, "sam.supervisor", question)
    assert not any(c["name"] in ACTIONS for c in reply.tool_calls), reply.tool_calls


def test_a_statement_is_not_a_request(model: RulesChatModel, policy: Policy) -> None:
    name, args = _action(_ask(model, policy, "sam.supervisor",
                              "Release of LOT-P100-0411 was delayed. Please put LOT-P100-0513 on hold."))
    assert name == "place_quality_hold" and args["lot_id"] == "LOT-P100-0513"


def test_two_requests_are_both_proposed(model: RulesChatModel, policy: Policy) -> None:
    reply = _ask(model, policy, "sam.supervisor", "The deburring cell AS-014 is down. Could you raise a maintenance "
                                                  "order and reserve 2 SP-4044 for it?")
    assert sorted(c["name"] for c in reply.tool_calls) == ["create_maintenance_order", "reserve_spare_parts"]
    assert all(c["args"]["asset_id"] == "AS-014" for c in reply.tool_calls)


def test_a_review_without_evidence_asks_for_the_site_of_a_multi_site_user(model: RulesChatModel,
                                                                           policy: Policy) -> None:
    asked = _ask(model, policy, "bea.buyer", "Great Lakes keeps shipping crushed cartons. Please start a SCAR for "
                                             "S-005.")
    assert not asked.tool_calls and str(asked.content).startswith("Which site")
    assert str(asked.content).endswith("?")
    _, args = _action(_ask(model, policy, "bea.buyer", "Crushed cartons again at P100. Please start a SCAR for S-005."))
    assert args["site_id"] == "P100"


# ------------------------------------------------------------------------------------------ a question beside it
def _answer(model: RulesChatModel, policy: Policy, user: str, question: str, results: dict[str, dict[str, Any]],
            actions: set[str] | frozenset[str] = ACTIONS) -> tuple[AIMessage, str]:
    """The first reply's calls, and the answer once ``results`` (by tool name) come back."""
    schemas = _schemas(policy, user, actions)
    messages = _start(policy, user, question, schemas)
    first = model.bind_tools(schemas).invoke(messages)
    assert isinstance(first, AIMessage)
    messages += [first, *(ToolMessage(content=json.dumps(results[c["name"]]), tool_call_id=c["id"] or "",
                                      name=c["name"]) for c in first.tool_calls)]
    reply = model.bind_tools(schemas).invoke(messages)
    assert isinstance(reply, AIMessage) and not reply.tool_calls
    return first, str(reply.content)


PENDING = {"status": "pending", "request_id": "APR-7"}


def test_the_question_is_answered_beside_the_request(model: RulesChatModel, policy: Policy) -> None:
    first, text = _answer(model, policy, "sam.supervisor",
                          "How many quality events are open on PK1? Also please hold LOT-P100-0513, the seal jaws "
                          "keep failing.", {"quality_events": {"status": "ok", "rows": [], "total": 0},
                                            "place_quality_hold": PENDING})
    assert [c["name"] for c in first.tool_calls] == ["quality_events", "place_quality_hold"]
    assert first.tool_calls[1]["args"]["reason"] == "the seal jaws keep failing"
    assert "waiting for approval" in text and "APR-7" in text


def test_a_refused_question_never_stops_the_request(model: RulesChatModel, policy: Policy) -> None:
    # sam may not read the buyer's price worklist: that part is refused, the reservation is still proposed.
    first, text = _answer(model, policy, "sam.supervisor", "what do they cost and please reserve 2 SP-4044 for AS-014",
                          {"reserve_spare_parts": PENDING})
    assert [c["name"] for c in first.tool_calls] == ["reserve_spare_parts"]
    assert text.startswith("I can't look that up for you: your role has no access") and "APR-7" in text


def test_a_question_the_gate_refuses_is_relayed_and_the_request_proposed(model: RulesChatModel,
                                                                         policy: Policy) -> None:
    denied = {"status": "denied", "tool": "inventory_lookup", "rule_id": "scope.site",
              "reason": "You have no access to site P200"}
    first, text = _answer(model, policy, "pat.planner", "What's on hand for CP-2039 at P200? Move 250 of CP-2039 "
                          "from P100 to P200, the assembly line there is starving.",
                          {"inventory_lookup": denied, "reallocate_inventory": PENDING})
    assert [c["name"] for c in first.tool_calls] == ["inventory_lookup", "reallocate_inventory"]
    assert "was refused: You have no access to site P200" in text and "waiting for approval" in text


def test_a_request_the_user_may_not_make_is_declined_and_the_question_answered(model: RulesChatModel,
                                                                               policy: Policy) -> None:
    # A planner may not reserve spares; the stock question is still answered.
    first, text = _answer(model, policy, "pat.planner",
                          "how much SP-4036 do we have? and please reserve 2 of them for AS-012",
                          {"inventory_lookup": {"status": "ok", "rows": []}},
                          actions=ACTIONS - {"reserve_spare_parts"})
    assert [c["name"] for c in first.tool_calls] == ["inventory_lookup"]
    assert text.startswith("I can't reserve anything")


# ------------------------------------------------------------------------------------------ a shift in days
def _lines(po: str, line: int, expected: str) -> dict[str, Any]:
    return {"status": "ok", "rows": [{"line_id": f"{po}/{line}", "po_id": po, "line_no": line,
                                      "expected_receipt_date": expected}], "total_lines": 1}


def test_a_shift_in_days_reads_the_line_first(model: RulesChatModel, policy: Policy) -> None:
    question = "Great Lakes can ship early. Please pull PO-24303 line 2 in by 3 days."
    schemas = _schemas(policy, "bea.buyer")
    messages = _start(policy, "bea.buyer", question, schemas)
    first = model.bind_tools(schemas).invoke(messages)
    assert isinstance(first, AIMessage)
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [("open_po_lines", {"po_id": "PO-24303"})]
    messages += [first, ToolMessage(content=json.dumps(_lines("PO-24303", 2, "2026-03-09")),
                                    tool_call_id=first.tool_calls[0]["id"] or "", name="open_po_lines")]
    second = model.bind_tools(schemas).invoke(messages)
    assert isinstance(second, AIMessage)
    [call] = second.tool_calls
    assert call["name"] == "request_po_date_change"
    assert call["args"] == {"po_id": "PO-24303", "line_no": 2, "new_promised_date": "2026-03-06",
                            "reason": "Great Lakes can ship early"}
    messages += [second, ToolMessage(content=json.dumps({"status": "pending", "request_id": "APR-3"}),
                                     tool_call_id=call["id"] or "", name=call["name"])]
    final = model.bind_tools(schemas).invoke(messages)
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert "waiting for approval" in str(final.content) and "open PO lines" not in str(final.content)


@pytest.mark.parametrize(("question", "days"), [
    ("push PO-24351 line 1 out by a week", 7), ("delay PO-24351 line 1 by two weeks", 14),
    ("bring PO-24351 line 1 forward by 5 days", -5), ("pull in PO-24351 line 1 two days", -2),
    ("move PO-24351 line 1 3 days later", 3),
])
def test_shift_words(model: RulesChatModel, policy: Policy, question: str, days: int) -> None:
    schemas = _schemas(policy, "bo.buyer")
    messages = _start(policy, "bo.buyer", question, schemas)
    first = model.bind_tools(schemas).invoke(messages)
    assert isinstance(first, AIMessage) and [c["name"] for c in first.tool_calls] == ["open_po_lines"]
    messages += [first, ToolMessage(content=json.dumps(_lines("PO-24351", 1, "2026-03-20")),
                                    tool_call_id=first.tool_calls[0]["id"] or "", name="open_po_lines")]
    second = model.bind_tools(schemas).invoke(messages)
    assert isinstance(second, AIMessage) and second.tool_calls, second.content
    expected = {7: "2026-03-27", 14: "2026-04-03", -5: "2026-03-15", -2: "2026-03-18", 3: "2026-03-23"}[days]
    assert second.tool_calls[0]["args"]["new_promised_date"] == expected


def test_a_line_the_read_does_not_show_is_reported_not_proposed(model: RulesChatModel, policy: Policy) -> None:
    first, text = _answer(model, policy, "bea.buyer", "pull PO-24303 line 2 in by 3 days",
                          {"open_po_lines": {"status": "ok", "rows": [], "total_lines": 0}})
    assert [c["name"] for c in first.tool_calls] == ["open_po_lines"]
    assert text.startswith("PO-24303 line 2 is not an open PO line in the data you can access")


@pytest.mark.parametrize("question", ["expedite PO-24303 line 1, we need 3 days of cover",
                                      "pull in PO-24303 line 1 in 3 days"])
def test_durations_are_not_shifts(model: RulesChatModel, policy: Policy, question: str) -> None:
    reply = _ask(model, policy, "bea.buyer", question)
    assert not reply.tool_calls and "To which date" in str(reply.content)


# ------------------------------------------------------------------------------------------ end to end
def test_context_request_and_question_through_the_graph(demo_home: Path, tmp_path: Path) -> None:
    plant_file = copy_plant(demo_home, tmp_path)
    from tools import make_engine
    engine = make_engine(f"sqlite:///{plant_file}")
    rules = RulesChatModel(lexicon=PlantLexicon.from_engine(engine))
    engine.dispose()
    h = build_action_copilot(plant_file, tmp_path, rules)

    first = h.copilot.ask("sam.supervisor", "How many quality events are open on PK1? The seal jaws keep failing. "
                                            "Please hold LOT-P100-0513 while quality investigates.")
    assert first.paused and [a["action"] for a in first.approvals] == ["place_quality_hold"], first.answer
    assert [(c["name"], c["decision"]) for c in first.tool_calls] == [("quality_events", "allow"),
                                                                     ("place_quality_hold", "needs_approval")]
    request = h.store.get(first.approvals[0]["id"])
    assert request.args["reason"] == "The seal jaws keep failing; while quality investigates"

    h.decide(request.id, "quinn.quality", "approve", "ok")
    final = h.copilot.resume(request.id)
    assert "Done: LOT-P100-0513 is on quality hold" in final.answer, final.answer
    assert "quality events" in final.answer and final.unverified == []


@pytest.mark.parametrize("question", [
    "put it on quality hold", "expedite PO-24003 to 2026-03-05", "pull in PO-24003 line 2",
    "move CP-2039 from P100 to P200", "reserve the spare parts for AS-014", "create a maintenance order",
    "open a supplier review about bad film", "hold LOT-P100-0404 and LOT-P100-0432",
    "switch PO-24003 line 2 to another supplier",
    "Great Lakes is late again. Switch PO-24303 line 1 to another supplier.",
])
def test_a_request_missing_an_argument_ends_with_its_question(model: RulesChatModel, policy: Policy,
                                                              question: str) -> None:
    reply = _ask(model, policy, "bea.buyer" if "PO-" in question else "sam.supervisor", question)
    assert not reply.tool_calls and str(reply.content).rstrip().endswith("?"), reply.content
