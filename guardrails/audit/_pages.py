"""The verify walk's read of the audit table: keyset pages straight from the DBAPI cursor."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError

from guardrails.audit._store import COLUMNS, Sql, audit_events

__all__ = ["iter_pages"]


@dataclass(frozen=True)
class _PageQueries:
    """The two keyset-page reads of the whole table, compiled once per dialect."""

    first: Sql
    after: Sql

    @classmethod
    def for_dialect(cls, dialect: Dialect) -> _PageQueries:
        stmt = select(*COLUMNS).order_by(audit_events.c.seq).limit(bindparam("page_size"))
        return cls(first=Sql.compile(stmt, dialect),
                   after=Sql.compile(stmt.where(audit_events.c.seq > bindparam("after")), dialect))


_PAGE_QUERIES: dict[str, _PageQueries] = {}


def iter_pages(conn: Connection, *, page_size: int, after: int | None = None) -> Iterator[list[tuple[Any, ...]]]:
    """Every row in seq order as the driver returns it (a tuple in :class:`StoredRow` column order), in keyset
    pages of ``page_size``, read through the DBAPI cursor of ``conn``'s transaction (so in its snapshot).

    The verify walk's read: no SQLAlchemy result processing per row (every column is a plain str, int or None
    as stored), memory of one page whatever the log's size. A driver error comes out as the matching SQLAlchemy
    exception, as if SQLAlchemy had run the statement. ``after``: only rows with a greater seq.
    """
    if page_size < 1:
        raise ValueError(f"page_size must be >= 1, got {page_size}")
    dialect = conn.dialect
    queries = _PAGE_QUERIES.get(dialect.name)
    if queries is None:
        queries = _PAGE_QUERIES[dialect.name] = _PageQueries.for_dialect(dialect)
    dbapi_error = dialect.loaded_dbapi.Error
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if after is None:  # no lower bound at first: a forged seq 0 or below must be seen too
            sql, params = queries.first.sql, queries.first.bind({"page_size": page_size})
        else:
            sql, params = queries.after.sql, queries.after.bind({"page_size": page_size, "after": after})
        while True:
            try:
                cursor.execute(sql, params)
                rows: list[tuple[Any, ...]] = cursor.fetchall()
            except dbapi_error as exc:
                raise DBAPIError.instance(sql, params, exc, dbapi_error, dialect=dialect) from exc
            yield rows
            if len(rows) < page_size:
                return
            sql, params = queries.after.sql, queries.after.bind({"page_size": page_size, "after": rows[-1][0]})
    finally:
        cursor.close()
