"""The LangGraph checkpointer on the state database, so a thread continues across processes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from sqlalchemy.engine import make_url

__all__ = ["open_checkpointer"]


def open_checkpointer(state_url: str) -> tuple[BaseCheckpointSaver[Any], sqlite3.Connection]:
    """A checkpointer on ``state_url`` and the connection to close at shutdown (SQLite only for now)."""
    url = make_url(state_url)
    if url.get_backend_name() != "sqlite":
        raise ValueError(
            f"JIDOKA_STATE_URL {url.render_as_string(hide_password=True)}: thread checkpoints need SQLite here; "
            "a Postgres checkpointer needs the langgraph-checkpoint-postgres package")
    database = url.database or ":memory:"
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(database, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    saver.setup()
    return saver, conn
