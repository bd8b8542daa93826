"""``jidoka approvals list|show|approve|reject``: see and decide approval requests from a terminal.

Mounted by the main CLI as ``jidoka approvals``. It reads :class:`Settings` from
the root context (falling back to the environment), opens the state database
named by ``settings.state_url`` (never creating one) and the policy from
``settings.policy_dir``. Every refusal — unknown user or request, a user who may
not decide, a request already decided or expired — is one line on stderr, exit 1.
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
from guardrails.approvals.events import decided_event
from guardrails.approvals.models import ApprovalRequest, DecisionKind, RequestStatus
from guardrails.approvals.routing import ApprovalRouter
from guardrails.approvals.similar import probing_note, similar_requests, similar_window
from guardrails.approvals.store import ApprovalStore
from guardrails.approvals.views import RequestView, view_for
from guardrails.audit.log import AuditLog
from guardrails.audit.trace import Trace
from guardrails.errors import ApprovalError, AuditError, PolicyError, UnknownUser
from guardrails.identity import User
from guardrails.policy.loader import Policy, load_policy
from guardrails.publishing import PUBLISH_ACTION, SettledPublication
from knowledge.errors import JidokaError
from server.cli.common import cli_settings, console, existing_state_engine, fail
from server.publishing import open_publications
from server.runtime import audit_anchor, build_copilot, build_runtime
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


def _line(request: ApprovalRequest) -> str:
    done = len(request.approved_groups)
    return f"{done}/{len(request.groups)} groups approved"


def _waiting(request: ApprovalRequest) -> str:
    return " AND ".join(request.groups[i].describe() for i in request.open_groups) or "—"


def _print_list(requests: list[ApprovalRequest], title: str,
                extras: list[dict[str, Any]] | None = None) -> None:
    # One short block per request rather than a table: ids and action names stay whole at any width.
    out = console()
    if not requests:
        out.print(f"{title}: none")
        return
    out.print(f"[bold]{title}[/bold] ({len(requests)})")
    for r, extra in zip(requests, extras or [{}] * len(requests), strict=True):
        when = ("autonomous (ran without approval)" if r.autonomous
                else f"expires {r.expires_at.strftime('%Y-%m-%d %H:%M')} UTC")
        out.print(f"{r.id}  [bold]{r.status.value}[/bold]  {r.action} @ {r.subject.get('site_id') or '—'}  "
                  f"by {r.requester}  {when}")
        if r.status is RequestStatus.PENDING:
            out.print(f"    waiting for {_waiting(r)} ({_line(r)})")
        similar: list[dict[str, Any]] = extra.get("similar_requests") or []
        if similar:
            out.print(f"    [yellow]possible probing[/yellow]: {len(similar)} similar requests by {r.requester} "
                      f"({', '.join(s['id'] for s in similar)})")


def _print_request(view: RequestView, extra: dict[str, Any]) -> None:
    out, r = console(), view.request
    out.print(f"[bold]{r.id}[/bold]  {r.action}  [bold]{r.status.value}[/bold]  (version {r.version}, "
              f"risk class {r.risk_class})")
    expiry = "ran at once, without approval" if r.autonomous else f"expires {r.expires_at.isoformat()}"
    out.print(f"requested by {r.requester} in thread {r.thread_id} (trace {r.trace_id}) at "
              f"{r.created_at.isoformat()}; {expiry}")
    facts = r.subject.get("facts")
    if isinstance(facts, dict) and facts.get("summary"):
        out.print(f"what: {facts['summary']}")
    out.print(f"why: {r.reason}  [{r.rule_id}]")
    out.print(f"arguments: {json.dumps(dict(r.args), sort_keys=True, ensure_ascii=False)}")
    out.print(f"subject: {json.dumps(dict(r.subject), sort_keys=True, ensure_ascii=False)}")
    if view.masked_fields:
        out.print(f"hidden for {view.viewer or 'an unnamed viewer (use --as)'}: {', '.join(view.masked_fields)}")
    if r.autonomous:
        out.print(f"approvers: none — the policy lets it run without approval [{r.rule_id}]; its requester may "
                  f"undo it (`jidoka approvals undo {r.id} --as {r.requester}`)")
    for i, group in enumerate(r.groups):
        decision = next((d for d in r.decisions if d.group_index == i), None)
        state = (f"{decision.decision.value}d by {decision.approver}" if decision is not None
                 else "waiting")
        eligible = ", ".join(group.eligible_user_ids)
        out.print(f"group {i + 1}: {group.describe()} — eligible: {eligible} — {state}")
    for d in r.decisions:
        if d.comment:
            out.print(f"  {d.approver}: {d.comment}")
    if r.result is not None:
        out.print(f"result: {json.dumps(dict(r.result), sort_keys=True, ensure_ascii=False)}")
    if extra.get("probing_note"):
        out.print(f"[yellow]{extra['probing_note']}[/yellow]")
        for s in extra["similar_requests"]:
            out.print(f"  {s['id']} {s['status']} {s['created_at'][:16]}: "
                      f"{json.dumps(s['args'], sort_keys=True, ensure_ascii=False)}")


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
        _print_list([v.request for v, _ in shown], title, [extra for _, extra in shown])

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
            _print_request(view, extra)

    def _decide(ctx: typer.Context, request_id: str, as_user: str, kind: DecisionKind, comment: str) -> None:
        with _open(ctx) as session:
            try:
                user = session.policy.user(as_user)
                request = session.store.decide(request_id, user, kind, comment)
            except (ApprovalError, UnknownUser) as exc:
                raise fail(str(exc)) from None
            if audit:
                try:
                    log = AuditLog(session.store.engine, anchor=audit_anchor(cli_settings(ctx)))
                    log.create_schema()
                    log.append(decided_event(request, session.policy.hash))
                    log.close()  # anchors the decision's event when a signing key is set
                except AuditError as exc:
                    raise fail(f"the decision on {request.id} was recorded but could not be audited: "
                                f"{exc}") from None
        verb = "approved" if kind is DecisionKind.APPROVE else "rejected"
        if request.status is RequestStatus.PENDING:
            tail = f"pending ({_line(request)}); waiting for {_waiting(request)}"
        else:
            tail = f"now {request.status.value}"
        console().print(f"{as_user} {verb} {request.id} ({request.action}): {tail}")
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
    out.print(f"thread {result.thread_id} resumed ({statuses})")
    out.print(result.answer)


def _resume(request_id: str, settings: Settings) -> TurnResult:
    runtime = build_runtime(settings)
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


def _on_decided(request: ApprovalRequest) -> None:
    """After a decision: continue the waiting thread (or publish an approved document) unless the request still
    needs other approvals."""
    if request.status is RequestStatus.PENDING:
        return
    if request.action == PUBLISH_ACTION:
        _settle_publication(request.id, cli_settings())
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
                publication = session.store.get(request_id).action == PUBLISH_ACTION
            except ApprovalError as exc:
                raise fail(str(exc)) from None
        if publication:
            _settle_publication(request_id, cli_settings(ctx))
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
        try:
            request = runtime.approvals.get(request_id)
            trace = Trace(trace_id=uuid.uuid4().hex, thread_id=request.thread_id, user_id=as_user,
                          policy_hash=runtime.policy.hash)
            with runtime.audit.buffer() as buffer:
                user = runtime.tools.identify(as_user, trace, buffer)
                outcome = runtime.approvals.undo(request_id, user, trace=trace, audit=buffer)
        except JidokaError as exc:
            raise fail(str(exc)) from None
        finally:
            runtime.close()
        if as_json:
            typer.echo(json.dumps({"request_id": outcome.request_id, "action": outcome.action,
                                   "status": outcome.status, "rule_id": outcome.rule_id, "reason": outcome.reason,
                                   "changed": outcome.view.get("changed", [])}, indent=2, default=str))
        if not outcome.ok:
            raise fail(f"{outcome.status}: {outcome.reason} [{outcome.rule_id}]")
        if not as_json:
            console().print(f"{as_user} undid {outcome.request_id} ({outcome.action}): {outcome.reason}")

    return app
