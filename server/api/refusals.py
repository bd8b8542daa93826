"""Audited refusals of the HTTP API: each one an ``error`` event the refused caller gets the trace id of.

A refusal decided by the agent or the approval service (someone else's thread in a turn, a decision the caller
may not make) is audited where it is decided, and the error carries the trace id (``JidokaError.trace_id``).
The refusals only the API decides — a permission the caller's roles lack, the streaming chat's precheck, a
thread or approval request the caller may not see — are audited here, one append each (a refusal is never the
hot path of a turn). The response names the trace: the ``X-Jidoka-Trace`` header and ``trace_id`` in the body.

Every audited refusal is of an authenticated user, counted against a per-user budget of audited refusals a
minute (the turn rate, ``JIDOKA_RATE_LIMIT_PER_MIN``): past it the caller gets 429 instead (counted in
``jidoka_http_errors``, not audited), so a caller cannot turn cheap refused reads into unbounded audit writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from guardrails.audit.log import AuditKind
from server.api.deps import Caller, caller
from server.api.errors import ApiError, Forbidden

__all__ = ["refused", "require_permission"]

E = TypeVar("E", bound=ApiError)


def refused(who: Caller, error: E, code: str, *, thread_id: str | None = None, **details: Any) -> E:
    """Audit ``error`` as refused to ``who`` (an ``error`` event ``{"error": code, "reason", **details}`` in a new
    trace of ``thread_id``) and return it carrying that trace id, for the caller to raise."""
    services = who.services
    if services.refusal_limiter is not None:
        services.refusal_limiter.check(who.user.user_id)
    runtime = services.runtime
    trace = runtime.trace(who.user.user_id, thread_id)
    payload: dict[str, Any] = {"error": code, **details, "reason": error.message}
    if thread_id is not None:
        payload["thread_id"] = thread_id
    runtime.audit.append(trace.event(AuditKind.ERROR, payload))
    error.trace_id = trace.trace_id
    return error


def require_permission(permission: str) -> Callable[..., Caller]:
    """A dependency admitting only callers whose policy roles carry ``permission``; anyone else gets an audited
    403 (``permission_denied``, naming the permission and the route)."""

    def check(request: Request, who: Annotated[Caller, Depends(caller)]) -> Caller:
        if not who.may(permission):
            raise refused(who, Forbidden(f"{who.user.user_id} lacks the permission {permission!r} "
                                         f"(roles: {', '.join(sorted(who.user.roles)) or 'none'})"),
                          "permission_denied", permission=permission, route=f"{request.method} {request.url.path}")
        return who

    return check
