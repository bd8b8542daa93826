"""The LangGraph checkpointer on the state database, so a thread continues in any process or worker.

SQLite (the embedded default) uses ``SqliteSaver`` on one WAL connection; Postgres uses ``PostgresSaver`` on a
psycopg connection pool, so every worker of a scaled-out server reads and writes the same threads.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from sqlalchemy.engine import URL, make_url

__all__ = ["CheckpointHandle", "open_checkpointer", "postgres_conninfo", "setup_checkpoints"]

_POOL_MAX = 16
"""Connections one process keeps to Postgres for checkpoints (a turn holds one only while it reads or writes)."""


class CheckpointHandle(Protocol):
    """What must be closed when the checkpointer is done: a SQLite connection or a psycopg pool."""

    def close(self) -> None:
        """Release the connection(s)."""


def postgres_conninfo(url: URL) -> str:
    """The libpq connection string of a SQLAlchemy Postgres URL (psycopg wants no ``+driver``)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _setup_lock_key() -> int:
    digest = hashlib.sha256(b"jidoka.checkpoints.setup").digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _setup_postgres(conninfo: str) -> None:
    """Create or migrate the checkpoint tables; workers starting at once take turns (advisory lock)."""
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver
    from psycopg.rows import dict_row

    with psycopg.connect(conninfo, autocommit=True, prepare_threshold=0, row_factory=dict_row) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_setup_lock_key(),))
        try:
            PostgresSaver(conn).setup()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_setup_lock_key(),))


def setup_checkpoints(state_url: str) -> None:
    """Create or migrate the checkpoint tables on ``state_url`` (idempotent; ``jidoka db upgrade`` runs it)."""
    url = make_url(state_url)
    if url.get_backend_name() == "postgresql":
        _setup_postgres(postgres_conninfo(url))
        return
    conn = _sqlite_connection(url)
    try:
        SqliteSaver(conn).setup()
    finally:
        conn.close()


def open_checkpointer(state_url: str) -> tuple[BaseCheckpointSaver[Any], CheckpointHandle]:
    """A checkpointer on ``state_url`` (its tables set up) and the handle to close at shutdown."""
    url = make_url(state_url)
    backend = url.get_backend_name()
    if backend == "postgresql":
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        conninfo = postgres_conninfo(url)
        _setup_postgres(conninfo)
        pool: ConnectionPool[Any] = ConnectionPool(
            conninfo, min_size=1, max_size=_POOL_MAX, open=True,
            kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
        return PostgresSaver(pool), pool
    if backend != "sqlite":
        raise ValueError(f"JIDOKA_STATE_URL {url.render_as_string(hide_password=True)}: thread checkpoints need "
                         "SQLite or Postgres")
    conn = _sqlite_connection(url)
    saver = SqliteSaver(conn)
    saver.setup()
    return saver, conn


def _sqlite_connection(url: URL) -> sqlite3.Connection:
    database = url.database or ":memory:"
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(database, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    return conn
