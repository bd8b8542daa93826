"""Checks of a model's tool calls before the gate sees them: well-formed, offered, arguments that parse."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from agent.approval_node import ActionSteps
from guardrails.governed import GovernedTools

__all__ = ["tool_call_problem"]


def tool_call_problem(message: AIMessage, offered: set[str], governed: GovernedTools,
                      actions: ActionSteps | None) -> str | None:
    """Why a model's tool calls cannot run as they are (malformed, not offered, bad arguments), or ``None``."""
    if message.invalid_tool_calls:
        bad = message.invalid_tool_calls[0]
        return f"malformed arguments for {bad.get('name')}: {bad.get('error') or 'not valid JSON'}"
    for call in message.tool_calls:
        if call["name"] not in offered:
            return f"{call['name']} is not one of the offered tools"
        try:
            if actions is not None and actions.is_action(call["name"]):
                actions.check_args(call["name"], call["args"])
            else:
                governed.catalog.get(call["name"]).parse_args(call["args"])
        except Exception as exc:  # an ArgumentError names the field
            return str(exc)
    return None
