"""Signals over HTTP: what the monitor found, for the people it concerns; acknowledge, dismiss, override.

A caller sees the signals of their sites that concern one of their roles (the detector's owner, the roles it was
escalated to, its watchers), those whose requests they may decide, or every signal with ``audit.read``. Anything
else is the same audited 404 as a signal that does not exist. A response needs a reason; a refused response is
audited by the monitor (``signal_response`` with effect ``deny``) and answered 403 with that trace.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from guardrails.approvals.models import ApprovalRequest
from guardrails.errors import ApprovalError, SignalConflict, SignalNotFound, SignalResponseRefused
from guardrails.monitoring import Monitor, ResponseKind, Signal, may_see, respond, signal_view
from guardrails.monitoring.proposals import signal_thread
from server.api.deps import Caller, caller, turn_caller
from server.api.errors import Conflict, Forbidden, NotFound, Unavailable
from server.api.refusals import refused
from server.api.turns import governed

__all__ = ["router"]

router = APIRouter(tags=["signals"])

SignalId = Annotated[str, Path(pattern=r"^SIG-[0-9A-F]{10}$", description="The signal id (SIG-…).")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated."},
    403: {"description": "Not the signal's role at its site, no reason, or already resolved (audited)."},
    404: {"description": "No such signal the caller may see (audited)."},
    422: {"description": "A field is invalid."},
}


class ResponseBody(BaseModel):
    """``POST /v1/signals/{id}/acknowledge|dismiss|override``."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=1000, description="Why (required; kept in the audit).")
    action: str | None = Field(None, max_length=64, description="Override only: the action to take instead "
                                                                 "(e.g. place_quality_hold on another lot).")
    args: dict[str, Any] | None = Field(None, description="The arguments of that action.")


def _monitor(who: Caller) -> Monitor:
    monitor = who.services.runtime.monitor
    if monitor is None:
        raise Unavailable("this server runs no monitor")
    return monitor


def _requests(monitor: Monitor, signal: Signal) -> tuple[ApprovalRequest, ...]:
    found = []
    for request_id in signal.requests:
        try:
            found.append(monitor.approvals.get(request_id))
        except ApprovalError:
            continue
    return tuple(found)


def _visible(who: Caller, monitor: Monitor, signal: Signal) -> bool:
    return may_see(signal, who.user, monitor.policy, monitor.rules, _requests(monitor, signal))


@router.get("/v1/signals", summary="Signals for the caller", responses=_ERRORS)
def list_signals(who: Annotated[Caller, Depends(caller)],
                 status: Annotated[Literal["active", "all"], Query(description="Active ones only (default) or "
                                                                               "every signal.")] = "active",
                 ) -> dict[str, Any]:
    """Newest first: the signals of the caller's sites that concern them."""
    monitor = _monitor(who)

    def read() -> dict[str, Any]:
        sites = None if who.may("audit.read") else monitor.policy.user_sites(who.user)
        signals = monitor.store.signals(sites=sites, active_only=status == "active")
        views = [signal_view(s, who.user, monitor.policy, monitor.rules) for s in signals
                 if _visible(who, monitor, s)]
        return {"signals": views, "count": len(views)}

    return governed(who.services, read, exclusive=False)


def _get(who: Caller, monitor: Monitor, signal_id: str) -> Signal:
    try:
        signal = monitor.store.get(signal_id)
    except SignalNotFound as exc:
        raise refused(who, NotFound(str(exc)), "signal_not_found", signal_id=signal_id) from None
    if not _visible(who, monitor, signal):
        raise refused(who, NotFound(f"no signal {signal_id!r}"), "signal_not_visible", signal_id=signal_id)
    return signal


@router.get("/v1/signals/{signal_id}", summary="One signal", responses=_ERRORS)
def show_signal(signal_id: SignalId, who: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
    """The signal with its evidence, proposals, outcome and responses."""
    monitor = _monitor(who)
    return governed(who.services, lambda: signal_view(_get(who, monitor, signal_id), who.user, monitor.policy,
                                                      monitor.rules), exclusive=False)


def _respond(who: Caller, signal_id: str, kind: ResponseKind, body: ResponseBody) -> dict[str, Any]:
    monitor = _monitor(who)

    def run() -> dict[str, Any]:
        _get(who, monitor, signal_id)
        trace = who.services.runtime.trace(who.user.user_id, signal_thread(signal_id))
        try:
            with monitor.audit.buffer() as buffer:  # flushed also when the response is refused
                signal = respond(monitor, signal_id, who.user, kind, body.reason, action=body.action,
                                 args=body.args, audit=buffer, trace=trace)
        except SignalResponseRefused as exc:
            error: Forbidden | Conflict = Forbidden(str(exc))
            error.trace_id = trace.trace_id
            raise error from None
        except SignalConflict as exc:
            raise Conflict(str(exc)) from None
        return {"signal": signal_view(signal, who.user, monitor.policy, monitor.rules), "trace_id": trace.trace_id}

    return governed(who.services, run)


@router.post("/v1/signals/{signal_id}/acknowledge", summary="Acknowledge (with a reason)", responses=_ERRORS)
def acknowledge(signal_id: SignalId, body: ResponseBody, who: Annotated[Caller, Depends(turn_caller)],
                ) -> dict[str, Any]:
    """Say you have seen it and are on it."""
    return _respond(who, signal_id, ResponseKind.ACKNOWLEDGE, body)


@router.post("/v1/signals/{signal_id}/dismiss", summary="Dismiss (with a reason)", responses=_ERRORS)
def dismiss(signal_id: SignalId, body: ResponseBody, who: Annotated[Caller, Depends(turn_caller)],
            ) -> dict[str, Any]:
    """Judge it no problem: it stays quiet while the detector still finds it."""
    return _respond(who, signal_id, ResponseKind.DISMISS, body)


@router.post("/v1/signals/{signal_id}/override", summary="Override the recommendation (with a reason)",
             responses=_ERRORS)
def override(signal_id: SignalId, body: ResponseBody, who: Annotated[Caller, Depends(turn_caller)],
             ) -> dict[str, Any]:
    """Decline the monitor's recommendation (rejecting its pending request where you may decide it) and optionally
    ask for another action instead; audited as an override linked to the recommendation."""
    return _respond(who, signal_id, ResponseKind.OVERRIDE, body)
