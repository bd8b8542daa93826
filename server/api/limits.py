"""Input limits: the request-size cap (an ASGI middleware) and the per-user turn rate limit."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from server.api.errors import RateLimited

__all__ = ["BodySizeLimit", "RateLimiter"]

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]


class BodySizeLimit:
    """Refuses request bodies larger than ``max_bytes`` with 413 before any handler runs.

    A declared ``Content-Length`` over the limit is refused at once; otherwise the body is read (up to the
    limit) and replayed to the app, so chunked uploads cannot slip past the cap either.
    """

    def __init__(self, app: Callable[..., Any], max_bytes: int, *, path_limits: Mapping[str, int] | None = None
                 ) -> None:
        """``path_limits`` gives routes that take larger bodies (a draft policy) their own cap, by exact path."""
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    async def _refuse(self, send: Send, limit: int) -> None:
        source = "JIDOKA_MAX_BODY_BYTES" if limit == self.max_bytes else "this route's limit"
        body = json.dumps({"detail": f"the request body is larger than {limit} bytes ({source})"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False  # the server rejects a malformed length itself
            if too_big:
                await self._refuse(send, limit)
                return
        chunks: list[bytes] = []
        size = 0
        more = True
        disconnected: Message | None = None
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected = message
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, limit)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body"))
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                if disconnected is not None:
                    return disconnected
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RateLimiter:
    """At most ``per_minute`` turns per user in any sliding 60-second window (in this process)."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, user_id: str) -> None:
        """Count one turn for ``user_id``; :class:`RateLimited` (with the seconds to wait) when over the limit."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(user_id, deque())
            while hits and now - hits[0] >= 60.0:
                hits.popleft()
            if len(hits) >= self.per_minute:
                wait = max(1, math.ceil(60.0 - (now - hits[0])))
                raise RateLimited(f"{user_id} asked more than {self.per_minute} times in a minute "
                                  f"(JIDOKA_RATE_LIMIT_PER_MIN); try again in {wait} s", wait)
            hits.append(now)
