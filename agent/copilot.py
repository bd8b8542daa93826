"""One governed turn: identity, the graph run under a trace, and a typed result.

The turn's audit events are buffered and written in one transaction when the
turn ends — also when it fails, so nothing is lost. A turn that proposes an
action needing approval pauses (the thread waits in the graph's approval step);
:meth:`Copilot.resume` continues it after the decision, in this process or any
other, and :meth:`Copilot.undo` compensates an executed request.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Durability

from agent.approval_node import pause_answer, pause_requests
from agent.checkpoint import prune_superseded
from agent.errors import AgentError, InvalidQuestion, ThreadAwaitingApproval, ThreadNotYours
from agent.parts import SeriesPart, TablePart, parse_part
from agent.parts.turn import PARTS_KEY
from agent.rules.localize import localize
from agent.state import TOOL_CALL_LISTENER
from guardrails.approvals.models import RequestStatus
from guardrails.approvals.service import ActionApprovals, UndoOutcome
from guardrails.audit.log import AuditBuffer, AuditKind, AuditLog
from guardrails.audit.trace import Trace
from guardrails.governed import GovernedTools
from guardrails.screening import without_controls
from guardrails.tracing import NO_SPAN, StepSpan, TurnTracing

__all__ = ["MAX_QUESTION_CHARS", "Copilot", "ThreadView", "ToolCallListener", "TurnResult"]

ToolCallListener = Callable[[dict[str, Any]], None]
"""Told each tool call of a running turn as soon as the gate decided it: ``{"name", "decision", "rule_id"}``."""

MAX_QUESTION_CHARS = 4000
# One checkpoint per run (at its end or at an approval pause) instead of one per step: a turn killed half-way
# restarts from the previous turn, which is what a user expects anyway (the audit is written per turn too), and
# executions stay exactly-once through the action ledger's idempotency keys, not through step checkpoints.
# Cuts checkpoint bytes per turn about tenfold (BENCHMARKS.md).
TURN_DURABILITY: Durability = "exit"


@dataclass(frozen=True)
class ThreadView:
    """What a turn needs to know about its thread before it runs, from one checkpoint read."""

    owner: str | None
    """The user the thread belongs to; ``None`` for a new thread."""
    waiting: list[dict[str, Any]]
    """The approval requests the thread is paused on (empty when it is not paused)."""
    exists: bool
    """The thread has a checkpoint (something a run may supersede)."""


@dataclass(frozen=True)
class TurnResult:
    """What one turn produced (the shape of ``jidoka ask --json``)."""

    answer: str
    thread_id: str
    trace_id: str
    degraded: bool
    """The turn was not answered as configured: the rules model stood in for the model, or a service a tool needs
    was down (see :attr:`unavailable`)."""
    tool_calls: list[dict[str, Any]]
    """Each call: name, args, decision, rule_id."""
    approvals: list[dict[str, Any]] = field(default_factory=list)
    """Approval requests of the turn: ``{"id", "action", "status"}``."""
    citations: list[str] = field(default_factory=list)
    lineage: list[dict[str, Any]] = field(default_factory=list)
    """Where each cited record or document comes from, in citation order: ``kind`` "record" (``system`` ERP or
    MES, ``table``, ``record_id``, ``key``, ``as_of`` with ``as_of_source`` "record" or "read", ``tool``) or
    "document" (``doc_id``, ``section``, ``revision``, ``effective``); see :mod:`tools.lineage`. Only citations a
    successful tool result of the turn returned have one."""
    unverified: list[str] = field(default_factory=list)
    paused: bool = False
    """True while the thread waits for approval decisions (the answer says which and who decides)."""
    unavailable: list[str] = field(default_factory=list)
    """Tools that could not run because a service they need was down (``search_documents`` while the knowledge
    base's Chroma is unreachable); the answer says so."""
    parts: list[TablePart | SeriesPart] = field(default_factory=list)
    """Tables and charts beside the text, from the turn's governed tool results (see :mod:`agent.parts`)."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["parts"] = [p.model_dump(mode="json") for p in self.parts]
        return data


class Copilot:
    """Runs governed turns on a compiled graph."""

    def __init__(self, graph: CompiledStateGraph[Any], governed: GovernedTools, audit: AuditLog,
                 approvals: ActionApprovals | None = None, *, prune_checkpoints: bool = True,
                 tracing: TurnTracing | None = None) -> None:
        """``prune_checkpoints``: after each run, delete the thread's superseded checkpoints (only the latest one is
        ever read: see :func:`agent.checkpoint.prune_superseded`). ``tracing``: a ``jidoka.turn`` span per turn
        (and per resumed part of one) under the turn's audit trace id, with the audit commit in it."""
        self.graph = graph
        self.governed = governed
        self.audit = audit
        self.approvals = approvals
        self.prune_checkpoints = prune_checkpoints
        self.tracing = tracing or TurnTracing.off()

    def _prune(self, thread_id: str) -> None:
        """Drop what the run just ended superseded (the thread's older checkpoints)."""
        if self.prune_checkpoints:
            prune_superseded(self.graph.checkpointer if isinstance(self.graph.checkpointer, BaseCheckpointSaver)
                             else None, thread_id)

    @staticmethod
    def _config(thread_id: str, buffer: AuditBuffer | None = None, parts: list[dict[str, Any]] | None = None,
                on_tool_call: ToolCallListener | None = None) -> RunnableConfig:
        configurable: dict[str, Any] = {"thread_id": thread_id}
        if buffer is not None:
            configurable["audit"] = buffer
        if parts is not None:
            configurable[PARTS_KEY] = parts  # the screening step fills it with the answer's parts
        if on_tool_call is not None:
            configurable[TOOL_CALL_LISTENER] = on_tool_call
        return {"configurable": configurable}

    def thread_owner(self, thread_id: str) -> str | None:
        """The user a thread belongs to, or ``None`` for a new thread."""
        return self.thread(thread_id).owner

    def waiting_for(self, thread_id: str) -> list[dict[str, Any]]:
        """The approval requests a paused thread waits for (empty when it is not paused)."""
        return self.thread(thread_id).waiting

    def thread(self, thread_id: str) -> ThreadView:
        """Owner and pause of ``thread_id`` from one read of its latest checkpoint."""
        snapshot = self.graph.get_state(self._config(thread_id))
        values = snapshot.values if snapshot and snapshot.values else {}
        owner = values.get("user_id")
        return ThreadView(owner=str(owner) if owner else None,
                           waiting=pause_requests(snapshot.interrupts) if snapshot else [],
                           exists=bool(snapshot and snapshot.config and
                                       snapshot.config.get("configurable", {}).get("checkpoint_id")))

    def ask(self, user_id: str, question: str, *, thread_id: str | None = None,
            on_tool_call: ToolCallListener | None = None) -> TurnResult:
        """Answer ``question`` for ``user_id`` in ``thread_id`` (a new thread when omitted).

        ``on_tool_call`` hears each tool call while the turn runs, once the gate decided it (the result's
        ``tool_calls`` list the same calls, in the same order, when the turn is done)."""
        thread_id = thread_id or f"th-{uuid.uuid4().hex[:16]}"
        trace = Trace(trace_id=self.tracing.new_trace_id(), thread_id=thread_id, user_id=user_id,
                      policy_hash=self.governed.policy_hash)
        with self._turn_span(trace, "ask") as span, self.audit.buffer(self.tracing) as buffer:
            self.governed.identify(user_id, trace, buffer)
            text = without_controls(question).strip() if isinstance(question, str) else ""
            if not text or len(text) > MAX_QUESTION_CHARS:
                reason = "the question is empty" if not text else f"the question is longer than {MAX_QUESTION_CHARS}"
                buffer.add(trace.event(AuditKind.ERROR, {"error": "invalid_question", "reason": reason}))
                raise InvalidQuestion(reason, trace_id=trace.trace_id)
            view = self.thread(thread_id)  # the one read of the thread's checkpoint before the run
            if view.owner is not None and view.owner != user_id:
                buffer.add(trace.event(AuditKind.ERROR, {"error": "thread_not_yours", "thread_id": thread_id}))
                raise ThreadNotYours(thread_id, trace_id=trace.trace_id)
            waiting = self._settle_decided(thread_id, view.waiting)
            if waiting:
                buffer.add(trace.event(AuditKind.ERROR, {"error": "thread_awaiting_approval",
                                                         "requests": [r["id"] for r in waiting]}))
                raise ThreadAwaitingApproval(thread_id, [r["id"] for r in waiting], trace_id=trace.trace_id)
            question_id = f"q-{trace.trace_id}"
            parts: list[dict[str, Any]] = []
            state = self.graph.invoke(
                {"messages": [HumanMessage(content=text, id=question_id)], "user_id": user_id,
                 "trace_id": trace.trace_id, "question_id": question_id, "question": text, "tool_calls": [],
                 "model_steps": 0, "invalid_rounds": 0, "degraded": False, "degraded_reason": "", "unavailable": [],
                 "answer": "", "citations": [], "lineage": [], "unverified": [], "input_verdict": "allow",
                 "action_plans": [], "approvals": [], "approval_rounds": 0},
                config=self._config(thread_id, buffer, parts, on_tool_call), durability=TURN_DURABILITY,
            )
            if view.exists:  # a new thread has only the checkpoint this run saved: nothing is superseded
                self._prune(thread_id)
            return _traced(span, self._result(state, trace, buffer, parts))

    def _turn_span(self, trace: Trace, kind: str, request_id: str | None = None) -> StepSpan:
        """The span of one turn (``ask``) or of the resumed part of one (``resume``): ids only."""
        if not self.tracing.enabled:
            return NO_SPAN
        return self.tracing.turn("jidoka.turn", trace.trace_id, {
            "jidoka.turn.kind": kind, "jidoka.thread_id": trace.thread_id, "jidoka.user_id": trace.user_id,
            "jidoka.policy_hash": trace.policy_hash, "jidoka.request_id": request_id})

    def _result(self, state: Mapping[str, Any], trace: Trace, buffer: AuditBuffer,
                parts: list[dict[str, Any]] | None = None) -> TurnResult:
        """The turn's result; a paused run gets the approval answer (and its ``answer`` audit event)."""
        thread_id = trace.thread_id or ""
        tool_calls = [{"name": r["name"], "args": r["args"], "decision": r["decision"], "rule_id": r["rule_id"]}
                      for r in state.get("tool_calls", [])]
        approvals = {a["id"]: dict(a) for a in state.get("approvals", [])}
        unavailable = list(state.get("unavailable", []))
        degraded = bool(state.get("degraded")) or bool(unavailable)
        waiting = pause_requests(state.get("__interrupt__", []))
        if waiting:
            approvals.update({r["id"]: {"id": r["id"], "action": r["action"], "status": r["status"]}
                              for r in waiting})
            text = localize(pause_answer(waiting), self._language(state.get("user_id")))
            buffer.add(trace.event(AuditKind.ANSWER, {"text": text, "awaiting_approval": [r["id"] for r in waiting],
                                                      "tool_calls": [{k: c[k] for k in ("name", "decision", "rule_id")}
                                                                     for c in tool_calls]}))
            return TurnResult(answer=text, thread_id=thread_id, trace_id=trace.trace_id, degraded=degraded,
                              tool_calls=tool_calls, approvals=list(approvals.values()), paused=True,
                              unavailable=unavailable)
        return TurnResult(
            answer=state.get("answer", ""), thread_id=thread_id, trace_id=trace.trace_id, degraded=degraded,
            tool_calls=tool_calls, approvals=list(approvals.values()), citations=list(state.get("citations", [])),
            lineage=list(state.get("lineage", [])),
            unverified=list(state.get("unverified", [])), unavailable=unavailable,
            parts=[parse_part(p) for p in parts or []],
        )

    def _language(self, user_id: Any) -> str:
        """The answer language the policy gives ``user_id`` (English for an unknown user)."""
        user = self.governed.gate.policy.users.get(str(user_id))
        return user.language if user is not None else "en"

    # -- approvals ---------------------------------------------------------------------------------

    def _require_approvals(self) -> ActionApprovals:
        if self.approvals is None:
            raise AgentError("this copilot runs without governed actions (no approval store is configured)")
        return self.approvals

    def _settle_decided(self, thread_id: str, waiting: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Finish a paused turn whose requests (``waiting``, as last read) are all decided or expired; what the
        thread still waits for."""
        if waiting and self.approvals is not None and all(
                self.approvals.get(r["id"]).status is not RequestStatus.PENDING for r in waiting):
            self.resume(waiting[0]["id"])  # nobody resumed it (e.g. it expired): the old turn ends first
            waiting = self.waiting_for(thread_id)
        return waiting

    def resume(self, request_id: str) -> TurnResult:
        """Continue the thread paused on ``request_id`` once it is decided (or expired); safe to repeat.

        The request is read again from the store: still pending → the thread stays paused and nothing runs;
        a thread not (or no longer) waiting for it → nothing runs. The run continues under the turn's trace
        and the requester's identity.
        """
        approvals = self._require_approvals()
        request = approvals.get(request_id)
        thread_id = request.thread_id
        snapshot = self.graph.get_state(self._config(thread_id))
        values: Mapping[str, Any] = snapshot.values if snapshot and snapshot.values else {}
        trace = Trace(trace_id=str(values.get("trace_id") or request.trace_id), thread_id=thread_id,
                      user_id=request.requester, policy_hash=self.governed.policy_hash)
        waiting = pause_requests(snapshot.interrupts) if snapshot else []
        with self._turn_span(trace, "resume", request_id) as span, self.audit.buffer(self.tracing) as buffer:
            if request_id not in {r["id"] for r in waiting}:
                status = request.status.value
                return TurnResult(answer=f"Nothing to resume: thread {thread_id} is not waiting for {request_id} "
                                         f"(it is {status}).", thread_id=thread_id, trace_id=trace.trace_id,
                                  degraded=bool(values.get("degraded")), tool_calls=[],
                                  approvals=[{"id": request.id, "action": request.action, "status": status}],
                                  paused=bool(waiting))
            if request.status is RequestStatus.PENDING:
                return _traced(span, self._result({**values, "__interrupt__": snapshot.interrupts}, trace, buffer))
            parts: list[dict[str, Any]] = []
            state = self.graph.invoke(Command(resume={"request_id": request_id, "status": request.status.value}),
                                      config=self._config(thread_id, buffer, parts), durability=TURN_DURABILITY)
            self._prune(thread_id)  # the pause checkpoint is superseded now that the run went on
            return _traced(span, self._result(state, trace, buffer, parts))

    def undo(self, request_id: str, user_id: str) -> UndoOutcome:
        """Compensate the executed request ``request_id`` as ``user_id`` (its requester or an eligible approver)."""
        approvals = self._require_approvals()
        request = approvals.get(request_id)
        trace = Trace(trace_id=uuid.uuid4().hex, thread_id=request.thread_id, user_id=user_id,
                      policy_hash=self.governed.policy_hash)
        with self.audit.buffer() as buffer:
            user = self.governed.identify(user_id, trace, buffer)
            return approvals.undo(request_id, user, trace=trace, audit=buffer)


def _traced(span: StepSpan, result: TurnResult) -> TurnResult:
    """``result``, its outcome set on the turn's span (counts and flags, no text)."""
    if span is NO_SPAN:
        return result
    span.set_many({"jidoka.degraded": result.degraded, "jidoka.paused": result.paused,
                   "jidoka.tool_calls": len(result.tool_calls), "jidoka.citations": len(result.citations),
                   "jidoka.unverified": len(result.unverified), "jidoka.approvals": len(result.approvals),
                   "jidoka.unavailable": len(result.unavailable)})
    return result
