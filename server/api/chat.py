"""``POST /v1/chat`` (SSE or one JSON answer) and ``GET /v1/threads/{id}`` (the caller's own threads)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, StreamingResponse
from langchain_core.messages import AIMessage, HumanMessage
from starlette.concurrency import run_in_threadpool

from agent.copilot import ToolCallListener, TurnResult
from guardrails.approvals.models import RequestStatus
from guardrails.errors import RequestNotFound
from server.api.approval_view import request_view, shown_approver_lines
from server.api.deps import Caller, caller, turn_caller
from server.api.errors import ApiError, Conflict, Forbidden, NotFound, Unprocessable
from server.api.models import THREAD_ID_PATTERN, ChatRequest
from server.api.refusals import refused
from server.api.sse import format_event, tool_call_event, turn_events
from server.api.turns import governed, run_turn

__all__ = ["approvers_of", "router", "wants_json"]

log = logging.getLogger("jidoka.api")
router = APIRouter(tags=["chat"])

_HEARTBEAT_S = 2.0
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "SSE events (`token`, `tool_call`, `approval_requested`, `citation`, `done`, `error`), "
                         "or one JSON turn with `Accept: application/json`.",
          "content": {"text/event-stream": {"schema": {"type": "string"}}, "application/json": {}}},
    401: {"description": "Missing or invalid bearer token."},
    403: {"description": "The thread belongs to another user (audited: `trace_id` / `X-Jidoka-Trace`)."},
    409: {"description": "The thread waits for an approval decision (audited)."},
    413: {"description": "Request body too large."},
    422: {"description": "A field is invalid (the body names it)."},
    429: {"description": "Too many turns in a minute (Retry-After)."},
}


def wants_json(request: Request) -> bool:
    """True when the client asks for JSON and not for an event stream."""
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "text/event-stream" not in accept


def _check_message(who: Caller, body: ChatRequest) -> str:
    limit = who.services.settings.max_message_chars
    if len(body.message) > limit:
        raise Unprocessable(f"message: longer than {limit} characters (JIDOKA_MAX_MESSAGE_CHARS)", field="message")
    if not body.message.strip():
        raise Unprocessable("message: the question is empty", field="message")
    return body.message


def _precheck(who: Caller, thread_id: str | None) -> None:
    """Refuse before streaming what the turn would refuse: someone else's thread, a thread paused for approval.

    Audited like the turn's own refusals (the JSON path's, in :meth:`Copilot.ask`): an ``error`` event
    ``thread_not_yours`` / ``thread_awaiting_approval`` whose trace the 403 / 409 names."""
    if thread_id is None:
        return
    copilot, approvals = who.services.copilot, who.services.runtime.approvals
    view = copilot.thread(thread_id)  # one checkpoint read for both checks
    owner = view.owner
    if owner is not None and owner != who.user.user_id:
        raise refused(who, Forbidden(f"thread {thread_id} belongs to another user", field="thread_id"),
                      "thread_not_yours", thread_id=thread_id)
    pending = [str(r["id"]) for r in view.waiting
               if approvals.get(str(r["id"])).status is RequestStatus.PENDING]
    if pending:
        raise refused(who, Conflict(f"thread {thread_id} is waiting for approval of {', '.join(pending)}; it "
                                    "continues when that is decided (ask in a new thread meanwhile)",
                                    field="thread_id"),
                      "thread_awaiting_approval", thread_id=thread_id, requests=pending)


def approvers_of(who: Caller) -> Callable[[str], list[str]]:
    """``request_id → approver lines`` for the SSE ``approval_requested`` event."""
    def lines(request_id: str) -> list[str]:
        try:
            approvals = who.services.runtime.approvals
            return shown_approver_lines(approvals.get(request_id), who.user, approvals)
        except RequestNotFound:
            return []
    return lines


def _listener(loop: asyncio.AbstractEventLoop, calls: asyncio.Queue[dict[str, Any]]) -> ToolCallListener:
    """Hands each decided call from the turn's thread to the stream (a stream gone away just misses it)."""
    def heard(call: dict[str, Any]) -> None:
        with contextlib.suppress(RuntimeError):  # the event loop is closed: nobody is listening any more
            loop.call_soon_threadsafe(calls.put_nowait, tool_call_event(call))
    return heard


async def _stream(who: Caller, body: ChatRequest) -> AsyncIterator[str]:
    services = who.services
    calls: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    heard = _listener(asyncio.get_running_loop(), calls)
    task = asyncio.ensure_future(run_in_threadpool(
        run_turn, services, lambda: services.copilot.ask(who.user.user_id, body.message, thread_id=body.thread_id,
                                                         on_tool_call=heard),
        fresh_trace=True))
    sent = 0
    try:
        while not task.done():
            # Each tool call goes out as soon as the gate decided it; a quiet turn gets a heartbeat comment.
            waiting = asyncio.ensure_future(calls.get())
            done, _ = await asyncio.wait({task, waiting}, timeout=_HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED)
            if waiting in done:
                yield format_event("tool_call", waiting.result())
                sent += 1
            else:
                waiting.cancel()  # not done: no call was taken off the queue
                if not done:
                    yield ": working\n\n"  # an SSE comment keeps proxies from closing a quiet connection
        result: TurnResult = task.result()
        while not calls.empty():  # decided just before the turn ended
            yield format_event("tool_call", calls.get_nowait())
            sent += 1
        lines = approvers_of(who)
        for name, data in await run_in_threadpool(lambda: list(turn_events(result, lines, calls_sent=sent))):
            yield format_event(name, data)
    except ApiError as exc:
        shown = services.redactor.redact(exc.message)
        if shown != exc.message:
            log.warning("chat turn refused (%d) without the path in: %s", exc.status, exc.message)
        error: dict[str, Any] = {"message": shown, "status": exc.status}
        if exc.trace_id:
            error["trace_id"] = exc.trace_id
        yield format_event("error", error)
    except Exception:
        log.exception("chat turn failed")
        yield format_event("error", {"message": "internal error: the turn failed; see the server log",
                                     "status": 500})


@router.post("/v1/chat", responses=_CHAT_RESPONSES, summary="Ask one governed question")
async def chat(body: ChatRequest, request: Request, who: Annotated[Caller, Depends(turn_caller)]) -> Any:
    """One governed turn. Streams SSE events by default; ``Accept: application/json`` gives one JSON turn
    shaped like ``jidoka ask --json``. The stream starts after the turn is screened (see :mod:`server.api.sse`)."""
    message = _check_message(who, body)
    services = who.services
    if wants_json(request):
        result = await run_in_threadpool(
            run_turn, services, lambda: services.copilot.ask(who.user.user_id, message, thread_id=body.thread_id),
            fresh_trace=True)
        return JSONResponse(result.to_json())
    await run_in_threadpool(governed, services, lambda: _precheck(who, body.thread_id))
    return StreamingResponse(_stream(who, body), media_type="text/event-stream", headers=_SSE_HEADERS)


def _messages(values: dict[str, Any]) -> list[dict[str, str]]:
    """The thread as the user saw it: questions and screened answers (tool traffic left out)."""
    shown: list[dict[str, str]] = []
    for message in values.get("messages", []):
        if isinstance(message, HumanMessage) and str(message.id or "").startswith("q-"):
            shown.append({"role": "user", "text": str(message.content)})
        elif isinstance(message, AIMessage) and not message.tool_calls and str(message.content).strip():
            shown.append({"role": "assistant", "text": str(message.content)})
    return shown


@router.get("/v1/threads/{thread_id}", summary="One of the caller's threads",
            responses={401: {"description": "Not authenticated."}, 404: {"description": "No such thread of yours."}})
def thread(thread_id: Annotated[str, Path(pattern=THREAD_ID_PATTERN)],
           who: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
    """The thread's questions and answers, and the approval requests it waits for (own threads only; any other id
    is an audited 404 whose trace the response names)."""
    services = who.services

    def read() -> dict[str, Any]:
        copilot = services.copilot
        snapshot = copilot.graph.get_state({"configurable": {"thread_id": thread_id}})
        values = dict(snapshot.values) if snapshot and snapshot.values else {}
        owner = values.get("user_id")
        if owner != who.user.user_id:  # someone else's and no thread at all: the same 404, both audited
            raise refused(who, NotFound(f"no thread {thread_id} of yours"),
                          "thread_not_yours" if owner else "thread_not_found", thread_id=thread_id)
        waiting = []
        for r in copilot.waiting_for(thread_id):
            try:
                waiting.append(request_view(services.runtime.approvals.get(str(r["id"])), who.user,
                                            services.runtime.approvals))
            except RequestNotFound:
                continue
        return {"thread_id": thread_id, "user_id": who.user.user_id, "messages": _messages(values),
                "paused": bool(waiting), "waiting": waiting}

    return governed(services, read, exclusive=False)
