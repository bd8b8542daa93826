"""Which database is which, and a first connection that fails with a clear, masked line when one is unreachable.

A server database (Postgres) that is down is a known failure, not an internal error: :func:`reach` connects once
at start-up, so the command says which database it could not reach instead of failing deep in its first query.
"""

from __future__ import annotations

from enum import Enum

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError

from server.errors import DatabaseUnreachable

__all__ = ["Database", "failure_reason", "reach"]


class Database(Enum):
    """The two databases jidoka opens: what each holds and the variable that names it."""

    PLANT = ("plant database", "JIDOKA_DATA_URL")
    STATE = ("state database", "JIDOKA_STATE_URL")

    @property
    def label(self) -> str:
        """``plant database`` or ``state database``."""
        return self.value[0]

    @property
    def variable(self) -> str:
        """``JIDOKA_DATA_URL`` or ``JIDOKA_STATE_URL``."""
        return self.value[1]


def failure_reason(exc: BaseException) -> str:
    """The driver's reason in one line: ``Connection refused`` rather than the driver's whole story."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    first = text.splitlines()[0].strip() if text else ""
    _, sep, tail = first.rpartition("failed: ")
    reason = tail.strip() if sep and tail.strip() else first
    return reason or type(getattr(exc, "orig", None) or exc).__name__


def reach(engine: Engine, database: Database) -> None:
    """Connect to ``engine`` once; raise :class:`DatabaseUnreachable` if that fails.

    SQLite files are not probed: connecting would create a missing file, and a file has no server to be down.
    """
    if engine.dialect.name == "sqlite":
        return
    try:
        with engine.connect():
            pass
    except (OperationalError, InterfaceError) as exc:
        raise DatabaseUnreachable(database.label, database.variable,
                                  engine.url.render_as_string(hide_password=True), failure_reason(exc)) from None
