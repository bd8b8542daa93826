"""``jidoka approvals list|show|approve|reject``: see and decide approval requests from a terminal.

Mounted by the main CLI as ``jidoka approvals``. It reads :class:`Settings` from
the root context (falling back to the environment), opens the state database
named by ``settings.state_url`` (never creating one) and the policy from
``settings.policy_dir``. Every refusal — unknown user or request, a user who may
not decide, a request already decided or expired — is one line on stderr, exit 1;
a refused decision or undo is audited (an ``error`` event, as over the API) and the
line ends with the ``jidoka audit show --trace`` that shows it.
``list`` and ``show`` print requests through
:func:`guardrails.approvals.views.view_for`: values the viewer (``--as``) may not
see, such as the US$ value behind a standard cost, are hidden; without ``--as``
every sensitive value is. A requester who may not see the value sees every group
the action may need, not which ones the value added; anyone else sees the other
requests the requester made for the same action and subject close together (a
possible probe of the routing).

A decision is written to the audit log (``approval_decided``) unless the app is
built with ``audit=False``; ``on_decided(request)`` then runs with the request as
it is after the decision. :func:`build_approvals_app` (what ``jidoka`` mounts) wires
that hook to the agent — an approval resumes the paused thread, the action executes
exactly once — and adds ``undo ID --as USER`` (the compensation, allowed to the
requester or an eligible approver only) and ``resume ID`` (continue a thread by
hand, e.g. after an expiry or a failed resume). A ``publish_document`` request (a
replacement of a published document, from ``jidoka knowledge ingest``) has no
thread: once approved, the approved text is published, exactly once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import typer
from sqlalchemy.exc import SQLAlchemyError

from agent.copilot import TurnResult
from guardrails.approvals.events import decided_event, refused_decision_event
from guardrails.approvals.models import ApprovalRequest, DecisionKind, RequestStatus
from guardrails.approvals.routing import ApprovalRouter
from guardrails.approvals.similar import probing_note, similar_requests, similar_window
from guardrails.approvals.store import ApprovalStore
from guardrails.approvals.views import RequestView, view_for
from guardrails.audit.log import AuditEvent, AuditKind, AuditLog
from guardrails.audit.trace import Trace
from guardrails.errors import ApprovalError, AuditError, PolicyError, RequestNotFound, UnknownUser
from guardrails.identity import User
from guardrails.monitoring.proposals import is_signal_thread
from guardrails.policy.loader import Policy, load_policy
from guardrails.publishing import PUBLISH_ACTION, SettledPublication
from knowledge.errors import JidokaError
from server.cli._approval_render import print_list, print_request, progress, waiting_for
from server.cli.common import cli_settings, cli_tracing, console, existing_state_engine, fail
from server.publishing import open_publications
from server.runtime import audit_anchor, audit_sealer, build_copilot, build_runtime
from server.settings import Settings

__all__ = ["OnDecided", "build_approvals_app", "make_approvals_app"]

OnDecided = Callable[[ApprovalRequest], None]
"""Called after a successful approve/reject with the request as it is afterwards."""





@dataclass(frozen=True)
class _Session:
    store: ApprovalStore
    policy: Policy
    router: ApprovalRouter

    def view(self, request: ApprovalRequest, user: User | None) -> tuple[RequestView, dict[str, Any]]:
        """``request`` as ``user`` sees it, and (for anyone but its requester) the similar requests."""
        view = view_for(request, user, self.policy, router=self.router)
        if request.autonomous or (user is not None and user.user_id == request.requester):
            return view, {}
        within = similar_window(self.router, request)
        similar = similar_requests(self.store, request, within=within)
        return view, {"similar_requests": [s.to_json_dict() for s in similar],
                      "probing_note": probing_note(request, similar, within)}


@contextmanager
def _open(ctx: typer.Context) -> Iterator[_Session]:
    """The approval store of the configured state database and the policy; exit 1 if either is missing."""
    settings = cli_settings(ctx)
    try:
        policy = load_policy(settings.policy_dir)
    except PolicyError as exc:
        raise fail(f"the policy cannot be loaded: {exc}") from None
    engine, shown = existing_state_engine(settings, "no approval was requested yet")
    try:
        store = ApprovalStore(engine)
        try:
            present = store.has_schema()
        except Exception as exc:  # any driver error: the database cannot be read
            raise fail(f"cannot open the state database {shown}: {exc}") from None
        if not present:
            raise fail(f"no approval requests in the state database {shown} (no approval_requests table)")
        try:
            store.create_schema()  # adds columns a database from an older version lacks
            yield _Session(store, policy, ApprovalRouter(policy))
        except SQLAlchemyError as exc:  # e.g. the database stayed locked past busy_timeout
            detail = exc.args[0] if exc.args else exc
            raise fail(f"the state database {shown} failed: {type(exc).__name__}: {detail}") from None
    finally:
        engine.dispose()


def _append(ctx: typer.Context, session: _Session, event: AuditEvent) -> None:
    """Append ``event`` to the audit log of the session's database (anchored when a signing key is set)."""
    settings = cli_settings(ctx)
    log = AuditLog(session.store.engine, anchor=audit_anchor(settings),
                   sealer=audit_sealer(settings, session.store.engine))
    log.create_schema()
    log.append(event)
    log.close()  # anchors the event when a signing key is set


def _audit_refusal(ctx: typer.Context, session: _Session, exc: ApprovalError | UnknownUser, request_id: str,
                   user_id: str, kind: DecisionKind) -> str:
    """Audit a refused decision as the API does (an ``error`` event in a trace of its own); the end of its one-line
    error: the command that shows the event, or why it could not be audited."""
    try:
        thread_id: str | None = session.store.get(request_id).thread_id
    except ApprovalError:
        thread_id = None
    trace_id = uuid.uuid4().hex
    try:
        _append(ctx, session, refused_decision_event(
            exc, request_id=request_id, user_id=user_id, decision=kind.value, trace_id=trace_id,
            thread_id=thread_id, policy_hash=session.policy.hash))
    except AuditError as error:
        return f" (the refusal could not be audited: {error})"
    return _audited(trace_id)


def _audited(trace_id: str | None) -> str:
    """The end of a refusal's one-line error: how to see the audit event that recorded it."""
    return f" (audited: jidoka audit show --trace {trace_id})" if trace_id else ""


def make_approvals_app(on_decided: OnDecided | None = None, *, audit: bool = True) -> typer.Typer:
    """Build the ``approvals`` sub-app; ``on_decided`` runs after each successful decision."""
    app = typer.Typer(help="List, show, approve and reject approval requests.", no_args_is_help=True)

    @app.command("list")
    def list_requests(
        ctx: typer.Context,
        as_user: str | None = typer.Option(None, "--as", help="Only requests this user may decide or made."),
        status: RequestStatus | None = typer.Option(None, "--status", help="Only requests in this status."),
        as_json: bool = typer.Option(False, "--json", help="Print the requests as a JSON list."),
    ) -> None:
        """List approval requests, newest first (pending ones past their expiry are marked expired)."""
        with _open(ctx) as session:
            try:
                user = session.policy.user(as_user) if as_user is not None else None
                if user is not None:
                    requests = session.store.list_for(user, session.policy)
                    if status is not None:
                        requests = [r for r in requests if r.status is status]
                else:
                    requests = session.store.list_all(status=status)
            except (ApprovalError, UnknownUser) as exc:
                raise fail(str(exc)) from None
            shown = [session.view(r, user) for r in requests]
        if as_json:
            typer.echo(json.dumps([{**v.to_json_dict(), **extra} for v, extra in shown], ensure_ascii=False,
                                  indent=2))
            return
        title = f"approval requests for {as_user}" if as_user else "approval requests"
        print_list([v.request for v, _ in shown], title, [extra for _, extra in shown])

    @app.command("show")
    def show(
        ctx: typer.Context,
        request_id: str = typer.Argument(..., metavar="ID", help="The request id (APR-… or AUT-…)."),
        as_user: str | None = typer.Option(None, "--as", help="Show it as this user sees it (sensitive values "
                                                              "this user may not see are hidden; without --as, "
                                                              "all of them are)."),
        as_json: bool = typer.Option(False, "--json", help="Print the request as JSON."),
    ) -> None:
        """Show one request: arguments, why it needs approval, groups and decisions."""
        with _open(ctx) as session:
            try:
                user = session.policy.user(as_user) if as_user is not None else None
                view, extra = session.view(session.store.get(request_id), user)
            except (ApprovalError, UnknownUser) as exc:
                raise fail(str(exc)) from None
        if as_json:
            typer.echo(json.dumps({**view.to_json_dict(), **extra}, ensure_ascii=False, indent=2))
        else:
            print_request(view, extra)

    def _decide(ctx: typer.Context, request_id: str, as_user: str, kind: DecisionKind, comment: str) -> None:
        with _open(ctx) as session:
            try:
                user = session.policy.user(as_user)
                request = session.store.decide(request_id, user, kind, comment)
            except (ApprovalError, UnknownUser) as exc:
                note = _audit_refusal(ctx, session, exc, request_id, as_user, kind) if audit else ""
                raise fail(f"{exc}{note}") from None
            if audit:
                try:
                    _append(ctx, session, decided_event(request, session.policy.hash))
                except AuditError as exc:
                    raise fail(f"the decision on {request.id} was recorded but could not be audited: "
                                f"{exc}") from None
        verb = "approved" if kind is DecisionKind.APPROVE else "rejected"
        if request.status is RequestStatus.PENDING:
            tail = f"pending ({progress(request)}); waiting for {waiting_for(request)}"
        else:
            tail = f"now {request.status.value}"
        console().print(f"{as_user} {verb} {request.id} ({request.action}): {tail}", markup=False)
        if on_decided is not None:
            on_decided(request)

    @app.command("approve")
    def approve(
        ctx: typer.Context,
        request_id: str = typer.Argument(..., metavar="ID", help="The request id (APR-…)."),
        as_user: str = typer.Option(..., "--as", help="The approver (a user of the policy)."),
        comment: str = typer.Option("", "--comment", help="Why; kept with the decision."),
    ) -> None:
        """Approve a request for one of its open approver groups."""
        _decide(ctx, request_id, as_user, DecisionKind.APPROVE, comment)

    @app.command("reject")
    def reject(
        ctx: typer.Context,
        request_id: str = typer.Argument(..., metavar="ID", help="The request id (APR-…)."),
        as_user: str = typer.Option(..., "--as", help="The approver (a user of the policy)."),
        comment: str = typer.Option("", "--comment", help="Why; kept with the decision."),
    ) -> None:
        """Reject a request; any eligible approver's rejection ends it and nothing executes."""
        _decide(ctx, request_id, as_user, DecisionKind.REJECT, comment)

    return app


"""The default ``approvals`` sub-app (no resume hook)."""


# ---- wired to the agent: decisions resume the paused thread; undo and resume ----------------------------

def _show(result: TurnResult) -> None:
    out = console()
    statuses = ", ".join(f"{a['id']} {a['action']}: {a['status']}" for a in result.approvals) or "none"
    out.print(f"thread {result.thread_id} resumed ({statuses})", markup=False)
    out.print(result.answer, markup=False)


def _resume(request_id: str, settings: Settings) -> TurnResult:
    with cli_tracing(settings) as tracing:
        runtime = build_runtime(settings, tracing=tracing)
        try:
            return build_copilot(runtime).resume(request_id)
        finally:
            runtime.close()


def _publish(request_id: str, settings: Settings) -> SettledPublication:
    """Settle a publication request: an approved one is published (once), audited."""
    with open_publications(settings) as session, session.audit.buffer() as audit:
        return session.publications.settle(request_id, audit=audit)


def _settle_publication(request_id: str, settings: Settings) -> None:
    try:
        settled = _publish(request_id, settings)
    except JidokaError as exc:
        raise fail(f"the decision on {request_id} is recorded, but the document was not published yet: {exc}; "
                   f"run `jidoka approvals resume {request_id}`") from None
    console().print(f"{settled.request_id} ({settled.doc_id} rev {settled.revision}): {settled.status} — "
                    f"{settled.reason}")
    if settled.status == "not_published":
        raise typer.Exit(1)


def _settle_signal(request_id: str, settings: Settings) -> None:
    """Settle a request the monitor (or an override) made for a signal: an approved one executes, once."""
    runtime = build_runtime(settings)
    try:
        settled = runtime.monitor.settle(request_id) if runtime.monitor is not None else None
    except JidokaError as exc:
        raise fail(f"the decision on {request_id} is recorded, but it did not execute yet: {exc}; "
                   f"run `jidoka approvals resume {request_id}` or the next `jidoka monitor run`") from None
    finally:
        runtime.close()
    if settled is not None:
        console().print(f"{settled.request_id} ({settled.action}): {settled.status} — {settled.reason}", markup=False)


def _on_decided(request: ApprovalRequest) -> None:
    """After a decision: continue the waiting thread (or publish an approved document, or settle a signal's request)
    unless the request still needs other approvals."""
    if request.status is RequestStatus.PENDING:
        return
    if request.action == PUBLISH_ACTION:
        _settle_publication(request.id, cli_settings())
        return
    if is_signal_thread(request.thread_id):
        _settle_signal(request.id, cli_settings())
        return
    try:
        _show(_resume(request.id, cli_settings()))
    except JidokaError as exc:
        raise fail(f"the decision on {request.id} is recorded, but its thread did not resume: {exc}; "
                    f"run `jidoka approvals resume {request.id}`") from None


def build_approvals_app() -> typer.Typer:
    """The ``approvals`` sub-app with the resume hook and the ``undo`` / ``resume`` commands."""
    app = make_approvals_app(on_decided=_on_decided)

    @app.command("resume")
    def resume(
        ctx: typer.Context,
        request_id: str = typer.Argument(..., metavar="ID", help="The request id (APR-…)."),
        as_json: bool = typer.Option(False, "--json", help="Print the turn as JSON."),
    ) -> None:
        """Continue the thread waiting for a decided (or expired) request; nothing runs while it is pending. A
        publication request is published if approved (and not yet published)."""
        with _open(ctx) as session:
            try:
                found = session.store.get(request_id)
            except ApprovalError as exc:
                raise fail(str(exc)) from None
        if found.action == PUBLISH_ACTION:
            _settle_publication(request_id, cli_settings(ctx))
            return
        if is_signal_thread(found.thread_id):
            _settle_signal(request_id, cli_settings(ctx))
            return
        try:
            result = _resume(request_id, cli_settings(ctx))
        except JidokaError as exc:
            raise fail(str(exc)) from None
        if as_json:
            typer.echo(json.dumps(result.to_json(), indent=2))
        else:
            _show(result)

    @app.command("undo")
    def undo(
        ctx: typer.Context,
        request_id: str = typer.Argument(..., metavar="ID", help="The executed request to undo (APR-…, or AUT-… "
                                                                  "for an autonomous execution)."),
        as_user: str = typer.Option(..., "--as", help="Who undoes it: the requester or an eligible approver "
                                                      "(an autonomous execution: its requester)."),
        as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
    ) -> None:
        """Undo an executed action (its compensation restores the records it changed); audited."""
        runtime = build_runtime(cli_settings(ctx))
        trace = runtime.trace(as_user)
        try:
            with runtime.audit.buffer() as buffer:
                try:
                    request = runtime.approvals.get(request_id)
                except RequestNotFound as exc:  # refused like any other undo: audited, in the undo's trace
                    buffer.add(trace.event(AuditKind.ERROR, {"error": "request_not_found", "request_id": request_id,
                                                             "reason": exc.message}))
                    exc.trace_id = trace.trace_id
                    raise
                trace = Trace(trace.trace_id, request.thread_id, as_user, trace.policy_hash)
                user = runtime.tools.identify(as_user, trace, buffer)
                outcome = runtime.approvals.undo(request_id, user, trace=trace, audit=buffer)
        except JidokaError as exc:  # a refusal names the trace that recorded it
            raise fail(f"{exc}{_audited(exc.trace_id)}") from None
        finally:
            runtime.close()
        if as_json:
            typer.echo(json.dumps({"request_id": outcome.request_id, "action": outcome.action,
                                   "status": outcome.status, "rule_id": outcome.rule_id, "reason": outcome.reason,
                                   "changed": outcome.view.get("changed", [])}, indent=2, default=str))
        if not outcome.ok:
            raise fail(f"{outcome.status}: {outcome.reason} [{outcome.rule_id}]{_audited(trace.trace_id)}")
        if not as_json:
            console().print(f"{as_user} undid {outcome.request_id} ({outcome.action}): {outcome.reason}",
                            markup=False)

    return app
