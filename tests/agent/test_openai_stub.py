"""ChatOpenAI and the official openai client against the OpenAI-compatible stub, over real HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage

from agent.testing.openai_stub import (
    ErrorReply,
    OpenAIStub,
    SlowReply,
    StubError,
    TextReply,
    ToolCall,
    ToolCallsReply,
)

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {
        "name": "inventory_lookup", "description": "Stock of an item at a site.",
        "parameters": {"type": "object", "properties": {"item_id": {"type": "string"},
                                                        "site_id": {"type": "string"}},
                       "required": ["item_id"]}}},
    {"type": "function", "function": {
        "name": "open_purchase_orders", "description": "Open PO lines of an item.",
        "parameters": {"type": "object", "properties": {"item_id": {"type": "string"}}, "required": []}}},
]
TWO_CALLS = ToolCallsReply.of(
    ToolCall("inventory_lookup", {"item_id": "FG-1001", "site_id": "P100"}, id="call_a"),
    ToolCall("open_purchase_orders", {"item_id": "RM-2001"}, id="call_b"),
)
EXPECTED_CALLS = [
    {"name": "inventory_lookup", "args": {"item_id": "FG-1001", "site_id": "P100"}, "id": "call_a",
     "type": "tool_call"},
    {"name": "open_purchase_orders", "args": {"item_id": "RM-2001"}, "id": "call_b", "type": "tool_call"},
]

ChatFactory = Callable[..., BaseChatModel]


def _stream(model: Any, messages: Any) -> tuple[AIMessageChunk, int]:
    total: AIMessageChunk | None = None
    count = 0
    for chunk in model.stream(messages):
        count += 1
        total = chunk if total is None else total + chunk
    assert total is not None
    return total, count


def test_text_answer_with_model_usage_and_fingerprint(openai_stub: OpenAIStub,
                                                      openai_chat: ChatFactory) -> None:
    openai_stub.push(TextReply("Available stock of FG-1001 at P100 is 120 [LOT-P100-0423]."))
    reply = openai_chat().invoke([SystemMessage("be brief"), HumanMessage("stock of FG-1001?")])

    assert isinstance(reply, AIMessage)
    assert reply.content == "Available stock of FG-1001 at P100 is 120 [LOT-P100-0423]."
    assert reply.tool_calls == []
    assert reply.response_metadata["model_name"] == "gpt-4o-mini"
    assert reply.response_metadata["system_fingerprint"] == "fp_jidoka_stub"
    assert reply.usage_metadata is not None and reply.usage_metadata["total_tokens"] > 0
    (request,) = openai_stub.completions
    assert request.body["model"] == "gpt-4o-mini"
    assert not request.stream
    assert [m["role"] for m in request.messages] == ["system", "user"]
    assert request.messages[1]["content"] == "stock of FG-1001?"
    assert request.headers["authorization"] == "Bearer test-key"


def test_tool_calls_are_parsed_with_dict_args(openai_stub: OpenAIStub, openai_chat: ChatFactory) -> None:
    openai_stub.push(TWO_CALLS)
    reply = openai_chat().bind_tools(TOOLS).invoke("stock and inbound supply of FG-1001?")

    assert isinstance(reply, AIMessage)
    assert reply.tool_calls == EXPECTED_CALLS
    assert reply.invalid_tool_calls == []
    assert reply.response_metadata["finish_reason"] == "tool_calls"


def test_streamed_tool_calls_aggregate_to_the_same_calls(openai_stub: OpenAIStub,
                                                         openai_chat: ChatFactory) -> None:
    openai_stub.push(TWO_CALLS)
    total, count = _stream(openai_chat().bind_tools(TOOLS), "stock and inbound supply of FG-1001?")

    assert openai_stub.completions[0].stream
    assert total.tool_calls == EXPECTED_CALLS
    assert total.invalid_tool_calls == []
    # The arguments really arrived in pieces (7 characters a chunk), not as one blob.
    assert count > 8
    assert total.response_metadata["model_name"] == "gpt-4o-mini"
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 0


def test_streamed_text_arrives_in_pieces(openai_stub: OpenAIStub, openai_chat: ChatFactory) -> None:
    text = "Data as of 2026-03-02 06:00. WO-5123 is running on P100-PK1."
    openai_stub.push(TextReply(text))
    pieces = [c.content for c in openai_chat().stream("status of WO-5123?")]

    assert "".join(str(p) for p in pieces) == text
    assert len([p for p in pieces if p]) == -(-len(text) // 7)


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_malformed_arguments_surface_as_invalid_tool_calls(openai_stub: OpenAIStub, openai_chat: ChatFactory,
                                                           stream: bool) -> None:
    openai_stub.push(ToolCallsReply.of(ToolCall("inventory_lookup", {"item_id": "FG-1001"}, id="ok_1"),
                                       ToolCall("open_purchase_orders", '{"item_id": RM-2001}', id="bad_1")))
    model = openai_chat().bind_tools(TOOLS)
    reply = _stream(model, "?")[0] if stream else model.invoke("?")

    assert isinstance(reply, AIMessage)
    assert reply.tool_calls == [{"name": "inventory_lookup", "args": {"item_id": "FG-1001"}, "id": "ok_1",
                                 "type": "tool_call"}]
    (invalid,) = reply.invalid_tool_calls
    assert invalid["name"] == "open_purchase_orders"
    assert invalid["id"] == "bad_1"
    assert invalid["args"] == '{"item_id": RM-2001}'


def test_truncated_arguments_are_invalid_but_streaming_repairs_them(openai_stub: OpenAIStub,
                                                                   openai_chat: ChatFactory) -> None:
    # Worth knowing: LangChain parses streamed arguments as *partial* JSON, so a truncated object is closed
    # and accepted as a valid call when streaming, while the same text is an invalid call when not streaming.
    truncated = ToolCallsReply.of(ToolCall("inventory_lookup", '{"item_id": "FG-1001"', id="t_1"))
    openai_stub.push(truncated, truncated)
    model = openai_chat().bind_tools(TOOLS)

    invoked = model.invoke("?")
    streamed = _stream(model, "?")[0]

    assert invoked.tool_calls == []
    assert [c["args"] for c in invoked.invalid_tool_calls] == ['{"item_id": "FG-1001"']
    assert streamed.tool_calls == [{"name": "inventory_lookup", "args": {"item_id": "FG-1001"}, "id": "t_1",
                                    "type": "tool_call"}]


def test_http_500_raises_once_without_retries(openai_stub: OpenAIStub, openai_chat: ChatFactory) -> None:
    openai_stub.push(ErrorReply(500, "upstream model crashed"), TextReply("must not be reached"))
    with pytest.raises(openai.InternalServerError) as info:
        openai_chat().invoke("hello")

    assert info.value.status_code == 500
    assert "upstream model crashed" in str(info.value)
    assert len(openai_stub.completions) == 1  # max_retries=0: no retry storm
    assert openai_stub.remaining == 1


def test_slow_response_times_out(openai_stub: OpenAIStub, openai_chat: ChatFactory) -> None:
    openai_stub.push(SlowReply(5.0, TextReply("too late")))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        openai_chat(timeout_s=0.3).invoke("hello")

    assert time.monotonic() - started < 2.0
    assert len(openai_stub.completions) == 1


def test_bind_tools_sends_the_offered_tools_and_the_conversation(openai_stub: OpenAIStub,
                                                                openai_chat: ChatFactory) -> None:
    openai_stub.push(TextReply("FG-1001: 120 on hand [LOT-P100-0423]."))
    history = [
        SystemMessage("You are jidoka."),
        HumanMessage("stock of FG-1001?"),
        AIMessage("", tool_calls=[{"name": "inventory_lookup", "args": {"item_id": "FG-1001"},
                                   "id": "call_1"}]),
        ToolMessage('{"status": "ok", "qty": 120}', tool_call_id="call_1", name="inventory_lookup"),
    ]
    openai_chat().bind_tools(TOOLS).invoke(history)

    (request,) = openai_stub.completions
    assert request.tool_names == ["inventory_lookup", "open_purchase_orders"]
    assert request.body["tools"][0]["function"]["parameters"] == TOOLS[0]["function"]["parameters"]
    assert [m["role"] for m in request.messages] == ["system", "user", "assistant", "tool"]
    sent_call = request.messages[2]["tool_calls"][0]
    assert sent_call["id"] == "call_1"
    assert json.loads(sent_call["function"]["arguments"]) == {"item_id": "FG-1001"}
    assert request.messages[3] == {"role": "tool", "tool_call_id": "call_1",
                                   "content": '{"status": "ok", "qty": 120}'}


def test_a_responder_answers_from_the_request(openai_stub: OpenAIStub, openai_chat: ChatFactory) -> None:
    def echo_tool_result(body: dict[str, Any]) -> TextReply:
        tool_messages = [m for m in body["messages"] if m["role"] == "tool"]
        return TextReply(f"{len(tool_messages)} tool results; last: {tool_messages[-1]['content']}")

    openai_stub.push(echo_tool_result)
    reply = openai_chat().invoke([
        HumanMessage("q"),
        AIMessage("", tool_calls=[{"name": "inventory_lookup", "args": {}, "id": "c1"}]),
        ToolMessage("qty=7", tool_call_id="c1"),
    ])
    assert reply.content == "1 tool results; last: qty=7"


def test_exhausted_script_is_a_clear_error(openai_stub: OpenAIStub, openai_chat: ChatFactory) -> None:
    with pytest.raises(openai.InternalServerError, match="script is exhausted"):
        openai_chat().invoke("anything")


def test_official_openai_client_works_against_the_stub(openai_stub: OpenAIStub) -> None:
    openai_stub.push(TextReply("hello from the stub"), TWO_CALLS, TWO_CALLS)
    client = openai.OpenAI(base_url=openai_stub.base_url, api_key="test-key", max_retries=0, timeout=10)

    text = client.chat.completions.create(model="qwen2.5:7b", messages=[{"role": "user", "content": "hi"}])
    assert text.choices[0].message.content == "hello from the stub"
    assert text.model == "qwen2.5:7b"
    assert text.system_fingerprint == "fp_jidoka_stub"
    assert text.usage is not None and text.usage.total_tokens > 0

    calls = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "?"}],
                                           tools=TOOLS)  # type: ignore[arg-type]
    got = [(c.function.name, json.loads(c.function.arguments))  # type: ignore[union-attr]
           for c in calls.choices[0].message.tool_calls or []]
    assert got == [("inventory_lookup", {"item_id": "FG-1001", "site_id": "P100"}),
                   ("open_purchase_orders", {"item_id": "RM-2001"})]

    arguments: dict[int, str] = {}
    finish = None
    for chunk in client.chat.completions.create(model="m", messages=[{"role": "user", "content": "?"}],
                                                stream=True):
        for delta_call in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            arguments[delta_call.index] = arguments.get(delta_call.index, "") + (
                delta_call.function.arguments or "" if delta_call.function else "")
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert finish == "tool_calls"
    assert {i: json.loads(a) for i, a in arguments.items()} == {0: {"item_id": "FG-1001", "site_id": "P100"},
                                                                1: {"item_id": "RM-2001"}}

    assert [m.id for m in client.models.list()] == ["stub-model"]


def test_bad_request_body_is_rejected(openai_stub: OpenAIStub) -> None:
    response = httpx.post(f"{openai_stub.base_url}/chat/completions", content=b"not json",
                          headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    response = httpx.post(f"{openai_stub.base_url}/chat/completions", json={"model": "m", "messages": []})
    assert response.status_code == 400
    assert "messages" in response.json()["error"]["message"]


def test_stub_lifecycle_and_served_model() -> None:
    stub = OpenAIStub([TextReply("snapshot")], served_model="gpt-4o-mini-2024-07-18", fingerprint="fp_x")
    with pytest.raises(StubError, match="not running"):
        _ = stub.base_url
    with stub:
        request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "?"}]}
        body = httpx.post(f"{stub.base_url}/chat/completions", json=request).json()
        with pytest.raises(StubError, match="already running"):
            stub.start()
        url = stub.url
    assert body["model"] == "gpt-4o-mini-2024-07-18"
    assert body["system_fingerprint"] == "fp_x"
    assert body["choices"][0]["message"]["content"] == "snapshot"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/v1/models", timeout=2)


def test_a_broken_responder_is_reported_not_hidden(openai_stub: OpenAIStub, openai_chat: ChatFactory) -> None:
    def broken(body: dict[str, Any]) -> TextReply:
        raise KeyError("tools")

    openai_stub.push(broken)
    with pytest.raises(openai.InternalServerError, match="responder raised KeyError"):
        openai_chat().invoke("?")
