"""Shared pieces of the approval-flow tests: the actions they propose, a relaying model step, a harness and
the audit events of one request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from agent.scripted import ScriptedChatModel
from guardrails.audit.log import AuditKind
from tests.agent.graph_helpers import ActionHarness, build_action_copilot, tool_results

__all__ = ["HOLD", "REVIEW", "action_harness", "relay", "request_events"]

HOLD = "place_quality_hold"
REVIEW = "open_supplier_review"


def relay(messages: list[BaseMessage]) -> AIMessage:
    """A scripted answer that relays each tool result's status and reason."""
    parts = [f"{r['status']}" + (f" ({r['reason']})" if r.get("reason") else "") for r in tool_results(messages)]
    return AIMessage(content="Outcome: " + "; ".join(parts))


def action_harness(plant_file: Path, tmp_path: Path, *steps: Any,
                   **kw: Any) -> tuple[ActionHarness, ScriptedChatModel]:
    """An action copilot on ``plant_file`` whose scripted model takes ``steps``, and that model."""
    model = ScriptedChatModel(script=list(steps))
    return build_action_copilot(plant_file, tmp_path, model, **kw), model


def request_events(harness: ActionHarness, kind: AuditKind, request_id: str) -> list[Any]:
    """The audit events of ``kind`` about ``request_id``."""
    return [e for e in harness.audit.export() if e.kind == kind and e.payload.get("request_id") == request_id]
