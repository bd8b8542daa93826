"""``jidoka db upgrade`` and ``jidoka db status``: the databases' schema, created and upgraded explicitly."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy.engine import make_url

from server.cli.common import cli_settings, console
from server.databases import Database, reach
from server.schema import SCHEMA_VERSION, SchemaPart, read_version, upgrade_schema
from server.secrets import mask_url
from tools.plant.db import make_engine

__all__ = ["db_app"]

db_app = typer.Typer(help="The plant and state databases' schema (explicit upgrades for Postgres).",
                     no_args_is_help=True)


def _line(part: SchemaPart, url: str) -> str:
    if part.after is None:
        return f"{part.part}: {url}: {part.note}"
    if part.before == part.after:
        return f"{part.part}: {url}: schema {part.after}, already up to date"
    was = "no jidoka schema" if part.before is None else f"schema {part.before}"
    return f"{part.part}: {url}: {was} → schema {part.after}"


@db_app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Create or upgrade jidoka's tables in JIDOKA_DATA_URL and JIDOKA_STATE_URL (idempotent; safe while other
    upgrades run — they take turns). Run it before starting workers on Postgres."""
    settings = cli_settings(ctx)
    data, state = make_engine(settings.data_url), make_engine(settings.state_url)
    try:
        reach(data, Database.PLANT)
        reach(state, Database.STATE)
        report = upgrade_schema(data, state, settings.state_url)
        out = console()
        out.print(_line(report.plant, mask_url(data.url.render_as_string(hide_password=True))), markup=False)
        out.print(_line(report.state, mask_url(state.url.render_as_string(hide_password=True))), markup=False)
    finally:
        data.dispose()
        state.dispose()


@db_app.command("status")
def status(ctx: typer.Context) -> None:
    """Show the schema version of each database and the one this jidoka needs; exit 1 when an upgrade is due."""
    settings = cli_settings(ctx)
    behind = False
    out = console()
    for part, url, database in (("plant", settings.data_url, Database.PLANT),
                                ("state", settings.state_url, Database.STATE)):
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
            behind = True
            out.print(f"{part}: no database file at {parsed.database or url} (needs schema {SCHEMA_VERSION})",
                      markup=False)
            continue
        engine = make_engine(url)
        try:
            reach(engine, database)
            found = read_version(engine, part)
            shown = mask_url(engine.url.render_as_string(hide_password=True))
        finally:
            engine.dispose()
        behind = behind or found != SCHEMA_VERSION
        out.print(f"{part}: {shown}: schema {found if found is not None else 'none'} (needs {SCHEMA_VERSION})",
                  markup=False)
    if behind:
        out.print("run `jidoka db upgrade`")
        raise typer.Exit(1)
