"""``jidoka serve`` (the HTTP server under uvicorn) and ``jidoka token --as USER`` (a demo bearer token).

On embedded Chroma the server holds the knowledge store's writer lock while it runs (:func:`hold_knowledge`):
an ingest into that store, or a second server on it, fails with one line naming this server's pid.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import secrets
from typing import Any

import typer

from guardrails.errors import PolicyError, UnknownUser
from guardrails.policy.loader import load_policy
from knowledge.errors import KnowledgeError
from knowledge.service import WriterLock, hold_writer_lock
from server.api.auth import mint_for
from server.cli.common import cli_settings, console, fail, literal
from server.errors import TokenNotMinted
from server.secrets import SecretFilter, SecretMasker
from server.settings import Settings

__all__ = ["hold_knowledge", "register", "serve", "token", "uvicorn_log_config"]

_DEFAULT_TTL_S = 8 * 3600
"""``jidoka token``'s default lifetime (shortened to ``JIDOKA_JWT_MAX_TTL_S`` when that is less)."""


def _demo_settings(settings: Settings, demo_login: bool) -> Settings:
    """Turn the demo login on if asked; it needs a token secret, so one is made up for this process if unset."""
    if demo_login and not settings.demo_login:
        settings = dataclasses.replace(settings, demo_login=True)
    if settings.demo_login and not settings.jwt_secret:
        settings = dataclasses.replace(settings, jwt_secret=secrets.token_urlsafe(32))
    return settings


def uvicorn_log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's default logging configuration with a :class:`SecretFilter` for ``settings`` on every handler,
    and a root handler like ``logging.basicConfig``'s (the app's own ``jidoka.*`` records), filtered too.

    uvicorn applies it in the serving process and again in each worker process it starts (the configuration,
    filter and masker included, travels to the workers), so no log line of the server prints a secret.
    """
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["jidoka_secrets"] = {"()": SecretFilter,
                                                          "masker": SecretMasker.from_settings(settings)}
    config.setdefault("formatters", {})["jidoka"] = {"format": logging.BASIC_FORMAT}
    config.setdefault("handlers", {})["jidoka"] = {"class": "logging.StreamHandler", "formatter": "jidoka",
                                                   "stream": "ext://sys.stderr"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "jidoka_secrets"]
    config["root"] = {"handlers": ["jidoka"], "level": "WARNING"}
    return config


def hold_knowledge(settings: Settings) -> WriterLock | None:
    """The embedded knowledge store's writer lock, taken for a server's lifetime (release it when the server stops);
    ``None`` with a Chroma server (``JIDOKA_CHROMA_URL``). Exits with one line when another process holds it."""
    try:
        return hold_writer_lock(settings.home, "serve", chroma_url=settings.chroma_url)
    except KnowledgeError as exc:
        raise fail(str(exc)) from None


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="TCP port."),
    demo_login: bool = typer.Option(False, "--demo-login",
                                    help="Serve the demo login (pick a user, get a token). Never in production."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Worker processes (uvicorn). More than one needs a Chroma server "
                                     "(JIDOKA_CHROMA_URL); Postgres state is recommended."),
) -> None:
    """Run the HTTP server: chat (SSE), approvals, audit, the OpenAI-compatible facade and the web pages."""
    import uvicorn

    from server.app import create_app

    configured = cli_settings(ctx)
    settings = _demo_settings(configured, demo_login)
    try:
        policy = load_policy(settings.policy_dir)
    except PolicyError as exc:
        raise fail(f"the policy cannot be loaded: {exc}") from None
    if settings.data_url == f"sqlite:///{settings.home / 'plant.db'}" and not (settings.home / "plant.db").is_file():
        raise fail(f"no demo plant under {settings.home}: run `jidoka init` first")
    if workers > 1 and settings.chroma_url is None:
        raise fail(f"--workers {workers}: the embedded knowledge base (Chroma under {settings.home}) is for one "
                   "process; run `chroma run` and set JIDOKA_CHROMA_URL to serve with several workers")
    if not settings.jwt_secret and not settings.jwks_url:
        console().print("[yellow]warning:[/yellow] neither JIDOKA_JWT_SECRET nor JIDOKA_JWKS_URL is set: every "
                        "API call will be refused (401)")
    lock = hold_knowledge(settings)  # released when the server stops (or fails to start)
    out = console()
    url = f"http://{host}:{port}/"
    out.print(f"jidoka serving on [bold]{literal(url)}[/bold]  (API docs {literal(url)}docs, metrics "
              f"{literal(url)}metrics)")
    if settings.demo_login:
        out.print("demo login is ON — pick a user on the page; demo users:")
        if not configured.jwt_secret:
            out.print("  (tokens are signed with a secret made up for this run: set JIDOKA_JWT_SECRET to also use "
                      "`jidoka token`)")
        for user in sorted(policy.users.values(), key=lambda u: u.user_id):
            sites = user.site_list()
            shown = ", ".join(sites) if isinstance(sites, list) else "all sites"
            out.print(f"  {user.user_id:<16} {user.name:<18} {', '.join(sorted(user.roles)):<24} {shown or '—'}",
                      markup=False)
    # The log handlers (uvicorn's and the root logger's) mask this run's secrets, in every worker too.
    log_config = uvicorn_log_config(settings)
    try:
        if workers == 1:
            uvicorn.run(create_app(settings), host=host, port=port, log_level="info", log_config=log_config)
            return
        # Each worker builds its app from the environment (server.app.app_from_env): what this command decided
        # (the demo login and its made-up secret) is handed down there, so every worker verifies the same tokens.
        os.environ["JIDOKA_DEMO_LOGIN"] = "1" if settings.demo_login else "0"
        if settings.jwt_secret:
            os.environ["JIDOKA_JWT_SECRET"] = settings.jwt_secret
        out.print(f"{workers} workers; each keeps its own rate-limit window and metrics (see README, Scale out)")
        uvicorn.run("server.app:app_from_env", factory=True, workers=workers, host=host, port=port,
                    log_level="info", log_config=log_config)
    finally:
        if lock is not None:
            lock.release()


def token(
    ctx: typer.Context,
    as_user: str = typer.Option(..., "--as", help="The policy user the token names."),
    ttl: int | None = typer.Option(None, "--ttl", min=1, help="Lifetime in seconds (default 8 h, or "
                                                                "JIDOKA_JWT_MAX_TTL_S if that is shorter; "
                                                                "at most JIDOKA_JWT_MAX_TTL_S)."),
) -> None:
    """Print an HS256 demo bearer token for USER, signed with JIDOKA_JWT_SECRET (with JIDOKA_JWT_ISSUER /
    JIDOKA_JWT_AUDIENCE as its iss / aud when set)."""
    settings = cli_settings(ctx)
    try:
        user = load_policy(settings.policy_dir).user(as_user)
    except UnknownUser as exc:
        raise fail(str(exc)) from None
    except PolicyError as exc:
        raise fail(f"the policy cannot be loaded: {exc}") from None
    try:
        typer.echo(mint_for(settings, user, ttl if ttl is not None else min(_DEFAULT_TTL_S, settings.jwt_max_ttl_s)))
    except TokenNotMinted as exc:
        raise fail(str(exc)) from None


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``token`` to the ``jidoka`` app."""
    app.command("serve")(serve)
    app.command("token")(token)
