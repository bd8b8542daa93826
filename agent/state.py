"""The typed state of one conversation thread, as the LangGraph checkpointer stores it."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

__all__ = ["TOOL_CALL_LISTENER", "ActionPlan", "ToolCallRecord", "TurnState"]

TOOL_CALL_LISTENER = "on_tool_call"
"""Run-config key of the callable told each tool call as the gate decides it (live events; never in state)."""


class ToolCallRecord(TypedDict):
    """One tool call of the turn and what the gate said about it."""

    id: str
    name: str
    args: dict[str, object]
    decision: str
    """``allow``, ``deny`` or ``needs_approval``."""
    rule_id: str
    reason: str
    status: NotRequired[str]
    """For a refused action call: what the model was told (denied, not_found, invalid_arguments,
    precondition_failed)."""


class ActionPlan(TypedDict):
    """An action call the gate allowed or routed to approvers, carried from the gate to the step that runs it."""

    tool_call_id: str
    action: str
    args: dict[str, object]
    """The parsed arguments (canonical JSON values): exactly what is approved and executed."""
    effect: str
    """``allow`` (runs in the tools step) or ``needs_approval`` (the approval step)."""
    request_id: str
    """Deterministic: ``AUT-…`` from (trace, tool call) or ``APR-…`` from (thread, trace, tool call)."""
    rule_id: str
    reason: str
    subject: dict[str, object]
    """What routing saw (site, value, facts)."""
    snapshot: dict[str, object]
    """Precondition snapshot at proposal time; execution refuses if the records changed since."""
    groups: list[dict[str, object]]
    """Approver groups (``needs_approval`` only)."""
    expires_at: str | None


class TurnState(TypedDict, total=False):
    """Thread state. ``messages`` accumulates across turns; the other keys are reset by every new turn."""

    messages: Annotated[list[AnyMessage], add_messages]
    user_id: str
    trace_id: str
    question_id: str
    """Id of this turn's HumanMessage: tool results after it are this turn's evidence."""
    question: str
    input_verdict: str
    """Input screening verdict: allow, neutralize or refuse."""
    tool_calls: list[ToolCallRecord]
    model_steps: int
    invalid_rounds: int
    """Model replies with invalid tool calls so far this turn; the second one degrades to the rules model."""
    degraded: bool
    """The configured model failed and the rules model answers the rest of the turn."""
    degraded_reason: str
    unavailable: list[str]
    """Tools of the turn that could not run because a service they need is down (the turn is degraded too)."""
    answer: str
    citations: list[str]
    lineage: list[dict[str, Any]]
    """Per citation a tool result of the turn returned: its system, table, record and as-of, or its document
    (:func:`tools.lineage.citation_lineage`, as JSON)."""
    unverified: list[str]
    """Figures or ids in the model's draft that no tool result of the turn supports."""
    action_plans: list[ActionPlan]
    """Action calls of the latest model message that run (allowed) or wait for approval."""
    approvals: list[dict[str, str]]
    """Approval requests of this turn: ``{"id", "action", "status"}``."""
    approval_rounds: int
    """Times the approval step paused this turn."""
