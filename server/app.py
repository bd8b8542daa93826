"""The FastAPI app: routers, limits, error handling, and the resources its lifespan owns.

``create_app(settings)`` builds no resource itself: the lifespan builds the
:class:`~server.runtime.Runtime` and the copilot (or takes injected ones, which
it then leaves open for their owner) and keeps them on ``app.state.services``.
Every error reaches the client as a short JSON message (``{"detail", "field"?}``;
OpenAI's ``{"error": {...}}`` on the facade's paths), never as a traceback;
unexpected ones are logged with their traceback and answered 500. A typed error's
message is masked (:class:`~server.secrets.SecretMasker`) before it is logged or
sent; logged tracebacks are masked by the :class:`~server.secrets.SecretFilter`
``jidoka serve`` puts on the log handlers. No error body names a path of the
server's disk (:class:`~server.redaction.PathRedactor`); the log keeps the path.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from guardrails.policy.models import ModelPolicy
from knowledge.errors import EmbedderUnavailable, StoreUnavailable
from server.api import approvals, audit, chat, facade, meta, policy, records, signals
from server.api.auth import JwksFetcher, TokenVerifier
from server.api.deps import Services
from server.api.errors import TRACE_HEADER, ApiError
from server.api.limits import BodySizeLimit, RateLimiter
from server.api.metrics import ApiMetrics, StatusCounter
from server.api.model_metrics import ModelWatch
from server.api.policy import MAX_DRAFT_BYTES, WHATIF_PATH
from server.errors import JidokaError
from server.redaction import PathRedactor
from server.runtime import Runtime, build_copilot, build_runtime
from server.scheduler import MonitorScheduler
from server.secrets import SecretMasker, install_log_masking
from server.settings import Settings
from server.telemetry import Telemetry, build_telemetry, instrument_app
from tools.spec import ServiceUnavailable

if TYPE_CHECKING:
    from agent.copilot import Copilot

__all__ = ["app_from_env", "create_app"]

log = logging.getLogger("jidoka.api")


def _error_body(request: Request, status: int, message: str, field: str | None = None,
                extra: dict[str, Any] | None = None, trace_id: str | None = None, *,
                logged: bool = False) -> dict[str, Any]:
    redactor = getattr(request.app.state, "redactor", None)
    if isinstance(redactor, PathRedactor):
        shown = redactor.redact(message)
        if shown != message and not logged:  # the client gets no server path; the log keeps it
            log.warning("%s %s answered %d without the path in: %s", request.method, request.url.path, status,
                        message)
        message = shown
        extra = redactor.redact_json(extra) if extra else extra
    if request.url.path in facade.FACADE_PATHS:
        kind = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                429: "rate_limit_error"}.get(status, "invalid_request_error" if status < 500 else "server_error")
        return {"error": {"message": message, "type": kind, "param": field, "code": str(status)}}
    body: dict[str, Any] = {"detail": message}
    if field:
        body["field"] = field
    if extra:
        body.update(extra)
    if trace_id:
        body["trace_id"] = trace_id
    return body


def _trace_headers(exc: JidokaError, headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` plus ``X-Jidoka-Trace`` when the error was audited (its trace id; OpenAI-shaped bodies have no
    field for it, so the header is the one place every path names it)."""
    out = dict(headers or {})
    if exc.trace_id:
        out[TRACE_HEADER] = exc.trace_id
    return out


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("query", "header", "cookie"):
        # A repeated parameter (``?status=a&status=b``): the name is the field; which occurrence is not a path.
        parts = [str(p) for p in loc[1:] if not isinstance(p, int)]
    elif parts and parts[0] in ("body", "path"):
        parts = parts[1:]
    return ".".join(parts) or "(body)"


def _install_handlers(app: FastAPI, masker: SecretMasker) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_error_body(request, exc.status, exc.message, exc.field, trace_id=exc.trace_id),
                            status_code=exc.status, headers=_trace_headers(exc, exc.headers))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(e.get("loc", ())), "message": str(e.get("msg", "invalid"))} for e in exc.errors()]
        first = errors[0] if errors else {"field": "(body)", "message": "invalid request"}
        return JSONResponse(_error_body(request, 422, f"{first['field']}: {first['message']}", first["field"],
                                        {"errors": errors[:20]}), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(_error_body(request, exc.status_code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(JidokaError)
    async def typed(request: Request, exc: JidokaError) -> JSONResponse:
        # A typed error no route mapped (e.g. the knowledge store down): its message is written for people.
        message = masker.mask(str(exc))
        log.warning("%s on %s %s: %s", type(exc).__name__, request.method, request.url.path, message)
        status = 503 if isinstance(exc, StoreUnavailable | EmbedderUnavailable | ServiceUnavailable) else 500
        return JSONResponse(_error_body(request, status, message, trace_id=exc.trace_id, logged=True),
                            status_code=status, headers=_trace_headers(exc))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(_error_body(request, 500, "internal error; the server log has the details"),
                            status_code=500)


def _include_web(app: FastAPI) -> None:
    """The widget, demo page, inbox and audit viewer (server.web, served without an OpenAPI entry)."""
    try:
        from server.web.routes import router as web_router
    except ModuleNotFoundError as exc:  # only a missing web package is tolerated, not a broken one
        if not (exc.name or "").startswith("server.web"):
            raise
        log.warning("server.web is not installed: the API runs without its pages")
        return
    app.include_router(web_router)


def create_app(settings: Settings, *, runtime: Runtime | None = None, copilot: Copilot | None = None,
               jwks_fetcher: JwksFetcher | None = None, telemetry: Telemetry | None = None) -> FastAPI:
    """The jidoka HTTP app for ``settings``.

    ``runtime`` / ``copilot`` are built by the lifespan when omitted (and closed by it); injected ones stay
    their owner's. ``jwks_fetcher`` replaces the HTTP fetch of ``JIDOKA_JWKS_URL`` (tests, custom transports).
    ``telemetry``: the tracer provider of the HTTP spans and of the runtime the lifespan builds; by default the
    one the ``OTEL_*`` settings describe (nothing when none is set), shut down (flushed) when the app stops. The
    HTTP instrumentation is added here because the app's middleware is fixed before its lifespan starts.
    """
    metrics = ApiMetrics()
    owned = telemetry is None
    spans = build_telemetry(settings.tracing) if telemetry is None else telemetry

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = runtime if runtime is not None else build_runtime(settings, tracing=spans.tracing)
        scheduler: MonitorScheduler | None = None
        try:
            cp = copilot if copilot is not None else build_copilot(rt)
            metrics.watch_approvals(rt.state_engine)
            metrics.watch_models(ModelWatch(rt.audit, ModelPolicy.from_policy(rt.policy).drift))
            app.state.services = Services(settings=settings, runtime=rt, copilot=cp,
                                          verifier=TokenVerifier(settings, rt.policy, jwks_fetcher=jwks_fetcher),
                                          metrics=metrics, limiter=RateLimiter(settings.rate_limit_per_minute),
                                          record_limiter=RateLimiter(settings.rate_limit_per_minute),
                                          refusal_limiter=RateLimiter(settings.rate_limit_per_minute),
                                          redactor=app.state.redactor)
            scheduler = _scheduler(settings, rt, app.state.services)
            yield
        finally:
            if scheduler is not None:
                scheduler.stop()
            app.state.services = None
            if runtime is None:
                rt.close()
            if owned:
                spans.shutdown()

    app = FastAPI(title="jidoka", version="0.3", lifespan=lifespan,
                  description="A governed AI copilot for manufacturers: chat (SSE), approvals, audit, and an "
                              "OpenAI-compatible facade. Authenticate with `Authorization: Bearer <JWT>`.")
    app.state.settings = settings
    app.state.services = None
    app.state.redactor = PathRedactor.from_settings(settings)
    _install_handlers(app, SecretMasker.from_settings(settings))
    for module in (chat, approvals, audit, policy, records, signals, meta, facade):
        app.include_router(module.router)
    _include_web(app)
    app.add_middleware(StatusCounter, metrics=metrics)
    if settings.cors_origins:  # pages on other origins embedding the widget (bearer tokens, no cookies)
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_credentials=False,
                           allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type", "Accept"],
                           expose_headers=["Retry-After", TRACE_HEADER], max_age=600)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes,
                       path_limits={WHATIF_PATH: max(settings.max_body_bytes, MAX_DRAFT_BYTES)})
    instrument_app(app, spans, settings.tracing)
    return app


def _scheduler(settings: Settings, runtime: Runtime, services: Services) -> MonitorScheduler | None:
    """Start the monitor's scheduled runs (``None``: turned off, or no monitor)."""
    monitor = runtime.monitor
    if monitor is None:
        return None
    interval = settings.monitor_interval_s
    if interval is None:
        interval = monitor.rules.interval_minutes * 60 if monitor.rules.detectors else 0
    if interval <= 0:
        return None
    scheduler = MonitorScheduler(lambda holder: monitor.run(holder=holder), interval,
                                 exclusive=lambda: services.turn_lock)
    scheduler.start()
    return scheduler


def app_from_env() -> FastAPI:
    """The app on settings read from the environment: the factory each worker of ``jidoka serve --workers N``
    calls (``uvicorn server.app:app_from_env --factory``)."""
    settings = Settings.from_env()
    install_log_masking(settings)  # this worker's log handlers, as uvicorn configured them
    return create_app(settings)
