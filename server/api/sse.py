"""Server-Sent Events of a turn: its tool calls live, the rest once it is screened.

``tool_call`` events (name, gate decision, rule id) are sent while the turn
runs, each as soon as the gate decided the call. The turn then runs to its end
(tools, grounding and output screening) before the rest is sent: ``approval_requested``
per request, the screened answer as ``token`` deltas, ``citation`` per cited
record (with its lineage: system, table, record id, as-of; or document, revision, effective date), and
``done`` (with the answer's tables and charts, ``parts``). So nothing that fails output screening can reach the
client — the stream only ever replays the screened answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from agent.copilot import TurnResult

__all__ = ["format_event", "text_chunks", "tool_call_event", "turn_events"]

_WORDS = re.compile(r"\s*\S+\s*|\s+")


def format_event(name: str, data: dict[str, Any]) -> str:
    """One SSE frame: ``event: <name>\\ndata: <json>\\n\\n`` (JSON on one line)."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n"


def text_chunks(text: str, words: int = 4) -> Iterator[str]:
    """``text`` in deltas of a few words each (whitespace kept, so the deltas join back to ``text``)."""
    pieces = _WORDS.findall(text)
    for i in range(0, len(pieces), words):
        yield "".join(pieces[i:i + words])


def tool_call_event(call: dict[str, Any]) -> dict[str, Any]:
    """The ``tool_call`` event of one decided call (the same live and after the turn)."""
    return {"name": call["name"], "decision": call["decision"], "rule_id": call["rule_id"]}


def turn_events(result: TurnResult, approvers: Callable[[str], list[str]], *,
                calls_sent: int = 0) -> Iterator[tuple[str, dict[str, Any]]]:
    """The events of ``result`` in order; ``approvers(request_id)`` names who may decide a request.
    ``calls_sent``: the first so many ``tool_call`` events already went out live."""
    for call in result.tool_calls[calls_sent:]:
        yield "tool_call", tool_call_event(call)
    for approval in result.approvals:  # requested now (pending) or settled by this turn (executed, rejected…)
        yield "approval_requested", {"id": approval["id"], "action": approval["action"],
                                     "approvers": approvers(str(approval["id"])), "status": approval["status"]}
    for delta in text_chunks(result.answer):
        yield "token", {"text": delta}
    lineage = {entry["citation"]: entry for entry in result.lineage}
    for record_id in result.citations:
        shown: dict[str, Any] = {"id": record_id}
        if record_id in lineage:
            shown["lineage"] = lineage[record_id]
        yield "citation", shown
    yield "done", {"trace_id": result.trace_id, "thread_id": result.thread_id, "degraded": result.degraded,
                   "unavailable": result.unavailable, "paused": result.paused, "approvals": result.approvals,
                   "unverified": result.unverified, "parts": [p.model_dump(mode="json") for p in result.parts]}
