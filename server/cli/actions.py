"""``jidoka approvals``, wired to the agent: a decision resumes the paused thread; ``undo`` and ``resume``.

The list/show/approve/reject commands come from :mod:`server.cli.approvals`; here
approve/reject get an ``on_decided`` hook that continues the thread waiting for
the request (the action executes exactly once when approved), and two commands
are added: ``undo ID --as USER`` (the compensation, allowed to the requester or
an eligible approver only; exit 1 otherwise) and ``resume ID`` (continue a
thread by hand, e.g. after an expiry or a failed resume).
"""

from __future__ import annotations

import json
import uuid

import typer

from agent.copilot import TurnResult
from agent.errors import AgentError
from guardrails.approvals.models import ApprovalRequest, RequestStatus
from guardrails.audit.trace import Trace
from guardrails.errors import ApprovalError, GuardrailError, UnknownUser
from server.cli.approvals import make_approvals_app
from server.cli.common import cli_settings, console, fail
from server.runtime import build_copilot, build_runtime
from server.settings import Settings
from tools.errors import ToolError

__all__ = ["build_approvals_app"]





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


def _on_decided(request: ApprovalRequest) -> None:
    """After a decision: continue the waiting thread unless the request still needs other approvals."""
    if request.status is RequestStatus.PENDING:
        return
    try:
        _show(_resume(request.id, cli_settings()))
    except (AgentError, GuardrailError, ToolError) as exc:
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
        """Continue the thread waiting for a decided (or expired) request; nothing runs while it is pending."""
        try:
            result = _resume(request_id, cli_settings(ctx))
        except (AgentError, ApprovalError, ToolError) as exc:
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
        except (ApprovalError, UnknownUser, ToolError) as exc:
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
