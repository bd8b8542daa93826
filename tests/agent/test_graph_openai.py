"""The governed graph on a real ChatOpenAI over HTTP (local stub): tool calls, failures and fallback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from sqlalchemy import Engine

from agent.scripted import ScriptedChatModel
from agent.testing.openai_stub import ErrorReply, OpenAIStub, SlowReply, TextReply, ToolCall, ToolCallsReply
from guardrails.audit.log import AuditKind
from guardrails.gate import Gate
from tests.agent.graph_helpers import build_copilot
from tests.policy_helpers import shipped_policy
from tools import default_catalog


def _answer_from_last_tool(request: dict[str, Any]) -> TextReply:
    tool = json.loads(request["messages"][-1]["content"])
    lot = tool["rows"][0]["lot_id"]
    total = tool["totals"][0]["qty_available"]
    return TextReply(f"{total} available [{lot}]. Data as of {tool['as_of'][:10]}.")


def _fallback() -> ScriptedChatModel:
    return ScriptedChatModel(script=[AIMessage(content="Offline rules answer.")], cycle=True)


def test_openai_tool_call_round_trip(demo_plant: Engine, tmp_path: Path, openai_stub: OpenAIStub,
                                     openai_chat: Callable[..., BaseChatModel]) -> None:
    openai_stub.push(ToolCallsReply.of(ToolCall("inventory_lookup", {"item_id": "RM-3001"})), _answer_from_last_tool)
    copilot, audit = build_copilot(demo_plant, tmp_path, openai_chat(), _fallback())
    result = copilot.ask("pat.planner", "How much RM-3001 do we have?")
    assert not result.degraded and result.unverified == []
    assert result.citations and result.citations[0].startswith("LOT-P100-")
    first, second = openai_stub.requests
    policy = shipped_policy()
    gate = Gate(policy, default_catalog())
    allowed = {s.name for s in default_catalog() if gate.decide(policy.user("pat.planner"), s.name).allowed}
    assert set(first.tool_names) == allowed
    assert first.messages[0]["role"] == "system" and '"user_id": "pat.planner"' in first.messages[0]["content"]
    assert second.messages[-1]["role"] == "tool"
    responses = [e for e in audit.by_trace(result.trace_id) if e.kind == AuditKind.MODEL_RESPONSE]
    assert responses and all(r.payload["model"]["model"] == "gpt-4o-mini" for r in responses)


def test_malformed_arguments_twice_fall_back(demo_plant: Engine, tmp_path: Path, openai_stub: OpenAIStub,
                                             openai_chat: Callable[..., BaseChatModel]) -> None:
    bad = ToolCallsReply.of(ToolCall("inventory_lookup", '{"item_id": "RM-3001", limit: }'))
    openai_stub.push(bad, bad)
    copilot, audit = build_copilot(demo_plant, tmp_path, openai_chat(), _fallback())
    result = copilot.ask("pat.planner", "stock of RM-3001")
    assert result.degraded and "Offline rules answer." in result.answer
    assert len(openai_stub.requests) == 2
    reasons = [e.payload["reason"] for e in audit.by_trace(result.trace_id) if e.kind == AuditKind.DEGRADED]
    assert reasons and "invalid tool calls twice" in reasons[0]


def test_http_500_falls_back(demo_plant: Engine, tmp_path: Path, openai_stub: OpenAIStub,
                             openai_chat: Callable[..., BaseChatModel]) -> None:
    openai_stub.push(ErrorReply(500))
    copilot, audit = build_copilot(demo_plant, tmp_path, openai_chat(), _fallback())
    result = copilot.ask("pat.planner", "what is late?")
    assert result.degraded and "500" in result.answer and "Offline rules answer." in result.answer
    reasons = [e.payload["reason"] for e in audit.by_trace(result.trace_id) if e.kind == AuditKind.DEGRADED]
    assert len(reasons) == 1 and "500" in reasons[0]
    assert len(openai_stub.requests) == 1  # no retry storm


def test_timeout_falls_back(demo_plant: Engine, tmp_path: Path, openai_stub: OpenAIStub,
                            openai_chat: Callable[..., BaseChatModel]) -> None:
    openai_stub.push(SlowReply(3.0))
    copilot, _ = build_copilot(demo_plant, tmp_path, openai_chat(timeout_s=0.5), _fallback())
    result = copilot.ask("pat.planner", "what is late?")
    assert result.degraded and "Timeout" in result.answer and "Offline rules answer." in result.answer


def test_llm_answers_lose_unsupported_figures(demo_plant: Engine, tmp_path: Path, openai_stub: OpenAIStub,
                                              openai_chat: Callable[..., BaseChatModel]) -> None:
    def invent(request: dict[str, Any]) -> TextReply:
        return TextReply(_answer_from_last_tool(request).content + " Another 4242 units arrive on 2026-03-09.")

    openai_stub.push(ToolCallsReply.of(ToolCall("inventory_lookup", {"item_id": "RM-3001"})), invent)
    copilot, _ = build_copilot(demo_plant, tmp_path, openai_chat(), _fallback())
    result = copilot.ask("pat.planner", "RM-3001?")
    assert "4242" not in result.answer and "2026-03-09" not in result.answer
    assert "[removed: not supported by the data]" in result.answer
    assert set(result.unverified) == {"4242", "2026-03-09"}
