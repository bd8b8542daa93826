"""An OpenAI-compatible facade: ``POST /v1/chat/completions`` and ``GET /v1/models``.

The official openai client, chat front ends and red-team tools (garak's OpenAI
/ REST generators, promptfoo) can target the governed copilot unchanged: the
bearer token (the client's API key) names the user; the last user message is
the question (earlier messages are not replayed — the copilot keeps its own
thread state); ``metadata.thread_id`` continues a thread, else each request
starts a new one (the response's ``jidoka.thread_id`` says which). Sampling
parameters, tools and the like are accepted and ignored: the model, its tools
and the policy are the server's. Errors come in OpenAI's ``{"error": {...}}``
shape on these paths.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from agent.copilot import TurnResult
from server.api.deps import Caller, caller, turn_caller
from server.api.errors import NotFound, Unprocessable
from server.api.models import THREAD_ID_PATTERN
from server.api.sse import text_chunks
from server.api.turns import run_turn

__all__ = ["FACADE_PATHS", "MODEL_ID", "CompletionRequest", "router"]

MODEL_ID = "jidoka"
FACADE_PATHS = ("/v1/chat/completions", "/v1/models")
router = APIRouter(tags=["openai-compatible"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token (the API key)."},
    404: {"description": "Unknown model."},
    409: {"description": "The thread waits for an approval decision."},
    422: {"description": "A field is invalid."},
    429: {"description": "Too many turns in a minute."},
}


class TextPart(BaseModel):
    """A content part; only text parts carry a question."""

    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class Message(BaseModel):
    """One chat message."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The message's text (text parts joined)."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text or "" for p in self.content or [] if p.type == "text")


class CompletionRequest(BaseModel):
    """The subset of OpenAI's chat-completion request jidoka reads (other fields are accepted, ignored)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=128)
    messages: list[Message] = Field(min_length=1, max_length=256)
    stream: bool | None = False
    user: str | None = Field(default=None, max_length=256, description="Accepted, not used (see metadata).")
    metadata: dict[str, str] | None = Field(default=None, description="`thread_id` continues a jidoka thread.")


def _question(body: CompletionRequest, limit: int) -> tuple[str, str | None]:
    if body.model != MODEL_ID:
        raise NotFound(f"The model {body.model!r} does not exist; this server serves {MODEL_ID!r}.", field="model")
    users = [m for m in body.messages if m.role == "user"]
    question = users[-1].text() if users else ""
    if not question.strip():
        raise Unprocessable("messages: no user message with text", field="messages")
    if len(question) > limit:
        raise Unprocessable(f"messages: the last user message is longer than {limit} characters", field="messages")
    thread_id = (body.metadata or {}).get("thread_id") or None
    if thread_id is not None and not re.match(THREAD_ID_PATTERN, thread_id):
        raise Unprocessable("metadata.thread_id: not a thread id", field="metadata.thread_id")
    return question, thread_id


def _extension(result: TurnResult) -> dict[str, Any]:
    return {"thread_id": result.thread_id, "trace_id": result.trace_id, "degraded": result.degraded,
            "unavailable": result.unavailable,
            "paused": result.paused, "citations": result.citations, "lineage": result.lineage,
            "approvals": result.approvals,
            "tool_calls": [{k: c[k] for k in ("name", "decision", "rule_id")} for c in result.tool_calls]}


def _completion(result: TurnResult, created: int) -> dict[str, Any]:
    return {"id": f"chatcmpl-{result.trace_id}", "object": "chat.completion", "created": created, "model": MODEL_ID,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": result.answer, "refusal": None},
                         "finish_reason": "stop", "logprobs": None}],
            "jidoka": _extension(result)}


def _chunks(result: TurnResult, created: int) -> Iterator[str]:
    base = {"id": f"chatcmpl-{result.trace_id}", "object": "chat.completion.chunk", "created": created,
            "model": MODEL_ID}

    def frame(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                 **extra}
        return f"data: {json.dumps(chunk, ensure_ascii=False, separators=(',', ':'))}\n\n"

    yield frame({"role": "assistant", "content": ""})
    for delta in text_chunks(result.answer):
        yield frame({"content": delta})
    yield frame({}, "stop", jidoka=_extension(result))
    yield "data: [DONE]\n\n"


@router.post("/v1/chat/completions", responses=_ERRORS, summary="OpenAI-compatible chat completion")
async def chat_completions(body: CompletionRequest, who: Annotated[Caller, Depends(turn_caller)]) -> Any:
    """One governed turn as a ``chat.completion`` (or, with ``stream``, ``chat.completion.chunk`` events and
    ``data: [DONE]``). The turn is screened before the first byte is sent."""
    services = who.services
    question, thread_id = _question(body, services.settings.max_message_chars)
    result = await run_in_threadpool(
        run_turn, services, lambda: services.copilot.ask(who.user.user_id, question, thread_id=thread_id),
        fresh_trace=True)
    created = int(time.time())
    if body.stream:
        return StreamingResponse(_chunks(result, created), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    return JSONResponse(_completion(result, created))


@router.get("/v1/models", responses={401: {"description": "Not authenticated."}}, summary="The served model")
def models(who: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
    """One model, ``jidoka`` (the governed copilot; the underlying model is the server's ``JIDOKA_MODEL``)."""
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "jidoka"}]}
