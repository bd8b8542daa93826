"""Helpers shared by the CLI command modules: consoles, one-line failures (secrets masked), the settings in the
context."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from guardrails.tracing import TurnTracing
from server.databases import Database, reach
from server.secrets import SecretMasker, mask_url
from server.settings import Settings, SettingsError
from server.telemetry import build_telemetry
from tools.plant.db import make_engine

__all__ = ["cli_settings", "cli_tracing", "console", "error_line", "existing_state_engine", "fail", "literal",
           "masked", "terminal_reader"]


def console() -> Console:
    """A console for normal output (no soft wrapping surprises, no number highlighting)."""
    return Console(soft_wrap=True, highlight=False)


def literal(value: object) -> str:
    """``value`` as text a rich console prints as it is: ``[/INST]``, ``[link=…]`` or ``[bold]`` in it are shown,
    never read as markup (which would crash on an unmatched closing tag, hide a link or restyle the line).

    Every value that comes from data — documents, plant free text, questions, answers, approval reasons and
    comments, audit payloads, user ids, paths — goes through it before it is put into a markup string, a table
    cell or a title."""
    return escape(str(value))


def masked(text: str) -> str:
    """``text`` with the configured secrets (database passwords, API key, JWT secret) and any URL's password shown
    as ``***``; the secrets are read from the environment, as the settings are."""
    return SecretMasker.from_env(os.environ).mask(text)


def error_line(message: str) -> None:
    """Print ``error: message`` on stderr, secrets masked."""
    Console(stderr=True, soft_wrap=True, highlight=False).print(f"[red]error:[/red] {literal(masked(message))}")


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr (secrets masked) and return the exit (code 1) to raise."""
    error_line(message)
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
    or an SQLite file is missing (``nothing_yet`` says why that is normal, e.g. "nothing was audited yet"); a
    state server that does not answer raises :class:`~server.errors.DatabaseUnreachable`."""
    url = settings.state_url
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise fail(f"JIDOKA_STATE_URL is not a database URL: {mask_url(url)!r}") from None
    shown = mask_url(parsed.render_as_string(hide_password=True))
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        # make_engine would create an empty file (and its folder); reading must not.
        if database in ("", ":memory:") or not Path(database).is_file():
            raise fail(f"no state database at {database or shown!r} (JIDOKA_STATE_URL): {nothing_yet}")
    engine = make_engine(url)
    try:
        reach(engine, Database.STATE)
    except BaseException:
        engine.dispose()
        raise
    return engine, shown


def terminal_reader() -> str:
    """Who runs a command from this terminal, for the audit: ``cli:`` and the login name (``cli:unknown`` when
    there is none). Whoever runs it can read the database directly, so this records, it does not gate."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment (a container without a passwd entry)
        name = ""
    return f"cli:{name or 'unknown'}"


@contextmanager
def cli_tracing(settings: Settings) -> Iterator[TurnTracing]:
    """The spans of a command that runs turns (the ``OTEL_*`` settings; off when none is set), flushed when the
    command ends."""
    telemetry = build_telemetry(settings.tracing)
    try:
        yield telemetry.tracing
    finally:
        telemetry.shutdown()
