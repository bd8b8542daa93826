"""Helpers shared by the CLI command modules: consoles, one-line failures, the settings in the context."""

from __future__ import annotations

import typer
from rich.console import Console

from server.settings import Settings, SettingsError

__all__ = ["cli_settings", "console", "fail"]


def console() -> Console:
    """A console for normal output (no soft wrapping surprises, no number highlighting)."""
    return Console(soft_wrap=True, highlight=False)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr and return the exit (code 1) to raise."""
    Console(stderr=True, soft_wrap=True, highlight=False).print(f"[red]error:[/red] {message}")
    return typer.Exit(1)


def cli_settings(ctx: typer.Context | None = None) -> Settings:
    """The settings the root command put in the context, or read from the environment."""
    found = ctx.find_root().obj if ctx is not None else None
    if isinstance(found, Settings):
        return found
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise fail(str(exc)) from None
