"""The typed state of one conversation thread, as the LangGraph checkpointer stores it."""

from __future__ import annotations

from typing import Annotated, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

__all__ = ["ToolCallRecord", "TurnState"]


class ToolCallRecord(TypedDict):
    """One tool call of the turn and what the gate said about it."""

    id: str
    name: str
    args: dict[str, object]
    decision: str
    """``allow``, ``deny`` or ``needs_approval``."""
    rule_id: str
    reason: str


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
    degraded_reason: str
    answer: str
    citations: list[str]
    unverified: list[str]
    """Figures or ids in the model's draft that no tool result of the turn supports."""
