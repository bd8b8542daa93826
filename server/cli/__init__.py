"""The ``jidoka`` command: settings are read here, at the edge, and passed down.

Every command module adds its commands to the app built by :func:`build_app`.
Known failures print one clear line; anything unexpected is logged with its
traceback under ``$JIDOKA_HOME/logs`` and the user sees a short message.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path

import click
import typer
from rich.console import Console
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
from server.cli.policy import policy_app
from server.errors import JidokaError
from server.settings import Settings

__all__ = ["build_app", "main"]

_err = Console(stderr=True)
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
    app.command("bench")(bench)
    app.add_typer(eval_app, name="eval")
    app.command("ask")(ask)
    app.command("chat")(chat)
    return app


def _log_crash(exc: BaseException) -> Path | None:
    try:
        home = Settings.from_env().home
        log_dir = home / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / "jidoka-errors.log"
        with path.open("a", encoding="utf-8") as fh:
            fh.write("".join(traceback.format_exception(exc)))
        return path
    except Exception:  # logging must never mask the original failure
        return None


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING)
    app = build_app()
    try:
        code = app(args=argv, standalone_mode=False)
    except JidokaError as exc:  # every package's typed error: one clear line, no traceback
        _err.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(1)
    except _USAGE_ERRORS as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, typer.Abort):
        _err.print("aborted")
        sys.exit(130)
    except Exception as exc:
        where = _log_crash(exc)
        _err.print(f"[red]internal error:[/red] {type(exc).__name__}: {exc}")
        if where:
            _err.print(f"details were written to {where}")
        sys.exit(70)
    sys.exit(code if isinstance(code, int) else 0)
