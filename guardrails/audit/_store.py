"""Where the audit chain lives: its two tables and the transactions that read and extend them.

SQLAlchemy Core on its own ``MetaData`` (it shares the state database with
approvals and checkpoints, not the plant schema). Portable to Postgres: the only
dialect-specific parts are how a transaction takes the write lock and gets a
stable snapshot, both kept in :func:`write_transaction` / :func:`read_transaction`.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import QueuePool

from guardrails.audit.chain import GENESIS_HASH, MAX_ID_LENGTH, AuditRecord
from guardrails.audit.verify import ChainHead, StoredRow
from guardrails.errors import AuditError, AuditSchemaMissing

__all__ = [
    "COLUMNS",
    "HEAD_ID",
    "Sql",
    "SqliteAppender",
    "Synchronous",
    "WritePlan",
    "audit_events",
    "audit_head",
    "audit_metadata",
    "ensure_head",
    "has_schema",
    "iter_rows",
    "read_head",
    "read_transaction",
    "sqlite_appender",
    "to_record",
    "write_transaction",
]

Synchronous = Literal["FULL", "NORMAL"]
"""SQLite ``PRAGMA synchronous`` levels the log accepts for its write transactions."""

HEAD_ID = 1
"""The one row of ``audit_head``."""

# SQLite only treats a column typed exactly INTEGER as the rowid alias (fast, 64-bit anyway).
_Seq = BigInteger().with_variant(Integer(), "sqlite")

audit_metadata = MetaData()
"""The audit tables' own metadata (``audit_metadata.create_all(engine)`` is what ``create_schema`` runs)."""

audit_events = Table(
    "audit_events",
    audit_metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=False, comment="1..n, gapless; PK = unique backstop"),
    Column("ts", String(40), nullable=False, comment="UTC ISO 8601 with microseconds, as hashed"),
    Column("trace_id", String(MAX_ID_LENGTH), nullable=False),
    Column("thread_id", String(MAX_ID_LENGTH), nullable=True),
    Column("user_id", String(MAX_ID_LENGTH), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("payload", Text, nullable=False, comment="canonical JSON text of an object"),
    Column("policy_hash", String(MAX_ID_LENGTH), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_trace_id", "trace_id", "seq"),
)

audit_head = Table(
    "audit_head",
    audit_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", _Seq, nullable=False),
    Column("last_hash", String(64), nullable=False),
    CheckConstraint(f"id = {HEAD_ID}", name="ck_audit_head_one_row"),
)

COLUMNS = tuple(audit_events.c)
_COLUMN_NAMES = tuple(c.name for c in COLUMNS)


def has_schema(engine: Engine) -> bool:
    """True when both audit tables exist in the database behind ``engine``."""
    names = set(inspect(engine).get_table_names())
    return {"audit_events", "audit_head"} <= names


def ensure_head(engine: Engine) -> None:
    """Insert the genesis head row unless it is there (safe when several processes race)."""
    try:
        with engine.begin() as conn:
            if read_head(conn) is None:
                conn.execute(audit_head.insert().values(id=HEAD_ID, last_seq=0, last_hash=GENESIS_HASH))
    except IntegrityError:
        pass  # another process inserted it first


@contextmanager
def write_transaction(engine: Engine, *, synchronous: Synchronous) -> Iterator[Any]:
    """A transaction that holds the database's write lock from its first statement; yields a DBAPI cursor.

    SQLite: ``BEGIN IMMEDIATE`` takes the single writer lock up front (waiting
    up to the engine's ``busy_timeout``), so reading the head and appending
    after it cannot interleave with another process. Other databases: a normal
    transaction; :meth:`WritePlan.lock_head` (``SELECT ... FOR UPDATE`` of the
    head row) serialises appenders on that row.

    The statements go straight to the driver's cursor (see :class:`WritePlan`);
    a driver error comes out as the matching SQLAlchemy exception
    (``IntegrityError``, ``OperationalError``, ...), as if SQLAlchemy had run it.
    """
    dbapi = engine.dialect.loaded_dbapi
    raw = engine.raw_connection()
    try:
        driver: Any = raw.dbapi_connection
        cursor = raw.cursor()
        try:
            if engine.dialect.name == "sqlite":
                # synchronous is per connection and others share the engine: set it on every write so the
                # log's durability never depends on what another user of the pooled connection chose.
                cursor.execute(f"PRAGMA synchronous={synchronous}")
                cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                driver.rollback()
                raise
            driver.commit()
        except dbapi.Error as exc:
            raise DBAPIError.instance(None, None, exc, dbapi.Error, dialect=engine.dialect) from exc
        finally:
            cursor.close()
    finally:
        raw.close()


def _is_sqlite_file(engine: Engine) -> bool:
    """True for a file-backed SQLite database behind a :class:`QueuePool` (SQLAlchemy's default for one)."""
    url = engine.url
    return (
        engine.dialect.name == "sqlite"
        and bool(url.database) and url.database != ":memory:" and url.query.get("mode") != "memory"
        and isinstance(engine.pool, QueuePool)
    )


_APPENDERS: weakref.WeakSet[SqliteAppender] = weakref.WeakSet()
_ABANDONED: list[Any] = []  # connections inherited over a fork: never used or closed in the child


def _forget_connections_after_fork() -> None:
    for appender in list(_APPENDERS):
        appender._abandon()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_connections_after_fork)


class SqliteAppender:
    """The connection a log appends through on a file-backed SQLite database, kept between appends.

    Checking a connection out of SQLAlchemy's pool and back in costs more CPU
    than a turn's whole append. This one is taken from the engine once (so the
    engine's ``connect`` hooks ran on it) and detached from its pool, so nobody
    else ever gets it: its ``synchronous`` level is set once, when it is
    opened, and cannot be changed under the log. One append at a time (a lock;
    SQLite admits one writer anyway). After any database error it is closed
    and a fresh one is opened by the next append; after a fork the child opens
    its own. Closed when the appender is garbage-collected, or by :meth:`close`.
    """

    def __init__(self, engine: Engine, *, synchronous: Synchronous) -> None:
        """Append to the database behind ``engine`` at SQLite durability ``synchronous``."""
        self._engine = engine
        self._synchronous = synchronous
        self._lock = threading.Lock()
        self._connection: Any = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        _APPENDERS.add(self)

    def _connect(self) -> Any:
        raw = self._engine.raw_connection()
        try:
            connection: Any = raw.dbapi_connection
            connection.execute(f"PRAGMA synchronous={self._synchronous}")
        except BaseException:
            raw.close()
            raise
        raw.detach()
        self._connection = connection
        self._finalizer = weakref.finalize(self, connection.close)
        return connection

    def close(self) -> None:
        """Close the kept connection (the next append opens a new one)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # closes the connection, once
        self._connection = self._finalizer = None

    def _abandon(self) -> None:
        if self._connection is not None:
            _ABANDONED.append(self._connection)
        if self._finalizer is not None:
            self._finalizer.detach()
        self._connection = self._finalizer = None
        self._lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """As :func:`write_transaction` (``BEGIN IMMEDIATE``, commit, driver errors wrapped), on the kept connection."""
        dbapi = self._engine.dialect.loaded_dbapi
        with self._lock:
            try:
                connection = self._connection if self._connection is not None else self._connect()
                cursor = connection.cursor()
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    try:
                        yield cursor
                    except BaseException:
                        connection.rollback()
                        raise
                    connection.commit()
                finally:
                    cursor.close()
            except dbapi.Error as exc:
                self._close()  # whatever state it is in, the next append starts on a fresh connection
                raise DBAPIError.instance(None, None, exc, dbapi.Error, dialect=self._engine.dialect) from exc


def sqlite_appender(engine: Engine, *, synchronous: Synchronous) -> SqliteAppender | None:
    """A :class:`SqliteAppender` for a file-backed SQLite ``engine``; None for anything else (use the pool)."""
    return SqliteAppender(engine, synchronous=synchronous) if _is_sqlite_file(engine) else None


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction on one snapshot, so chunked reads and the head agree with each other."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # The sqlite3 driver does not open a transaction for SELECTs; without one each chunk
            # would see a different snapshot while another process appends.
            conn.exec_driver_sql("BEGIN")
        elif conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            yield conn
        finally:
            conn.rollback()


def read_head(conn: Connection) -> ChainHead | None:
    """The stored head row, or None when it is missing."""
    stmt = select(audit_head.c.last_seq, audit_head.c.last_hash).where(audit_head.c.id == HEAD_ID)
    row = conn.execute(stmt).first()
    return None if row is None else ChainHead(seq=int(row[0]), hash=str(row[1]))


@dataclass(frozen=True)
class Sql:
    """A statement compiled for one dialect, with the order its positional parameters take."""

    sql: str
    positional: tuple[str, ...] | None
    fixed: tuple[tuple[str, Any], ...] = ()
    """Parameters the statement brings itself (SQLite's ``OFFSET 0`` after a bound ``LIMIT``)."""

    @classmethod
    def compile(cls, stmt: Any, dialect: Dialect) -> Sql:
        compiled = stmt.compile(dialect=dialect)
        fixed = tuple((name, value) for name, value in compiled.params.items() if value is not None)
        return cls(compiled.string, tuple(compiled.positiontup or ()) if compiled.positional else None, fixed)

    def bind(self, values: dict[str, Any]) -> Any:
        if self.fixed:
            values = {**dict(self.fixed), **values}
        return values if self.positional is None else tuple(values[name] for name in self.positional)


@dataclass(frozen=True)
class WritePlan:
    """The append path's three statements, compiled once per dialect and run through the DBAPI cursor.

    Built from the Core tables, so they stay portable; skipping SQLAlchemy's
    per-execution compile-cache lookup, result set-up and per-row parameter
    processing is what makes small batches cheap (every value is a plain
    str/int/None, so no bind processor that would change a value is skipped).
    """

    head_for_update: Sql
    insert: Sql
    move_head: Sql

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> WritePlan:
        """Compile the statements for ``dialect``."""
        head = audit_head.c
        where = head.id == bindparam("head_id")
        return cls(
            head_for_update=Sql.compile(select(head.last_seq, head.last_hash).where(where).with_for_update(),
                                         dialect),
            insert=Sql.compile(audit_events.insert().values({c.name: bindparam(c.name) for c in COLUMNS}),
                                dialect),
            move_head=Sql.compile(
                update(audit_head).where(where)
                .values(last_seq=bindparam("new_seq"), last_hash=bindparam("new_hash")),
                dialect,
            ),
        )

    def lock_head(self, cursor: Any) -> ChainHead | None:
        """Read the head row inside the write transaction, row-locked where the database has row locks."""
        stmt = self.head_for_update
        cursor.execute(stmt.sql, stmt.bind({"head_id": HEAD_ID}))
        row = cursor.fetchone()
        return None if row is None else ChainHead(seq=int(row[0]), hash=str(row[1]))

    def insert_rows(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows (values in ``audit_events`` column order, payload as its canonical text) in one executemany."""
        if self.insert.positional != _COLUMN_NAMES:  # named paramstyle, or placeholders in another order
            rows = [self.insert.bind(dict(zip(_COLUMN_NAMES, row, strict=True))) for row in rows]
        cursor.executemany(self.insert.sql, rows)

    def write_head(self, cursor: Any, head: ChainHead) -> None:
        """Move the head row to ``head`` in the same transaction."""
        cursor.execute(self.move_head.sql,
                       self.move_head.bind({"head_id": HEAD_ID, "new_seq": head.seq, "new_hash": head.hash}))
        if cursor.rowcount != 1:
            raise AuditSchemaMissing("the audit_head row vanished during an append")


def iter_rows(conn: Connection, *, chunk_size: int, where: Any = None) -> Iterator[StoredRow]:
    """Rows in seq order, read in keyset chunks of ``chunk_size`` so memory stays bounded."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    last: int | None = None  # no lower bound at first: a forged seq 0 or below must be seen too
    while True:
        stmt = select(*COLUMNS)
        if last is not None:
            stmt = stmt.where(audit_events.c.seq > last)
        if where is not None:
            stmt = stmt.where(where)
        rows = conn.execute(stmt.order_by(audit_events.c.seq).limit(chunk_size)).all()
        for row in rows:
            yield StoredRow(*row)
        if len(rows) < chunk_size:
            return
        last = rows[-1][0]


def to_record(row: StoredRow) -> AuditRecord:
    """A stored row as a record; a payload that is not JSON means the row was tampered with."""
    try:
        payload = json.loads(row.payload)
    except (TypeError, ValueError):
        raise AuditError(
            f"audit row seq {row.seq} has a payload that is not JSON; run `jidoka audit verify`"
        ) from None
    return AuditRecord(
        seq=row.seq, ts=row.ts, trace_id=row.trace_id, thread_id=row.thread_id, user_id=row.user_id,
        kind=row.kind, payload=payload, policy_hash=row.policy_hash, prev_hash=row.prev_hash, hash=row.hash,
    )
