"""Ids of the plant records actions create: short and sequential, and never the same for two writers."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.dialects import postgresql

from tests.factories import AS_OF
from tools.actions._changes import ChangeLog, id_lock_key
from tools.plant.db import write_transaction


def _highest(engine: Engine) -> int:
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT review_id FROM supplier_reviews"))]
    return max((int(i[3:]) for i in ids if i[3:].isdigit()), default=0)


def _review(log: ChangeLog) -> str:
    review_id = log.next_id("supplier_reviews", "review_id", "SR-", 6)
    log.insert("supplier_reviews", {"review_id": review_id, "supplier_id": "S-001", "site_id": "P100",
                                    "reason": "test", "lot_ids": "", "qe_ids": "", "status": "closed",
                                    "opened_at": AS_OF, "request_id": log.request_id}, review_id)
    return review_id


def test_ids_are_the_next_number_with_the_prefix_and_width(plant: Engine) -> None:
    start = _highest(plant)
    with write_transaction(plant) as conn:
        log = ChangeLog(conn, "APR-T1")
        first, second = _review(log), _review(log)  # ids inserted earlier in the transaction count
    assert (first, second) == (f"SR-{start + 1:06d}", f"SR-{start + 2:06d}")


def test_concurrent_writers_never_pick_the_same_id(plant: Engine) -> None:
    made: list[str] = []
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(5):
                with write_transaction(plant) as conn:
                    made.append(_review(ChangeLog(conn, f"APR-{n}-{i}")))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(made) == len(set(made)) == 15


class _PostgresLike:
    """A connection that says it is Postgres, records statements and answers reads from SQLite."""

    def __init__(self, conn: Connection) -> None:
        self.dialect = postgresql.dialect()
        self._conn = conn
        self.statements: list[tuple[str, Any]] = []

    def execute(self, statement: Any, params: Any = None) -> Any:
        self.statements.append((str(statement), params))
        if "pg_advisory_xact_lock" in str(statement):
            return None
        return self._conn.execute(statement, params) if params is not None else self._conn.execute(statement)


def test_postgres_takes_a_per_table_advisory_lock_before_reading_the_highest_id(plant: Engine) -> None:
    with plant.connect() as conn:
        fake = _PostgresLike(conn)
        new_id = ChangeLog(fake, "APR-T2").next_id("supplier_reviews", "review_id", "SR-", 6)  # type: ignore[arg-type]
    assert new_id == f"SR-{_highest(plant) + 1:06d}"
    (lock, params), (read, _) = fake.statements
    assert "pg_advisory_xact_lock" in lock and params == {"key": id_lock_key("supplier_reviews")}
    assert "supplier_reviews" in read
    keys = {id_lock_key(t) for t in ("supplier_reviews", "purchase_orders", "maintenance_orders", "transfers")}
    assert len(keys) == 4 and all(-(2 ** 63) <= k < 2 ** 63 for k in keys)
