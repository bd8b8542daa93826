"""Requests whose arguments need a read first: "pull PO-24303 line 1 in by 3 days" moves the line's expected date,
which only the plant data knows.

The plan reads the PO's open lines (through the gate, in the user's scope); when the result is in, the request's
date is that line's expected receipt date plus the shift, and the action is proposed in a second model step.
Only a date field of the result is used — never its text — and the gate still decides the proposed call. A line
the user cannot see, or that is not open, is reported instead of proposed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from agent.rules.actions import ActionRequest
from agent.rules.focus import ToolOutput
from agent.rules.planner import Plan, PlannedCall, ToolPlan

__all__ = ["shown_outputs", "staged_calls"]

_READ = "open_po_lines"


def _requested(turn: Sequence[BaseMessage]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {str(c.get("id")): (c["name"], dict(c.get("args") or {})) for m in turn if isinstance(m, AIMessage)
            for c in m.tool_calls}


def _line_date(request: ActionRequest, turn: Sequence[BaseMessage]) -> tuple[date | None, str]:
    """The expected receipt date of the request's PO line from this turn's read, or why there is none."""
    po, line = request.args["po_id"], request.args["line_no"]
    calls = _requested(turn)
    for message in turn:
        if not isinstance(message, ToolMessage) or calls.get(message.tool_call_id, ("", {}))[0] != _READ:
            continue
        if calls[message.tool_call_id][1].get("po_id") != po:
            continue
        try:
            result = json.loads(str(message.content))
        except ValueError:
            break
        if not isinstance(result, Mapping) or result.get("status") != "ok":
            return None, f"I could not read {po} line {line}, so I have not requested a new date for it."
        for row in result.get("rows") or []:
            if isinstance(row, Mapping) and row.get("line_no") == line:
                try:
                    return date.fromisoformat(str(row.get("expected_receipt_date"))), ""
                except ValueError:
                    break
        return None, (f"{po} line {line} is not an open PO line in the data you can access, so I have not "
                      "requested a new date for it.")
    return None, f"I could not read {po} line {line}, so I have not requested a new date for it."


def staged_calls(plan: Plan, turn: Sequence[BaseMessage]) -> tuple[list[PlannedCall], list[str]]:
    """Once the reads of ``plan`` are in ``turn``: the staged requests' action calls, and what to say about
    those that cannot be made. Nothing when no request is staged or its action was already called."""
    if not isinstance(plan, ToolPlan) or not plan.staged:
        return [], []
    called = {name for name, _ in _requested(turn).values()}
    calls: list[PlannedCall] = []
    notes: list[str] = []
    for request in plan.staged:
        if request.action in called:
            continue
        expected, problem = _line_date(request, turn)
        if expected is None:
            notes.append(problem)
            continue
        new_date = (expected + timedelta(days=request.shift_days)).isoformat()
        calls.append(PlannedCall(request.action, {**request.args, "new_promised_date": new_date}))
    return calls, notes


def _ok(content: str) -> bool:
    try:
        result = json.loads(content)
    except ValueError:
        return False
    return isinstance(result, Mapping) and result.get("status") == "ok"


def shown_outputs(plan: Plan, outputs: Sequence[ToolOutput]) -> list[ToolOutput]:
    """``outputs`` without the read a staged request needed once its action ran (the action's answer gives the
    new date); kept when the message also asked something (the read may answer it) or the read failed."""
    if not isinstance(plan, ToolPlan) or not plan.staged or plan.analysis.intent is not None:
        return list(outputs)
    acted = {o.name for o in outputs}
    helpers = {r.args["po_id"] for r in plan.staged if r.action in acted}
    return [o for o in outputs if not (o.name == _READ and o.args.get("po_id") in helpers and _ok(o.content))]
