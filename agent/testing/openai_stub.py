"""An OpenAI-compatible chat-completions server for tests: real HTTP on 127.0.0.1, scripted answers.

``ChatOpenAI`` and the official ``openai`` client talk to it unchanged::

    with OpenAIStub([ToolCallsReply.of(ToolCall("inventory_lookup", {"item_id": "FG-1001"})),
                     TextReply("Data as of ...")]) as stub:
        model = ChatOpenAI(model="gpt-4o-mini", base_url=stub.base_url, api_key="test", max_retries=0)
        ...
        assert stub.requests[0].tool_names == ["inventory_lookup"]

Each ``POST /v1/chat/completions`` takes the next scripted step (a reply, or a
function of the request body returning one); ``"stream": true`` requests get
the same reply as SSE chunks. Every request is recorded. ``GET /v1/models``
lists the stub's models.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from agent.testing._stub_replies import (
    CREATED,
    ErrorReply,
    Reply,
    Responder,
    SlowReply,
    Step,
    TextReply,
    ToolCall,
    ToolCallsReply,
    completion_body,
    error_body,
    stream_chunks,
)

__all__ = [
    "ErrorReply",
    "OpenAIStub",
    "RecordedRequest",
    "Reply",
    "Responder",
    "SlowReply",
    "Step",
    "StubError",
    "TextReply",
    "ToolCall",
    "ToolCallsReply",
]


class StubError(RuntimeError):
    """The stub server could not start or stop, or was used wrongly."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request the stub received."""

    method: str
    path: str
    body: Mapping[str, Any]
    """The parsed JSON body (empty for GET)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lower-cased header names."""

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The ``messages`` sent (role/content/tool_calls dicts)."""
        return list(self.body.get("messages") or [])

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools offered in ``tools``, in order."""
        return [t.get("function", {}).get("name", "") for t in self.body.get("tools") or []]

    @property
    def stream(self) -> bool:
        """True when the client asked for a streamed answer."""
        return bool(self.body.get("stream"))


class _State:
    """The script and the request log, shared between the test thread and the server thread."""

    def __init__(self, script: Iterable[Step], model: str | None, fingerprint: str, chunk_chars: int,
                 models: tuple[str, ...]) -> None:
        self.lock = threading.Lock()
        self.script: deque[Step] = deque(script)
        self.requests: list[RecordedRequest] = []
        self.served = itertools.count(1)
        self.model = model
        self.fingerprint = fingerprint
        self.chunk_chars = chunk_chars
        self.models = models
        self.stopping = threading.Event()

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def next_step(self) -> tuple[int, Step | None]:
        with self.lock:
            return next(self.served), (self.script.popleft() if self.script else None)


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse(error_body(message, kind), status_code=status)


async def _sleep(state: _State, seconds: float) -> None:
    # In small steps so stopping the server never waits for a scripted delay.
    deadline = time.monotonic() + seconds
    while not state.stopping.is_set() and (left := deadline - time.monotonic()) > 0:
        await asyncio.sleep(min(0.05, left))


def _build_app(state: _State) -> FastAPI:
    """The FastAPI app serving ``state``'s script."""
    app = FastAPI(title="jidoka OpenAI stub", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/v1/models")
    async def list_models(request: Request) -> dict[str, Any]:
        state.record(RecordedRequest("GET", request.url.path, {}, dict(request.headers)))
        return {"object": "list", "data": [{"id": m, "object": "model", "created": CREATED,
                                            "owned_by": "jidoka-stub"} for m in state.models]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        if not isinstance(body, dict):
            state.record(RecordedRequest("POST", request.url.path, {}, dict(request.headers)))
            return _error(400, "the request body must be a JSON object", "invalid_request_error")
        state.record(RecordedRequest("POST", request.url.path, body, dict(request.headers)))
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(400, "'messages' must be a non-empty list", "invalid_request_error")
        response_no, step = state.next_step()
        if step is None:
            return _error(500, f"openai_stub: the script is exhausted (request {response_no} has no "
                               "scripted reply); push more replies", "server_error")
        try:
            reply: object = step(body) if callable(step) else step
        except Exception as exc:  # a bug in a test's responder: say so instead of a bare 500
            return _error(500, f"openai_stub: the scripted responder raised {exc!r}", "server_error")
        if not isinstance(reply, TextReply | ToolCallsReply | ErrorReply | SlowReply):
            return _error(500, f"openai_stub: a script step must be a reply, got {reply!r}", "server_error")
        if isinstance(reply, SlowReply):
            await _sleep(state, reply.seconds)
            reply = reply.then
        if isinstance(reply, ErrorReply):
            return _error(reply.status, reply.message, reply.type)
        model = state.model or str(body.get("model") or "stub-model")
        if not body.get("stream"):
            return JSONResponse(completion_body(reply, body, response_no=response_no, model=model,
                                                fingerprint=state.fingerprint))
        chunks = list(stream_chunks(reply, body, response_no=response_no, model=model,
                                    fingerprint=state.fingerprint, chunk_chars=state.chunk_chars))

        async def events() -> AsyncIterator[str]:
            for chunk in chunks:
                yield f"data: {json.dumps(chunk)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


class OpenAIStub:
    """A scripted OpenAI-compatible server on 127.0.0.1 (a free port), run in a background thread.

    Use as a context manager (``with OpenAIStub(script) as stub``), or ``start()``
    / ``stop()``. ``served_model`` is the model name put in responses (default: the
    requested one, as vLLM and Ollama do); set it to mimic OpenAI's dated snapshots.
    """

    def __init__(self, script: Iterable[Step] = (), *, served_model: str | None = None,
                 fingerprint: str = "fp_jidoka_stub", chunk_chars: int = 7,
                 models: Iterable[str] = ("stub-model",), start_timeout_s: float = 10.0) -> None:
        if chunk_chars < 1:
            raise StubError(f"chunk_chars must be at least 1, got {chunk_chars}")
        self._state = _State(script, served_model, fingerprint, chunk_chars, tuple(models))
        self._start_timeout_s = start_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # ---- script and log ----------------------------------------------------------------------------------

    def push(self, *steps: Step) -> OpenAIStub:
        """Append replies to the script."""
        with self._state.lock:
            self._state.script.extend(steps)
        return self

    def reset(self, script: Iterable[Step] = ()) -> OpenAIStub:
        """Replace the script and forget recorded requests (for a server shared between tests)."""
        with self._state.lock:
            self._state.script = deque(script)
            self._state.requests.clear()
        return self

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def completions(self) -> list[RecordedRequest]:
        """The chat-completion requests received so far."""
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def remaining(self) -> int:
        """Scripted steps not yet used."""
        with self._state.lock:
            return len(self._state.script)

    # ---- server ------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (the server must be running)."""
        if self._port is None:
            raise StubError("the stub is not running; use `with OpenAIStub(...) as stub` or call start()")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to give clients: ``http://127.0.0.1:<port>/v1``."""
        return f"{self.url}/v1"

    def start(self) -> OpenAIStub:
        """Start serving; returns once the server accepts connections."""
        if self._thread is not None:
            raise StubError("the stub is already running")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
        # log_config=None: never reconfigure the test process's logging.
        config = uvicorn.Config(_build_app(self._state), log_config=None, log_level="warning",
                                access_log=False, lifespan="off", timeout_graceful_shutdown=1)
        server = uvicorn.Server(config)
        self._state.stopping.clear()
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"openai-stub-{port}",
                                  daemon=True)
        thread.start()
        deadline = time.monotonic() + self._start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(2)
                sock.close()
                raise StubError(f"the stub server did not start on 127.0.0.1:{port}")
            time.sleep(0.005)
        self._server, self._thread, self._port = server, thread, port
        return self

    def stop(self) -> None:
        """Stop serving and wait for the server thread (scripted delays are cut short)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._state.stopping.set()
        server.should_exit = True
        server.force_exit = True  # do not wait for idle keep-alive connections
        thread.join(10)
        self._server = self._thread = self._port = None
        if thread.is_alive():
            raise StubError("the stub server thread did not stop within 10 s")

    def __enter__(self) -> OpenAIStub:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
