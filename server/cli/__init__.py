"""The ``jidoka`` command: settings are read here, at the edge, and passed down.

Every command module adds its commands to the app built by :func:`build_app`.
Known failures print one clear line; anything unexpected is logged with its
traceback under ``$JIDOKA_HOME/logs`` and the user sees a short message.
Secrets never reach either: error lines, the crash log and every log record
are masked (:mod:`server.secrets`).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path

import click
import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import InterfaceError, OperationalError
from typer._click import exceptions as _typer_click

from server.cli import plant as cli_plant
from server.cli import serve as cli_serve
from server.cli.approvals import build_approvals_app
from server.cli.ask import ask, chat
from server.cli.audit import audit_app
from server.cli.bench import bench
from server.cli.db import db_app
from server.cli.eval import eval_app
from server.cli.knowledge import knowledge_app
from server.cli.monitor import monitor_app
from server.cli.policy import policy_app
from server.databases import failure_reason
from server.errors import JidokaError
from server.secrets import SecretMasker, install_log_masking
from server.settings import Settings

__all__ = ["build_app", "main"]

_err = Console(stderr=True, soft_wrap=True, highlight=False)  # one line per message, however narrow
# Typer vendors its own click; usage errors may come from either copy.
_USAGE_ERRORS = (click.ClickException, _typer_click.ClickException)


def build_app() -> typer.Typer:
    """The Typer application with every command group mounted."""
    app = typer.Typer(
        name="jidoka",
        help="jidoka — a governed AI copilot runtime for manufacturers.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = Settings.from_env()

    cli_plant.register(app)
    cli_serve.register(app)
    app.add_typer(policy_app, name="policy")
    app.add_typer(audit_app, name="audit")
    app.add_typer(db_app, name="db")
    app.add_typer(knowledge_app, name="knowledge")
    app.add_typer(build_approvals_app(), name="approvals")
    app.add_typer(monitor_app, name="monitor")
    app.command("bench")(bench)
    app.add_typer(eval_app, name="eval")
    app.command("ask")(ask)
    app.command("chat")(chat)
    return app


def _log_crash(exc: BaseException, masker: SecretMasker) -> Path | None:
    try:
        home = Settings.from_env().home
        log_dir = home / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "jidoka-errors.log"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(masker.mask("".join(traceback.format_exception(exc))))
        return path
    except Exception:  # logging must never mask the original failure
        return None


def _database_errors() -> tuple[type[BaseException], ...]:
    """A database that failed under a command: SQLAlchemy's connection-level errors, and psycopg's own (the
    Postgres checkpointer uses psycopg directly) when psycopg was loaded."""
    found: list[type[BaseException]] = [OperationalError, InterfaceError]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        found += [psycopg.OperationalError, psycopg.InterfaceError]
    return tuple(found)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    masker = SecretMasker.from_env(os.environ)
    logging.basicConfig(level=logging.WARNING)
    install_log_masking(masker)
    app = build_app()
    try:
        code = app(args=argv, standalone_mode=False)
    except JidokaError as exc:  # every package's typed error: one clear line, no traceback
        _err.print(f"[red]error:[/red] {escape(masker.mask(str(exc)))}", highlight=False)
        sys.exit(1)
    except _USAGE_ERRORS as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, typer.Abort):
        _err.print("aborted")
        sys.exit(130)
    except _database_errors() as exc:
        # Not reached at start-up (build_runtime names the database it cannot reach): a database that failed
        # under a running command. Which one is not known here; the details go to the crash log.
        where = _log_crash(exc, masker)
        _err.print(f"[red]error:[/red] a database failed (JIDOKA_DATA_URL or JIDOKA_STATE_URL): "
                   f"{escape(masker.mask(failure_reason(exc)))}", highlight=False)
        if where:
            _err.print(f"details were written to {where}", highlight=False, markup=False)
        sys.exit(1)
    except Exception as exc:
        where = _log_crash(exc, masker)
        _err.print(f"[red]internal error:[/red] {type(exc).__name__}: {escape(masker.mask(str(exc)))}",
                   highlight=False)
        if where:
            _err.print(f"details were written to {where}", highlight=False, markup=False)
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)
