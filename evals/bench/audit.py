"""Audit-log throughput: durable appends and chain verification per second (figures of ``jidoka bench``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from guardrails.audit.log import AuditEvent, AuditKind, AuditLog, Synchronous
from guardrails.errors import AuditError

__all__ = ["ConcurrentAppends", "measure_append_throughput", "measure_concurrent_appends",
           "measure_verify_throughput"]


def _bench_event(i: int) -> AuditEvent:
    return AuditEvent(
        trace_id=f"bench-{i // 10}", thread_id="bench", user_id="bench.user", kind=AuditKind.TOOL_RESULT,
        payload={"tool": "inventory.stock_position", "args": {"item_id": "FG-1001", "site_id": "P100"},
                 "record_ids": ["LOT-P100-0423", "LOT-P100-0424"], "rows": i % 7, "ms": 12.5},
        policy_hash="b" * 64,
    )


def measure_append_throughput(
    engine: Engine, *, events: int, batch: int, synchronous: Synchronous = "FULL"
) -> float:
    """Durable events per second appending ``events`` events in buffers of ``batch`` to ``engine``.

    Writes real rows: point it at a scratch database. Event building is outside
    the timed part; stamping, hashing and committing are inside.
    """
    if events < 1 or batch < 1:
        raise ValueError("events and batch must be >= 1")
    log = AuditLog(engine, synchronous=synchronous)
    log.create_schema()
    prepared = [_bench_event(i) for i in range(events)]
    start = time.perf_counter()
    for offset in range(0, events, batch):
        with log.buffer() as buf:
            for event in prepared[offset:offset + batch]:
                buf.add(event)
    return events / (time.perf_counter() - start)


def measure_verify_throughput(engine: Engine, *, clock: Callable[[], float] = time.perf_counter,
                              workers: int | None = None) -> float:
    """Records per second :meth:`AuditLog.verify` checks on ``engine`` (raises if the chain is broken).

    ``clock`` is wall time by default; ``time.thread_time`` gives records per CPU second of the verifying
    thread, which other processes' load on the machine barely moves (pass ``workers=0`` with it: worker
    processes' CPU is not the thread's). ``workers`` as :meth:`AuditLog.verify` takes it (None: automatic).
    """
    log = AuditLog(engine)
    start = clock()
    report = log.verify(workers=workers)
    elapsed = clock() - start
    if not report.ok:
        raise AuditError(f"cannot measure verify on a broken chain: {report.reason}")
    return report.checked / elapsed if elapsed > 0 else float("inf")


@dataclass(frozen=True)
class ConcurrentAppends:
    """What concurrent appenders achieved: events and commits in how long."""

    events: int
    """Events appended (all committed)."""
    commits: int
    """Write transactions the log committed for them."""
    seconds: float
    """Wall clock from the appenders' common start until the last returned."""

    @property
    def events_per_s(self) -> float:
        """Durable events per second."""
        return self.events / self.seconds

    @property
    def commits_per_s(self) -> float:
        """Commits (fsyncs at FULL) per second."""
        return self.commits / self.seconds

    @property
    def events_per_commit(self) -> float:
        """Events each transaction carried on average."""
        return self.events / self.commits


def measure_concurrent_appends(
    engine: Engine, *, appenders: int, turns: int, events_per_turn: int, group_commit: bool,
    synchronous: Synchronous = "FULL",
) -> ConcurrentAppends:
    """``appenders`` threads each flushing ``turns`` turns of ``events_per_turn`` events through one log's buffers.

    Writes real rows: point it at a scratch database. Events are built before the common start; stamping,
    hashing, committing and waiting for the commit are timed. Raises if an appender failed or the chain is broken.
    """
    if appenders < 1 or turns < 1 or events_per_turn < 1:
        raise ValueError("appenders, turns and events_per_turn must be >= 1")
    log = AuditLog(engine, synchronous=synchronous, group_commit=group_commit)
    log.create_schema()
    before = log.commits
    prepared = [[_bench_event(a * turns * events_per_turn + i) for i in range(turns * events_per_turn)]
                for a in range(appenders)]
    start = threading.Barrier(appenders + 1)
    failures: list[BaseException] = []

    def appender(events: list[AuditEvent]) -> None:
        start.wait()
        try:
            for offset in range(0, len(events), events_per_turn):
                with log.buffer() as buf:
                    for event in events[offset:offset + events_per_turn]:
                        buf.add(event)
        except BaseException as exc:  # reported below, never a made-up figure
            failures.append(exc)

    threads = [threading.Thread(target=appender, args=(events,)) for events in prepared]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if failures:
        raise AuditError(f"an appender failed: {failures[0]!r}")
    report = log.verify()
    if not report.ok or report.checked != appenders * turns * events_per_turn:
        raise AuditError(f"the chain after concurrent appends does not check out: {report.reason}")
    return ConcurrentAppends(report.checked, log.commits - before, seconds)
