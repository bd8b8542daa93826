"""Every kind of answer the rules model writes comes out in Spanish for a user whose policy record says
``language: es``: each read tool's writer, the replies without tools (help, cannot, not found, no access,
clarifying questions), requests and their approval texts, and follow-up notes. What the tools returned (record
ids, names, descriptions), quotes, citations and code stay as they are; everything else must be Spanish, checked
by looking for common English words outside them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from sqlalchemy import Engine

from agent.approval_node import pause_answer
from agent.prompts import system_prompt
from agent.rules import RulesChatModel
from agent.rules.localize import localize
from guardrails.audit.chain import AuditEvent
from guardrails.audit.trace import Trace
from guardrails.gate import Effect, Gate
from guardrails.governed import GovernedTools
from guardrails.identity import User
from guardrails.locator import SqlSiteResolver
from guardrails.policy.loader import Policy
from tests.factories import AS_OF, TODAY
from tests.policy_helpers import shipped_policy
from tools import default_catalog
from tools.actions.catalog import action_catalog

ENGLISH = frozenset(("the", "of", "and", "is", "are", "was", "were", "with", "for", "from", "to", "on", "at", "in",
                      "by", "not", "have", "had", "which", "what", "this", "that", "these", "those", "it", "its",
                      "be", "been", "can", "could", "would", "should", "will", "your", "you", "we", "our", "they",
                      "their", "there", "only", "than", "or", "but", "into", "none", "any", "all", "each", "more",
                      "yet", "still", "also", "them", "i", "open", "late", "lines", "available", "orders", "order",
                      "lot", "lots", "stock", "due", "items", "found", "no_such", "ask", "please", "give"))
"""Common English words no Spanish sentence of these answers contains."""

_PROTECTED = re.compile(r"\"[^\"\n]*\"|\[[^\[\]\n]*\]|`[^`\n]*`|\b[A-Z]{1,4}\d*-[\w/.-]+|\S+@\S+")

THREADS: list[tuple[str, tuple[str, ...]]] = [
    # Every read tool's writer, as a user who may call it (with the Spanish language), plus follow-ups.
    ("eve.exec", ("how much CP-2039 do we have at P200?", "where is lot LOT-P200-0316?")),
    ("eve.exec", ("will we run out of CP-2043 at P200?", "items below reorder point at P200")),
    ("eve.exec", ("late POs at P200", "only the ones over 1,000", "show me the rest")),
    ("eve.exec", ("POs due this week at P200", "open PO lines for S-015", "is PO-24300 line 1 still open?")),
    ("eve.exec", ("supplier scorecard", "who else can supply RM-3022?")),
    ("eve.exec", ("work orders on P200-MC1", "only the late ones", "status of WO-5341")),
    ("eve.exec", ("which work orders are at risk at P200?", "line performance on P200-AS1 this month")),
    ("eve.exec", ("downtime on P200-AS1 last week", "parameter drift on P200-MC1")),
    ("eve.exec", ("scrap on P200-MC2 last 14 days", "why did scrap go up on P200-MC2?")),
    ("eve.exec", ("open quality events at P200", "only the major ones", "trace lot LOT-P200-0305")),
    ("eve.exec", ("which assets are at risk at P200?", "spare parts for AS-050")),
    ("eve.exec", ("executive summary", "summary for P200", "ERP MES reconciliation")),
    ("eve.exec", ("sales orders due this week", "only the late ones", "is SO-30166 late?")),
    ("eve.exec", ("status of LOT-P100-0529", "forecast vs orders for FG-1025")),
    ("eve.exec", ("stock transfers between the plants in the last 30 days", "open maintenance orders at P200")),
    ("eve.exec", ("which spare parts are we short of at P200?", "what's running now on P200-MC1")),
    ("eve.exec", ("what do we still have outstanding with S-001?", "and with S-015?")),
    ("bea.buyer", ("buyer exception worklist for P200",)),
    ("sol.supervisor", ("what is the procedure to release a held lot?",)),
    # Replies without tools.
    ("eve.exec", ("hello, what can you do?",)),
    ("eve.exec", ("what are our profit margins?",)),
    ("eve.exec", ("how much CP-9999 do we have?",)),
    ("eve.exec", ("trace the lot",)),
    ("eve.exec", ("forecast vs orders",)),
    ("paz.planner", ("give me the executive summary",)),
    ("paz.planner", ("how much CP-2039 is there at Aurora?",)),
    ("paz.planner", ("delete PO-24300",)),
    # Requests.
    ("qiu.quality", ("hold LOT-P200-0302, surface finish out of spec",)),
    ("paz.planner", ("move CP-2043 to Aurora",)),
    ("sol.supervisor", ("create a maintenance order for AS-050, oil leak on the press",)),
    ("sol.supervisor", ("put it on hold",)),
]


def _english_left(answer: str, results: Sequence[str]) -> list[str]:
    """The English words of ``answer`` outside record values, quotes, citations, code and ids."""
    values: set[str] = set()

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                collect(v)
        elif isinstance(value, list):
            for v in value:
                collect(v)
        elif isinstance(value, str) and len(value) > 2 and re.search(r"[A-Za-z]", value):
            # As written, and as the fixed-wording pass may have touched it inside a sentence ('… on …').
            values.update((value, localize(value, "es")))

    for result in results:
        collect(json.loads(result))
    text = answer
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, " ")
    text = _PROTECTED.sub(" ", text)
    # Free text of the records (notes, descriptions) may be shortened by the writers: its words are data.
    free = {w.lower() for v in values if len(v.split()) >= 4 for w in re.findall(r"[A-Za-z_']+", v)}
    # A hyphenated word is one word ('End-of-Line', a machine's name), never an English 'of'.
    return [w for w in re.findall(r"[A-Za-z_'][\w'-]*", text) if w.lower() in ENGLISH - free]


def _tools(policy: Policy, user: User) -> list[dict[str, Any]]:
    """The user's read tools and the actions their roles may propose (the gate decides on each call)."""
    gate = Gate(policy, default_catalog())
    specs = [s for s in (*default_catalog(), *action_catalog())
             if s.name not in {t.name for t in default_catalog()} or gate.decide(user, s.name).effect
             is not Effect.DENY]
    return [{"type": "function", "function": {"name": s.name, "description": s.description,
                                              "parameters": s.json_schema()}} for s in specs]


class _Events:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def add(self, event: AuditEvent) -> None:
        self.events.append(event)


def _thread(model: RulesChatModel, policy: Policy, engine: Engine, user: User,
            questions: Sequence[str]) -> Iterator[tuple[str, str, list[str]]]:
    """Ask ``questions`` in one thread; yield (question, answer, tool results) per turn."""
    catalog = default_catalog()
    governed = GovernedTools(gate=Gate(policy, catalog, SqlSiteResolver(engine)), catalog=catalog, engine=engine,
                             today=TODAY)
    tools = _tools(policy, user)
    bound = model.bind_tools(tools)
    history: list[BaseMessage] = [SystemMessage(system_prompt(user, today=TODAY, as_of=AS_OF,
                                                              tools=[t["function"]["name"] for t in tools]))]
    for question in questions:
        turn: list[BaseMessage] = [HumanMessage(question)]
        reply = bound.invoke(history + turn)
        results: list[str] = []
        while isinstance(reply, AIMessage) and reply.tool_calls:
            turn.append(reply)
            for call in reply.tool_calls:
                trace = Trace(trace_id="es-coverage", thread_id=None, user_id=user.user_id, policy_hash=policy.hash)
                outcome = governed.call(user, call["name"], call["args"], trace=trace, audit=_Events())
                results.append(json.dumps(outcome.for_model()))
                turn.append(ToolMessage(content=results[-1], tool_call_id=call["id"], name=call["name"]))
            reply = bound.invoke(history + turn)
        assert isinstance(reply, AIMessage)
        history += [HumanMessage(question), AIMessage(str(reply.content))]
        yield question, str(reply.content), results


def test_every_answer_kind_is_spanish_for_a_spanish_user(model: RulesChatModel, demo_plant: Engine) -> None:
    policy = shipped_policy()
    left: list[str] = []
    for user_id, questions in THREADS:
        user = replace(policy.user(user_id), language="es")
        for question, answer, results in _thread(model, policy, demo_plant, user, questions):
            english = _english_left(answer, results)
            if english:
                left.append(f"{user_id} {question!r}: {sorted(set(english))}\n    {answer}")
    assert not left, "\n".join(left)


def test_the_approval_pause_is_spanish() -> None:
    waiting = [{"id": "AR-1", "status": "pending", "summary": "hold lot LOT-P200-0302 (120 of CP-2039 on hand)",
                "expires_at": "2026-03-03T06:00:00", "approvers": [{"group": "quality", "eligible": ["qiu.quality"]}]},
               {"id": "AR-2", "status": "pending", "summary": "move 500 of CP-2043 from P200 to P100",
                "expires_at": "2026-03-03T06:00:00", "approvers": [
                    {"group": "supervisor", "eligible": ["sol.supervisor"]},
                    {"group": "finance", "eligible": ["fay.finance"],
                     "condition": "only if the value is over $10,000"}]}]
    text = localize(pause_answer(waiting), "es")
    assert not _english_left(text, []), text
    assert "solo si el valor supera $10,000" in text
