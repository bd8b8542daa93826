"""What every route depends on: the app's services (built by the lifespan) and the caller's identity."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from guardrails.identity import User
from server.api.auth import TokenVerifier
from server.api.errors import Unauthorized, Unavailable
from server.api.limits import RateLimiter
from server.api.metrics import ApiMetrics
from server.redaction import PathRedactor
from server.runtime import Runtime
from server.settings import Settings

if TYPE_CHECKING:
    from agent.copilot import Copilot

__all__ = ["Caller", "Services", "bearer", "caller", "get_services", "record_caller", "turn_caller"]

log = logging.getLogger("jidoka.api")

bearer = HTTPBearer(auto_error=False, description="A JWT: `jidoka token --as USER` (HS256 demo) or an OIDC "
                                                  "provider's RS256 token (JIDOKA_JWKS_URL).")


@dataclass
class Services:
    """Everything the routes use, built once per app by its lifespan."""

    settings: Settings
    runtime: Runtime
    copilot: Copilot
    verifier: TokenVerifier
    metrics: ApiMetrics
    limiter: RateLimiter
    record_limiter: RateLimiter | None = None
    """Record lookups per user per minute (``/v1/records``), as many as turns but counted apart, so reading
    citations never uses up chat; ``None``: the turn limiter counts them."""
    refusal_limiter: RateLimiter | None = None
    """Audited refusals per user per minute (:mod:`server.api.refusals`); past it a refusal is a 429, not an audit
    event. ``None``: not limited."""
    turn_lock: threading.RLock = field(default_factory=threading.RLock)
    """Serialises turns and decisions: the graph's SQLite checkpointer shares one connection."""
    redactor: PathRedactor = field(default_factory=PathRedactor)
    """Hides the server's paths in what the routes send (see :mod:`server.redaction`)."""


async def get_services(request: Request) -> Services:
    """The services of the app handling ``request``."""
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):
        raise Unavailable("the server is still starting")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass(frozen=True)
class Caller:
    """The authenticated user (the policy's, see :mod:`server.api.auth`) and the services."""

    user: User
    services: Services

    def may(self, permission: str) -> bool:
        """True when one of the user's policy roles carries ``permission`` (e.g. ``audit.read``)."""
        return self.services.runtime.policy.has_permission(self.user, permission)


async def caller(request: Request, services: ServicesDep, credentials: Credentials) -> Caller:
    """The caller named by the bearer token; 401 when it is missing or not valid.

    A 401 is not audited: it names no user the server can trust, and writing one audit event per forged or
    expired token would let anyone turn unauthenticated requests into audit writes. It is logged (``jidoka.api``,
    with the reason and the client's address) and counted in ``jidoka_http_errors{status="401"}``.

    Verified on the event loop (a demo token is an HMAC check, cheaper than a hop to the thread pool) unless the
    verifier may have to fetch an identity provider's keys over HTTP, which must not block the loop.
    """
    if services.verifier.offline:
        return _identify(request, services, credentials)
    return await run_in_threadpool(_identify, request, services, credentials)


def _identify(request: Request, services: Services, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    try:
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise Unauthorized("a bearer token is required (Authorization: Bearer <JWT>)")
        return Caller(services.verifier.user(credentials.credentials), services)
    except Unauthorized as exc:
        client = request.client.host if request.client else "unknown"
        log.warning("authentication refused: %s %s from %s: %s", request.method, request.url.path, client, exc.message)
        raise


CallerDep = Annotated[Caller, Depends(caller)]


async def turn_caller(who: CallerDep) -> Caller:
    """The caller, counted against the per-user turn rate limit (429 when over it)."""
    who.services.limiter.check(who.user.user_id)
    return who


async def record_caller(who: CallerDep) -> Caller:
    """The caller, counted against the per-user record-lookup rate limit (429 when over it)."""
    limiter = who.services.record_limiter or who.services.limiter
    limiter.check(who.user.user_id)
    return who
