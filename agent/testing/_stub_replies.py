"""What the OpenAI stub can answer, and how each answer looks on the wire (JSON body or SSE chunks)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CREATED",
    "ErrorReply",
    "Reply",
    "Responder",
    "SlowReply",
    "Step",
    "TextReply",
    "ToolCall",
    "ToolCallsReply",
    "completion_body",
    "error_body",
    "stream_chunks",
    "usage_for",
]

CREATED = 1772431200
"""Fixed ``created`` timestamp (2026-03-02T06:00Z) so responses are deterministic."""


@dataclass(frozen=True)
class TextReply:
    """A plain answer (``message.content``)."""

    content: str
    finish_reason: str = "stop"


@dataclass(frozen=True)
class ToolCall:
    """One tool call. ``arguments`` as a mapping is sent as JSON text; a string is sent verbatim,
    so ``ToolCall("f", '{"sku": ')`` produces malformed (invalid JSON) arguments."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    """The call id; ``None`` numbers it (``call_<response>_<index>``)."""

    def arguments_text(self) -> str:
        """The arguments as they go on the wire."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), sort_keys=True)


@dataclass(frozen=True)
class ToolCallsReply:
    """The model asks for one or several tools (``finish_reason: tool_calls``)."""

    calls: tuple[ToolCall, ...]
    content: str = ""

    @classmethod
    def of(cls, *calls: ToolCall, content: str = "") -> ToolCallsReply:
        """``ToolCallsReply.of(ToolCall(...), ToolCall(...))``."""
        return cls(tuple(calls), content)


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error with an OpenAI-style error body (default: 500)."""

    status: int = 500
    message: str = "the stub was scripted to fail"
    type: str = "server_error"


@dataclass(frozen=True)
class SlowReply:
    """Wait ``seconds`` before sending ``then`` (for client timeouts)."""

    seconds: float
    then: TextReply | ToolCallsReply | ErrorReply = TextReply("a slow answer")


Reply = TextReply | ToolCallsReply | ErrorReply | SlowReply
Responder = Callable[[dict[str, Any]], Reply]
"""A step computed from the request body (e.g. to answer from the tool results it was sent)."""
Step = Reply | Responder


def _call_id(call: ToolCall, response_no: int, index: int) -> str:
    return call.id or f"call_{response_no}_{index}"


def _tokens(text: str) -> int:
    # A rough, deterministic count (about four characters a token); servers report real ones.
    return max(1, (len(text) + 3) // 4) if text else 0


def usage_for(request: Mapping[str, Any], reply: TextReply | ToolCallsReply) -> dict[str, int]:
    """A deterministic ``usage`` block for ``reply`` to ``request``."""
    prompt = _tokens(json.dumps(request.get("messages", []), sort_keys=True))
    if isinstance(reply, TextReply):
        completion = _tokens(reply.content)
    else:
        completion = _tokens(reply.content) + sum(_tokens(c.name + c.arguments_text()) for c in reply.calls)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _envelope(kind: str, response_id: str, model: str, fingerprint: str) -> dict[str, Any]:
    return {"id": response_id, "object": kind, "created": CREATED, "model": model,
            "system_fingerprint": fingerprint}


def completion_body(reply: TextReply | ToolCallsReply, request: Mapping[str, Any], *, response_no: int,
                    model: str, fingerprint: str) -> dict[str, Any]:
    """A ``chat.completion`` body answering ``request`` with ``reply``."""
    message: dict[str, Any] = {"role": "assistant"}
    if isinstance(reply, TextReply):
        message["content"] = reply.content
        finish = reply.finish_reason
    else:
        message["content"] = reply.content or None
        message["tool_calls"] = [
            {"id": _call_id(c, response_no, i), "type": "function",
             "function": {"name": c.name, "arguments": c.arguments_text()}}
            for i, c in enumerate(reply.calls)
        ]
        finish = "tool_calls"
    body = _envelope("chat.completion", f"chatcmpl-stub-{response_no}", model, fingerprint)
    body["choices"] = [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}]
    body["usage"] = usage_for(request, reply)
    return body


def _pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def stream_chunks(reply: TextReply | ToolCallsReply, request: Mapping[str, Any], *, response_no: int,
                  model: str, fingerprint: str, chunk_chars: int) -> Iterator[dict[str, Any]]:
    """``chat.completion.chunk`` bodies streaming ``reply``: text in ``chunk_chars`` pieces, each tool
    call opened with its id and name and its arguments split across several chunks."""
    base = _envelope("chat.completion.chunk", f"chatcmpl-stub-{response_no}", model, fingerprint)

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

    yield chunk({"role": "assistant", "content": ""})
    content = reply.content
    if content:
        for piece in _pieces(content, chunk_chars):
            yield chunk({"content": piece})
    if isinstance(reply, ToolCallsReply):
        for index, call in enumerate(reply.calls):
            opening = {"index": index, "id": _call_id(call, response_no, index), "type": "function",
                       "function": {"name": call.name, "arguments": ""}}
            yield chunk({"tool_calls": [opening]})
            for piece in _pieces(call.arguments_text(), chunk_chars):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield chunk({}, "tool_calls")
    else:
        yield chunk({}, reply.finish_reason)
    options = request.get("stream_options")
    if isinstance(options, Mapping) and options.get("include_usage"):
        yield {**base, "choices": [], "usage": usage_for(request, reply)}


def error_body(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
