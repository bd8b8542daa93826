"""What the user is told when a tool could not reach a service it needs (the knowledge base while its Chroma is
down, say): the rules model relays it as the tool's part of the answer, and the graph puts it before another
model's answer. Either way the turn is degraded (:attr:`agent.copilot.TurnResult.unavailable` names the tools)."""

from __future__ import annotations

__all__ = ["UNAVAILABLE", "unavailable_line"]

UNAVAILABLE = "unavailable"
"""The ``status`` of the refusal a tool call gets when its service is down (``guardrails.governed.Refusal``)."""

_LINES = {
    "search_documents": "The knowledge base (document search) is unavailable right now, so I cannot answer from the "
                        "plant's documents; please try again later.",
}


def unavailable_line(tool: str) -> str:
    """One sentence saying that ``tool``'s service is down and to try again later (no internal details: the
    reason, with the store's address, is in the audit)."""
    return _LINES.get(tool, f"The {tool} lookup is unavailable right now; please try again later.")
