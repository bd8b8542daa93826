"""``jidoka ask`` (one governed turn) and ``jidoka chat`` (a terminal conversation)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape

from agent.copilot import TurnResult
from agent.errors import AgentError
from server.cli.common import cli_settings, cli_tracing, error_line
from server.cli.render import answer_markdown, tool_call_line
from server.runtime import Runtime, build_copilot, build_runtime

__all__ = ["ask", "chat"]

_out = Console()


def _show(result: TurnResult) -> None:
    _out.print(answer_markdown(result.answer))
    for call in result.tool_calls:
        _out.print(tool_call_line(call), highlight=False)
    if result.unavailable:
        _out.print(f"[yellow]degraded: unavailable this turn: {escape(', '.join(result.unavailable))}[/yellow]")
    elif result.degraded:
        _out.print("[yellow]degraded: answered by the offline rules model[/yellow]")
    _out.print(f"[dim]thread {escape(str(result.thread_id))} · trace {escape(result.trace_id)}[/dim]")


def ask(
    ctx: typer.Context,
    question: str = typer.Argument(..., help="The question, in plain language."),
    as_user: str = typer.Option(..., "--as", help="Ask as this user (see `jidoka policy show`)."),
    thread: str | None = typer.Option(None, "--thread", help="Continue this thread (also from another process)."),
    as_json: bool = typer.Option(False, "--json", help="Print the turn as JSON."),
) -> None:
    """Ask one governed question."""
    settings = cli_settings(ctx)
    with cli_tracing(settings) as tracing:
        runtime = build_runtime(settings, tracing=tracing)
        try:
            copilot = build_copilot(runtime)
            try:
                result = copilot.ask(as_user, question, thread_id=thread)
            except AgentError as exc:
                error_line(str(exc))
                raise typer.Exit(1) from None
        finally:
            runtime.close()
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        _show(result)


def chat(
    ctx: typer.Context,
    as_user: str = typer.Option(..., "--as", help="Chat as this user."),
    thread: str | None = typer.Option(None, "--thread", help="Continue this thread."),
) -> None:
    """A terminal conversation (empty line or Ctrl-D to leave)."""
    settings = cli_settings(ctx)
    with cli_tracing(settings) as tracing:
        _chat(build_runtime(settings, tracing=tracing), as_user, thread)


def _chat(runtime: Runtime, as_user: str, thread: str | None) -> None:
    """The conversation loop on ``runtime`` (closed at the end)."""
    try:
        copilot = build_copilot(runtime)
        runtime.policy.user(as_user)
        _out.print(f"jidoka — chatting as [bold]{escape(as_user)}[/bold]. Empty line to quit.")
        while True:
            try:
                question = _out.input("[bold cyan]you>[/bold cyan] ")
            except (EOFError, KeyboardInterrupt):
                break
            if not question.strip():
                break
            try:
                result = copilot.ask(as_user, question, thread_id=thread)
            except AgentError as exc:
                error_line(str(exc))
                continue
            thread = result.thread_id
            _show(result)
    finally:
        runtime.close()
