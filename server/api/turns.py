"""Running governed turns for the API: one at a time, measured, and with typed errors mapped to HTTP errors."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from agent.copilot import TurnResult
from agent.errors import AgentError, InvalidQuestion, ThreadAwaitingApproval, ThreadNotYours
from guardrails.errors import (
    AlreadyDecided,
    ApprovalError,
    BindingMismatch,
    ConcurrentDecision,
    InvalidTransition,
    NotEligible,
    RequestExpired,
    RequestNotFound,
    SeparationOfDuties,
    UnknownUser,
)
from knowledge.errors import JidokaError
from server.api.deps import Services
from server.api.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, Unauthorized, Unprocessable

__all__ = ["api_error", "governed", "run_turn"]

T = TypeVar("T")


def api_error(exc: Exception) -> ApiError | None:
    """The HTTP error for a typed agent / approval error (``None`` for anything else), carrying the trace id of
    the audit event that recorded it, when one did."""
    mapped = _mapped(exc)
    if mapped is not None and isinstance(exc, JidokaError):
        mapped.trace_id = exc.trace_id
    return mapped


def _mapped(exc: Exception) -> ApiError | None:
    if isinstance(exc, InvalidQuestion):
        return Unprocessable(f"message: {exc.reason}", field="message")
    if isinstance(exc, ThreadNotYours):
        return Forbidden(str(exc), field="thread_id")
    if isinstance(exc, ThreadAwaitingApproval):
        return Conflict(str(exc), field="thread_id")
    if isinstance(exc, RequestNotFound):
        return NotFound(exc.message)
    if isinstance(exc, NotEligible | SeparationOfDuties):
        return Forbidden(exc.message)
    if isinstance(exc, AlreadyDecided | RequestExpired | ConcurrentDecision | InvalidTransition | BindingMismatch):
        return Conflict(exc.message)
    if isinstance(exc, ApprovalError):
        return BadRequest(exc.message)
    if isinstance(exc, UnknownUser):
        return Unauthorized(str(exc))
    if isinstance(exc, AgentError):
        return BadRequest(str(exc))
    return None


def governed(services: Services, work: Callable[[], T], *, exclusive: bool = True) -> T:
    """Run ``work`` turning typed errors into :class:`ApiError`; ``exclusive`` holds the turn lock (for
    anything that runs or resumes a graph, or decides); plain reads pass ``exclusive=False``."""
    if exclusive:
        with services.turn_lock:
            return governed(services, work, exclusive=False)
    try:
        return work()
    except (AgentError, ApprovalError, UnknownUser) as exc:
        mapped = api_error(exc)
        if mapped is None:
            raise
        raise mapped from None


def run_turn(services: Services, work: Callable[[], TurnResult], *, fresh_trace: bool = False) -> TurnResult:
    """Run one turn (ask or resume) with :func:`governed` and count it in the metrics.

    Only the audit records written by this call are counted (``seq`` after the chain head read before it), so a
    resumed turn does not count its first half twice. ``fresh_trace``: the turn runs under a trace of its own
    (:meth:`Copilot.ask` makes a new one each time), so every record of that trace is this call's and the head
    need not be read (one read transaction less per turn).
    """
    audit = services.runtime.audit
    metrics = services.metrics
    with services.turn_lock:
        before = None if fresh_trace else audit.head().seq
        started = time.perf_counter()
        try:
            result = work()
        except (AgentError, ApprovalError, UnknownUser) as exc:
            metrics.observe_turn(None, [], time.perf_counter() - started, outcome="refused")
            mapped = api_error(exc)
            if mapped is None:
                raise
            raise mapped from None
        except Exception:
            metrics.observe_turn(None, [], time.perf_counter() - started, outcome="error")
            raise
        elapsed = time.perf_counter() - started
        records = [r for r in audit.by_trace(result.trace_id) if before is None or r.seq > before]
        metrics.observe_turn(result, records, elapsed)
        return result
