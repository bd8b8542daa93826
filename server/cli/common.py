"""Helpers shared by the CLI command modules: consoles, one-line failures, the settings in the context."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from server.settings import Settings, SettingsError
from tools.plant.db import make_engine

__all__ = ["cli_settings", "console", "existing_state_engine", "fail"]


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


def existing_state_engine(settings: Settings, nothing_yet: str) -> tuple[Engine, str]:
    """An engine on the configured state database and its URL without the password; exits 1 when the URL is bad
    or an SQLite file is missing (``nothing_yet`` says why that is normal, e.g. "nothing was audited yet")."""
    url = settings.state_url
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise fail(f"JIDOKA_STATE_URL is not a database URL: {url!r}") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        # make_engine would create an empty file (and its folder); reading must not.
        if database in ("", ":memory:") or not Path(database).is_file():
            raise fail(f"no state database at {database or shown!r} (JIDOKA_STATE_URL): {nothing_yet}")
    return make_engine(url), shown
