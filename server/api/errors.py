"""The error tree of the HTTP API: each error knows its status and says one sentence a person can act on."""

from __future__ import annotations

from collections.abc import Mapping

from server.errors import ServerError

__all__ = [
    "TRACE_HEADER",
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "RateLimited",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
]


TRACE_HEADER = "X-Jidoka-Trace"
"""The response header naming the trace of the audit event a request left (an audited refusal, an audit read)."""


class ApiError(ServerError):
    """Base of every error the API answers with; ``status`` is the HTTP status, ``field`` names a bad input."""

    status = 400

    def __init__(self, message: str, *, field: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        self.message = message
        self.field = field
        self.headers = dict(headers or {})
        super().__init__(message)

    def body(self) -> dict[str, str]:
        """The JSON body: ``{"detail": message, "field"?: name, "trace_id"?: the audited refusal's trace}``."""
        body = {"detail": self.message}
        if self.field:
            body["field"] = self.field
        if self.trace_id:
            body["trace_id"] = self.trace_id
        return body


class BadRequest(ApiError):
    """The request cannot be read as sent."""


class Unauthorized(ApiError):
    """No valid bearer token (missing, forged, expired, or its subject is not a policy user)."""

    status = 401

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    """A known user without the role, permission or scope for this."""

    status = 403


class NotFound(ApiError):
    """Nothing with this id that the caller may see."""

    status = 404


class Conflict(ApiError):
    """The thing is not in a state that allows this (already decided, expired, thread paused)."""

    status = 409


class Unprocessable(ApiError):
    """A field's value is invalid (the message and ``field`` name it)."""

    status = 422


class RateLimited(ApiError):
    """Too many turns by one user in the last minute; ``Retry-After`` says when to try again."""

    status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})
        self.retry_after_s = retry_after_s


class Unavailable(ApiError):
    """A service the request needs (e.g. the knowledge index) is not available right now."""

    status = 503
