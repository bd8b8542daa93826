"""How ``jidoka approvals list|show`` print requests: every value is data, escaped, never read as markup."""

from __future__ import annotations

import json
from typing import Any

from guardrails.approvals.models import ApprovalRequest, RequestStatus
from guardrails.approvals.views import RequestView
from server.cli.common import console, literal

__all__ = ["print_list", "print_request", "progress", "waiting_for"]


def progress(request: ApprovalRequest) -> str:
    """``1/2 groups approved``."""
    done = len(request.approved_groups)
    return f"{done}/{len(request.groups)} groups approved"


def waiting_for(request: ApprovalRequest) -> str:
    """The open groups, ``A AND B`` (``—`` when none)."""
    return " AND ".join(request.groups[i].describe() for i in request.open_groups) or "—"


def print_list(requests: list[ApprovalRequest], title: str,
               extras: list[dict[str, Any]] | None = None) -> None:
    """Print ``requests`` as short blocks under ``title`` (with their similar requests from ``extras``)."""
    # One short block per request rather than a table: ids and action names stay whole at any width. Every value
    # of a request is data (the requester's words, ids, arguments): it is escaped, never read as markup.
    out, e = console(), literal
    if not requests:
        out.print(f"{e(title)}: none")
        return
    out.print(f"[bold]{e(title)}[/bold] ({len(requests)})")
    for r, extra in zip(requests, extras or [{}] * len(requests), strict=True):
        when = ("autonomous (ran without approval)" if r.autonomous
                else f"expires {r.expires_at.strftime('%Y-%m-%d %H:%M')} UTC")
        out.print(f"{e(r.id)}  [bold]{e(r.status.value)}[/bold]  {e(r.action)} @ {e(r.subject.get('site_id') or '—')}"
                  f"  by {e(r.requester)}  {when}")
        if r.status is RequestStatus.PENDING:
            out.print(f"    waiting for {e(waiting_for(r))} ({progress(r)})")
        similar: list[dict[str, Any]] = extra.get("similar_requests") or []
        if similar:
            out.print(f"    [yellow]possible probing[/yellow]: {len(similar)} similar requests by {e(r.requester)} "
                      f"({e(', '.join(s['id'] for s in similar))})")


def _json(value: Any) -> str:
    return literal(json.dumps(value, sort_keys=True, ensure_ascii=False))


def print_request(view: RequestView, extra: dict[str, Any]) -> None:
    """Print one request as ``view`` shows it: arguments, why, groups, decisions, result, similar requests."""
    out, r, e = console(), view.request, literal
    out.print(f"[bold]{e(r.id)}[/bold]  {e(r.action)}  [bold]{e(r.status.value)}[/bold]  (version {r.version}, "
              f"risk class {e(r.risk_class)})")
    expiry = "ran at once, without approval" if r.autonomous else f"expires {r.expires_at.isoformat()}"
    out.print(f"requested by {e(r.requester)} in thread {e(r.thread_id)} (trace {e(r.trace_id)}) at "
              f"{r.created_at.isoformat()}; {expiry}")
    facts = r.subject.get("facts")
    if isinstance(facts, dict) and facts.get("summary"):
        out.print(f"what: {e(facts['summary'])}")
    out.print(f"why: {e(r.reason)}  {e(f'[{r.rule_id}]')}")
    out.print(f"arguments: {_json(dict(r.args))}")
    out.print(f"subject: {_json(dict(r.subject))}")
    if view.masked_fields:
        out.print(f"hidden for {e(view.viewer or 'an unnamed viewer (use --as)')}: {e(', '.join(view.masked_fields))}")
    if r.autonomous:
        out.print(f"approvers: none — the policy lets it run without approval {e(f'[{r.rule_id}]')}; its requester "
                  f"may undo it (`jidoka approvals undo {e(r.id)} --as {e(r.requester)}`)")
    for i, group in enumerate(r.groups):
        decision = next((d for d in r.decisions if d.group_index == i), None)
        state = (f"{decision.decision.value}d by {decision.approver}" if decision is not None
                 else "waiting")
        eligible = ", ".join(group.eligible_user_ids)
        out.print(f"group {i + 1}: {e(group.describe())} — eligible: {e(eligible)} — {e(state)}")
    for d in r.decisions:
        if d.comment:
            out.print(f"  {e(d.approver)}: {e(d.comment)}")
    if r.result is not None:
        out.print(f"result: {_json(dict(r.result))}")
    if extra.get("probing_note"):
        out.print(f"[yellow]{e(extra['probing_note'])}[/yellow]")
        for s in extra["similar_requests"]:
            out.print(f"  {e(s['id'])} {e(s['status'])} {e(s['created_at'][:16])}: {_json(s['args'])}")
