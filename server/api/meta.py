"""Health, readiness, metrics, the caller's identity and tools, and the demo login."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from guardrails.errors import UnknownUser
from guardrails.identity import User
from server.api.auth import mint_for
from server.api.deps import Caller, Services, caller, get_services
from server.api.errors import NotFound, Unavailable
from server.api.metrics import CONTENT_TYPE
from server.api.models import DemoTokenRequest

__all__ = ["DEMO_TOKEN_TTL_S", "router", "user_json"]

router = APIRouter()
DEMO_TOKEN_TTL_S = 8 * 3600
ServicesDep = Annotated[Services, Depends(get_services)]


def user_json(user: User) -> dict[str, Any]:
    """``{"id", "name", "roles", "sites"}`` (``sites`` is ``["*"]`` for every site)."""
    sites = user.site_list()
    return {"id": user.user_id, "name": user.name, "roles": sorted(user.roles),
            "sites": sites if isinstance(sites, list) else [sites]}


@router.get("/healthz", tags=["ops"], summary="Liveness")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"], summary="Readiness: databases reachable, policy loaded",
            responses={503: {"description": "Not ready (the body says what is missing)."}})
def readyz(request: Request) -> Response:
    """200 when the plant and state databases answer and a policy is loaded; 503 otherwise."""
    services = getattr(request.app.state, "services", None)
    if not isinstance(services, Services):
        return JSONResponse({"status": "starting"}, status_code=503)
    checks: dict[str, str] = {}
    runtime = services.runtime
    for name, engine in (("plant_db", runtime.data_engine), ("state_db", runtime.state_engine)):
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks[name] = "ok"
        except Exception as exc:  # any driver error means not ready
            checks[name] = f"unreachable: {type(exc).__name__}"
    checks["policy"] = f"ok ({runtime.policy.hash[:12]})" if runtime.policy.users else "no users"
    ready = all(v.startswith("ok") for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", tags=["ops"], summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {}}}})
def metrics(services: ServicesDep) -> Response:
    """Turns, gate decisions by effect, degraded turns, approvals by status, screening hits, latencies."""
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/v1/me", tags=["identity"], summary="Who the token says the caller is",
            responses={401: {"description": "Not authenticated."}})
def me(who: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
    """The policy's user behind the token, with the non-tool permissions of its roles."""
    policy = who.services.runtime.policy
    permissions = sorted({p for r in who.user.roles if r in policy.roles for p in policy.roles[r].permissions})
    return {**user_json(who.user), "permissions": permissions}


@router.get("/v1/tools", tags=["identity"], summary="The tools and actions the caller may use",
            responses={401: {"description": "Not authenticated."}})
def tools(who: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
    """Read tools the gate allows the caller (at some site), and actions the caller may propose."""
    runtime = who.services.runtime
    shown: list[dict[str, Any]] = []
    for spec in runtime.catalog:
        decision = runtime.tools.gate.decide(who.user, spec.name)
        if decision.allowed:
            shown.append({"name": spec.name, "kind": "read", "domain": spec.domain, "description": spec.description,
                          "risk_class": spec.risk_class, "rule_id": decision.rule_id,
                          "arguments": list(spec.args_model.model_fields)})
    actions = runtime.approvals.actions
    for action in actions.catalog:
        scope, rule_id, _ = actions.base_grant(who.user, action)
        if scope is not None:
            shown.append({"name": action.name, "kind": "action", "domain": action.domain,
                          "description": action.description, "risk_class": action.risk_class, "rule_id": rule_id,
                          "arguments": list(action.args_model.model_fields)})
    return {"user": who.user.user_id, "tools": shown, "count": len(shown)}


def _demo(services: Services) -> None:
    if not services.settings.demo_login:
        raise NotFound("Not Found")
    if not services.settings.jwt_secret:
        raise Unavailable("the demo login needs JIDOKA_JWT_SECRET")


@router.get("/v1/demo/users", tags=["demo"], summary="Demo users (only with --demo-login)",
            responses={404: {"description": "The demo login is off."}})
def demo_users(services: ServicesDep) -> list[dict[str, Any]]:
    """Every user of the policy, for the demo page's user picker."""
    _demo(services)
    return [user_json(u) for u in sorted(services.runtime.policy.users.values(), key=lambda u: u.user_id)]


@router.post("/v1/demo/token", tags=["demo"], summary="A demo token (only with --demo-login)",
             responses={404: {"description": "The demo login is off, or no such user."},
                        422: {"description": "A field is invalid."}})
def demo_token(body: DemoTokenRequest, services: ServicesDep) -> dict[str, Any]:
    """An HS256 token for a policy user, valid for 8 hours (or JIDOKA_JWT_MAX_TTL_S if shorter) — demo only, never
    enable in production."""
    _demo(services)
    try:
        user = services.runtime.policy.user(body.user)
    except UnknownUser:
        raise NotFound(f"no demo user {body.user!r}", field="user") from None
    settings = services.settings
    token = mint_for(settings, user, min(DEMO_TOKEN_TTL_S, settings.jwt_max_ttl_s))
    return {"token": token, "user": user_json(user)}
