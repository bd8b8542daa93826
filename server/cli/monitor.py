"""``jidoka monitor run|signals|show|ack|dismiss|override|models``: the monitoring loop from a terminal.

``run`` runs every detector once (what ``jidoka serve`` does every interval; from cron when the scheduled mode is
off); a run another process is making is skipped, not doubled. ``signals`` and ``show`` print the signals a user
(``--as``) may see; ``ack``, ``dismiss`` and ``override`` record that user's response with its ``--reason``. An
override may name another action (``--action place_quality_hold --args '{"lot_id": ...}'``), decided by the gate as
that user's own request. Every run, response and refusal is audited. ``models`` prints each chat model's drift rates
(:mod:`guardrails.model_health`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from guardrails.audit.log import AuditKind
from guardrails.errors import SignalError, UnknownUser
from guardrails.identity import User
from guardrails.monitoring import Monitor, ResponseKind, Signal, may_see, respond, signal_view
from guardrails.monitoring.models import RunSummary
from knowledge.errors import JidokaError
from server.cli.common import cli_settings, console, fail, literal
from server.runtime import Runtime, build_runtime

__all__ = ["monitor_app"]

monitor_app = typer.Typer(help="Run the monitoring loop and respond to its signals.", no_args_is_help=True)


@contextmanager
def _monitor(ctx: typer.Context) -> Iterator[tuple[Runtime, Monitor]]:
    try:
        runtime = build_runtime(cli_settings(ctx))
    except JidokaError as exc:
        raise fail(str(exc)) from None
    try:
        if runtime.monitor is None:
            raise fail("this runtime has no monitor")
        yield runtime, runtime.monitor
    finally:
        runtime.close()


def _not_found(runtime: Runtime, user: User, signal_id: str, code: str) -> typer.Exit:
    """The audited refusal of a signal ``user`` may not see or that does not exist (the same line for both)."""
    trace = runtime.trace(user.user_id, f"signal:{signal_id}")
    runtime.audit.append(trace.event(AuditKind.ERROR, {"error": code, "signal_id": signal_id,
                                                       "reason": f"no signal {signal_id!r}", "via": "cli"}))
    return fail(f"no signal {signal_id!r} (audited: jidoka audit show --trace {trace.trace_id})")


def _visible_signal(runtime: Runtime, monitor: Monitor, user: User, signal_id: str) -> Signal:
    try:
        signal = monitor.store.get(signal_id)
    except SignalError:
        raise _not_found(runtime, user, signal_id, "signal_not_found") from None
    if not _visible(monitor, user, signal):
        raise _not_found(runtime, user, signal_id, "signal_not_visible")
    return signal


def _user(monitor: Monitor, user_id: str) -> User:
    try:
        return monitor.policy.user(user_id)
    except UnknownUser as exc:
        raise fail(str(exc)) from None


def _print_run(summary: RunSummary) -> None:
    out = console()
    if summary.status == "skipped":
        out.print(f"run {summary.run_id}: skipped — another runner holds the monitor lock ({literal(summary.holder)})",
                  highlight=False)
        return
    out.print(f"run {summary.run_id}: {len(summary.detectors_run)} detector runs, {len(summary.opened)} opened, "
              f"{len(summary.updated)} updated, {len(summary.resolved)} resolved, {len(summary.escalated)} "
              f"escalated, {len(summary.proposed)} requests made, {len(summary.settled)} approved requests executed",
              highlight=False)
    for error in summary.errors:
        out.print(f"  [red]detector failed[/red]: {literal(error)}", highlight=False)


def _line(signal: dict[str, Any]) -> str:
    return (f"{signal['signal_id']}  {signal['site_id']}  {signal['status']:<12} {signal['severity']:<6} "
            f"{signal['detector']:<18} → {signal['role']}: {signal['title']}")


@monitor_app.command("run")
def run(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print the run as JSON.")) -> None:
    """Run every enabled detector once: open, update, resolve and escalate signals; propose actions (governed)."""
    with _monitor(ctx) as (_, monitor):
        try:
            summary = monitor.run()
        except JidokaError as exc:
            raise fail(f"the monitor run failed: {exc}") from None
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        _print_run(summary)


def _visible(monitor: Monitor, user: User, signal: Signal) -> bool:
    requests = []
    for request_id in signal.requests:
        try:
            requests.append(monitor.approvals.get(request_id))
        except JidokaError:
            continue
    return may_see(signal, user, monitor.policy, monitor.rules, tuple(requests))


@monitor_app.command("signals")
def signals(ctx: typer.Context,
            as_user: str = typer.Option(..., "--as", help="Whose signals (their sites and roles)."),
            every: bool = typer.Option(False, "--all", help="Resolved ones too."),
            as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The signals ``--as`` may see, newest first."""
    with _monitor(ctx) as (_, monitor):
        user = _user(monitor, as_user)
        found = [signal_view(s, user, monitor.policy, monitor.rules)
                 for s in monitor.store.signals(active_only=not every) if _visible(monitor, user, s)]
    if as_json:
        typer.echo(json.dumps({"signals": found, "count": len(found)}, indent=2))
        return
    out = console()
    if not found:
        out.print("no signals")
    for signal in found:
        out.print(literal(_line(signal)), highlight=False)


@monitor_app.command("show")
def show(ctx: typer.Context, signal_id: str = typer.Argument(..., metavar="ID"),
         as_user: str = typer.Option(..., "--as", help="Who is looking.")) -> None:
    """One signal as ``--as`` sees it (JSON): evidence, proposals, outcome, responses."""
    with _monitor(ctx) as (runtime, monitor):
        user = _user(monitor, as_user)
        signal = _visible_signal(runtime, monitor, user, signal_id)
        typer.echo(json.dumps(signal_view(signal, user, monitor.policy, monitor.rules), indent=2))


def _respond(ctx: typer.Context, signal_id: str, as_user: str, kind: ResponseKind, reason: str,
             action: str | None = None, raw_args: str | None = None) -> None:
    args: dict[str, Any] | None = None
    if raw_args is not None:
        try:
            parsed = json.loads(raw_args)
        except json.JSONDecodeError as exc:
            raise fail(f"--args must be a JSON object: {exc}") from None
        if not isinstance(parsed, dict):
            raise fail("--args must be a JSON object")
        args = parsed
    with _monitor(ctx) as (runtime, monitor):
        user = _user(monitor, as_user)
        signal = _visible_signal(runtime, monitor, user, signal_id)
        trace = runtime.trace(user.user_id, f"signal:{signal_id}")
        try:
            with monitor.audit.buffer() as buffer:
                updated = respond(monitor, signal_id, user, kind, reason, action=action, args=args, audit=buffer,
                                  trace=trace)
        except SignalError as exc:
            raise fail(f"{exc} (audited: jidoka audit show --trace {trace.trace_id})") from None
    console().print(literal(_line(signal_view(updated, user, monitor.policy, monitor.rules))), highlight=False)
    for proposal in updated.proposals[len(signal.proposals):]:
        console().print(literal(f"  {proposal.get('action')}: {proposal.get('effect')} — {proposal.get('reason')} "
                                f"{proposal.get('request_id') or ''}"), highlight=False)


_REASON = typer.Option(..., "--reason", help="Why (required; kept in the audit).")
_AS = typer.Option(..., "--as", help="Who responds (the signal's role at its site).")


@monitor_app.command("ack")
def acknowledge(ctx: typer.Context, signal_id: str = typer.Argument(..., metavar="ID"), as_user: str = _AS,
                reason: str = _REASON) -> None:
    """Acknowledge a signal: you have seen it and are on it."""
    _respond(ctx, signal_id, as_user, ResponseKind.ACKNOWLEDGE, reason)


@monitor_app.command("dismiss")
def dismiss(ctx: typer.Context, signal_id: str = typer.Argument(..., metavar="ID"), as_user: str = _AS,
            reason: str = _REASON) -> None:
    """Dismiss a signal: no problem; it stays quiet while the detector still finds it."""
    _respond(ctx, signal_id, as_user, ResponseKind.DISMISS, reason)


@monitor_app.command("override")
def override(ctx: typer.Context, signal_id: str = typer.Argument(..., metavar="ID"), as_user: str = _AS,
             reason: str = _REASON,
             action: str | None = typer.Option(None, "--action", help="Another action to take instead."),
             raw_args: str | None = typer.Option(None, "--args", help="Its arguments as a JSON object.")) -> None:
    """Decline the recommendation (and optionally ask for another action instead); audited as an override."""
    _respond(ctx, signal_id, as_user, ResponseKind.OVERRIDE, reason, action, raw_args)


@monitor_app.command("models")
def models(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Each model's fallback, refusal and correction rates over its newest turns (from the audit log), against the
    policy's models.drift thresholds; exits 1 while any rate is above its threshold (for cron and alerting)."""
    from guardrails.model_health import drift_alerts, read_model_health
    from guardrails.policy.model_drift import DRIFT_MEASURES
    from guardrails.policy.models import ModelPolicy

    with _monitor(ctx) as (runtime, _):
        thresholds = ModelPolicy.from_policy(runtime.policy).drift
        try:
            health = read_model_health(runtime.audit, window_turns=thresholds.window_turns)
        except JidokaError as exc:
            raise fail(f"cannot read the audit log: {exc}") from None
    alerts = drift_alerts(health, thresholds)
    if as_json:
        typer.echo(json.dumps({
            "window_turns": thresholds.window_turns, "min_turns": thresholds.min_turns,
            "thresholds": {m: thresholds.limit(m) for m in DRIFT_MEASURES},
            "models": [{"model": h.model, "turns": h.turns, "rates": {m: round(h.rate(m), 4) for m in DRIFT_MEASURES}}
                       for h in health.values()],
            "alerts": [{"model": a.model, "measure": a.measure, "rate": round(a.rate, 4), "threshold": a.threshold,
                        "turns": a.turns, "policy_file": a.decided_in} for a in alerts]}, indent=2))
    else:
        out = console()
        limits = ", ".join(f"{m} ≤ {thresholds.limit(m):.0%}" for m in DRIFT_MEASURES)
        out.print(f"newest {thresholds.window_turns} turns per model; alert above {limits} "
                  f"(from {thresholds.min_turns} turns)", highlight=False)
        if not health:
            out.print("no model turns in the audit log yet", highlight=False)
        for h in health.values():
            rates = "  ".join(f"{m} {h.rate(m):6.1%}" for m in DRIFT_MEASURES)
            out.print(f"{literal(h.model):<28} {h.turns:>5} turns  {rates}", highlight=False)
        for alert in alerts:
            out.print(f"[red]drift alert[/red]: {literal(alert.describe())}", highlight=False)
    if alerts:
        raise typer.Exit(1)
