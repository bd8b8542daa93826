"""End-to-end accuracy of the rules model on the labelled question set (without the graph).

Every question runs through ``RulesChatModel.bind_tools(<tools the user may call>)``; the requested tools
are executed through the governed path (gate → scoped tool → audit) and fed back as ToolMessages until the
model answers (at most 4 steps). A question is correct when the tool calls match the expected names and
argument subsets AND the answer contains every fact the SQL oracle (tests/agent/oracle.py) derives.

The set has two parts: ``dev`` (the patterns were tuned on it) and ``heldout`` (written after the patterns
were frozen, in different wording, never tuned on). Both scores are reported in the assertion message.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from sqlalchemy import Engine

from agent.prompts import system_prompt
from agent.rules import PlantLexicon, RulesChatModel
from guardrails.audit.log import AuditLog
from guardrails.audit.trace import Trace
from guardrails.gate import Effect, Gate
from guardrails.governed import GovernedTools
from guardrails.locator import SqlSiteResolver
from guardrails.policy.loader import Policy
from tests.agent.oracle import ORACLES, OracleContext
from tests.factories import AS_OF, TODAY
from tools import default_catalog

QUESTIONS = Path(__file__).parent / "data" / "rules_questions.yaml"
MAX_STEPS = 4
TARGET = 0.90


@dataclass(frozen=True)
class Outcome:
    """One question's result."""

    qid: str
    part: str
    intent: str
    ok: bool
    why: str


def _load() -> dict[str, list[dict[str, Any]]]:
    data = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))
    return {"dev": data["dev"], "heldout": data["heldout"]}


def _run(model: RulesChatModel, governed: GovernedTools, audit: AuditLog, policy: Policy, user_id: str,
         question: str) -> tuple[list[dict[str, Any]], str]:
    """Ask ``question`` as ``user_id``; return the tool calls made and the final answer."""
    user = policy.user(user_id)
    specs = [s for s in governed.catalog if governed.gate.decide(user, s.name).effect is not Effect.DENY]
    schemas = [{"type": "function", "function": {"name": s.name, "description": s.description,
                                                 "parameters": s.json_schema()}} for s in specs]
    messages: list[BaseMessage] = [
        SystemMessage(system_prompt(user, today=TODAY, as_of=AS_OF, tools=[s.name for s in specs])),
        HumanMessage(question)]
    bound = model.bind_tools(schemas)
    calls: list[dict[str, Any]] = []
    for _ in range(MAX_STEPS):
        reply = bound.invoke(messages)
        assert isinstance(reply, AIMessage)
        messages.append(reply)
        if not reply.tool_calls:
            return calls, str(reply.content)
        trace = Trace(trace_id=f"rules-{user_id}-{len(calls)}-{datetime.now().timestamp()}", thread_id=None,
                      user_id=user_id, policy_hash=policy.hash)
        with audit.buffer() as buffer:
            for call in reply.tool_calls:
                calls.append({"name": call["name"], "args": call["args"]})
                outcome = governed.call(user, call["name"], call["args"], trace=trace, audit=buffer)
                messages.append(ToolMessage(content=json.dumps(outcome.for_model()), tool_call_id=call["id"],
                                            name=call["name"]))
    return calls, "(no answer within the step limit)"


def _calls_match(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> str | None:
    if sorted(e["name"] for e in expected) != sorted(a["name"] for a in actual):
        return f"tools {[a['name'] for a in actual]} != {[e['name'] for e in expected]}"
    remaining = list(actual)
    for exp in expected:
        match = next((a for a in remaining if a["name"] == exp["name"]
                      and all(a["args"].get(k) == v for k, v in (exp.get("args") or {}).items())), None)
        if match is None:
            got = [a["args"] for a in remaining if a["name"] == exp["name"]]
            return f"{exp['name']} args {got} lack {exp.get('args')}"
        remaining.remove(match)
    return None


def test_rules_model_accuracy(demo_plant: Engine, demo_manifest: dict[str, Any], policy: Policy,
                              audit: AuditLog) -> None:
    catalog = default_catalog()
    gate = Gate(policy, catalog, SqlSiteResolver(demo_plant))
    governed = GovernedTools(gate=gate, catalog=catalog, engine=demo_plant, today=TODAY)
    model = RulesChatModel(lexicon=PlantLexicon.from_engine(demo_plant))
    outcomes: list[Outcome] = []
    for part, questions in _load().items():
        for q in questions:
            calls, answer = _run(model, governed, audit, policy, q["user"], q["question"])
            problem = _calls_match(q.get("tools") or [], calls)
            if problem is None:
                spec = dict(q["oracle"])
                user = policy.user(q["user"])
                ctx = OracleContext(demo_plant, user.sites, TODAY, demo_manifest)
                facts = ORACLES[spec.pop("fn")](ctx, **spec)
                missing = [f"{f.kind}:{f.value}" for f in facts if not f.found_in(answer)]
                problem = f"answer lacks {missing}: {answer[:300]!r}" if missing else None
            outcomes.append(Outcome(q["id"], part, q["intent"], problem is None, problem or ""))
    report = _report(outcomes)
    overall = sum(o.ok for o in outcomes) / len(outcomes)
    print(report)
    assert overall >= TARGET, report


def _report(outcomes: list[Outcome]) -> str:
    lines = []
    for part in ("dev", "heldout", "all"):
        chosen = [o for o in outcomes if part == "all" or o.part == part]
        if not chosen:
            continue
        right = sum(o.ok for o in chosen)
        lines.append(f"{part}: {right}/{len(chosen)} = {right / len(chosen):.3f}")
    by_intent: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_intent[o.intent].append(o)
    lines.append("per intent: " + ", ".join(f"{k} {sum(o.ok for o in v)}/{len(v)}"
                                            for k, v in sorted(by_intent.items())))
    lines += [f"FAIL {o.part} {o.qid} [{o.intent}]: {o.why}" for o in outcomes if not o.ok]
    return "\n".join(lines)
