"""The LangGraph checkpointer on the state database, so a thread continues in any process or worker.

SQLite (the embedded default) uses ``SqliteSaver`` on one WAL connection; Postgres uses ``PostgresSaver`` on a
psycopg connection pool, so every worker of a scaled-out server reads and writes the same threads.

:func:`prune_superseded` deletes a thread's checkpoints that a newer one supersedes: the product only ever reads a
thread's latest checkpoint (to continue it, resume its approval pause, or show its history), never an older one.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path
from typing import Any, Protocol

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from sqlalchemy.engine import URL, make_url

__all__ = ["CheckpointHandle", "open_checkpointer", "postgres_conninfo", "prune_superseded", "setup_checkpoints"]

_log = logging.getLogger("jidoka.checkpoints")

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


# The latest checkpoint of the root namespace is the one ``SqliteSaver.get_tuple`` loads (highest id); older ones and
# the writes pending on them are superseded. Subgraph namespaces are left alone (the copilot's graph has none).
_SQLITE_LATEST = "SELECT MAX(checkpoint_id) FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ''"
_SQLITE_PRUNE = (
    "DELETE FROM writes WHERE thread_id = ? AND checkpoint_ns = '' AND checkpoint_id < ?",
    "DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = '' AND checkpoint_id < ?",
    # As PostgresSaver.prune does: the kept checkpoint no longer points at a parent that is gone.
    "UPDATE checkpoints SET parent_checkpoint_id = NULL WHERE thread_id = ? AND checkpoint_ns = '' "
    "AND checkpoint_id = ? AND parent_checkpoint_id IS NOT NULL",
)


def _prune_sqlite(saver: SqliteSaver, thread_id: str) -> None:
    # Only ids below the latest one read here are deleted: a run saving a newer checkpoint meanwhile loses nothing.
    with saver.lock:
        conn = saver.conn
        try:
            latest = conn.execute(_SQLITE_LATEST, (thread_id,)).fetchone()[0]
            if latest is None:
                return
            for sql in _SQLITE_PRUNE:
                conn.execute(sql, (thread_id, latest))
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


def prune_superseded(saver: BaseCheckpointSaver[Any] | None, thread_id: str) -> bool:
    """Delete the checkpoints of ``thread_id`` older than its latest one, with the writes pending on them.

    What stays is what a thread is continued, resumed or shown from: its latest checkpoint and that checkpoint's
    pending writes (a paused approval's interrupt among them). Call it when a run has ended (completed or paused);
    a thread with one checkpoint is left as it is. SQLite: one transaction on the saver's connection; Postgres:
    ``PostgresSaver.prune(keep_latest)``, which also drops the channel blobs no kept checkpoint references. Other
    savers (in-memory ones in tests) are left unpruned.

    Pruning is housekeeping: when the database is busy (a lock wait ran out, a concurrent prune of the thread
    conflicted) nothing is deleted, the run's result stands, and the next run of the thread prunes what is left.
    Returns whether it pruned.
    """
    try:
        if isinstance(saver, SqliteSaver):
            _prune_sqlite(saver, str(thread_id))
            return True
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import OperationalError as PostgresBusy

        if isinstance(saver, PostgresSaver):
            try:
                saver.prune([str(thread_id)], strategy="keep_latest")
            except PostgresBusy as exc:  # serialization failures and deadlocks are operational errors too
                _log.warning("checkpoints of thread %s not pruned this time: %s", thread_id, exc)
                return False
            return True
    except sqlite3.OperationalError as exc:
        _log.warning("checkpoints of thread %s not pruned this time: %s", thread_id, exc)
    return False
