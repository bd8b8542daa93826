"""The copilot as a LangGraph ``StateGraph`` whose nodes make governance visible.

    screen_input → model ⇄ (tools [→ approval]) → screen_output → answer

``tools`` is the gate and the tool calls in one step: every call is decided (and the
decision audited) before any allowed call runs.

Every node writes audit events to the turn's buffer (passed in the run config,
never stored in state). Nothing here has effects before the gate allows them.
Action calls (see :mod:`agent.approval_node`): allowed ones run in ``tools``;
those that need approval go to ``approval``, which persists the requests and
pauses the thread with ``interrupt()`` until they are decided.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
    ToolCall,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent._tool_calls import tool_call_problem
from agent.approval_node import ActionSteps, waiting_plans
from agent.grounding import GroundingReport, check_grounding, collect_evidence
from agent.models import traced_reply
from agent.parts import parts_for
from agent.parts.turn import artifact, collect_parts, part_screen, part_sink, parts_summary
from agent.prompts import system_prompt
from agent.rules.localize import localize
from agent.state import TOOL_CALL_LISTENER, ActionPlan, ToolCallRecord, TurnState
from agent.unavailable import UNAVAILABLE, unavailable_line
from guardrails.audit.log import AuditKind
from guardrails.audit.trace import AuditSink, Trace
from guardrails.gate import Decision, Effect
from guardrails.governed import GovernedTools
from guardrails.identity import User
from guardrails.tracing import TurnTracing
from guardrails.turn_guard import TurnGuard
from tools.lineage import citation_lineage

__all__ = ["AgentDeps", "build_graph"]

_SAID_EARLIER = 4
"""Earlier user messages of the thread whose figures ground an answer (the user's own words, no plant claim)."""

MAX_AUDITED_TEXT = 4000
KEEP_TURNS = 8
"""Completed turns kept verbatim in the thread; older ones are dropped so checkpoints stay bounded."""


@dataclass
class AgentDeps:
    """What the graph needs, built at the edge and injected."""

    governed: GovernedTools
    guard: TurnGuard
    model: BaseChatModel
    fallback: BaseChatModel
    """The offline rules model: answers the turn when the configured model fails."""
    identity: Callable[[BaseChatModel, AIMessage | None], dict[str, Any]]
    """Provider, model name and version of a model (and of one of its replies) for the audit."""
    max_model_steps: int = 6
    actions: ActionSteps | None = None
    """Governed actions and approvals; ``None``: the copilot only reads."""
    tracing: TurnTracing = field(default_factory=TurnTracing.off)
    """A span per governance step of the turn (none by default)."""
    _schemas: dict[tuple[str, bool], list[dict[str, Any]]] = field(default_factory=dict)

    def tool_schemas(self, user: User, degraded: bool = False) -> list[dict[str, Any]]:
        """OpenAI-format schemas of the tools ``user`` may call and the actions they may propose through the
        model answering (``degraded``: the fallback); nothing else is offered."""
        cached = self._schemas.get((user.user_id, degraded))
        if cached is None:
            gate, catalog = self.governed.gate, self.governed.catalog
            cached = [
                {"type": "function", "function": {"name": s.name, "description": s.description,
                                                  "parameters": s.json_schema()}}
                for s in catalog if gate.decide(user, s.name).effect is not Effect.DENY
            ]
            if self.actions is not None:
                cached += self.actions.schemas(user, degraded)
            self._schemas[(user.user_id, degraded)] = cached
        return cached


def _audit(config: RunnableConfig) -> AuditSink:
    sink = config.get("configurable", {}).get("audit")
    if sink is None:
        raise RuntimeError("run the graph through Copilot.ask: the turn's audit buffer is missing from the config")
    return sink


def _trace(state: TurnState, config: RunnableConfig, policy_hash: str) -> Trace:
    return Trace(trace_id=state["trace_id"], thread_id=config.get("configurable", {}).get("thread_id"),
                 user_id=state["user_id"], policy_hash=policy_hash)


def _thread_id(config: RunnableConfig) -> str:
    thread_id = config.get("configurable", {}).get("thread_id")
    if not thread_id:
        raise RuntimeError("the graph runs on a checkpointed thread: thread_id is missing from the config")
    return str(thread_id)


def _turn_messages(state: TurnState) -> list[BaseMessage]:
    """Messages of the current turn, from its question on."""
    messages = state.get("messages", [])
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].id == state.get("question_id"):
            return list(messages[index:])
    return []


def _parsed(content: Any) -> Any:
    """A tool message's JSON, parsed once for grounding and lineage (text that is no JSON stays text)."""
    if not isinstance(content, str):
        return content
    try:
        return json.loads(content)
    except ValueError:
        return content


def _pending_calls(state: TurnState) -> list[ToolCall]:
    """The tool calls of the last message when it is the model's reply (the only message that has any)."""
    last = state["messages"][-1]
    return last.tool_calls if isinstance(last, AIMessage) else []


def build_graph(deps: AgentDeps, checkpointer: BaseCheckpointSaver[Any] | None) -> CompiledStateGraph[Any]:
    """Compile the governed graph with ``checkpointer`` (threads continue across processes)."""
    policy = deps.governed.gate.policy

    def screen_input(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        user = policy.user(state["user_id"])
        with deps.tracing.step("jidoka.screen_input") as span:
            result = deps.guard.screen_prompt(user, state["question"], trace=_trace(state, config, policy.hash),
                                              audit=_audit(config))
            span.set_many({"jidoka.verdict": result.verdict, "jidoka.findings": len(result.findings)})
        update: dict[str, Any] = {"input_verdict": result.verdict}
        if result.verdict == "neutralize":
            update["messages"] = [HumanMessage(content=result.text, id=state["question_id"])]
        if result.verdict == "refuse":
            families = ", ".join(sorted(result.families))
            update["answer"] = ("I can't act on that request: it reads as an attempt to change my instructions or "
                                f"permissions ({families}). Ask about the plant data directly and I'll help.")
        return update

    def model(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        user = policy.user(state["user_id"])
        audit, trace = _audit(config), _trace(state, config, policy.hash)
        degraded = state.get("degraded", False)
        schemas = deps.tool_schemas(user, degraded)
        offered = [s["function"]["name"] for s in schemas]
        as_of = deps.governed.as_of()
        messages = [SystemMessage(system_prompt(user, today=deps.governed.today, as_of=as_of, tools=offered)),
                    *state["messages"]]
        chosen = deps.fallback if degraded else deps.model
        audit.add(trace.event(AuditKind.MODEL_REQUEST, {
            "model": deps.identity(chosen, None), "messages": len(messages), "tools": offered,
            "last": str(messages[-1].content)[:MAX_AUDITED_TEXT]}))
        update: dict[str, Any] = {"model_steps": state.get("model_steps", 0) + 1}
        try:
            reply = traced_reply(deps.tracing, deps.identity, chosen, schemas, messages, degraded=degraded)
        except Exception as exc:  # an UnexpectedModelReply too: the rules model answers instead
            if degraded:
                raise
            # The audit keeps the error's text; the user is told its kind only (a server's error text can quote the
            # request, the model's tool-call arguments among it).
            reason = f"{type(exc).__name__}: {str(exc)[:300]}"
            status = getattr(exc, "status_code", None)  # an HTTP error's status is safe to show, its body is not
            shown = type(exc).__name__ + (f", HTTP {status}" if isinstance(status, int) else "")
            return {**update, **_degrade(state, trace, audit, reason, deps, user, schemas, messages, shown=shown)}
        problem = tool_call_problem(reply, set(offered), deps.governed, deps.actions)
        audit.add(trace.event(AuditKind.MODEL_RESPONSE, {
            "model": deps.identity(chosen, reply), "content": str(reply.content)[:MAX_AUDITED_TEXT],
            "tool_calls": [{"id": c["id"], "name": c["name"], "args": c["args"]} for c in reply.tool_calls],
            "invalid": problem}))
        if problem is None:
            return {**update, "messages": [reply]}
        rounds = state.get("invalid_rounds", 0) + 1
        if rounds >= 2 or degraded:
            return {**update, "invalid_rounds": rounds,
                    **_degrade(state, trace, audit, f"invalid tool calls twice ({problem})", deps, user, schemas,
                               messages, shown="invalid tool calls twice")}
        # First invalid reply: tell the model what was wrong and let it try once more.
        note = HumanMessage(content=f"Your last tool call was invalid: {problem}. Use only the offered tools "
                                    "with arguments that match their schemas.")
        return {**update, "invalid_rounds": rounds, "messages": [note]}

    def route_model(state: TurnState) -> Literal["tools", "model", "screen_output"]:
        if isinstance(state["messages"][-1], HumanMessage):
            return "model"  # a correction note after an invalid tool call
        if _pending_calls(state):
            if state.get("model_steps", 0) >= deps.max_model_steps:
                return "screen_output"
            return "tools"
        return "screen_output"

    def tools(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        # The gate and the calls it allows in one step (one super-step less per tool round than a separate gate
        # node): every call of the reply is decided and audited first, in order, then the allowed ones run — the
        # same audit events in the same order as a gate step followed by a tools step.
        user = policy.user(state["user_id"])
        audit, trace = _audit(config), _trace(state, config, policy.hash)
        calls = _pending_calls(state)  # route_model sent the turn here because there are some
        records: list[ToolCallRecord] = list(state.get("tool_calls", []))
        plans: list[ActionPlan] = []
        decisions: dict[int, Decision] = {}
        for index, call in enumerate(calls):
            if deps.actions is not None and deps.actions.is_action(call["name"]):
                record, plan = deps.actions.gate(user, call, degraded=state.get("degraded", False),
                                                 thread_id=_thread_id(config), trace=trace, audit=audit)
                records.append(record)
                plans += [plan] if plan is not None else []
                continue
            decision = decisions[index] = deps.governed.decide(user, call["name"], call["args"], trace=trace,
                                                               audit=audit)
            records.append(ToolCallRecord(id=call["id"] or "", name=call["name"], args=dict(call["args"]),
                                          decision=decision.effect.value, rule_id=decision.rule_id,
                                          reason=decision.reason))
        listener = config.get("configurable", {}).get(TOOL_CALL_LISTENER)
        if callable(listener):  # live events: the calls just decided, before any of them runs
            for record in records[len(state.get("tool_calls", [])):]:
                listener({"name": record["name"], "decision": record["decision"], "rule_id": record["rule_id"]})
        replies: list[BaseMessage] = []
        down: list[str] = []
        by_id = {r["id"]: r for r in records}  # the latest record of an id wins, as it did in a separate step
        plan_of = {p["tool_call_id"]: p for p in plans}
        for index, call in enumerate(calls):
            if deps.actions is not None and deps.actions.is_action(call["name"]):
                reply = deps.actions.run(user, call, by_id.get(call["id"] or ""), plan_of.get(call["id"] or ""),
                                         trace=trace, audit=audit)
                replies += [reply] if reply is not None else []
                continue
            outcome = deps.governed.execute(decisions[index], call["args"], trace=trace, audit=audit)
            if outcome.refusal is not None and outcome.refusal.status == UNAVAILABLE:
                down.append(call["name"])  # its service is down (audited as an error): the turn is degraded
            # The call's tables and charts, from its typed result in its scope, ride along unseen by the model.
            built = parts_for(call["name"], outcome.result, decisions[index].scope)
            replies.append(ToolMessage(content=json.dumps(outcome.for_model(), default=str),
                                       tool_call_id=call["id"] or "", name=call["name"], artifact=artifact(built)))
        update: dict[str, Any] = {"tool_calls": records, "action_plans": plans, "messages": replies}
        if down:
            update["unavailable"] = list(dict.fromkeys([*state.get("unavailable", []), *down]))
        return update

    def after_tools(state: TurnState) -> Literal["approval", "model"]:
        return "approval" if waiting_plans(state) else "model"

    def screen_output(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        user = policy.user(state["user_id"])
        audit, trace = _audit(config), _trace(state, config, policy.hash)
        turn = _turn_messages(state)
        last = state["messages"][-1]
        if isinstance(last, AIMessage) and last.tool_calls:
            draft = ("I could not finish this within the allowed number of steps; please narrow the question.")
        else:
            draft = str(last.content) if isinstance(last, AIMessage) else ""
        if not draft.strip():
            draft = "I have no answer to that from the plant data."
        results = [(str(m.name or ""), _parsed(m.content)) for m in turn if isinstance(m, ToolMessage)]
        # What the model asked the tools about is evidence too ("no late lines from S-001" after asking for S-001).
        asked = [json.dumps(c["args"]) for m in turn if isinstance(m, AIMessage) for c in m.tool_calls]
        # So is what the user typed earlier in the thread ('and Monterrey?' after 'only those over 500': the
        # answer repeats the user's 500, which no result of this turn states).
        said = [str(m.content) for m in state["messages"][-_SAID_EARLIER * 4:] if isinstance(m, HumanMessage)]
        degraded = state.get("degraded", False)
        rules_answered = degraded or deps.model is deps.fallback
        with deps.tracing.step("jidoka.grounding", {"jidoka.grounding.mode": "mark" if rules_answered else "remove",
                                                    "jidoka.tool_results": len(results)}) as span:
            evidence = collect_evidence([payload for _, payload in results],
                                        extra_text=[state["question"], *said[-_SAID_EARLIER:], *asked])
            grounded = check_grounding(draft, evidence, mode="mark" if rules_answered else "remove")
            if rules_answered and not results:
                # A rules-model reply without tool results is a clarification or a refusal built from master
                # data (candidate item ids), not a claim about plant state: nothing to ground.
                grounded = GroundingReport(draft, (), ())
            span.set_many({"jidoka.citations": len(grounded.citations), "jidoka.unverified": len(grounded.unverified)})
        # Lineage only from this turn's results (what the gate let through, masked columns left out).
        lineage = [entry.model_dump(mode="json") for entry in citation_lineage(grounded.citations, results)]
        with deps.tracing.step("jidoka.screen_output") as span:
            screened = deps.guard.screen_answer(user, grounded.text, asked=state["question"], trace=trace,
                                                audit=audit)
            span.set_many({"jidoka.findings": len(screened.findings), "jidoka.redacted": screened.redacted})
        text = screened.text
        if degraded:
            text = ("Note: the AI model was unavailable, so the offline rules model answered this "
                    f"({state.get('degraded_reason', 'fallback')}).\n\n{text}")
        down = state.get("unavailable", [])
        if down and not rules_answered:  # the rules model relays it itself; another model's wording is not relied on
            notice = "\n".join(unavailable_line(tool) for tool in down)
            text = f"{localize(notice, user.language)}\n\n{text}"
        sink = part_sink(config)
        if sink is not None:  # the answer's parts pass the screening its text passed
            parts, found = collect_parts(turn, part_screen(policy.screening, masked_fields=deps.guard.masks(user),
                                                           asked_text=state["question"]))
            if found:
                audit.add(trace.event(AuditKind.SCREENING, {"stage": "parts", "redacted": True,
                                                            "rule_ids": sorted({f.rule_id for f in found})}))
            sink[:] = [p.model_dump(mode="json") for p in parts]
        update: dict[str, Any] = {"answer": text, "citations": list(grounded.citations), "lineage": lineage,
                                  "unverified": list(grounded.unverified)}
        if isinstance(last, AIMessage) and not last.tool_calls:
            update["messages"] = [AIMessage(content=text, id=last.id)]
        else:
            update["messages"] = [AIMessage(content=text)]
        return update

    def answer(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
        audit, trace = _audit(config), _trace(state, config, policy.hash)
        messages = state.get("messages", [])
        update: dict[str, Any] = {}
        if state.get("input_verdict") == "refuse":
            update["messages"] = [AIMessage(content=state["answer"])]
        audit.add(trace.event(AuditKind.ANSWER, {
            "text": state.get("answer", "")[:MAX_AUDITED_TEXT], "citations": state.get("citations", []),
            "lineage": state.get("lineage", []),
            "unverified": state.get("unverified", []), "degraded": state.get("degraded", False),
            "unavailable": state.get("unavailable", []),
            "tool_calls": [{"name": r["name"], "decision": r["decision"], "rule_id": r["rule_id"]}
                           for r in state.get("tool_calls", [])],
            **parts_summary(part_sink(config))}))
        # Keep the thread bounded: a finished turn keeps only its question and answer, and only the last
        # KEEP_TURNS turns are kept at all (checkpoints then stay the same size however long the thread runs).
        questions = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage) and (m.id or "").startswith("q-")]
        cutoff = questions[-KEEP_TURNS] if len(questions) >= KEEP_TURNS else 0
        removals = [RemoveMessage(id=m.id) for i, m in enumerate(messages) if m.id and (
            i < cutoff or isinstance(m, ToolMessage) or (isinstance(m, AIMessage) and m.tool_calls)
            or (isinstance(m, HumanMessage) and not m.id.startswith("q-")))]
        if removals:
            update["messages"] = [*removals, *update.get("messages", [])]
        return update

    graph = StateGraph(TurnState)
    graph.add_node("screen_input", screen_input)
    graph.add_node("model", model)
    graph.add_node("tools", tools)
    graph.add_node("screen_output", screen_output)
    graph.add_node("answer", answer)
    graph.add_edge(START, "screen_input")
    graph.add_conditional_edges("screen_input", lambda s: "answer" if s.get("input_verdict") == "refuse" else "model",
                                ["answer", "model"])
    graph.add_conditional_edges("model", route_model, ["tools", "model", "screen_output"])
    actions = deps.actions
    if actions is None:
        graph.add_edge("tools", "model")  # a read-only copilot proposes no actions, so nothing waits for approval
    else:
        def approval(state: TurnState, config: RunnableConfig) -> dict[str, Any]:
            return actions.approval(state, thread_id=_thread_id(config), trace=_trace(state, config, policy.hash),
                                    audit=_audit(config))

        graph.add_node("approval", approval)
        graph.add_conditional_edges("tools", after_tools, ["approval", "model"])
        graph.add_conditional_edges("approval", after_tools, ["approval", "model"])
    graph.add_edge("screen_output", "answer")
    graph.add_edge("answer", END)
    return graph.compile(checkpointer=checkpointer)


def _degrade(state: TurnState, trace: Trace, audit: AuditSink, reason: str, deps: AgentDeps, user: User,
             schemas: list[dict[str, Any]], messages: Sequence[BaseMessage], *, shown: str) -> dict[str, Any]:
    """Answer the rest of the turn with the rules model; record why (``reason`` in the audit, ``shown`` to the
    user)."""
    audit.add(trace.event(AuditKind.DEGRADED, {"reason": reason, "fallback": deps.identity(deps.fallback, None)}))
    # The rules model starts the turn afresh from the question: the failed model's partial work is dropped.
    turn_start = next((i for i, m in enumerate(messages) if m.id == state.get("question_id")), len(messages) - 1)
    # Its failure ends the turn with the error.
    reply = traced_reply(deps.tracing, deps.identity, deps.fallback, schemas, messages[: turn_start + 1],
                         degraded=True)
    audit.add(trace.event(AuditKind.MODEL_RESPONSE, {
        "model": deps.identity(deps.fallback, reply), "content": str(reply.content)[:MAX_AUDITED_TEXT],
        "tool_calls": [{"id": c["id"], "name": c["name"], "args": c["args"]} for c in reply.tool_calls],
        "invalid": None}))
    dropped = [RemoveMessage(id=m.id) for m in messages[turn_start + 1:]
               if m.id and not isinstance(m, SystemMessage)]
    return {"degraded": True, "degraded_reason": shown, "messages": [*dropped, reply]}

