"""One governed turn: identity, the graph run under a trace, and a typed result.

The turn's audit events are buffered and written in one transaction when the
turn ends — also when it fails, so nothing is lost.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.graph.state import CompiledStateGraph

from agent.errors import InvalidQuestion, ThreadNotYours
from guardrails.audit import AuditKind, AuditLog
from guardrails.governed import GovernedTools, Trace

__all__ = ["MAX_QUESTION_CHARS", "Copilot", "TurnResult"]

MAX_QUESTION_CHARS = 4000


@dataclass(frozen=True)
class TurnResult:
    """What one turn produced (the shape of ``jidoka ask --json``)."""

    answer: str
    thread_id: str
    trace_id: str
    degraded: bool
    tool_calls: list[dict[str, Any]]
    """Each call: name, args, decision, rule_id."""
    approvals: list[dict[str, Any]] = field(default_factory=list)
    citations: list[str] = field(default_factory=list)
    unverified: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


class Copilot:
    """Runs governed turns on a compiled graph."""

    def __init__(self, graph: CompiledStateGraph[Any], governed: GovernedTools, audit: AuditLog) -> None:
        self.graph = graph
        self.governed = governed
        self.audit = audit

    def thread_owner(self, thread_id: str) -> str | None:
        """The user a thread belongs to, or ``None`` for a new thread."""
        snapshot = self.graph.get_state({"configurable": {"thread_id": thread_id}})
        owner = snapshot.values.get("user_id") if snapshot and snapshot.values else None
        return str(owner) if owner else None

    def ask(self, user_id: str, question: str, *, thread_id: str | None = None) -> TurnResult:
        """Answer ``question`` for ``user_id`` in ``thread_id`` (a new thread when omitted)."""
        thread_id = thread_id or f"th-{uuid.uuid4().hex[:16]}"
        trace = Trace(trace_id=uuid.uuid4().hex, thread_id=thread_id, user_id=user_id,
                      policy_hash=self.governed.policy_hash)
        with self.audit.buffer() as buffer:
            self.governed.identify(user_id, trace, buffer)
            text = question.strip() if isinstance(question, str) else ""
            if not text or len(text) > MAX_QUESTION_CHARS:
                reason = "the question is empty" if not text else f"the question is longer than {MAX_QUESTION_CHARS}"
                buffer.add(trace.event(AuditKind.ERROR, {"error": "invalid_question", "reason": reason}))
                raise InvalidQuestion(reason)
            owner = self.thread_owner(thread_id)
            if owner is not None and owner != user_id:
                buffer.add(trace.event(AuditKind.ERROR, {"error": "thread_not_yours", "thread_id": thread_id}))
                raise ThreadNotYours(thread_id)
            question_id = f"q-{trace.trace_id}"
            state = self.graph.invoke(
                {"messages": [HumanMessage(content=text, id=question_id)], "user_id": user_id,
                 "trace_id": trace.trace_id, "question_id": question_id, "question": text, "tool_calls": [],
                 "model_steps": 0, "invalid_rounds": 0, "degraded": False, "degraded_reason": "", "answer": "",
                 "citations": [], "unverified": [], "input_verdict": "allow"},
                config={"configurable": {"thread_id": thread_id, "audit": buffer}},
            )
        return TurnResult(
            answer=state.get("answer", ""), thread_id=thread_id, trace_id=trace.trace_id,
            degraded=bool(state.get("degraded")),
            tool_calls=[{"name": r["name"], "args": r["args"], "decision": r["decision"], "rule_id": r["rule_id"]}
                        for r in state.get("tool_calls", [])],
            citations=list(state.get("citations", [])), unverified=list(state.get("unverified", [])),
        )
