"""Approval requests over HTTP: list (the open inbox, or the decided requests the caller may see), show, approve,
reject (a decision resumes the paused thread, or publishes an approved document) and undo."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query

from guardrails.approvals.decided import MAX_PAGE, list_decided
from guardrails.approvals.models import DecisionKind, RequestStatus
from guardrails.audit.trace import Trace
from guardrails.errors import RequestNotFound
from guardrails.monitoring.proposals import is_signal_thread
from guardrails.publishing import PUBLISH_ACTION
from knowledge.errors import KnowledgeError
from server.api.approval_pages import CURSOR_PATTERN, StatusFilter, decided_statuses, encode_cursor, parse_cursor
from server.api.approval_view import may_see, request_view
from server.api.deps import Caller, caller, turn_caller
from server.api.errors import ApiError, Conflict, Forbidden, NotFound, Unprocessable
from server.api.models import DecisionRequest
from server.api.refusals import refused
from server.api.turns import governed, run_turn

__all__ = ["router"]

router = APIRouter(tags=["approvals"])

DECIDED_PAGE = 50
"""The decided listing's page when no ``limit`` is given."""

RequestId = Annotated[str, Path(pattern=r"^(?:APR|AUT)-[0-9A-F]{12}$",
                                  description="The request id (APR-… or AUT-… for an autonomous run).")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not authenticated."},
    403: {"description": "Not eligible (or the requester deciding their own request); audited, `trace_id` names "
                         "the event."},
    404: {"description": "No such request the caller may see (audited)."},
    409: {"description": "Already decided, expired, or not executed (audited)."},
    422: {"description": "A field is invalid."},
    429: {"description": "Too many turns in a minute."},
}


@router.get("/v1/approvals", summary="Requests the caller may decide or made; or those decided they may see",
            responses=_ERRORS)
def list_approvals(who: Annotated[Caller, Depends(caller)],
                   status: Annotated[list[StatusFilter] | None, Query(
                       description="Repeatable. None or `pending`: the open inbox. `decided` (every status but "
                                   "pending) or decided statuses: the decided requests the caller may see.")] = None,
                   limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE, description=(
                       f"At most this many (decided listing: default {DECIDED_PAGE}, at most {MAX_PAGE})."))] = None,
                   cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN, description=(
                       "The decided listing's `next_cursor`: the page after it."))] = None,
                   ) -> dict[str, Any]:
    """Newest first. The open inbox: pending requests the caller may decide now, and the caller's own requests.
    The decided listing: requests no longer pending that the caller may see (the rule of ``GET
    /v1/approvals/{id}``: their own, those they were routed to or decided, every one for an auditor), newest
    change first, ``limit`` a page with ``next_cursor`` for the next; no total, so nothing hidden is counted."""
    services = who.services
    decided = decided_statuses(status or [])
    if decided is not None:
        return _decided(who, decided, limit or DECIDED_PAGE, cursor)
    if cursor is not None:
        raise Unprocessable("cursor: only the decided listing (status=decided) has pages", field="cursor")

    def read() -> dict[str, Any]:
        requests = services.runtime.approvals.store.list_for(who.user, services.runtime.policy,
                                                             limit=limit or 200)
        views = [request_view(r, who.user, services.runtime.approvals) for r in requests
                 if not status or r.status is RequestStatus.PENDING]
        return {"approvals": views, "count": len(views)}

    return governed(services, read, exclusive=False)


def _decided(who: Caller, statuses: frozenset[RequestStatus], limit: int, cursor: str | None) -> dict[str, Any]:
    """A page of the decided requests ``who`` may see (masked for them, like every view of a request)."""
    after = parse_cursor(cursor) if cursor is not None else None
    runtime = who.services.runtime
    auditor = who.may("audit.read")

    def read() -> dict[str, Any]:
        page = list_decided(runtime.approvals.store, lambda r: may_see(r, who.user, auditor=auditor),
                            involving=None if auditor else who.user.user_id, statuses=statuses, limit=limit,
                            after=after)
        views = [request_view(r, who.user, runtime.approvals) for r in page.requests]
        return {"approvals": views, "count": len(views), "statuses": sorted(s.value for s in statuses),
                "next_cursor": encode_cursor(page.next_key) if page.next_key is not None else None}

    return governed(who.services, read, exclusive=False)


def _visible(who: Caller, request_id: str) -> Any:
    """The request if the caller may see it; else an audited 404, the same for a request hidden from the caller
    and for no request at all (``request_not_visible`` / ``request_not_found`` in the audit only)."""
    try:
        request = who.services.runtime.approvals.get(request_id)
    except RequestNotFound as exc:
        raise refused(who, NotFound(exc.message), "request_not_found", request_id=request_id) from None
    if not may_see(request, who.user, auditor=who.may("audit.read")):
        raise refused(who, NotFound(f"no approval request {request_id!r}"), "request_not_visible",
                      request_id=request_id)
    return request


@router.get("/v1/approvals/{request_id}", summary="One request", responses=_ERRORS)
def show_approval(request_id: RequestId, who: Annotated[Caller, Depends(caller)]) -> dict[str, Any]:
    """The request (its requester, eligible approvers, deciders and auditors may see it)."""
    return governed(who.services, lambda: request_view(_visible(who, request_id), who.user,
                                                           who.services.runtime.approvals), exclusive=False)


def _decide(who: Caller, request_id: str, kind: DecisionKind, comment: str) -> dict[str, Any]:
    services = who.services
    runtime = services.runtime

    def decide() -> Any:
        # No visibility check first: the store is the authority, and "not eligible" is a 403, not a 404. A refusal
        # is audited by the service in the same buffered write a decision would have been; its error names the trace.
        with runtime.audit.buffer() as buffer:
            return runtime.approvals.decide(request_id, who.user.user_id, kind, comment, audit=buffer)

    request = governed(services, decide)
    services.metrics.approval_decisions.labels(decision=kind.value).inc()
    resumed: dict[str, Any] | None = None
    resume_error: str | None = None
    if request.status is not RequestStatus.PENDING and request.action == PUBLISH_ACTION:
        resumed, resume_error = _publish(who, request_id)
        request = governed(services, lambda: runtime.approvals.get(request_id))
    elif request.status is not RequestStatus.PENDING and is_signal_thread(request.thread_id):
        resumed, resume_error = _settle_signal(who, request_id)
        request = governed(services, lambda: runtime.approvals.get(request_id))
    elif request.status is not RequestStatus.PENDING:
        try:
            resumed = run_turn(services, lambda: services.copilot.resume(request_id)).to_json()
        except ApiError as exc:  # the decision stands; the thread can be resumed later (`jidoka approvals resume`)
            resume_error = exc.message
        request = governed(services, lambda: runtime.approvals.get(request_id))
    return {"request": request_view(request, who.user, runtime.approvals), "resumed": resumed,
            "resume_error": resume_error}


def _settle_signal(who: Caller, request_id: str) -> tuple[dict[str, Any] | None, str | None]:
    """Execute an approved request made for a signal (the monitor's, or an override's): (what was settled, or why
    not — the next monitor run settles it then)."""
    monitor = who.services.runtime.monitor
    if monitor is None:
        return None, "this server runs no monitor; the next `jidoka monitor run` executes it"

    def settle() -> dict[str, Any] | None:
        settled = monitor.settle(request_id)
        return None if settled is None else {"request_id": settled.request_id, "action": settled.action,
                                             "status": settled.status, "reason": settled.reason}

    try:
        return governed(who.services, settle), None
    except ApiError as exc:
        return None, exc.message


def _publish(who: Caller, request_id: str) -> tuple[dict[str, Any] | None, str | None]:
    """Publish an approved document (a ``publish_document`` request): (what was settled, or why it was not)."""
    runtime = who.services.runtime
    publications = runtime.publications
    if publications is None:
        return None, "this server publishes no documents; run `jidoka approvals resume` to publish it"

    def settle() -> dict[str, Any]:
        with runtime.audit.buffer() as buffer:
            settled = publications.settle(request_id, audit=buffer)
        return {"request_id": settled.request_id, "doc_id": settled.doc_id, "revision": settled.revision,
                "status": settled.status, "reason": settled.reason}

    try:
        return governed(who.services, settle), None
    except ApiError as exc:  # the decision stands; `jidoka approvals resume` publishes it later
        return None, exc.message
    except KnowledgeError as exc:  # the store is down or another process writes to it
        return None, f"{exc}; run `jidoka approvals resume {request_id}` to publish it"


@router.post("/v1/approvals/{request_id}/approve", summary="Approve (resumes the thread once fully approved)",
             responses=_ERRORS)
def approve(request_id: RequestId, who: Annotated[Caller, Depends(turn_caller)],
            body: Annotated[DecisionRequest | None, Body()] = None) -> dict[str, Any]:
    """Approve for one of the request's open approver groups; when all groups approved, the paused thread
    resumes and the action executes exactly once."""
    return _decide(who, request_id, DecisionKind.APPROVE, (body or DecisionRequest()).comment)


@router.post("/v1/approvals/{request_id}/reject", summary="Reject (the thread resumes; nothing executes)",
             responses=_ERRORS)
def reject(request_id: RequestId, who: Annotated[Caller, Depends(turn_caller)],
           body: Annotated[DecisionRequest | None, Body()] = None) -> dict[str, Any]:
    """Reject the request; the paused thread resumes and tells its requester."""
    return _decide(who, request_id, DecisionKind.REJECT, (body or DecisionRequest()).comment)


@router.post("/v1/approvals/{request_id}/undo", summary="Undo an executed action", responses=_ERRORS)
def undo(request_id: RequestId, who: Annotated[Caller, Depends(turn_caller)],
         body: Annotated[DecisionRequest | None, Body()] = None) -> dict[str, Any]:
    """Run the action's compensation (its requester or an eligible approver only); audited. The body's
    ``comment`` is accepted for symmetry with approve/reject but not stored (the undo audit event has no
    comment field)."""
    services = who.services
    runtime = services.runtime

    def run() -> dict[str, Any]:
        request = _visible(who, request_id)
        trace = Trace(trace_id=uuid.uuid4().hex, thread_id=request.thread_id, user_id=who.user.user_id,
                      policy_hash=runtime.policy.hash)
        with runtime.audit.buffer() as buffer:
            outcome = runtime.approvals.undo(request_id, who.user, trace=trace, audit=buffer)
        refusal: ApiError | None = None  # the undo's trace holds the refusal (a deny, or why nothing was undone)
        if outcome.status == "denied":
            refusal = Forbidden(f"{outcome.reason} [{outcome.rule_id}]")
        elif outcome.status in ("not_undoable", "conflict"):
            refusal = Conflict(f"{outcome.status}: {outcome.reason} [{outcome.rule_id}]")
        if refusal is not None:
            refusal.trace_id = trace.trace_id
            raise refusal
        return {"request": request_view(runtime.approvals.get(request_id), who.user, runtime.approvals),
                "undo": {"status": outcome.status, "rule_id": outcome.rule_id, "reason": outcome.reason}}

    return governed(services, run)
