"""The model span of a turn on a real ChatOpenAI over HTTP (local stub): provider, model names and the token
counts the server reports, read back with the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import Engine

from agent.scripted import ScriptedChatModel
from agent.testing._stub_replies import usage_for
from agent.testing.openai_stub import OpenAIStub, TextReply, ToolCall, ToolCallsReply
from server.telemetry import build_telemetry
from server.tracing_settings import TracingSettings
from tests.agent.graph_helpers import build_copilot


def test_model_spans_carry_provider_model_and_reported_tokens(demo_plant: Engine, tmp_path: Path,
                                                              openai_stub: OpenAIStub,
                                                              openai_chat: Callable[..., BaseChatModel]) -> None:
    exporter = InMemorySpanExporter()
    telemetry = build_telemetry(TracingSettings(), exporters=[exporter])
    call = ToolCallsReply.of(ToolCall("inventory_lookup", {"item_id": "RM-3001"}))
    answer = TextReply("Stock of RM-3001 is in the tool result.")
    openai_stub.push(call, answer)
    copilot, _ = build_copilot(demo_plant, tmp_path, openai_chat(),
                               ScriptedChatModel(script=[AIMessage(content="offline")], cycle=True),
                               tracing=telemetry.tracing)
    result = copilot.ask("pat.planner", "How much RM-3001 do we have?")
    assert not result.degraded
    models = [s for s in exporter.get_finished_spans() if s.name == "jidoka.model"]
    assert len(models) == 2
    first, second = openai_stub.requests
    for span, request, reply in zip(models, (first, second), (call, answer), strict=True):
        attributes = dict(span.attributes or {})
        usage = usage_for(request.body, reply)
        # The provider is what the copilot's identity function says (the test helpers' one says "test").
        assert attributes["gen_ai.provider.name"] == "test" and attributes["gen_ai.request.model"] == "gpt-4o-mini"
        assert attributes["gen_ai.usage.input_tokens"] == usage["prompt_tokens"] > 0
        assert attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"] > 0
        assert span.context is not None and format(span.context.trace_id, "032x") == result.trace_id
    assert [dict(s.attributes or {})["jidoka.tool_calls"] for s in models] == [1, 0]
    telemetry.shutdown()
