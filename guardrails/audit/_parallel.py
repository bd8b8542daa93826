"""The parallel verify walk on SQLite: seq ranges checked by worker processes and this thread, links compared after.

Each row's hash covers its stored prev_hash, so a range can be checked without the rows before it: the worker
takes the first row's prev_hash as stored and reports it with the range's last hash, and the ranges are joined
here (range ``i``'s first prev_hash must be range ``i - 1``'s last hash, the first range's the genesis hash).
The joined, accepted stretch from seq 1 on becomes :class:`CheckedRun` items among the pages of the usual walk,
which reads the rest (from the first row not accepted) sequentially in its own snapshot, so the first problem is
named exactly as the sequential walk names it. Checkpointed seqs are never skipped: their rows come back from the
workers and are checked in full by the walk, in order.

Workers read the file in their own snapshots, up to the last seq of the walk's snapshot (rows appended later are
not looked at). A row rewritten *during* the verify is judged as the worker read it: verify reports the chain as
stored at some moment while it ran, never a chain that was not stored.
"""

from __future__ import annotations

import marshal
import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from guardrails.audit import _fastcheck
from guardrails.audit._fastcheck import RANGE_SQL, RangeResult, check_range
from guardrails.audit._pages import iter_pages
from guardrails.audit.chain import GENESIS_HASH
from guardrails.audit.verify import CheckedRun

__all__ = ["AUTO_MIN_ROWS", "RANGE_ROWS", "auto_workers", "parallel_pages"]

AUTO_MIN_ROWS = 20_000
"""Smallest log the automatic worker count walks in parallel (a worker takes 20-60 ms to start here)."""

RANGE_ROWS = 2048
"""Rows per range handed out (small enough to keep both sides busy to the end, large enough to be cheap)."""

Page = Sequence[Sequence[Any]] | CheckedRun


def auto_workers(rows: int) -> int:
    """Worker processes for a log of ``rows`` rows: one per core beyond this one (at most 3), none below
    :data:`AUTO_MIN_ROWS`."""
    if rows < AUTO_MIN_ROWS:
        return 0
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - platforms without affinity
        cores = os.cpu_count() or 1
    return max(0, min(cores - 1, 3))


def _database_file(conn: Connection) -> str | None:
    """The file of ``conn``'s main SQLite database; None for an in-memory or temporary one."""
    for _, name, file in conn.exec_driver_sql("PRAGMA database_list").all():
        if name == "main":
            return str(file) if file else None
    return None


@dataclass
class _Ranges:
    """The ranges still to hand out and the results, shared by this thread and the workers' feeder threads."""

    todo: list[tuple[int, int]]
    results: dict[int, RangeResult] = field(default_factory=dict)
    limit: float = float("inf")
    """Ranges starting above the first range not wholly accepted are not needed: the walk reads on from there."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> tuple[int, int] | None:
        with self.lock:
            while self.todo:
                job = self.todo.pop()
                if job[0] <= self.limit:
                    return job
            return None

    def cancel(self) -> None:
        with self.lock:
            self.limit = float("-inf")

    def give_back(self, job: tuple[int, int]) -> None:
        with self.lock:
            self.todo.append(job)

    def done(self, job: tuple[int, int], result: RangeResult) -> None:
        with self.lock:
            self.results[job[0]] = result
            if result[0] < job[1] - job[0] + 1:  # not wholly accepted
                self.limit = min(self.limit, job[0])


def _feed_worker(database: str, watched: frozenset[int], ranges: _Ranges, procs: list[subprocess.Popen[bytes]]
                 ) -> None:
    """Start one worker and keep it busy; on any failure of the worker its range goes back to the others."""
    try:
        proc = subprocess.Popen([sys.executable, "-I", "-S", _fastcheck.__file__], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError:
        return
    procs.append(proc)
    stdin, stdout = proc.stdin, proc.stdout
    if stdin is None or stdout is None:  # pragma: no cover - both are pipes
        return
    in_flight: deque[tuple[int, int]] = deque()

    def send() -> None:  # two ranges in flight: the worker starts the next while its answer travels
        if (job := ranges.take()) is not None:
            in_flight.append(job)
            marshal.dump(job, stdin)
            stdin.flush()

    try:
        marshal.dump({"database": database, "watched": sorted(watched)}, stdin)
        send()
        send()
        while in_flight:
            status, value = marshal.load(stdout)
            if status != "ok":
                break
            ranges.done(in_flight.popleft(), value)
            send()
    except (OSError, EOFError, ValueError, TypeError):
        pass
    for job in in_flight:  # what the worker did not answer goes back to the others
        ranges.give_back(job)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()


def _check_ranges(conn: Connection, database: str, last_seq: int, workers: int, watched: frozenset[int],
                  range_rows: int) -> dict[int, RangeResult]:
    """Every needed range of ``1..last_seq`` checked by ``workers`` processes and this thread."""
    ranges = _Ranges([(lo, min(lo + range_rows - 1, last_seq)) for lo in range(1, last_seq + 1, range_rows)])
    ranges.todo.reverse()  # taken from the end of the list: lowest seqs first
    procs: list[subprocess.Popen[bytes]] = []
    feeders = [threading.Thread(target=_feed_worker, args=(database, watched, ranges, procs), daemon=True)
               for _ in range(workers)]
    try:
        for feeder in feeders:
            feeder.start()
        dbapi_error = conn.dialect.loaded_dbapi.Error
        cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            while True:  # this thread checks ranges too, in the walk's own snapshot
                while (job := ranges.take()) is not None:
                    try:
                        ranges.done(job, check_range(cursor, job[0], job[1], watched))
                    except dbapi_error as exc:  # as if SQLAlchemy had run it, like the sequential walk's read
                        raise DBAPIError.instance(RANGE_SQL, job, exc, dbapi_error, dialect=conn.dialect) from exc
                for feeder in feeders:
                    feeder.join()
                if not ranges.todo:  # else a worker failed and gave its range back
                    break
        finally:
            cursor.close()
    finally:
        ranges.cancel()  # a no-op when all is done; on an error here, the workers stop after their range
        for feeder in feeders:
            feeder.join()
        _stop(procs)
    return ranges.results


def parallel_pages(conn: Connection, *, workers: int | None, page_size: int, watched: Collection[int],
                   range_rows: int = RANGE_ROWS) -> Iterator[Page] | None:
    """The pages of the verify walk over ``conn``'s snapshot with the stretch from seq 1 that the workers
    accepted as :class:`CheckedRun` items (and its ``watched`` rows as pages); None when the parallel walk does not
    apply (not a SQLite file, ``workers`` 0, the log below :data:`AUTO_MIN_ROWS` with ``workers`` None, or its
    lowest seq is not 1).
    """
    if conn.dialect.name != "sqlite" or conn.dialect.driver != "pysqlite":
        return None
    database = _database_file(conn)
    if database is None:
        return None
    first, last = conn.exec_driver_sql("SELECT min(seq), max(seq) FROM audit_events").one()
    if first != 1 or not isinstance(last, int):
        return None
    count = auto_workers(last) if workers is None else workers
    if count < 1:
        return None
    results = _check_ranges(conn, database, last, count, frozenset(watched), max(1, range_rows))
    return _joined(conn, results, range_rows=max(1, range_rows), page_size=page_size)


def _joined(conn: Connection, results: dict[int, RangeResult], *, range_rows: int, page_size: int
            ) -> Iterator[Page]:
    """Join the ranges from seq 1 while each links to the previous one and was wholly accepted (the first one
    that was not contributes its accepted rows), then the rest read sequentially."""
    last_seq, last_hash, lo = 0, GENESIS_HASH, 1
    while (result := results.get(lo)) is not None:
        accepted, first_prev, range_last_hash, watched_rows = result
        if not accepted or first_prev != last_hash:
            break
        for row in watched_rows:  # a checkpointed seq: checked in full by the walk, in order
            yield CheckedRun(row[0] - 1, row[8])
            yield [row]
        last_seq, last_hash = lo + accepted - 1, range_last_hash
        yield CheckedRun(last_seq, last_hash)
        if accepted < range_rows:
            break
        lo += range_rows
    yield from iter_pages(conn, page_size=page_size, after=last_seq)
